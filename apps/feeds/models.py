import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from apps.accounts.models import Organisation
from apps.core.models import HistoryEntry, OrganisationOwned, StorableJSONField
from apps.core.text import counted
from apps.plugins.models import PluginType, PluginVersion
from apps.scheduling.models import ResourceSize


class FeedStatus(models.TextChoices):
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"


class SetupStatus(models.TextChoices):
    """Where the plugin's creation and connection handlers stand for the feed."""

    PENDING = "pending"
    OK = "ok"
    ERROR = "error"
    NOT_READY = "external_segment_not_ready_yet"


class AudienceSegmentExternalFeed(OrganisationOwned):
    """An external feed: an AUDIENCE_SEGMENT_EXTERNAL_FEED version put to work for one
    audience segment, with its property values. Its updates come in through the API; its
    plugin code runs warm on the workers."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="feeds")
    version = models.ForeignKey(PluginVersion, on_delete=models.PROTECT, related_name="feeds")
    segment_id = models.CharField(
        max_length=255, help_text="The audience segment the feed sends, as the partner knows it."
    )
    name = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=6, choices=FeedStatus.choices, default=FeedStatus.ACTIVE)
    # The feed's own values of its version's writable properties, by technical name.
    properties = StorableJSONField(default=dict, blank=True)
    ram_size = models.CharField(
        max_length=16, choices=ResourceSize.choices, default=ResourceSize.LOW
    )
    cpu_size = models.CharField(
        max_length=16, choices=ResourceSize.choices, default=ResourceSize.LOW
    )
    disk_size = models.CharField(
        max_length=16, choices=ResourceSize.choices, default=ResourceSize.LOW
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What the plugin's creation and connection handlers answered
    creation_status = models.CharField(
        max_length=32, choices=SetupStatus.choices, default=SetupStatus.PENDING
    )
    connection_status = models.CharField(
        max_length=32, choices=SetupStatus.choices, default=SetupStatus.PENDING
    )
    setup_message = models.TextField(blank=True)
    setup_attempts = models.PositiveSmallIntegerField(default=0)
    setup_retry_at = models.DateTimeField(null=True, blank=True)
    # The Troubleshoot button: asked when, answered what
    troubleshoot_requested_at = models.DateTimeField(null=True, blank=True)
    troubleshoot_answer = StorableJSONField(null=True, blank=True)
    troubleshoot_answered_at = models.DateTimeField(null=True, blank=True)
    # An update answered `retry`: the feed's next update waits until then.
    updates_resume_at = models.DateTimeField(null=True, blank=True)
    # Held by one worker at a time (apps.core.leases), woken by a task (apps.core.handover)
    worker = models.CharField(max_length=128, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    wake_at = models.DateTimeField(null=True, blank=True, editable=False)
    dispatch_task_id = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "external feed"
        indexes = [models.Index(fields=["organisation", "-created_at", "-id"], name="feed_recent")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=FeedStatus.values), name="feed_status_valid"
            )
        ]

    def __str__(self):
        return self.name or f"Feed {self.pk} of {self.segment_id}"

    @property
    def connected(self) -> bool:
        return self.connection_status == SetupStatus.OK

    @property
    def batching(self):
        """The version's batching configuration when it enables batching, else None."""
        configuration = getattr(self.version, "batching_configuration", None)
        return configuration if configuration and configuration.enable_batching else None

    def clean(self):
        version = getattr(self, "version", None)
        if version is None:
            return
        if version.plugin.plugin_type != PluginType.AUDIENCE_SEGMENT_EXTERNAL_FEED:
            raise ValidationError(
                {
                    "version": "A feed runs a version of an AUDIENCE_SEGMENT_EXTERNAL_FEED "
                    f"plugin; this one is {version.plugin.plugin_type}."
                }
            )
        if not version.has_code:
            raise ValidationError(
                {"version": f"Version {version.version_id} has no code yet: upload it first."}
            )
        if self.organisation_id and version.plugin.organisation_id != self.organisation_id:
            raise ValidationError({"version": "This version belongs to another organisation."})


class Operation(models.TextChoices):
    UPSERT = "UPSERT"
    DELETE = "DELETE"


class UpdateStatus(models.TextChoices):
    PENDING = "pending"  # stored, not yet through on_user_segment_update
    DONE = "ok"
    SKIPPED = "no_eligible_identifier"
    FAILED = "error"


class UserSegmentUpdate(OrganisationOwned):
    """One unit update, stored durably as it arrived, then handled in arrival order."""

    organisation_lookup = "feed__organisation"

    id = models.BigAutoField(primary_key=True)
    feed = models.ForeignKey(  # indexed first in feed_update_received
        AudienceSegmentExternalFeed,
        on_delete=models.CASCADE,
        related_name="updates",
        db_index=False,
    )
    session_id = models.CharField(max_length=255, blank=True)
    user_identifiers = StorableJSONField(default=list)
    operation = models.CharField(max_length=6, choices=Operation.choices)
    ts = models.BigIntegerField(help_text="When the update happened, epoch milliseconds.")
    received_at = models.DateTimeField()
    status = models.CharField(
        max_length=32, choices=UpdateStatus.choices, default=UpdateStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    message = models.TextField(blank=True)
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["feed", "id"],
                condition=Q(status="pending"),
                name="feed_update_pending",
            ),
            models.Index(fields=["feed", "received_at"], name="feed_update_received"),
            models.Index(
                fields=["feed", "-id"], condition=Q(status="error"), name="feed_update_failed"
            ),
        ]


