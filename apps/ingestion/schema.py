"""A dataset's schema: typed fields, and which changes stored data survives."""

import re

import pyarrow as pa
from django.core.exceptions import ValidationError
from django.db import models

from apps.core.text import with_article

MAX_FIELDS = 10_000
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


class FieldType(models.TextChoices):
    STRING = "String"
    BYTE = "Byte"
    SHORT = "Short"
    INTEGER = "Integer"
    LONG = "Long"
    DOUBLE = "Double"
    BOOLEAN = "Boolean"
    DATE = "Date"
    DATE_TIME = "Date-Time"
    OBJECT = "Object"
    MAP = "Map"
    ARRAY = "Array"


# How each type is stored in Parquet. Objects and arrays, whose shape a schema does not
# fix, are kept as JSON text; a map is a map of strings to strings.
ARROW_TYPES: dict[str, pa.DataType] = {
    FieldType.STRING: pa.string(),
    FieldType.BYTE: pa.int8(),
    FieldType.SHORT: pa.int16(),
    FieldType.INTEGER: pa.int32(),
    FieldType.LONG: pa.int64(),
    FieldType.DOUBLE: pa.float64(),
    FieldType.BOOLEAN: pa.bool_(),
    FieldType.DATE: pa.date32(),
    FieldType.DATE_TIME: pa.timestamp("ms", tz="UTC"),
    FieldType.OBJECT: pa.string(),
    FieldType.MAP: pa.map_(pa.string(), pa.string()),
    FieldType.ARRAY: pa.string(),
}

# A type a stored column may take without rereading what it holds: the same one, or a
# wider number.
WIDENINGS = {
    FieldType.BYTE: {FieldType.SHORT, FieldType.INTEGER, FieldType.LONG, FieldType.DOUBLE},
    FieldType.SHORT: {FieldType.INTEGER, FieldType.LONG, FieldType.DOUBLE},
    FieldType.INTEGER: {FieldType.LONG, FieldType.DOUBLE},
}


def arrow_schema(fields: list[dict]) -> pa.Schema:
    return pa.schema(
        [pa.field(f["name"], ARROW_TYPES[f["type"]], nullable=not f["required"]) for f in fields]
    )


def validate_schema(fields) -> list[dict]:
    """The schema, normalised ({"name", "type", "required"}, and "key" when true), or a
    ValidationError that says which field is wrong and why. Key fields (what an import
    that merges matches rows by) must be required."""
    if not isinstance(fields, list) or not fields:
        raise ValidationError("A schema is a non-empty list of fields: {name, type, required}.")
    if len(fields) > MAX_FIELDS:
        raise ValidationError(
            f"A schema has at most {MAX_FIELDS} fields; this one has {len(fields)}."
        )
    normalised, seen = [], set()
    for index, field in enumerate(fields):
        where = f"schema[{index}]"
        if not isinstance(field, dict) or set(field) - {"name", "type", "required", "key"}:
            raise ValidationError(
                f"{where}: a field is an object with name, type, required and key."
            )
        name, kind = field.get("name"), field.get("type")
        if not isinstance(name, str) or not FIELD_NAME.match(name):
            raise ValidationError(
                f"{where}.name: letters, digits and underscores, not starting with a digit."
            )
        if name in seen:
            raise ValidationError(f"{where}.name: {name!r} is already a field of this schema.")
        if kind not in FieldType.values:
            raise ValidationError(
                f"{where}.type: {kind!r} is not one of {', '.join(FieldType.values)}."
            )
        required, key = field.get("required", False), field.get("key", False)
        if not isinstance(required, bool):
            raise ValidationError(f"{where}.required: true or false.")
        if not isinstance(key, bool):
            raise ValidationError(f"{where}.key: true or false.")
        if key and not required:
            raise ValidationError(f"{where}.key: a key field must be required too.")
        if key and kind in (FieldType.OBJECT, FieldType.MAP, FieldType.ARRAY):
            raise ValidationError(f"{where}.key: {with_article(kind)} field cannot be a key.")
        seen.add(name)
        normalised.append(
            {"name": name, "type": kind, "required": required, **({"key": True} if key else {})}
        )
    return normalised


def check_change_keeps_data(old: list[dict], new: list[dict]) -> None:
    """Refuse a schema change that data already stored under `old` would not satisfy."""
    before = {f["name"]: f for f in old}
    after = {f["name"]: f for f in new}
    problems = []
    for name, field in before.items():
        if name not in after:
            problems.append(f"{name}: stored data holds it; it cannot be removed.")
            continue
        changed = after[name]
        if changed["type"] != field["type"] and changed["type"] not in WIDENINGS.get(
            field["type"], ()
        ):
            problems.append(
                f"{name}: stored {field['type']} values cannot become {changed['type']}."
            )
        if changed["required"] and not field["required"]:
            problems.append(f"{name}: stored rows may lack it; it cannot become required.")
    for name, field in after.items():
        if name not in before and field["required"]:
            problems.append(f"{name}: stored rows lack it; a new field must be optional.")
    if problems:  # the request is fine; the data stored conflicts with it
        raise ValidationError([ValidationError(problem, code="conflict") for problem in problems])


def key_fields(schema: list[dict]) -> list[str]:
    """The fields rows are matched by when an import merges; [] if the dataset has none."""
    return [field["name"] for field in schema if field.get("key")]
