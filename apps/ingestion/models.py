from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.accounts.models import Organisation
from apps.core.models import (
    FieldUniqueConstraint,
    HistoryEntry,
    OrganisationOwned,
    OrganisationScopedQuerySet,
    StorableJSONField,
)
from apps.ingestion.schema import validate_schema
from apps.scheduling.models import Execution


class Dataset(OrganisationOwned):
    """Where batches land: a name and a schema of typed fields."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="datasets"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    schema = StorableJSONField(
        validators=[validate_schema],
        help_text='[{"name": …, "type": "String", "required": false}, …]',
        error_messages={"blank": "A schema is a non-empty list of fields: {name, type, required}."},
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            FieldUniqueConstraint(
                fields=["organisation", "name"],
                name="dataset_name_unique_in_organisation",
                violation_error_message="This organisation already has a dataset with this name.",
            ),
        ]

    def __str__(self):
        return self.name


class BatchStatus(models.TextChoices):
    """The batch ingestion docs' statuses."""

    LOADING = "loading", "Loading"
    LOADED = "loaded", "Loaded"
    STAGING = "staging", "Staging"
    STAGED = "staged", "Staged"
    ACTIVE = "active", "Active"
    FAILED = "failed", "Failed"
    RETRYING = "retrying", "Retrying"
    STALLED = "stalled", "Stalled"
    ABANDONED = "abandoned", "Abandoned"
    ABORTED = "aborted", "Aborted"
    INACTIVE = "inactive", "Inactive"
    DELETED = "deleted", "Deleted"


class BatchQuerySet(OrganisationScopedQuerySet):
    def active(self):
        return self.filter(status=BatchStatus.ACTIVE)


class Batch(OrganisationOwned):
    """Files uploaded together into a dataset, validated and promoted as one."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="batches")
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="batches")
    execution = models.ForeignKey(
        Execution,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="batches",
        help_text="The plugin run that created it, if one did.",
    )
    status = models.CharField(
        max_length=10, choices=BatchStatus.choices, default=BatchStatus.LOADING
    )
    input_format = models.CharField(
        max_length=10,
        blank=True,
        help_text="csv, json or parquet; empty: each file's extension says.",
    )
    # What the batch ingestion docs' catalog shows of a batch: the uploader's own id and
    # tags for it, the client that created it, and when its data was available.
    external_id = models.CharField(max_length=255, blank=True)
    tags = StorableJSONField(default=dict, blank=True, help_text="{tag: [values…]}")
    created_client = models.CharField(
        max_length=32, blank=True, help_text="api, plugin, console or admin."
    )
    available_from = models.DateTimeField(null=True, blank=True, editable=False)
    available_until = models.DateTimeField(null=True, blank=True, editable=False)
    errors = StorableJSONField(default=list, blank=True)
    error_count = models.PositiveIntegerField(default=0)
    file_count = models.PositiveIntegerField(default=0)
    bytes = models.PositiveBigIntegerField(default=0)
    records_read = models.PositiveBigIntegerField(default=0)
    records_written = models.PositiveBigIntegerField(default=0)
    data = models.CharField(
        max_length=500, blank=True, help_text="Where the batch's Parquet data is."
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=128, blank=True)
    # When the batch was last handed to the task queue for processing, and by which task.
    dispatched_at = models.DateTimeField(null=True, blank=True, editable=False)
    dispatch_task_id = models.CharField(max_length=64, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = BatchQuerySet.as_manager()  # type: ignore[misc]  # a narrower manager than the base's

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "batches"
        indexes = [
            models.Index(fields=["organisation", "-created_at", "-id"], name="batch_org_recent"),
            models.Index(fields=["dataset", "status"], name="batch_dataset_status"),
            models.Index(fields=["status", "heartbeat_at"], name="batch_status_heartbeat"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=BatchStatus.values), name="batch_status_valid"
            ),
        ]

    def __str__(self):
        return f"Batch {self.pk} ({self.status})"

    @property
    def storage_folder(self) -> str:
        return f"ingestion/{self.organisation_id}/{self.dataset_id}/{self.pk}"


class BatchFile(OrganisationOwned):
    """A file of a batch: uploaded whole, or assembled from chunks."""

    organisation_lookup = "batch__organisation"

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(
        max_length=1024, help_text="As the uploader named it, folders included."
    )
    stored = models.CharField(
        max_length=500, blank=True, help_text="Where the whole file is stored."
    )
    size = models.PositiveBigIntegerField(default=0)
    expected_size = models.PositiveBigIntegerField(null=True, blank=True)
    complete = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["batch", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["batch", "name"], name="batch_file_name_unique_in_batch"
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def chunk_folder(self) -> str:
        return f"{self.batch.storage_folder}/chunks/{self.pk}"


class BatchFileChunk(models.Model):
    """Bytes [start, end) of a file uploaded in chunks, kept until the file is complete."""

    file = models.ForeignKey(BatchFile, on_delete=models.CASCADE, related_name="chunks")
    start = models.PositiveBigIntegerField()
    end = models.PositiveBigIntegerField()
    stored = models.CharField(max_length=500)

    class Meta:
        ordering = ["file", "start"]
        constraints = [
            models.UniqueConstraint(fields=["file", "start"], name="batch_chunk_start_unique"),
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")), name="batch_chunk_not_empty"
            ),
        ]

    def __str__(self):
        return f"Bytes {self.start}-{self.end - 1} of {self.file}"


class BatchStatusChange(HistoryEntry):
    """A batch's history: each status it entered, when, by whom and why."""

    organisation_lookup = "batch__organisation"

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=10, choices=BatchStatus.choices, blank=True)
    to_status = models.CharField(max_length=10, choices=BatchStatus.choices)


class BatchUpload(models.Model):
    """An upload still streaming into a batch (a whole file, a chunk, or chunks being
    joined). While one is in flight the batch cannot be completed; one that ends after its
    batch left Loading is refused and nothing of it is kept. Kept alive by heartbeats as
    its bytes arrive: one silent for long lost its uploader, and no longer counts."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="uploads")
    name = models.CharField(max_length=1024)
    stored = models.CharField(max_length=500, help_text="Where its bytes are being written.")
    started_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField()

    def __str__(self):
        return f"Upload of {self.name} into batch {self.batch_id}"
