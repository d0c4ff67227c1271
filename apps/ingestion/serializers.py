from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api.fields import EpochMillisField, IdField, IdInputField, StrictSerializer, echoes
from apps.core.api.responses import PageParameters
from apps.ingestion.models import BatchStatus
from apps.ingestion.schema import FIELD_NAME, MAX_FIELDS, FieldType


class SchemaFieldSerializer(StrictSerializer):
    name = serializers.RegexField(FIELD_NAME, max_length=200)
    type = serializers.ChoiceField(choices=FieldType.choices)
    # Named as Field.required, which DRF's metaclass takes out of the class: no clash.
    required = serializers.BooleanField(default=False)  # type: ignore[assignment]
    key = serializers.BooleanField(
        default=False, help_text="Rows are matched by their key fields when an import merges."
    )


class DatasetSerializer(serializers.Serializer):
    id = IdField(source="pk")
    organisation_id = IdField()
    name = serializers.CharField()
    description = serializers.CharField()
    schema = SchemaFieldSerializer(many=True)
    row_count = serializers.IntegerField(source="rows", help_text="Rows of its Active batches.")

    created_at = EpochMillisField()
    updated_at = EpochMillisField()


@echoes("id", "row_count", "created_at", "updated_at", on_update=("organisation_id",))
class DatasetWriteSerializer(StrictSerializer):
    organisation_id = IdInputField(required=False)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    schema = serializers.ListField(
        child=SchemaFieldSerializer(),
        min_length=1,
        max_length=MAX_FIELDS,
        help_text="Its fields, each name once. A change must keep fitting the data stored "
        "(409 otherwise): no field removed, narrowed or newly required.",
    )
    id = IdInputField(required=False)
    row_count = serializers.IntegerField(required=False)
    created_at = serializers.IntegerField(required=False)
    updated_at = serializers.IntegerField(required=False)


class DatasetFilterSerializer(PageParameters):
    organisation_id = IdInputField(required=False)


class PreviewSerializer(serializers.Serializer):
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(
        child=serializers.ListField(child=serializers.JSONField(allow_null=True))
    )


class RelatedObjectSerializer(serializers.Serializer):
    type = serializers.CharField()
    id = serializers.CharField()


class BatchErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    file = serializers.CharField(allow_null=True)
    row = serializers.IntegerField(allow_null=True)
    field = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class MetricsSerializer(serializers.Serializer):
    files = serializers.IntegerField(source="file_count")
    bytes = serializers.IntegerField()
    recordsRead = serializers.IntegerField(source="records_read")
    recordsWritten = serializers.IntegerField(source="records_written")
    errors = serializers.IntegerField(source="error_count")  # type: ignore[assignment]


class BatchFileSerializer(serializers.Serializer):
    name = serializers.CharField()
    size = serializers.IntegerField()
    complete = serializers.BooleanField()


# The version of the batch record's shape, as the docs' catalog shows it.
BATCH_RECORD_VERSION = "1.0.0"


class AvailableDatesSerializer(serializers.Serializer):
    startDate = EpochMillisField(required=False)
    endDate = EpochMillisField(required=False)


class BatchSerializer(serializers.Serializer):
    """A batch as the batch ingestion docs show it (camelCase, dates in epoch ms)."""

    id = IdField(source="pk")
    imsOrg = IdField(source="organisation_id")
    status = serializers.ChoiceField(choices=BatchStatus.choices)
    created = EpochMillisField(source="created_at")
    updated = EpochMillisField(source="updated_at")
    createdUser = IdField(source="created_by_id", allow_null=True)
    updatedUser = IdField(source="updated_by_id", allow_null=True)
    relatedObjects = serializers.SerializerMethodField()
    inputFormat = serializers.SerializerMethodField()
    errors = serializers.SerializerMethodField()  # type: ignore[assignment]
    metrics = MetricsSerializer(source="*")
    files = BatchFileSerializer(many=True)
    version = serializers.SerializerMethodField(help_text="The batch record's version.")
    tags = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    externalId = serializers.SerializerMethodField(help_text="The uploader's own id for it.")
    createdClient = serializers.CharField(source="created_client")
    availableDates = serializers.SerializerMethodField(
        help_text="When its data became available in the dataset, and stopped being."
    )

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_externalId(self, batch):
        return batch.external_id or None

    def get_version(self, batch) -> str:
        return BATCH_RECORD_VERSION

    @extend_schema_field(AvailableDatesSerializer)
    def get_availableDates(self, batch):
        dates = {"startDate": batch.available_from, "endDate": batch.available_until}
        return {
            key: EpochMillisField().to_representation(moment)
            for key, moment in dates.items()
            if moment
        }

    @extend_schema_field(RelatedObjectSerializer(many=True))
    def get_relatedObjects(self, batch):
        related = [{"type": "dataSet", "id": str(batch.dataset_id)}]
        if batch.execution_id:
            related.append({"type": "execution", "id": str(batch.execution_id)})
        return related

    @extend_schema_field(serializers.DictField(child=serializers.CharField()))
    def get_inputFormat(self, batch):
        return {"format": batch.input_format} if batch.input_format else {}

    @extend_schema_field(BatchErrorSerializer(many=True))
    def get_errors(self, batch):
        return [{"code": "invalid-data", **error} for error in batch.errors]


class InputFormatSerializer(StrictSerializer):
    format = serializers.ChoiceField(choices=["csv", "json", "parquet"])


class BatchCreateSerializer(StrictSerializer):
    datasetId = IdInputField()
    inputFormat = InputFormatSerializer(required=False)
    externalId = serializers.CharField(
        required=False, allow_blank=True, max_length=255, help_text="Your own id for it."
    )
    tags = serializers.DictField(
        child=serializers.ListField(
            child=serializers.CharField(max_length=255, allow_blank=True, trim_whitespace=False)
        ),
        required=False,
        help_text='Your tags: {"tag": ["value", …]}.',
    )


class BatchFilterSerializer(PageParameters):
    status = serializers.ChoiceField(choices=BatchStatus.choices, required=False)
    dataset_id = IdInputField(required=False)
    execution_id = IdInputField(required=False)
    organisation_id = IdInputField(required=False)


class BatchActionSerializer(StrictSerializer):
    action = serializers.ChoiceField(choices=["COMPLETE", "ABORT", "REVERT"])


class FileActionSerializer(StrictSerializer):
    action = serializers.ChoiceField(choices=["initialize", "COMPLETE"])
