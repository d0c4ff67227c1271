"""Every change of state of instances, each in one function, and the scheduler's tick:
every scheduled instance keeps its coming run as a PENDING CRON execution, so that it
shows, can be canceled by a pause, and is handed to a worker on time.

The tick is idempotent and safe to run concurrently: rows are inserted with ON CONFLICT
DO NOTHING against the one-CRON-execution-per-fire-time constraint. It costs a fixed
number of queries (three) per batch of instances. (Executions' own changes are the
runner's: apps.runner.services.)"""

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Organisation
from apps.audit import services as audit
from apps.audit.services import SECRET_CLEARED, SECRET_SET
from apps.core.errors import TransitionError
from apps.core.models import Retention, insert_rows
from apps.ingestion.models import Batch
from apps.ingestion.services import DELETABLE as BATCH_DELETABLE
from apps.ingestion.services import batch_delete
from apps.plugins.models import PluginVersion
from apps.plugins.property_types import is_secret
from apps.runner.services import executions_cancel_pending, executions_prune, logs_drop
from apps.runner.wakeups import wake_workers
from apps.scheduling.cron import next_fire_time, previous_fire_time
from apps.scheduling.models import (
    CleanUp,
    CronStatus,
    Execution,
    ExecutionStatus,
    ExecutionType,
    InstanceAction,
    InstanceEvent,
    InstanceProperty,
    IntegrationBatchInstance,
    SchedulerState,
)
from apps.transfers.models import TransferJob
from apps.transfers.services import job_files_remove

TICK_BATCH_SIZE = 2000  # instances planned per INSERT: 500 took 1.5 s of a first tick, 2000 1.35
logger = logging.getLogger(__name__)
# In the order a form shows them.
EDITABLE_INSTANCE_FIELDS = (
    *Retention.RETENTION_FIELDS,
    "name",
    "version",
    "cron",
    "cron_timezone",
    "cron_status",
    "ram_size",
    "cpu_size",
    "disk_size",
    "concurrency_policy",
    "timeout_seconds",
    "max_retries",
    "retry_backoff_seconds",
    "pause_after_failures",
)
SCHEDULE_FIELDS = ("cron", "cron_timezone", "version_id")


# --- Instances ---------------------------------------------------------------------------


@transaction.atomic
def instance_create(
    *,
    organisation: Organisation,
    version: PluginVersion,
    name: str,
    user=None,
    cron: str = "",
    cron_status: str | None = None,
    properties: Mapping[str, dict | None] | None = None,
    **settings_,
) -> IntegrationBatchInstance:
    """Create an instance; with an ACTIVE cron, its first run is scheduled at once.

    `settings_` are the other editable fields (cron_timezone, sizes, retries, timeout)."""
    if unknown := set(settings_).difference(EDITABLE_INSTANCE_FIELDS):
        raise TypeError(f"Not instance fields: {', '.join(sorted(unknown))}")
    instance = IntegrationBatchInstance(
        organisation=organisation,
        version=version,
        name=name,
        cron=cron.strip(),
        cron_status=cron_status or None,
        created_by=user,
        scheduled_from=timezone.now(),
        **settings_,
    )
    instance.full_clean()
    instance.save()
    changed = _set_property_overrides(instance, properties or {})
    _record(instance, InstanceAction.CREATED, user, changes=changed)
    _schedule(instance)
    return instance


