"""Field types of the public API: ids are strings, dates are epoch milliseconds."""

from datetime import UTC, datetime

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.text import parse_int

# Year 1970 to 9999: what a datetime can hold.
MAX_EPOCH_MILLIS = 253_402_300_799_999
ID_PATTERN = "^[0-9]{1,18}$"


@extend_schema_field(
    {"type": "integer", "format": "int64", "minimum": 0, "maximum": MAX_EPOCH_MILLIS}
)
class EpochMillisField(serializers.Field):
    default_error_messages = {
        "invalid": "Expected a date as epoch milliseconds (an integer), e.g. 1562595783663.",
        "range": "Expected epoch milliseconds between 0 and 253402300799999.",
    }

    def to_representation(self, value: datetime) -> int:
        return round(value.timestamp() * 1000)

    def to_internal_value(self, data) -> datetime:
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        if isinstance(data, str):
            data = parse_int(data)
            if data is None:
                self.fail("invalid")
        if not 0 <= data <= MAX_EPOCH_MILLIS:
            self.fail("range")
        return datetime.fromtimestamp(data / 1000, tz=UTC)


@extend_schema_field(OpenApiTypes.STR)
class IdField(serializers.Field):
    """An object's id, written as a string (as the public API does)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value) -> str:
        return str(value)


@extend_schema_field({"type": "string", "pattern": ID_PATTERN})
class IdInputField(serializers.CharField):
    """An object's id as a request names it: a string of ASCII digits (an integer is taken
    too in a query string, where everything is text)."""

    default_error_messages = {"not_an_id": 'Expected an id: a string of digits, e.g. "42".'}

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        if parse_int(text) is None:
            self.fail("not_an_id")
        return text


# The JSON types each kind of field takes in a request body. DRF alone would also take
# "5" for 5, 1 for true and 5 for "5", which the published schema does not allow.
JSON_TYPES = (
    (serializers.BooleanField, (bool,), "a boolean"),
    (serializers.IntegerField, (int,), "an integer"),
    (serializers.FloatField, (int, float), "a number"),
    (EpochMillisField, (int,), "an integer (epoch milliseconds)"),
    (serializers.CharField, (str,), "a string"),
    (serializers.ChoiceField, (str,), "a string"),
    (serializers.ListField, (list,), "an array"),
    (serializers.ListSerializer, (list,), "an array"),
    (serializers.DictField, (dict,), "an object"),
    (serializers.Serializer, (dict,), "an object"),
)


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, instead of silently dropping them (a typo in a field
    name should not look like success), and, in a JSON body, values of another JSON type
    than the field's."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {name: ["Unknown field."] for name in sorted(set(data) - set(self.fields))}
            if self.context.get("json"):
                errors |= {
                    name: [f"Expected {kind}."]
                    for name, value in data.items()
                    if name in self.fields and (kind := _wrong_json_type(self.fields[name], value))
                }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


def _wrong_json_type(field, value) -> str:
    """What the field expects, if `value` is not of its JSON type; "" if it is."""
    if value is None and field.allow_null:
        return ""
    for kind, types, name in JSON_TYPES:
        if isinstance(field, kind):
            ok = isinstance(value, types) and not (bool not in types and isinstance(value, bool))
            return "" if ok else name
    return ""


# Write serializers' fields that only echo the object's answer (a GET's body may be PUT
# back): by component name, documented readOnly, refused when changed.
ECHOED: dict[str, tuple[str, ...]] = {}


def echoes(*names: str, on_update: tuple[str, ...] = ()):
    """Register `names` as echoed fields of the decorated write serializer (and, in its
    partial form, used by PUT, also `on_update`)."""

    def register(serializer_class):
        base = serializer_class.__name__.removesuffix("Serializer")
        ECHOED[f"{base}Request"] = names
        ECHOED[f"Patched{base}Request"] = names + on_update
        return serializer_class

    return register
