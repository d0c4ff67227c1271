from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.utils import timezone

from apps.accounts.models import Organisation
from apps.core.errors import TransitionError
from apps.core.models import (
    FieldUniqueConstraint,
    HistoryEntry,
    OrganisationOwned,
    OrganisationScopedQuerySet,
    Retention,
    StorableJSONField,
)
from apps.plugins.models import PluginProperty, PluginType, PluginVersion, is_stored_secret
from apps.plugins.property_types import sealed, validate_property_value
from apps.scheduling.cron import validate_cron, validate_time_zone

# A page showing a run due this soon polls for its start.
SOON = timedelta(seconds=90)


class CronStatus(models.TextChoices):
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"


class ResourceSize(models.TextChoices):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    LARGE = "LARGE"
    EXTRA_LARGE = "EXTRA_LARGE"


class ConcurrencyPolicy(models.TextChoices):
    ALLOW = "ALLOW", "Start the next one anyway"
    FORBID = "FORBID", "Skip the next one"


class InstanceQuerySet(OrganisationScopedQuerySet):
    def scheduled(self):
        """Instances whose cron runs: ACTIVE, not archived."""
        return self.filter(archived=False, cron_status=CronStatus.ACTIVE).exclude(cron="")

    def with_next_waiting(self):
        """`next_pending_date` and `next_pending_type`: the first run waiting, of any kind
        (a paused instance's MANUAL runs still run)."""
        waiting = Execution.objects.filter(
            instance=OuterRef("pk"), status=ExecutionStatus.PENDING
        ).order_by("expected_start_date")
        return self.annotate(
            next_pending_date=Subquery(waiting.values("expected_start_date")[:1]),
            next_pending_type=Subquery(waiting.values("execution_type")[:1]),
        )

    def with_next_run(self):
        """As with_next_waiting, and `next_run_date`: when the coming CRON run is to start."""
        coming = Execution.objects.filter(
            instance=OuterRef("pk"),
            status=ExecutionStatus.PENDING,
            execution_type=ExecutionType.CRON,
            retry_of__isnull=True,
        ).order_by("expected_start_date")
        return self.with_next_waiting().annotate(
            next_run_date=Subquery(coming.values("expected_start_date")[:1])
        )

    def with_last_run(self):
        """`last_run_status` and `last_run_end`: how the latest run that ran has ended.
        (Latest by expected start: the (instance, expected_start_date) index answers it
        without sorting an instance's whole history.)"""
        finished = Execution.objects.filter(
            instance=OuterRef("pk"), status__in=ExecutionStatus.terminal(), start_date__isnull=False
        ).order_by("-expected_start_date")
        return self.annotate(
            last_run_status=Subquery(finished.values("status")[:1]),
            last_run_end=Subquery(finished.values("end_date")[:1]),
        )