@transaction.atomic
def instance_update(
    *,
    instance: IntegrationBatchInstance,
    user=None,
    properties: Mapping[str, dict | None] | None = None,
    **changes,
) -> IntegrationBatchInstance:
    """Change an instance's settings. A cron_status change pauses or resumes it; a new
    schedule cancels the runs the old one had planned."""
    if unknown := set(changes).difference(EDITABLE_INSTANCE_FIELDS):
        raise TypeError(f"Not editable: {', '.join(sorted(unknown))}")
    _lock(instance)
    instance.refuse_if_archived()
    if "cron" in changes:
        changes["cron"] = changes["cron"].strip()
        if not changes["cron"]:
            changes.setdefault("cron_status", None)
    new_status = changes.pop("cron_status", instance.cron_status) or None
    pausing = instance.cron_status == CronStatus.ACTIVE and new_status == CronStatus.PAUSED
    resuming = instance.cron_status == CronStatus.PAUSED and new_status == CronStatus.ACTIVE
    if pausing:
        instance_pause(instance=instance, user=user)

    old_schedule = _schedule_of(instance)
    old_version_id = instance.version_id
    before = audit.snapshot(instance, changes)
    for field, value in changes.items():
        setattr(instance, field, value)
    if not (pausing or resuming):
        instance.cron_status = new_status
    instance.full_clean()
    instance.save()
    if instance.version_id != old_version_id:
        _move_overrides_to_version(instance)
    changed = audit.changes_between(before, audit.snapshot(instance, changes))
    changed.update(_set_property_overrides(instance, properties or {}))
    if _schedule_of(instance) != old_schedule:
        executions_cancel_pending(
            instance.executions.coming_cron(),
            user=user,
            reason="The instance's schedule changed.",
            release_fire_times=True,
        )
        instance.scheduled_from = timezone.now()
        instance.save(update_fields=["scheduled_from"])
        _schedule(instance)
    if changed:
        _record(instance, InstanceAction.UPDATED, user, changes=changed)

    if resuming:
        instance_resume(instance=instance, user=user)
    return instance


@transaction.atomic
def instance_pause(*, instance: IntegrationBatchInstance, user=None, reason: str = ""):
    """Stop the cron: the coming CRON executions are canceled in the same transaction.
    MANUAL executions and runs already started are left alone."""
    _lock(instance)
    instance.refuse_if_archived()
    if instance.cron_status != CronStatus.ACTIVE:
        raise TransitionError(
            "Only an ACTIVE scheduled instance can be paused; this one is "
            f"{instance.cron_status or 'not scheduled (no cron)'}."
        )
    instance.cron_status = CronStatus.PAUSED
    instance.paused_reason = reason if user is None else ""
    instance.save(update_fields=["cron_status", "paused_reason", "updated_at"])
    executions_cancel_pending(
        instance.executions.coming_cron(),
        user=user,
        reason=reason or "The instance was paused.",
        release_fire_times=True,
    )
    _record(instance, InstanceAction.PAUSED, user, reason)
    return instance


@transaction.atomic
def instance_resume(*, instance: IntegrationBatchInstance, user=None, reason: str = ""):
    """Restart the cron from now on: fire times missed while paused are not run."""
    _lock(instance)
    instance.refuse_if_archived()
    if instance.cron_status != CronStatus.PAUSED:
        raise TransitionError(
            "Only a PAUSED instance can be resumed; this one is "
            f"{instance.cron_status or 'not scheduled (no cron)'}."
        )
    instance.cron_status = CronStatus.ACTIVE
    instance.scheduled_from = timezone.now()
    instance.paused_reason = ""
    instance.save(update_fields=["cron_status", "scheduled_from", "paused_reason", "updated_at"])
    _record(instance, InstanceAction.RESUMED, user, reason)
    _schedule(instance)
    return instance


@transaction.atomic
def instance_archive(*, instance: IntegrationBatchInstance, user=None, reason: str = ""):
    """Retire an instance: it never runs again, and every pending execution is canceled.
    Its history stays readable."""
    _lock(instance)
    instance.refuse_if_archived()
    instance.archived = True
    instance.save(update_fields=["archived", "updated_at"])
    executions_cancel_pending(
        instance.executions.pending(),
        user=user,
        reason=reason or "The instance was archived.",
        release_fire_times=True,
    )
    _record(instance, InstanceAction.ARCHIVED, user, reason)
    return instance


@transaction.atomic
def instance_restore(*, instance: IntegrationBatchInstance, user=None, reason: str = ""):
    """Undo an archive: the instance runs again, its cron from now on (fire times passed
    while archived are not run). The runs the archive canceled stay canceled."""
    _lock(instance)
    if not instance.archived:
        raise TransitionError("Only an archived instance can be restored; this one is not.")
    instance.archived = False
    instance.scheduled_from = timezone.now()
    instance.save(update_fields=["archived", "scheduled_from", "updated_at"])
    _record(instance, InstanceAction.RESTORED, user, reason)
    _schedule(instance)
    return instance


