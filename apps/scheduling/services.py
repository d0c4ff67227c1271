"""Every change of state of instances and executions, each in one function."""

from collections.abc import Mapping
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import Organisation
from apps.core.errors import TransitionError
from apps.core.text import json_problem
from apps.plugins.models import PluginVersion
from apps.runner.dispatch import dispatch_on_commit
from apps.scheduling.models import (
    ConcurrencyPolicy,
    CronStatus,
    Execution,
    ExecutionStatus,
    ExecutionStatusChange,
    ExecutionType,
    InstanceAction,
    InstanceEvent,
    InstanceProperty,
    IntegrationBatchInstance,
    SchedulerState,
)
from apps.scheduling.scheduler import schedule_instances

# In the order a form shows them.
EDITABLE_INSTANCE_FIELDS = (
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
    _set_property_overrides(instance, properties or {})
    _record(instance, InstanceAction.CREATED, user)
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
    _refuse_if_archived(instance)
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
    for field, value in changes.items():
        setattr(instance, field, value)
    if not (pausing or resuming):
        instance.cron_status = new_status
    instance.full_clean()
    instance.save()
    if instance.version_id != old_version_id:
        _move_overrides_to_version(instance)
    _set_property_overrides(instance, properties or {})
    if _schedule_of(instance) != old_schedule:
        _cancel_pending(
            instance.executions.coming_cron(),
            user=user,
            reason="The instance's schedule changed.",
            release_fire_times=True,
        )
        instance.scheduled_from = timezone.now()
        instance.save(update_fields=["scheduled_from"])
        _schedule(instance)
    if changes or properties:
        _record(instance, InstanceAction.UPDATED, user)

    if resuming:
        instance_resume(instance=instance, user=user)
    return instance


@transaction.atomic
def instance_pause(*, instance: IntegrationBatchInstance, user=None, reason: str = ""):
    """Stop the cron: the coming CRON executions are canceled in the same transaction.
    MANUAL executions and runs already started are left alone."""
    _lock(instance)
    _refuse_if_archived(instance)
    if instance.cron_status != CronStatus.ACTIVE:
        raise TransitionError(
            "Only an ACTIVE scheduled instance can be paused; this one is "
            f"{instance.cron_status or 'not scheduled (no cron)'}."
        )
    instance.cron_status = CronStatus.PAUSED
    instance.save(update_fields=["cron_status", "updated_at"])
    _cancel_pending(
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
    _refuse_if_archived(instance)
    if instance.cron_status != CronStatus.PAUSED:
        raise TransitionError(
            "Only a PAUSED instance can be resumed; this one is "
            f"{instance.cron_status or 'not scheduled (no cron)'}."
        )
    instance.cron_status = CronStatus.ACTIVE
    instance.scheduled_from = timezone.now()
    instance.save(update_fields=["cron_status", "scheduled_from", "updated_at"])
    _record(instance, InstanceAction.RESUMED, user, reason)
    _schedule(instance)
    return instance


@transaction.atomic
def instance_archive(*, instance: IntegrationBatchInstance, user=None, reason: str = ""):
    """Retire an instance: it never runs again, and every pending execution is canceled.
    Its history stays readable."""
    _lock(instance)
    _refuse_if_archived(instance)
    instance.archived = True
    instance.save(update_fields=["archived", "updated_at"])
    _cancel_pending(
        instance.executions.pending(),
        user=user,
        reason=reason or "The instance was archived.",
        release_fire_times=True,
    )
    _record(instance, InstanceAction.ARCHIVED, user, reason)
    return instance


def _lock(instance: IntegrationBatchInstance) -> None:
    """Reload the instance under a row lock, so concurrent changes queue up behind us."""
    instance.refresh_from_db(from_queryset=IntegrationBatchInstance.objects.select_for_update())


def _schedule_of(instance: IntegrationBatchInstance) -> tuple:
    return tuple(getattr(instance, field) for field in SCHEDULE_FIELDS)


def _schedule(instance: IntegrationBatchInstance) -> None:
    """Put the instance's coming run on the timeline now, rather than at the next tick."""
    if instance.is_scheduled:
        schedule_instances([instance], now=timezone.now())


def _refuse_if_archived(instance: IntegrationBatchInstance) -> None:
    if instance.archived:
        raise TransitionError(
            "This instance is archived: it cannot change or run.", code="archived"
        )


def _record(instance, action: InstanceAction, user, reason: str = "") -> None:
    InstanceEvent.objects.create(instance=instance, action=action, user=user, reason=reason)


def _set_property_overrides(
    instance: IntegrationBatchInstance, values: Mapping[str, dict | None]
) -> None:
    """Set (or, with None, remove) the instance's value of writable version properties."""
    if not values:
        return
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
        if value is None:
            if name in existing:
                existing.pop(name).delete()
            continue
        override = existing.get(name) or InstanceProperty(
            instance=instance, property=declared[name]
        )
        override.value = value
        try:
            override.full_clean(validate_constraints=False)
        except ValidationError as error:
            errors[key] = error.messages
            continue
        override.save()
    if errors:
        raise ValidationError(errors)


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
        override.property = target
    if errors:
        raise ValidationError({"version": errors})
    InstanceProperty.objects.bulk_update(overrides, ["property"])


# --- Executions --------------------------------------------------------------------------


def validate_manual_execution(
    *, expected_start_date: datetime | None, parameters
) -> tuple[datetime, dict]:
    """The start date and parameters of a MANUAL execution, checked: now or later (within
    a small tolerance for clocks a little behind), and parameters as a JSON object."""
    now = timezone.now()
    tolerance = timedelta(seconds=settings.MANUAL_EXECUTION_PAST_TOLERANCE_SECONDS)
    errors = {}
    if expected_start_date is not None and expected_start_date < now - tolerance:
        errors["expected_start_date"] = (
            f"{expected_start_date:%Y-%m-%d %H:%M:%S %Z} is in the past; "
            "choose now or a later time."
        )
    if parameters is not None and not isinstance(parameters, dict):
        errors["parameters"] = "Parameters are a JSON object of names to values."
    elif problem := json_problem(parameters or {}, "parameters"):
        errors["parameters"] = f"{problem[0]}: {problem[1]}"
    if errors:
        raise ValidationError(errors)
    start = now if expected_start_date is None else max(expected_start_date, now)
    return start, parameters or {}


@transaction.atomic
def execution_create_manual(
    *,
    instance: IntegrationBatchInstance,
    user=None,
    expected_start_date: datetime | None = None,
    parameters: dict | None = None,
) -> Execution:
    """Ask for a run now, or at `expected_start_date`."""
    _refuse_if_archived(instance)
    expected_start_date, parameters = validate_manual_execution(
        expected_start_date=expected_start_date, parameters=parameters
    )
    execution = Execution.objects.create(
        organisation_id=instance.organisation_id,
        instance=instance,
        execution_type=ExecutionType.MANUAL,
        expected_start_date=expected_start_date,
        parameters=parameters,
        user=user,
    )
    dispatch_on_commit(execution)
    return execution


@transaction.atomic
def execution_cancel(*, execution: Execution, user=None, reason: str = "") -> Execution:
    """Cancel a PENDING execution at once; ask a RUNNING one to stop (the runner stops its
    code, then ends it CANCELED)."""
    if execution.status == ExecutionStatus.PENDING:
        try:
            return _transition(
                execution,
                ExecutionStatus.PENDING,
                ExecutionStatus.CANCELED,
                user=user,
                reason=reason or "Canceled.",
                end_date=timezone.now(),
            )
        except TransitionError:
            pass  # claimed meanwhile: it is RUNNING now, so ask it to stop below
    requested = Execution.objects.filter(
        pk=execution.pk, status=ExecutionStatus.RUNNING, cancel_requested_at__isnull=True
    ).update(cancel_requested_at=timezone.now(), cancel_requested_by=user)
    execution.refresh_from_db()
    if not requested:
        if execution.status == ExecutionStatus.RUNNING:
            raise TransitionError(
                "A cancel was already asked for; the run is stopping.",
                code="cancel_already_requested",
            )
        raise TransitionError(
            f"This execution is already {execution.status}; only PENDING or RUNNING "
            "executions can be canceled."
        )
    return execution


def execution_claim(*, execution: Execution, worker: str = "") -> Execution:
    """Take a due PENDING execution to run it. The conditional update is the lock: of two
    workers handed the same execution, exactly one gets it; the other gets TransitionError.

    A CRON run of a FORBID instance whose previous run still runs is skipped instead:
    ended CANCELED, saying so, its fire time spent."""
    with transaction.atomic():
        skipped = _skip_if_overlapping(execution)
        if not skipped:
            now = timezone.now()
            claimed = (
                Execution.objects.due(now)
                .filter(pk=execution.pk)
                .update(
                    status=ExecutionStatus.RUNNING, start_date=now, heartbeat_at=now, worker=worker
                )
            )
            execution.refresh_from_db()
            if claimed:
                _history(
                    execution, ExecutionStatus.PENDING, ExecutionStatus.RUNNING, None, "Started."
                )
                return execution
    if skipped:
        raise TransitionError(skipped, code="skipped")
    if execution.status == ExecutionStatus.PENDING:
        raise TransitionError(f"Execution {execution.pk} is not yet due.", code="not_due")
    raise TransitionError(f"Execution {execution.pk} is {execution.status}.", code="not_claimable")


def _skip_if_overlapping(execution: Execution) -> str:
    """Under FORBID, end a CRON run CANCELED when another run of its instance is running;
    returns why, or "" to go ahead. The instance row lock makes the check and the claim
    one step for concurrent workers."""
    if execution.execution_type != ExecutionType.CRON:
        return ""
    instance = IntegrationBatchInstance.objects.select_for_update().get(pk=execution.instance_id)
    if instance.concurrency_policy != ConcurrencyPolicy.FORBID:
        return ""
    running = instance.executions.filter(status=ExecutionStatus.RUNNING).exclude(pk=execution.pk)
    running_pk = running.values_list("pk", flat=True).first()
    if running_pk is None:
        return ""
    message = (
        f"Skipped: execution {running_pk} was still running at this fire time "
        "(concurrency policy FORBID)."
    )
    _transition(
        execution,
        ExecutionStatus.PENDING,
        ExecutionStatus.CANCELED,
        reason=message,
        end_date=timezone.now(),
        error={"message": message},
    )
    return message


def execution_succeed(*, execution: Execution, result=None) -> Execution:
    return _transition(
        execution,
        ExecutionStatus.RUNNING,
        ExecutionStatus.SUCCEEDED,
        reason="Finished.",
        end_date=timezone.now(),
        result=result,
    )


@transaction.atomic
def execution_fail(*, execution: Execution, message: str) -> Execution:
    """A RUNNING execution fails with `message`; the instance may try it again."""
    _transition(
        execution,
        ExecutionStatus.RUNNING,
        ExecutionStatus.FAILED,
        reason=message[:500],
        end_date=timezone.now(),
        error={"message": message},
    )
    _retry_if_allowed(execution)
    return execution


@transaction.atomic
def execution_reap(*, execution: Execution, silent_since: datetime) -> Execution:
    """Fail (or retry) a RUNNING execution whose worker has not sent a heartbeat since
    `silent_since`: the worker died or lost the database. A heartbeat that arrives
    meanwhile wins: the execution is left running."""
    message = (
        f"Worker lost: no heartbeat from {execution.worker or 'its worker'} since "
        f"{execution.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC."
    )
    _transition(
        execution,
        ExecutionStatus.RUNNING,
        ExecutionStatus.FAILED,
        only_if=Q(heartbeat_at__lt=silent_since),
        reason=message,
        end_date=timezone.now(),
        error={"message": message},
    )
    _retry_if_allowed(execution)
    return execution


def _retry_if_allowed(execution: Execution) -> Execution | None:
    """Another attempt, after an exponential back-off, while the instance allows it."""
    instance = execution.instance
    if execution.attempt > instance.max_retries or instance.archived:
        return None
    delay = timedelta(seconds=instance.retry_backoff_seconds * 2 ** (execution.attempt - 1))
    retry = Execution.objects.create(
        organisation_id=execution.organisation_id,
        instance=instance,
        execution_type=execution.execution_type,
        expected_start_date=timezone.now() + delay,
        parameters=execution.parameters,
        user=execution.user,
        attempt=execution.attempt + 1,
        retry_of=execution,
    )
    dispatch_on_commit(retry)
    return retry


@transaction.atomic
def executions_cancel_missed(*, now: datetime) -> int:
    """Of each instance's due CRON runs, only the latest runs: older ones were missed while
    the scheduler or the workers were down, and are canceled rather than run in a burst."""
    due = (
        Execution.objects.due(now)
        .filter(execution_type=ExecutionType.CRON, retry_of__isnull=True)
        .order_by("instance_id", "-expected_start_date")
        .values_list("pk", "instance_id")
    )
    latest_seen, missed = set(), []
    for pk, instance_id in due:
        if instance_id in latest_seen:
            missed.append(pk)
        latest_seen.add(instance_id)
    return _cancel_pending(
        Execution.objects.filter(pk__in=missed).pending(),
        user=None,
        reason="Missed: a later fire time of this instance was already due; it runs instead.",
    )


def execution_stopped(*, execution: Execution) -> Execution:
    """A RUNNING execution whose code was stopped on request ends CANCELED, in the name of
    whoever asked."""
    execution.refresh_from_db(fields=["cancel_requested_by"])
    return _transition(
        execution,
        ExecutionStatus.RUNNING,
        ExecutionStatus.CANCELED,
        user=execution.cancel_requested_by,
        reason="Stopped on request.",
        end_date=timezone.now(),
    )


def _transition(
    execution: Execution,
    from_status: str,
    to_status: str,
    *,
    user=None,
    reason: str = "",
    only_if: Q | None = None,
    **fields,
) -> Execution:
    with transaction.atomic():
        changed = Execution.objects.filter(
            only_if or Q(), pk=execution.pk, status=from_status
        ).update(status=to_status, **fields)
        execution.refresh_from_db()
        if not changed:
            raise TransitionError(
                f"Execution {execution.pk} is {execution.status}; "
                f"only a {from_status} execution can become {to_status}."
            )
        _history(execution, from_status, to_status, user, reason)
    return execution


def _history(execution, from_status, to_status, user, reason) -> None:
    ExecutionStatusChange.objects.create(
        execution=execution, from_status=from_status, to_status=to_status, user=user, reason=reason
    )


def _cancel_pending(executions, *, user, reason: str, release_fire_times: bool = False) -> int:
    """Cancel these PENDING executions, locking them first so no worker claims one meanwhile.
    Atomic by itself: the scheduler's tick calls it outside any transaction."""
    with transaction.atomic():
        ids = list(executions.select_for_update().values_list("pk", flat=True))
        if not ids:
            return 0
        now = timezone.now()
        Execution.objects.filter(pk__in=ids).update(
            status=ExecutionStatus.CANCELED, end_date=now, fire_time_released=release_fire_times
        )
        ExecutionStatusChange.objects.bulk_create(
            ExecutionStatusChange(
                execution_id=pk,
                from_status=ExecutionStatus.PENDING,
                to_status=ExecutionStatus.CANCELED,
                user=user,
                reason=reason,
                created_at=now,
            )
            for pk in ids
        )
    return len(ids)


# --- The scheduler's health ---------------------------------------------------------------


def scheduler_record_tick(*, at: datetime, errors: tuple[str, ...] = ()) -> None:
    """Remember how a tick went: its time, and whether it went without error."""
    fields = {"last_tick_at": at}
    if errors:
        fields |= {"last_error": "\n".join(errors), "last_error_at": at}
    else:
        fields |= {"last_good_tick_at": at}
    SchedulerState.objects.update_or_create(pk=1, defaults=fields)