class IntegrationBatchInstance(Retention, OrganisationOwned):
    """A version put to work: its schedule, its resource sizes and its property values."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="integration_batch_instances"
    )
    version = models.ForeignKey(PluginVersion, on_delete=models.PROTECT, related_name="instances")
    name = models.CharField(max_length=255)
    archived = models.BooleanField(default=False)
    cron = models.CharField(
        max_length=120,
        blank=True,
        validators=[validate_cron],
        help_text="Five fields: minute hour day-of-month month day-of-week. Empty for "
        "an instance that only runs when triggered.",
    )
    cron_timezone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="The time zone the cron is read in, e.g. Europe/Paris.",
    )
    # Absent (null), not empty, without a cron: the API shows null, as the seed does.
    cron_status = models.CharField(  # noqa: DJ001
        max_length=8,
        choices=CronStatus.choices,
        null=True,
        blank=True,
        help_text="Required with a cron, absent without one.",
    )
    ram_size = models.CharField(
        max_length=12, choices=ResourceSize.choices, default=ResourceSize.LOW
    )
    cpu_size = models.CharField(
        max_length=12, choices=ResourceSize.choices, default=ResourceSize.LOW
    )
    disk_size = models.CharField(
        max_length=12, choices=ResourceSize.choices, default=ResourceSize.LOW
    )
    concurrency_policy = models.CharField(
        max_length=8, choices=ConcurrencyPolicy.choices, default=ConcurrencyPolicy.ALLOW
    )
    timeout_seconds = models.PositiveIntegerField(
        default=3600,
        validators=[MinValueValidator(1), MaxValueValidator(7 * 24 * 3600)],
        help_text="A run still going after this long is stopped and fails.",
    )
    max_retries = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(10)],
        help_text="How many times a failed run is tried again.",
    )
    retry_backoff_seconds = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 3600)],
        help_text="The wait before the first retry; it doubles for each next one.",
    )
    pause_after_failures = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Pause the schedule after this many failed runs in a row (empty: never).",
    )
    # Why the instance was paused by the platform (the failure breaker), shown until resumed.
    paused_reason = models.CharField(max_length=500, blank=True, editable=False)
    # Fire times at or before this moment are never run: the schedule starts (again) here
    # when the instance is created, its cron changes or it is resumed.
    scheduled_from = models.DateTimeField(null=True, blank=True, editable=False)
    # Why the scheduler could not plan this instance's coming run at its last try (a time
    # zone the system no longer knows, say); empty once it can again.
    schedule_error = models.CharField(max_length=500, blank=True, editable=False)

    objects = InstanceQuerySet.as_manager()  # type: ignore[misc]  # a narrower manager than the base's
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(cron="") & Q(cron_status__isnull=True))
                # IN over a NULL is unknown, which a CHECK lets through: hence isnull.
                | (~Q(cron="") & Q(cron_status__isnull=False, cron_status__in=CronStatus.values)),
                name="instance_cron_status_iff_cron",
                violation_error_message=(
                    "cron_status is required with a cron and absent without one."
                ),
            ),
            *(
                models.CheckConstraint(
                    condition=Q(**{f"{size}__in": ResourceSize.values}),
                    name=f"instance_{size}_valid",
                )
                for size in ("ram_size", "cpu_size", "disk_size")
            ),
            models.CheckConstraint(
                condition=Q(concurrency_policy__in=ConcurrencyPolicy.values),
                name="instance_concurrency_policy_valid",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def is_scheduled(self) -> bool:
        return bool(self.cron) and self.cron_status == CronStatus.ACTIVE and not self.archived

    def refuse_if_archived(self) -> None:
        """An archived instance is history: it neither changes nor runs."""
        if self.archived:
            raise TransitionError(
                "This instance is archived: it cannot change or run.", code="archived"
            )

    def clean(self):
        errors = {}
        if self.cron and not self.cron_status:
            errors["cron_status"] = "Required with a cron: ACTIVE or PAUSED."
        if not self.cron and self.cron_status:
            errors["cron_status"] = "Only an instance with a cron has a cron_status."
        version = getattr(self, "version", None)
        if version is not None:
            if not version.has_code:
                errors["version"] = (
                    f"Version {version.version_id} has no code yet: upload it before running it."
                )
            elif version.plugin.plugin_type != PluginType.INTEGRATION_BATCH:
                errors["version"] = (
                    f"Instances run INTEGRATION_BATCH plugins; this one is "
                    f"{version.plugin.plugin_type}."
                )
            elif self.organisation_id and version.plugin.organisation_id != self.organisation_id:
                errors["version"] = "This version belongs to another organisation."
        if errors:
            raise ValidationError(errors)


class InstanceProperty(OrganisationOwned):
    """An instance's own value for one of its version's writable properties."""

    organisation_lookup = "instance__organisation"

    instance = models.ForeignKey(
        IntegrationBatchInstance, on_delete=models.CASCADE, related_name="property_overrides"
    )
    property = models.ForeignKey(
        PluginProperty, on_delete=models.CASCADE, related_name="instance_overrides"
    )
    value = StorableJSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = "instance properties"
        constraints = [
            FieldUniqueConstraint(
                fields=["instance", "property"],
                name="instance_property_once_per_instance",
                violation_error_message="This instance already overrides this property.",
            ),
        ]

    def __str__(self):
        return f"{self.property.technical_name} of {self.instance}"

    def clean(self):
        prop = getattr(self, "property", None)
        instance = getattr(self, "instance", None)
        if prop is None:
            return
        if instance is not None and prop.version_id != instance.version_id:
            raise ValidationError({"property": "Not a property of this instance's version."})
        if not prop.writable:
            raise ValidationError(
                {
                    "property": f"{prop.technical_name} is not writable: "
                    "an instance cannot override it."
                }
            )
        if is_stored_secret(self):
            return
        try:
            validate_property_value(prop.property_type, self.value)
        except ValidationError as error:
            raise ValidationError({"value": error.messages}) from None

    def save(self, *args, **kwargs):
        self.value = sealed(self.property.property_type, self.value)  # a SECRET is encrypted
        super().save(*args, **kwargs)


class ExecutionStatus(models.TextChoices):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"

    @classmethod
    def terminal(cls) -> list["ExecutionStatus"]:
        return [cls.SUCCEEDED, cls.FAILED, cls.CANCELED]


class ExecutionType(models.TextChoices):
    MANUAL = "MANUAL"
    CRON = "CRON"


class JobType(models.TextChoices):
    BATCH_INTEGRATION = "BATCH_INTEGRATION"


class ExecutionQuerySet(OrganisationScopedQuerySet):
    def pending(self):
        return self.filter(status=ExecutionStatus.PENDING)

    def coming_cron(self):
        return self.pending().filter(execution_type=ExecutionType.CRON)

    def ready(self):
        """Not waiting for another run to end first (a backfill's runs under FORBID). A
        subquery, not a join: a worker's claim locks these rows FOR UPDATE."""
        unfinished = Execution.objects.filter(pk=OuterRef("waits_for_id")).exclude(
            status__in=ExecutionStatus.terminal()
        )
        return self.filter(Q(waits_for__isnull=True) | ~Exists(unfinished))

    def due(self, now=None):
        return self.pending().ready().filter(expected_start_date__lte=now or timezone.now())

    def missed(self, now):
        """Due CRON runs whose instance has a later fire time due as well (waiting, run or
        running): missed while the scheduler or the workers were down, canceled by the
        tick rather than run."""
        return self.due(now).filter(_replaced_by_a_later_fire_time(now))

    def claimable(self, now):
        """What a worker may start now, earliest first: due, not waiting for another run,
        not missed."""
        return (
            self.due(now)
            .exclude(_replaced_by_a_later_fire_time(now))
            .order_by("expected_start_date", "pk")
        )


# Execution.may_have_to_yield, as a condition on executions.
MAY_HAVE_TO_YIELD = Q(instance__concurrency_policy=ConcurrencyPolicy.FORBID) & (
    Q(execution_type=ExecutionType.CRON) | Q(backfill__isnull=False)
)


def _replaced_by_a_later_fire_time(now) -> Q:
    later = Execution.objects.filter(
        instance_id=OuterRef("instance_id"),
        execution_type=ExecutionType.CRON,
        retry_of__isnull=True,
        expected_start_date__gt=OuterRef("expected_start_date"),
        expected_start_date__lte=now,
    )
    return Q(Exists(later), execution_type=ExecutionType.CRON, retry_of__isnull=True)


class Execution(OrganisationOwned):
    """One run of an instance's code, scheduled (CRON) or triggered by hand (MANUAL)."""

    # The public API names the object an execution runs for, as the seed shows.
    external_model_name = "PUBLIC_INTEGRATION_BATCH"

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="executions"
    )
    instance = models.ForeignKey(
        IntegrationBatchInstance, on_delete=models.CASCADE, related_name="executions"
    )
    execution_type = models.CharField(max_length=8, choices=ExecutionType.choices)
    job_type = models.CharField(
        max_length=24, choices=JobType.choices, default=JobType.BATCH_INTEGRATION, editable=False
    )
    status = models.CharField(
        max_length=12, choices=ExecutionStatus.choices, default=ExecutionStatus.PENDING
    )
    expected_start_date = models.DateTimeField()
    start_date = models.DateTimeField(null=True, blank=True)
    end_date = models.DateTimeField(null=True, blank=True)
    error = StorableJSONField(null=True, blank=True)
    parameters = StorableJSONField(default=dict, blank=True)
    result = StorableJSONField(null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who triggered a MANUAL execution.",
    )
    num_tasks = models.PositiveIntegerField(null=True, blank=True)
    completed_tasks = models.PositiveIntegerField(default=0)
    erroneous_tasks = models.PositiveIntegerField(default=0)
    attempt = models.PositiveSmallIntegerField(default=1)
    repeats = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="repeated_by",
        help_text="The finished execution this MANUAL one runs again by hand (re-run, retry).",
    )
    retry_of = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="retry",
        help_text="The failed attempt this execution tries again.",
    )
    backfill = models.ForeignKey(
        "Backfill", null=True, blank=True, on_delete=models.SET_NULL, related_name="executions"
    )
    fire_time = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The cron fire time a backfill run (or a CRON run's retry) stands for.",
    )
    waits_for = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="waited_by",
        help_text="Starts only once this run has ended (backfill runs under FORBID).",
    )
    # Set when a pause or a new schedule cancels a coming CRON run: its fire time is free
    # to be scheduled again (resuming before it comes runs it after all). A run canceled
    # by hand or skipped keeps its fire time, so the scheduler does not bring it back.
    fire_time_released = models.BooleanField(default=False, editable=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=128, blank=True, help_text="host:pid of the runner.")
    log_removed_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When retention dropped its log."
    )
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ExecutionQuerySet.as_manager()  # type: ignore[misc]  # a narrower manager than the base's

    class Meta:
        ordering = ["-expected_start_date", "-pk"]
        indexes = [
            models.Index(fields=["status", "expected_start_date"], name="execution_status_due"),
            # The workers' queue: the earliest waiting run first (claimable()).
            models.Index(
                fields=["expected_start_date", "id"],
                condition=Q(status="PENDING"),
                name="execution_queue",
            ),
            models.Index(
                fields=["instance", "-expected_start_date"], name="execution_instance_recent"
            ),
            models.Index(
                fields=["organisation", "-expected_start_date"], name="execution_org_recent"
            ),
            # An instance's next waiting run: without it, finding it walks the instance's
            # whole history (pending runs are its newest).
            models.Index(
                fields=["instance", "expected_start_date"],
                condition=Q(status="PENDING"),
                name="execution_instance_waiting",
            ),
            models.Index(
                fields=["heartbeat_at"],
                condition=Q(status="RUNNING"),
                name="execution_running_heartbeat",
            ),
            # The dashboard's latest failures, without sorting every failed run.
            models.Index(
                fields=["organisation", "-end_date"],
                condition=Q(status="FAILED"),
                name="execution_org_failures",
            ),
        ]
        constraints = [
            # One CRON execution per fire time: concurrent scheduler ticks cannot double-fire.
            # (A retry is a later attempt of a fire time, not a fire time of its own.)
            models.UniqueConstraint(
                fields=["instance", "expected_start_date"],
                condition=Q(
                    execution_type=ExecutionType.CRON,
                    retry_of__isnull=True,
                    fire_time_released=False,
                ),
                name="execution_one_cron_run_per_fire_time",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ExecutionStatus.values), name="execution_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(execution_type__in=ExecutionType.values), name="execution_type_valid"
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True)
                | Q(start_date__isnull=True)
                | Q(end_date__gte=F("start_date")),
                name="execution_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=False) | ~Q(status__in=ExecutionStatus.terminal()),
                name="execution_terminal_has_end_date",
            ),
        ]

    def __str__(self):
        return f"Execution {self.pk} of {self.instance.name} ({self.status})"

    @property
    def external_model_id(self) -> str:
        return str(self.instance_id)

    @property
    def is_terminal(self) -> bool:
        return self.status in ExecutionStatus.terminal()

    def may_change_soon(self, now: datetime) -> bool:
        """Running, or due within SOON: what a page showing it polls for (a run due in days
        does not change until then, unless someone acts on it)."""
        return self.status == ExecutionStatus.RUNNING or (
            self.status == ExecutionStatus.PENDING and self.expected_start_date <= now + SOON
        )

    @property
    def may_have_to_yield(self) -> bool:
        """Under FORBID (as the instance read with the run says), a CRON or backfill run
        may have to yield to another run of its instance (MAY_HAVE_TO_YIELD, in SQL)."""
        return self.instance.concurrency_policy == ConcurrencyPolicy.FORBID and (
            self.execution_type == ExecutionType.CRON or self.backfill_id is not None
        )

    @property
    def stands_for(self) -> datetime | None:
        """The cron fire time this run is for, as the plugin is told: a CRON run's own
        time, a backfill run's past one; None for a run asked for by hand."""
        if self.fire_time is not None:
            return self.fire_time
        return self.expected_start_date if self.execution_type == ExecutionType.CRON else None

    @property
    def duration(self) -> timedelta | None:
        if self.start_date and self.end_date:
            return self.end_date - self.start_date
        return None