def _lock(instance: IntegrationBatchInstance) -> None:
    """Reload the instance under a row lock, so concurrent changes queue up behind us."""
    instance.refresh_from_db(from_queryset=IntegrationBatchInstance.objects.select_for_update())


def _schedule_of(instance: IntegrationBatchInstance) -> tuple:
    return tuple(getattr(instance, field) for field in SCHEDULE_FIELDS)


def _schedule(instance: IntegrationBatchInstance) -> None:
    """Put the instance's coming run on the timeline now, rather than at the next tick."""
    if instance.is_scheduled:
        schedule_instances([Schedule.of(instance)], now=timezone.now())


def _record(
    instance, action: InstanceAction, user, reason: str = "", changes: dict | None = None
) -> None:
    """In the instance's history, and in its organisation's audit trail."""
    InstanceEvent.objects.create(instance=instance, action=action, user=user, reason=reason)
    audit.record(
        f"instance.{action.lower()}",
        instance,
        user=user,
        changes={**(changes or {}), **({"reason": [None, reason]} if reason else {})},
    )


def _set_property_overrides(
    instance: IntegrationBatchInstance, values: Mapping[str, dict | None]
) -> dict:
    """Set (or, with None, remove) the instance's value of writable version properties;
    returns the changes, as the audit trail records them (a secret only as set or
    cleared)."""
    if not values:
        return {}
    changed = {}
    declared = {prop.technical_name: prop for prop in instance.version.properties.all()}
    existing = {
        o.property.technical_name: o for o in instance.property_overrides.select_related("property")
    }
    errors = {}
    for name, value in values.items():
        key = f"properties.{name}"
        if name not in declared:
            errors[key] = [f"Version {instance.version.version_id} declares no property {name!r}."]
            continue
        secret = is_secret(declared[name].property_type)
        if value is None:
            if name in existing:
                before = existing.pop(name)
                before.delete()
                changed[key] = [
                    None if secret else before.value,
                    SECRET_CLEARED if secret else None,
                ]
            continue
        override = existing.get(name) or InstanceProperty(
            instance=instance, property=declared[name]
        )
        previous = None if override.pk is None or secret else override.value
        override.value = value
        try:
            override.full_clean(validate_constraints=False)
        except ValidationError as error:
            errors[key] = error.messages
            continue
        override.save()
        if secret or previous != override.value:
            changed[key] = [previous, SECRET_SET if secret else override.value]
    if errors:
        raise ValidationError(errors)
    return changed


def _move_overrides_to_version(instance: IntegrationBatchInstance) -> None:
    """Carry the instance's overrides to its new version's properties of the same name."""
    declared = {prop.technical_name: prop for prop in instance.version.properties.all()}
    errors = []
    overrides = list(instance.property_overrides.select_related("property"))
    for override in overrides:
        name = override.property.technical_name
        target = declared.get(name)
        if target is None or not target.writable:
            errors.append(
                f"The instance overrides {name!r}, which version "
                f"{instance.version.version_id} does not declare as writable."
            )
            continue
        override.property = target
    if errors:
        raise ValidationError({"version": errors})
    InstanceProperty.objects.bulk_update(overrides, ["property"])


# --- The scheduler's health ---------------------------------------------------------------


def scheduler_record_tick(
    *, at: datetime, seconds: float | None = None, errors: tuple[str, ...] = ()
) -> None:
    """Remember how a tick went: its time, how long it took, whether it went without error."""
    fields: dict[str, object] = {"last_tick_at": at, "last_tick_seconds": seconds}
    if errors:
        fields |= {"last_error": "\n".join(errors), "last_error_at": at}
    else:
        fields |= {"last_good_tick_at": at}
    SchedulerState.objects.update_or_create(pk=1, defaults=fields)


# --- The tick ------------------------------------------------------------------------------