class FeedLine(models.Model):
    """A line an update became. Lines are only ever added: a grouping key's lines, in id
    order, are cut into consecutive batches (a batch is an id range of its key), so each
    line belongs to exactly one batch, or still waits in its key's buffer."""

    id = models.BigAutoField(primary_key=True)
    feed = models.ForeignKey(  # indexed first in feed_line_of_key
        AudienceSegmentExternalFeed, on_delete=models.CASCADE, related_name="lines", db_index=False
    )
    grouping_key = models.TextField()
    data = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["feed", "grouping_key", "id"], name="feed_line_of_key"),
            models.Index(fields=["feed", "created_at"], name="feed_line_created"),
        ]

    def __str__(self):
        return f"Line {self.pk} ({self.grouping_key!r})"


class FeedBuffer(models.Model):
    """A grouping key's buffer: its lines after `taken_up_to` (the last line of its last
    batch) wait for a batch — `size` of them, the oldest since `oldest`. Kept as lines come
    and go (apps.feeds.services), so deciding what to flush reads one row per key."""

    feed = models.ForeignKey(
        AudienceSegmentExternalFeed, on_delete=models.CASCADE, related_name="buffers"
    )
    grouping_key = models.TextField()
    size = models.PositiveIntegerField(default=0)
    oldest = models.DateTimeField(null=True, help_text="When its oldest waiting line came.")
    taken_up_to = models.BigIntegerField(default=0, help_text="The last line already batched.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["feed", "grouping_key"], name="feed_buffer_per_key")
        ]

    def __str__(self):
        return f"{self.grouping_key!r}: {counted(self.size, 'line')}"


class FeedTraffic(models.Model):
    """Lines in (buffered) and out (delivered) of a feed in one minute: counted as they
    come and go, so the feed's chart reads an hour in 60 rows whatever the traffic."""

    feed = models.ForeignKey(
        AudienceSegmentExternalFeed, on_delete=models.CASCADE, related_name="traffic"
    )
    minute = models.DateTimeField()
    lines_in = models.PositiveBigIntegerField(default=0)
    lines_out = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "feed traffic"
        constraints = [
            models.UniqueConstraint(fields=["feed", "minute"], name="feed_traffic_per_minute")
        ]

    def __str__(self):
        return f"{self.minute:%Y-%m-%d %H:%M}: {self.lines_in} in, {self.lines_out} out"


class BatchStatus(models.TextChoices):
    PENDING = "PENDING", "Waiting to be delivered"
    DELIVERING = "DELIVERING"
    RETRYING = "RETRYING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"

    @classmethod
    def open(cls) -> list["BatchStatus"]:
        return [cls.PENDING, cls.DELIVERING, cls.RETRYING]


class FeedBatch(OrganisationOwned):
    """Lines of one grouping key flushed together: one on_batch_update call (or more,
    when it is retried), under an id the plugin sees."""

    organisation_lookup = "feed__organisation"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    feed = models.ForeignKey(  # indexed first in feed_batch_recent
        AudienceSegmentExternalFeed,
        on_delete=models.CASCADE,
        related_name="batches",
        db_index=False,
    )
    grouping_key = models.TextField()
    status = models.CharField(
        max_length=10, choices=BatchStatus.choices, default=BatchStatus.PENDING
    )
    line_count = models.PositiveIntegerField()
    # Its lines: those of its key from first_line_id to last_line_id. A key's batches are
    # delivered in this, their lines' arrival order.
    first_line_id = models.BigIntegerField()
    last_line_id = models.BigIntegerField()
    flushed_because = models.CharField(max_length=10, help_text="size, age or resume.")
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    message = models.TextField(blank=True)
    log = models.TextField(blank=True)
    send_items_in_success = models.PositiveIntegerField(null=True, blank=True)
    send_items_in_error = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=128, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "feed batches"
        indexes = [
            models.Index(fields=["feed", "-created_at", "-id"], name="feed_batch_recent"),
            models.Index(
                fields=["feed", "grouping_key", "first_line_id"],
                condition=Q(status__in=["PENDING", "DELIVERING", "RETRYING"]),
                name="feed_batch_open",
            ),
            models.Index(fields=["status", "heartbeat_at"], name="feed_batch_held"),
            models.Index(fields=["feed"], condition=Q(status="FAILED"), name="feed_batch_failed"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=BatchStatus.values), name="feed_batch_status_valid"
            )
        ]

    def __str__(self):
        return f"Batch {self.pk} ({self.grouping_key!r}, {self.line_count} lines)"

    @property
    def lines(self):
        return FeedLine.objects.filter(
            feed_id=self.feed_id,
            grouping_key=self.grouping_key,
            id__gte=self.first_line_id,
            id__lte=self.last_line_id,
        )


class FeedBatchStatusChange(HistoryEntry):
    organisation_lookup = "batch__feed__organisation"

    batch = models.ForeignKey(FeedBatch, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10)


class FeedLogEntry(models.Model):
    """What the feed's plugin printed during one call, and what the platform said of it."""

    id = models.BigAutoField(primary_key=True)
    feed = models.ForeignKey(
        AudienceSegmentExternalFeed, on_delete=models.CASCADE, related_name="log_entries"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    handler = models.CharField(max_length=40)
    text = models.TextField()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["feed", "-id"], name="feed_log_recent")]

    def __str__(self):
        return f"{self.handler} at {self.created_at:%Y-%m-%d %H:%M:%S}"
