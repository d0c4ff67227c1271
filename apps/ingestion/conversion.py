"""Values as they arrive, converted to the dataset's types: the batch ingestion docs'
conversion table, one value at a time.

Inbound types are what a file can say: CSV says String; JSON says String, Long (whole
numbers), Double, Boolean, Object or Array; Parquet says any type. Dates travel as ISO
8601 strings ("2018-07-10T15:05:59.000-08:00") or epoch milliseconds (1531263959000,
as a number or, in CSV, as digits).
Booleans and arrays are never converted to another type."""

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from apps.core.text import with_article
from apps.ingestion.schema import FieldType

T = FieldType
NUMBERS = (T.BYTE, T.SHORT, T.INTEGER, T.LONG, T.DOUBLE)
WHOLE_NUMBERS = (T.BYTE, T.SHORT, T.INTEGER, T.LONG)

# Inbound type -> the types it converts to (the docs' table).
CONVERSIONS: dict[str, set[str]] = {
    T.STRING: {T.STRING, *NUMBERS, T.DATE, T.DATE_TIME},
    T.BYTE: {T.STRING, *NUMBERS},
    T.SHORT: {T.STRING, *NUMBERS},
    T.INTEGER: {T.STRING, *NUMBERS},
    T.LONG: {T.STRING, *NUMBERS, T.DATE, T.DATE_TIME},
    T.DOUBLE: {T.STRING, *NUMBERS},
    T.DATE: {T.DATE},
    T.DATE_TIME: {T.DATE_TIME},
    T.OBJECT: {T.OBJECT, T.MAP},
    T.MAP: {T.OBJECT, T.MAP},
    T.BOOLEAN: {T.BOOLEAN},
    T.ARRAY: {T.ARRAY},
}
RANGES: dict[str, tuple[int, int]] = {
    T.BYTE: (-(2**7), 2**7 - 1),
    T.SHORT: (-(2**15), 2**15 - 1),
    T.INTEGER: (-(2**31), 2**31 - 1),
    T.LONG: (-(2**63), 2**63 - 1),
}
WHOLE = re.compile(r"^[+-]?[0-9]+\Z")  # ASCII digits: "٣" is not a number here
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ConversionError(ValueError):
    """Why a value does not fit its field, in words."""


def kind_of(value) -> str:
    """The inbound type of a value read from JSON or CSV."""
    if isinstance(value, bool):
        return T.BOOLEAN
    if isinstance(value, int):
        return T.LONG
    if isinstance(value, float):
        return T.DOUBLE
    if isinstance(value, str):
        return T.STRING
    if isinstance(value, dict):
        return T.OBJECT
    if isinstance(value, list | tuple):
        return T.ARRAY
    if isinstance(value, datetime):
        return T.DATE_TIME
    if isinstance(value, date):
        return T.DATE
    raise ConversionError(f"{type(value).__name__} values are not supported")


def convert(value, target: str, inbound: str | None = None):
    """`value` as `target` (None stays None), or ConversionError saying why not."""
    if value is None:
        return None
    inbound = inbound or kind_of(value)
    if target not in CONVERSIONS[inbound]:
        raise ConversionError(f"{inbound} values cannot be converted to {target}")
    return CONVERTERS[target](value, inbound)


def _preview(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _whole(value, inbound, target) -> int:
    if inbound == T.STRING:
        if not WHOLE.match(value.strip()):
            raise ConversionError(f"{_preview(value)} is not a whole number")
        if len(value.strip()) > 20:  # past any Long, and past what int() reads quickly
            raise ConversionError(f"{_preview(value)} is out of the {target} range")
        number = int(value)
    elif inbound == T.DOUBLE:
        if not math.isfinite(value) or value != math.floor(value):
            raise ConversionError(f"{value!r} is not a whole number")
        number = int(value)
    else:
        number = value
    low, high = RANGES[target]
    if not low <= number <= high:
        raise ConversionError(f"{number} is out of the {target} range [{low}, {high}]")
    return number


def _double(value, inbound) -> float:
    if inbound == T.STRING:
        try:
            number = float(value)
        except ValueError:
            raise ConversionError(f"{_preview(value)} is not a number") from None
    else:
        number = float(value)
    if not math.isfinite(number):
        raise ConversionError(f"{_preview(value)} is not a finite number")
    return number


def _string(value, inbound) -> str:
    return value if inbound == T.STRING else repr(value) if inbound == T.DOUBLE else str(value)


def _date(value, inbound) -> date:
    if inbound == T.DATE:
        return value
    if inbound == T.LONG or WHOLE.match(value.strip()):
        return _from_epoch_millis(int(value)).date()
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ConversionError(f"{_preview(value)} is not an ISO 8601 date (2018-07-10)") from None


def _date_time(value, inbound) -> datetime:
    if inbound == T.DATE_TIME:
        moment = value
    elif inbound == T.LONG or WHOLE.match(value.strip()):
        return _from_epoch_millis(int(value))  # CSV writes epoch milliseconds as text
    else:
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ConversionError(
                f"{_preview(value)} is not an ISO 8601 date-time (2018-07-10T15:05:59.000-08:00)"
            ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _from_epoch_millis(value: int) -> datetime:
    try:
        return EPOCH + timedelta(milliseconds=value)
    except OverflowError:
        raise ConversionError(f"{value} is out of range for epoch milliseconds") from None


def _object(value, inbound) -> str:
    return json.dumps(dict(value), ensure_ascii=False, sort_keys=True)


def _map(value, inbound) -> dict[str, str | None]:
    mapped = {}
    for key, item in dict(value).items():
        if isinstance(item, dict | list):
            raise ConversionError(
                f"map values are text or numbers; {key!r} holds {with_article(kind_of(item))}"
            )
        mapped[str(key)] = (
            None if item is None else str(item).lower() if isinstance(item, bool) else str(item)
        )
    return mapped


CONVERTERS: dict[str, Callable] = {
    T.STRING: _string,
    T.BYTE: lambda v, i: _whole(v, i, T.BYTE),
    T.SHORT: lambda v, i: _whole(v, i, T.SHORT),
    T.INTEGER: lambda v, i: _whole(v, i, T.INTEGER),
    T.LONG: lambda v, i: _whole(v, i, T.LONG),
    T.DOUBLE: _double,
    T.BOOLEAN: lambda v, i: v,
    T.DATE: _date,
    T.DATE_TIME: _date_time,
    T.OBJECT: _object,
    T.MAP: _map,
    T.ARRAY: lambda v, i: json.dumps(list(v), ensure_ascii=False),
}