def schedule_tick(*, now: datetime | None = None, batch_size: int = TICK_BATCH_SIZE) -> int:
    """Plan the coming run of every ACTIVE, unarchived instance with a cron that has none;
    returns how many were planned. Those that could not be planned carry their
    schedule_error. A tick with nothing to plan is two queries, however many instances."""
    now = now or timezone.now()
    scheduled = dict(
        IntegrationBatchInstance.objects.scheduled().values_list("pk", "schedule_error")
    )
    # Two plain scans compared here, not an anti-join: the planner's estimate of a table
    # the tick has just filled can turn an anti-join into a nested loop of seconds.
    planned = set(
        _coming_cron_runs(now).order_by().values_list("instance_id", flat=True).distinct()
    )
    needing = sorted(pk for pk, error in scheduled.items() if error or pk not in planned)
    for start in range(0, len(needing), batch_size):
        batch = _schedules(needing[start : start + batch_size])
        schedule_instances(batch, now=now, planned=planned)
    return len(needing)


@dataclass(frozen=True)
class Schedule:
    """An instance's schedule as a tick reads it: tuples, not models, for thousands of them
    (building 10,000 deferred models took 0.3 s of a first tick's 2)."""

    pk: int
    organisation_id: int
    cron: str
    cron_timezone: str
    scheduled_from: datetime | None
    created_at: datetime
    schedule_error: str

    @classmethod
    def of(cls, instance: IntegrationBatchInstance) -> "Schedule":
        return cls(*(getattr(instance, name) for name in SCHEDULE_COLUMNS))


SCHEDULE_COLUMNS = [field.name for field in dataclasses.fields(Schedule)]


def _schedules(pks: list[int]) -> list[Schedule]:
    rows = IntegrationBatchInstance.objects.scheduled().filter(pk__in=pks).order_by("pk")
    return [Schedule(*row) for row in rows.values_list(*SCHEDULE_COLUMNS)]


def _coming_cron_runs(now: datetime):
    """The runs the cron planned that are still to come (a retry is not a plan)."""
    return Execution.objects.coming_cron().filter(
        retry_of__isnull=True, expected_start_date__gt=now
    )


def schedule_instances(
    instances: Sequence[Schedule], *, now: datetime, planned: set[int] | None = None
) -> dict[int, str]:
    """Insert, for each instance, its next fire time and, if one was missed since its
    schedule began (the scheduler was down), the latest missed one: never a burst.

    An instance whose coming run is already PENDING needs nothing: that run was planned
    by an earlier tick, which also planned every fire time up to it (`planned`: the
    instances known to have one, else looked up). An instance whose fire times cannot be
    computed is left out, its error recorded on it, and the others are scheduled all the
    same. Returns those left out, with why."""
    if planned is None:
        planned = set(
            _coming_cron_runs(now)
            .filter(instance_id__in=[instance.pk for instance in instances])
            .values_list("instance_id", flat=True)
        )
    rows: dict[str, list] = {"organisation_id": [], "instance_id": [], "expected_start_date": []}
    failed = {}
    for instance in instances:
        if instance.pk in planned:
            continue
        try:
            fire_times = _fire_times_to_keep(instance, now)
        except Exception as error:  # one instance's schedule must not stop everyone's
            logger.exception("Instance %s could not be scheduled", instance.pk)
            failed[instance.pk] = f"{type(error).__name__}: {error}"[:500]
            continue
        for fire_time in fire_times:
            rows["organisation_id"].append(instance.organisation_id)
            rows["instance_id"].append(instance.pk)
            rows["expected_start_date"].append(fire_time)
    if rows["instance_id"]:  # the unique constraint makes concurrent ticks insert each once
        insert_rows(Execution(execution_type=ExecutionType.CRON), rows)
        wake_workers()  # to start a missed fire time now, and sleep until the next
    _record_schedule_errors(instances, failed)
    return failed


def _record_schedule_errors(instances: Sequence[Schedule], failed: dict) -> None:
    """Show each failure on its instance; clear the errors of instances planned again. (Only
    instances whose error changes are written, so a healthy tick writes nothing here.)"""
    for pk, message in failed.items():
        IntegrationBatchInstance.objects.filter(pk=pk).update(schedule_error=message)
    recovered = [i.pk for i in instances if i.schedule_error and i.pk not in failed]
    if recovered:
        IntegrationBatchInstance.objects.filter(pk__in=recovered).update(schedule_error="")