class Backfill(OrganisationOwned):
    """Runs asked for at once, one for each past fire time of an instance's cron over a
    date range, run in fire-time order under the instance's concurrency policy."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="backfills"
    )
    instance = models.ForeignKey(
        IntegrationBatchInstance, on_delete=models.CASCADE, related_name="backfills"
    )
    start_date = models.DateTimeField(help_text="The first fire time it may cover.")
    end_date = models.DateTimeField(help_text="The last fire time it may cover.")
    run_count = models.PositiveIntegerField(help_text="Runs created, one per fire time.")
    skipped_count = models.PositiveIntegerField(
        default=0, help_text="Fire times left out because a run for them already succeeded."
    )
    one_at_a_time = models.BooleanField(
        help_text="Each run waits for the one before (the instance's policy was FORBID)."
    )
    parameters = StorableJSONField(default=dict, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=F("start_date")), name="backfill_ends_after_start"
            )
        ]

    def __str__(self):
        return f"Backfill {self.pk} of {self.instance.name} ({self.run_count} runs)"


class ExecutionStatusChange(HistoryEntry):
    """The history of an execution: every status it entered, when, by whom and why."""

    organisation_lookup = "execution__organisation"

    execution = models.ForeignKey(
        Execution, on_delete=models.CASCADE, related_name="status_changes"
    )
    from_status = models.CharField(max_length=12, choices=ExecutionStatus.choices, blank=True)
    to_status = models.CharField(max_length=12, choices=ExecutionStatus.choices)

    def __str__(self):
        return f"{self.from_status or '∅'} → {self.to_status}"


class InstanceAction(models.TextChoices):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    PAUSED = "PAUSED"
    RESUMED = "RESUMED"
    ARCHIVED = "ARCHIVED"
    RESTORED = "RESTORED"


class InstanceEvent(HistoryEntry):
    """The history of an instance: who created, changed, paused, resumed, archived or
    restored it."""

    organisation_lookup = "instance__organisation"

    instance = models.ForeignKey(
        IntegrationBatchInstance, on_delete=models.CASCADE, related_name="events"
    )
    action = models.CharField(max_length=12, choices=InstanceAction.choices)

    def __str__(self):
        return f"{self.action} {self.instance}"


class CleanUp(OrganisationOwned):
    """What one pass of the retention clean-up removed in an organisation."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="clean_ups"
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    executions_deleted = models.PositiveIntegerField(default=0)
    logs_dropped = models.PositiveIntegerField(default=0)
    batches_deleted = models.PositiveIntegerField(default=0)
    job_files_removed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-finished_at", "-pk"]
        indexes = [models.Index(fields=["organisation", "-finished_at"], name="clean_up_latest")]

    def __str__(self):
        return f"Clean-up of {self.finished_at:%Y-%m-%d %H:%M}"

    @property
    def removed_anything(self) -> bool:
        return any(
            (
                self.executions_deleted,
                self.logs_dropped,
                self.batches_deleted,
                self.job_files_removed,
            )
        )


class SchedulerState(models.Model):
    """The scheduler's health, one row: when it last ticked, last ticked without error, and
    what went wrong last. The dashboard shows it, so a scheduler that stopped or keeps
    failing is seen rather than silently leaving runs unscheduled."""

    last_tick_at = models.DateTimeField(null=True)
    last_good_tick_at = models.DateTimeField(null=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True)
    last_tick_seconds = models.FloatField(null=True, help_text="How long the last tick took.")
    unschedulable_instances = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"Scheduler, last good tick {self.last_good_tick_at or 'never'}"

    @classmethod
    def current(cls) -> "SchedulerState":
        return cls.objects.filter(pk=1).first() or cls(pk=1)
