"""Plugin property types and the shape of each type's value.

Types and value shapes follow the public plugin SDK: most types hold `{"value": …}`,
a few hold richer objects (`{"url": …}` for URL, `{"uri": …, "last_modified": …}` for
DATA_FILE). Every key is optional and may be null, meaning "not set"."""

import json
import math
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.utils.text import Truncator

from apps.core import secrets
from apps.core.text import loads

INT_RANGE = (-(2**31), 2**31 - 1)
LONG_RANGE = (-(2**63), 2**63 - 1)


class PropertyType(models.TextChoices):
    STRING = "STRING"
    INT = "INT"
    LONG = "LONG"
    DOUBLE = "DOUBLE"
    BOOLEAN = "BOOLEAN"
    URL = "URL"
    DATA_FILE = "DATA_FILE"
    ASSET = "ASSET"
    ASSET_FILE = "ASSET_FILE"
    ASSET_FOLDER = "ASSET_FOLDER"
    AD_LAYOUT = "AD_LAYOUT"
    STYLE_SHEET = "STYLE_SHEET"
    PIXEL_TAG = "PIXEL_TAG"
    RECOMMENDER = "RECOMMENDER"
    MODEL_ID = "MODEL_ID"
    DATAMART_ID = "DATAMART_ID"
    # A credential: stored encrypted, never shown again, given to plugin code in clear.
    SECRET = "SECRET"


def _is_string(value) -> bool:
    return isinstance(value, str)


def _is_integer_in(bounds: tuple[int, int]) -> Callable[[object], bool]:
    low, high = bounds
    return lambda value: (
        isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    )


def _is_finite_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_boolean(value) -> bool:
    return isinstance(value, bool)


def _is_http_url(value) -> bool:
    try:
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError:
        return False
    return True


@dataclass(frozen=True)
class Key:
    """A key of a value: what it must be (said to the user), the check, and the same in
    JSON Schema (for the API's published schema)."""

    description: str
    is_valid: Callable[[object], bool]
    schema: dict


def _integer(description: str, bounds: tuple[int, int]) -> Key:
    low, high = bounds
    return Key(
        description, _is_integer_in(bounds), {"type": "integer", "minimum": low, "maximum": high}
    )


TEXT = Key("a string", _is_string, {"type": "string"})
Shape = dict[str, Key]
STRING_VALUE: Shape = {"value": TEXT}
ASSET_FILE_VALUE: Shape = {"original_file_name": TEXT, "asset_id": TEXT, "file_path": TEXT}
LAYOUT_VALUE: Shape = {"id": TEXT, "version": TEXT}

VALUE_SHAPES: dict[str, Shape] = {
    PropertyType.STRING: STRING_VALUE,
    PropertyType.INT: {"value": _integer("a 32-bit integer", INT_RANGE)},
    PropertyType.LONG: {"value": _integer("a 64-bit integer", LONG_RANGE)},
    PropertyType.DOUBLE: {"value": Key("a finite number", _is_finite_number, {"type": "number"})},
    PropertyType.BOOLEAN: {"value": Key("true or false", _is_boolean, {"type": "boolean"})},
    PropertyType.URL: {
        "url": Key(
            "an http or https URL",
            _is_http_url,
            {"type": "string", "format": "uri", "pattern": "^https?://"},
        )
    },
    PropertyType.DATA_FILE: {
        "uri": TEXT,
        "last_modified": _integer("a timestamp in epoch milliseconds", LONG_RANGE),
    },
    PropertyType.ASSET: ASSET_FILE_VALUE,
    PropertyType.ASSET_FILE: ASSET_FILE_VALUE,
    PropertyType.ASSET_FOLDER: {"original_name": TEXT, "asset_id": TEXT, "path": TEXT},
    PropertyType.AD_LAYOUT: LAYOUT_VALUE,
    PropertyType.STYLE_SHEET: LAYOUT_VALUE,
    PropertyType.PIXEL_TAG: STRING_VALUE,
    PropertyType.RECOMMENDER: {"recommender_id": TEXT},
    PropertyType.MODEL_ID: STRING_VALUE,
    PropertyType.DATAMART_ID: STRING_VALUE,
    PropertyType.SECRET: STRING_VALUE,
}


def value_schema(property_type: str) -> dict:
    """A value of this type in JSON Schema: an object of its keys, each optional or null."""
    return {
        "type": "object",
        "properties": {
            key: {**spec.schema, "nullable": True}
            for key, spec in VALUE_SHAPES[property_type].items()
        },
        "additionalProperties": False,
    }


