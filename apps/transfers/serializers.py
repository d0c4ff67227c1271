from rest_framework import serializers

from apps.core.api.fields import EpochMillisField, IdField, IdInputField, StrictSerializer
from apps.core.api.responses import PageParameters
from apps.transfers import links
from apps.transfers.models import TransferKind, TransferStatus
from apps.transfers.row_templates import MAX_TEMPLATE_CHARS

SUBMIT_TIME = "%Y-%m-%dT%H:%M:%S+0000"  # as the docs' example writes it
MAX_QUERY_CHARS = 100_000


# --- The docs' /ls/api/batch endpoints -----------------------------------------------------


class _JobRequest(StrictSerializer):
    jobName = serializers.CharField(max_length=255)
    itemType = serializers.CharField(max_length=200, help_text="The dataset: its name, or its id.")
    contentType = serializers.CharField(max_length=64)
    template = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=MAX_TEMPLATE_CHARS
    )
    notificationEmail = serializers.CharField(required=False, allow_blank=True, max_length=254)


class ImportRequestSerializer(_JobRequest):
    contentType = serializers.CharField(
        max_length=64,
        required=False,
        help_text="application/json, plain/text (CSV), text/csv; default: the file part's.",
    )
    merge = serializers.BooleanField(required=False, default=False)
    file = serializers.FileField(required=False, allow_empty_file=True)


class ExportRequestSerializer(_JobRequest):
    rowHeader = serializers.BooleanField(required=False, default=False)
    sqlQuery = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=MAX_QUERY_CHARS
    )
    filters = serializers.JSONField(
        required=False, help_text="{field: value}, as JSON or as str() of a Python dict."
    )


class StatusRequestSerializer(StrictSerializer):
    jobId = serializers.CharField(max_length=100)


class JobStatusSerializer(serializers.Serializer):
    """The docs' Batch Status Response, field for field; `links` for a completed export."""

    submitTime = serializers.DateTimeField(source="submitted_at", format=SUBMIT_TIME)
    jobId = serializers.CharField(source="pk")
    notificationEmail = serializers.CharField(source="notification_email")
    jobName = serializers.CharField(source="job_name")
    contentType = serializers.CharField(source="content_type")
    itemType = serializers.CharField(source="dataset.name")
    recordsProcessed = serializers.CharField(source="records_processed")
    runTime = serializers.CharField(source="run_time_ms")
    status = serializers.CharField()
    reason = serializers.CharField()

    def to_representation(self, job):
        answer = super().to_representation(job)
        if job.kind == TransferKind.EXPORT and job.status == TransferStatus.COMPLETED:
            request = self.context.get("request")
            answer["links"] = [links.url_for(file, request) for file in job.files.all()]
        return answer


# --- /v1/transfer_jobs -----------------------------------------------------------------------


class TransferFileSerializer(serializers.Serializer):
    name = serializers.CharField()
    size = serializers.IntegerField()
    url = serializers.SerializerMethodField(help_text="Signed; valid until links_expire_at.")

    def get_url(self, file) -> str:
        return links.url_for(file, self.context.get("request"))


class TransferErrorSerializer(serializers.Serializer):
    file = serializers.CharField(allow_null=True)
    row = serializers.IntegerField(allow_null=True)
    field = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class TransferStatusChangeSerializer(serializers.Serializer):
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    reason = serializers.CharField()
    at = EpochMillisField(source="created_at")


class TransferJobSerializer(serializers.Serializer):
    id = serializers.CharField(source="pk", help_text="The docs' jobId.")
    organisation_id = IdField()
    dataset_id = IdField()
    dataset_name = serializers.CharField(source="dataset.name")
    kind = serializers.ChoiceField(choices=TransferKind.choices)
    job_name = serializers.CharField()
    content_type = serializers.CharField()
    status = serializers.ChoiceField(choices=TransferStatus.choices)
    reason = serializers.CharField()
    template = serializers.CharField()
    merge = serializers.BooleanField()
    row_header = serializers.BooleanField()
    sql_query = serializers.CharField()
    filters = serializers.DictField()
    filters_disregarded = serializers.BooleanField(help_text="Sent with sql_query, which won.")
    notification_email = serializers.CharField()
    input_name = serializers.CharField(help_text="The imported file's name.")
    records_processed = serializers.IntegerField()
    run_time_ms = serializers.IntegerField()
    error_count = serializers.IntegerField()
    errors = TransferErrorSerializer(  # type: ignore[assignment]  # named as DRF's property
        many=True, help_text="The first errors, by row and field."
    )
    attempts = serializers.IntegerField()
    files = TransferFileSerializer(many=True, help_text="A completed export's files.")
    history = TransferStatusChangeSerializer(many=True, source="status_changes")
    submitted_at = EpochMillisField()
    started_at = EpochMillisField(allow_null=True)
    finished_at = EpochMillisField(allow_null=True)
    links_expire_at = EpochMillisField(allow_null=True)
    notified_at = EpochMillisField(allow_null=True)


class TransferJobFilterSerializer(PageParameters):
    status = serializers.ChoiceField(choices=TransferStatus.choices, required=False)
    kind = serializers.ChoiceField(choices=TransferKind.choices, required=False)
    dataset_id = IdInputField(required=False)
    organisation_id = IdInputField(required=False)
