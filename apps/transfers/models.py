import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.accounts.models import Organisation
from apps.core.models import HistoryEntry, OrganisationOwned, StorableJSONField
from apps.ingestion.models import Batch, Dataset


class TransferKind(models.TextChoices):
    IMPORT = "import", "Import"
    EXPORT = "export", "Export"


class TransferStatus(models.TextChoices):
    """The docs' eight statuses, their words exactly."""

    INITIALIZED = "Initialized"
    ACCEPTED = "Accepted"
    PROCESSING = "Processing"
    COMPLETED = "Completed"
    REJECTED = "Rejected"
    CANCELING = "Canceling"
    CANCELED = "Canceled"
    FAILED = "Failed"

    @classmethod
    def ended(cls) -> list["TransferStatus"]:
        return [cls.COMPLETED, cls.REJECTED, cls.CANCELED, cls.FAILED]


class TransferJob(OrganisationOwned):
    """An import of a file into a dataset, or an export of a dataset's data to files: a
    job a worker runs, that its submitter follows by its id."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="transfer_jobs"
    )
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="transfer_jobs")
    kind = models.CharField(max_length=6, choices=TransferKind.choices)
    job_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=64, help_text="As sent: the file's format.")
    template = models.TextField(blank=True)
    # Kept as sent (the docs' own example sends "[email protected]"): an address that is
    # not one gets no e-mail, and notification_error says so.
    notification_email = models.CharField(max_length=254, blank=True)
    # Imports
    merge = models.BooleanField(default=False, help_text="Update rows by key, not replace.")
    input_name = models.CharField(max_length=255, blank=True, help_text="The uploaded file's.")
    input_stored = models.CharField(max_length=500, blank=True)
    input_format = models.CharField(max_length=5, blank=True, help_text="csv, json or jsonl.")
    input_size = models.PositiveBigIntegerField(default=0)
    batch = models.ForeignKey(
        Batch,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="transfer_jobs",
        help_text="The batch that holds what the import brought.",
    )
    # Exports
    row_header = models.BooleanField(default=False)
    sql_query = models.TextField(blank=True)
    filters = StorableJSONField(default=dict, blank=True)
    filters_disregarded = models.BooleanField(
        default=False, help_text="Filters were sent with an SQL query, which won."
    )
    # Where it is
    status = models.CharField(
        max_length=12, choices=TransferStatus.choices, default=TransferStatus.INITIALIZED
    )
    reason = models.TextField(blank=True)
    errors = StorableJSONField(default=list, blank=True)
    error_count = models.PositiveIntegerField(default=0)
    records_processed = models.PositiveBigIntegerField(default=0)
    run_time_ms = models.PositiveBigIntegerField(default=0)
    submitted_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    links_expire_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    # The e-mail to notificationEmail when the job ended: when it went, or why it did not.
    notified_at = models.DateTimeField(null=True, blank=True)
    notification_error = models.TextField(blank=True)
    # Held by a worker (apps.core.leases) and handed to it (apps.core.handover)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=128, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True, editable=False)
    dispatch_task_id = models.CharField(max_length=64, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-submitted_at", "-id"]
        indexes = [
            models.Index(
                fields=["organisation", "-submitted_at", "-id"], name="transfer_org_recent"
            ),
            models.Index(fields=["status", "heartbeat_at"], name="transfer_status_heartbeat"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=TransferStatus.values), name="transfer_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=TransferKind.values), name="transfer_kind_valid"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.job_name} ({self.status})"

    @property
    def is_ended(self) -> bool:
        return self.status in TransferStatus.ended()

    @property
    def storage_folder(self) -> str:
        """Its input file, and each attempt's export files (in a folder per attempt)."""
        return f"transfers/{self.organisation_id}/{self.pk}"

    @property
    def data_folder(self) -> str:
        """Where an import stores the dataset's new data (kept by the batch holding it)."""
        return f"ingestion/{self.organisation_id}/{self.dataset_id}/transfers/{self.pk}"


class TransferFile(OrganisationOwned):
    """A file an export wrote: downloaded by its signed link until the job's links expire."""

    organisation_lookup = "job__organisation"

    job = models.ForeignKey(TransferJob, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=255)
    stored = models.CharField(max_length=500)
    size = models.PositiveBigIntegerField()

    class Meta:
        ordering = ["job", "name"]

    def __str__(self):
        return self.name


class TransferStatusChange(HistoryEntry):
    """A job's timeline: every status it entered, when, by whom and why."""

    organisation_lookup = "job__organisation"

    job = models.ForeignKey(TransferJob, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=12, choices=TransferStatus.choices, blank=True)
    to_status = models.CharField(max_length=12, choices=TransferStatus.choices)

    def __str__(self):
        return f"{self.from_status or '∅'} → {self.to_status}"