def validate_property_value(property_type: str, value) -> None:
    """Raise ValidationError saying what is wrong if `value` does not fit `property_type`."""
    shape = VALUE_SHAPES.get(property_type)
    if shape is None:
        raise ValidationError(f"Unknown property type {property_type!r}.", code="invalid_type")
    expected_keys = ", ".join(shape)
    if not isinstance(value, dict):
        raise ValidationError(
            f"A value of type {property_type} is an object with the keys {expected_keys}, "
            f"e.g. {{{next(iter(shape))!r}: …}}.",
            code="invalid_shape",
        )
    for key, item in value.items():
        if key not in shape:
            raise ValidationError(
                f"Unknown key {key!r} for type {property_type} (expected: {expected_keys}).",
                code="unknown_key",
            )
        if item is not None and not shape[key].is_valid(item):
            raise ValidationError(
                f"{key!r} must be {shape[key].description} (type {property_type}), "
                f"got {Truncator(repr(item)).chars(60)}.",
                code="invalid_value",
            )


# --- Secrets ------------------------------------------------------------------------------------
#
# A SECRET's {"value": "…"} is stored as {"encrypted": "<Fernet token>"} (apps.core.secrets),
# shown everywhere as {"set": true | false}, and revealed only to plugin code.

SEALED_KEY = "encrypted"


def is_secret(property_type: str) -> bool:
    return property_type == PropertyType.SECRET


def is_sealed(value) -> bool:
    return isinstance(value, dict) and set(value) == {SEALED_KEY}


def sealed(property_type: str, value):
    """What is stored of a value: a SECRET's text encrypted, anything else as it is."""
    if not is_secret(property_type) or not value or is_sealed(value):
        return value
    text = value.get("value")
    return {SEALED_KEY: secrets.seal(text)} if text else {}  # "" or null: not set


def revealed(property_type: str, value):
    """What plugin code gets: a SECRET decrypted (SecretUnreadable if its key is gone)."""
    if is_secret(property_type) and is_sealed(value):
        return {"value": secrets.unseal(value[SEALED_KEY])}
    return value


def shown(property_type: str, value):
    """What people see of a value: of a SECRET only whether it is set."""
    if is_secret(property_type):
        return {"set": bool(value)}
    return value


def secret_texts(typed: dict[str, dict]) -> list[str]:
    """The clear texts of the SECRETs among revealed properties ({name: {property_type,
    value}}), to mask wherever plugin output is kept."""
    return [
        prop["value"]["value"]
        for prop in typed.values()
        if is_secret(prop["property_type"]) and (prop["value"] or {}).get("value")
    ]


# --- Values typed in a form ------------------------------------------------------------------

SINGLE_VALUE_KEYS = ("value", "url")
NUMBER_READERS: dict[str, Callable[[str], int | float]] = {
    PropertyType.INT: int,
    PropertyType.LONG: int,
    PropertyType.DOUBLE: float,
}
BOOLEAN_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def single_key(property_type: str) -> str | None:
    """The one key of types whose value is one thing ({"value": …} or {"url": …})."""
    keys = list(VALUE_SHAPES.get(property_type, {}))
    return keys[0] if len(keys) == 1 and keys[0] in SINGLE_VALUE_KEYS else None


def value_from_text(property_type: str, text: str) -> dict:
    """What a person types for a value: the plain value for one-value types ("42", "true",
    "https://…"), a JSON object for the others."""
    key = single_key(property_type)
    if key is None:
        try:
            value = loads(text or "{}")
        except ValueError as error:
            if not isinstance(error, json.JSONDecodeError):  # JSON, but not storable
                raise ValidationError(str(error)) from None
            raise ValidationError(
                f"Type {property_type} takes a JSON object, e.g. "
                f"{{{', '.join(f'{k!r}: …' for k in VALUE_SHAPES[property_type])}}}."
            ) from None
    elif property_type == PropertyType.BOOLEAN:
        if text.strip().lower() not in BOOLEAN_WORDS:
            raise ValidationError("Type BOOLEAN takes true or false.")
        value = {key: BOOLEAN_WORDS[text.strip().lower()]}
    elif property_type in NUMBER_READERS:
        try:
            value = {key: NUMBER_READERS[property_type](text.strip())}
        except ValueError:
            raise ValidationError(f"Type {property_type} takes a number, got {text!r}.") from None
    else:
        value = {key: text}
    validate_property_value(property_type, value)
    return value


def value_as_display(property_type: str, value: dict) -> str:
    """A value as the console shows it: a SECRET only as set, or "" when not set."""
    if is_secret(property_type):
        return "•••••••• (set)" if value else ""
    return value_as_text(property_type, value)


def value_as_text(property_type: str, value: dict) -> str:
    """The inverse of value_from_text, to fill a form (never a SECRET's)."""
    if is_secret(property_type):
        return ""
    key = single_key(property_type)
    if key is None:
        return json.dumps(value) if value else ""
    item = (value or {}).get(key)
    if item is None:
        return ""
    return str(item).lower() if isinstance(item, bool) else str(item)
