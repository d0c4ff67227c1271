"""Field types of the public API: ids are strings, dates are epoch milliseconds."""

from datetime import UTC, datetime

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.text import parse_int

# Year 1970 to 9999: what a datetime can hold.
MAX_EPOCH_MILLIS = 253_402_300_799_999


@extend_schema_field(OpenApiTypes.INT64)
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


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, instead of silently dropping them: a typo in a field
    name should not look like success."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)