def _fire_times_to_keep(instance: Schedule, now: datetime) -> list[datetime]:
    coming, latest_due = _fire_times_around(instance.cron, instance.cron_timezone, now)
    if latest_due > (instance.scheduled_from or instance.created_at):
        return [coming, latest_due]
    return [coming]


@lru_cache(maxsize=4096)  # within a tick, instances sharing a cron share its fire times
def _fire_times_around(cron: str, zone: str, now: datetime) -> tuple[datetime, datetime]:
    """The next fire time after `now`, and the latest at or before it."""
    return next_fire_time(cron, zone, now), previous_fire_time(cron, zone, now)


# --- Retention ------------------------------------------------------------------------

CLEAN_UP_LIMIT = 20_000  # rows of each kind per organisation and pass: the rest, next pass


def retention_clean_up(*, now: datetime | None = None) -> list[CleanUp]:
    """Apply each organisation's retention (and its instances' own): delete finished
    executions past their days or beyond the last N runs, drop old logs, remove old
    batches' data and jobs' files. In short chunks, outside any long transaction.
    Returns what each organisation's pass removed, where it removed anything."""
    now = now or timezone.now()
    passes = []
    for organisation in Organisation.objects.order_by("pk").iterator():
        started = timezone.now()
        removed = _clean_up_instances(organisation, now)
        removed.update(_clean_up_data(organisation, now))
        if any(removed.values()):
            passes.append(
                CleanUp.objects.create(
                    organisation=organisation,
                    started_at=started,
                    finished_at=timezone.now(),
                    **removed,
                )
            )
    return passes


def _clean_up_instances(organisation: Organisation, now: datetime) -> dict[str, int]:
    deleted = dropped = 0
    instances = organisation.integration_batch_instances.all()
    if not any(getattr(organisation, name) for name in Retention.RETENTION_FIELDS):
        instances = instances.exclude(
            keep_executions_days=None, keep_last_runs=None, keep_logs_days=None
        )
    for instance in instances.iterator():
        policy = {
            name: getattr(instance, name) or getattr(organisation, name)
            for name in Retention.RETENTION_FIELDS
        }
        finished = instance.executions.filter(status__in=ExecutionStatus.terminal())
        if days := policy["keep_executions_days"]:
            old = finished.filter(end_date__lt=now - timedelta(days=days))
            deleted += executions_prune(old, limit=CLEAN_UP_LIMIT - deleted)
        if keep := policy["keep_last_runs"]:
            kept = finished.order_by("-expected_start_date", "-pk").values("pk")[:keep]
            beyond = finished.exclude(pk__in=kept)
            deleted += executions_prune(beyond, limit=CLEAN_UP_LIMIT - deleted)
        if days := policy["keep_logs_days"]:
            old = finished.filter(end_date__lt=now - timedelta(days=days))
            notice = (
                f"[The log of this run was removed on {now:%Y-%m-%d} UTC: logs are kept "
                f"{days} day{'s' if days > 1 else ''}.]\n"
            )
            dropped += logs_drop(old, notice=notice, limit=CLEAN_UP_LIMIT - dropped)
    return {"executions_deleted": deleted, "logs_dropped": dropped}


def _clean_up_data(organisation: Organisation, now: datetime) -> dict[str, int]:
    days = organisation.keep_data_days
    if not days:
        return {}
    before = now - timedelta(days=days)
    batches = Batch.objects.filter(
        organisation=organisation, status__in=BATCH_DELETABLE, created_at__lt=before
    )
    deleted = 0
    for batch in batches[:CLEAN_UP_LIMIT]:
        try:
            batch_delete(batch=batch)
        except TransitionError:  # changed meanwhile
            continue
        deleted += 1
    jobs = TransferJob.objects.filter(organisation=organisation, finished_at__lt=before)
    return {
        "batches_deleted": deleted,
        "job_files_removed": job_files_remove(jobs, limit=CLEAN_UP_LIMIT),
    }
