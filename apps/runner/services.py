"""Every change of state of executions, each in one function, and the runner's own
records: the workers and how well they confine plugin code."""

import contextlib
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.alerts import services as alerts
from apps.audit import services as audit
from apps.core import handover, leases
from apps.core.errors import TransitionError
from apps.core.text import json_problem
from apps.runner import isolation
from apps.runner.models import ExecutionLogChunk, Worker
from apps.runner.tasks import run_execution
from apps.scheduling.models import (
    ConcurrencyPolicy,
    CronStatus,
    Execution,
    ExecutionStatus,
    ExecutionStatusChange,
    ExecutionType,
    IntegrationBatchInstance,
)

# A worker reports itself when it starts and then at most this often: its row says it is
# alive without costing a query per run.
CHECK_IN_EVERY = timedelta(minutes=10)
FORGET_AFTER = timedelta(days=7)
_last_check_in: dict[str, datetime] = {}


def worker_check_in(name: str) -> None:
    """Record that worker `name` is alive, with its isolation, and log a warning the first
    time if that isolation is weaker than production's."""
    now = timezone.now()
    last = _last_check_in.get(name)
    if last is not None and now - last < CHECK_IN_EVERY:
        return
    found = isolation.probe()
    Worker.objects.update_or_create(
        name=name,
        defaults={
            "seen_at": now,
            "isolation": found.summary(),
            "production_grade": found.production_grade,
        },
    )
    if last is None:
        Worker.objects.filter(seen_at__lt=now - FORGET_AFTER).delete()
        if not found.production_grade:
            isolation.logger.warning(
                "Plugin isolation on %s is weaker than production's: %s", name, found.summary()
            )
    _last_check_in[name] = now


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
    repeats: Execution | None = None,
) -> Execution:
    """Ask for a run now, or at `expected_start_date`; `repeats`: the finished run it
    runs again."""
    instance.refuse_if_archived()
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
        repeats=repeats,
    )
    execution_dispatch_on_commit(execution)
    audit.record(
        "execution.run_requested",
        execution,
        user=user,
        name=f"{instance.name} #{execution.pk}",
        changes={"expected_start_date": [None, expected_start_date.isoformat()]},
    )
    return execution


def execution_repeat(*, execution: Execution, user=None) -> Execution:
    """Run a finished execution again, now, with its parameters: a re-run (a retry, when
    it failed), linked to it."""
    if not execution.is_terminal:
        raise TransitionError(
            f"This execution is {execution.status}; only a finished one can be run again."
        )
    return execution_create_manual(
        instance=execution.instance, user=user, parameters=execution.parameters, repeats=execution
    )


@transaction.atomic
def execution_cancel(*, execution: Execution, user=None, reason: str = "") -> Execution:
    """Cancel a PENDING execution at once; ask a RUNNING one to stop (the runner stops its
    code, then ends it CANCELED)."""
    audit.record(
        "execution.canceled",
        execution,
        user=user,
        name=f"{execution.instance.name} #{execution.pk}",
        changes={"status": [execution.status, ExecutionStatus.CANCELED]},
    )
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


def execution_claim(*, execution: Execution, worker: str = leases.WORKER_ID) -> Execution:
    """Take a due PENDING execution to run it. The conditional update is the lock: of two
    workers handed the same execution, exactly one gets it; the other gets TransitionError.

    A CRON run of a FORBID instance whose previous run still runs is skipped instead:
    ended CANCELED, saying so, its fire time spent."""
    with transaction.atomic():
        skipped = _skip_if_overlapping(execution)
        if not skipped:
            now = timezone.now()
            claimed = leases.claim(
                Execution.objects.due(now).filter(pk=execution.pk),
                worker=worker,
                status=ExecutionStatus.RUNNING,
                start_date=now,
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


@transaction.atomic
def execution_succeed(*, execution: Execution, result=None) -> Execution:
    """A RUNNING execution succeeds; it ends its instance's failure streak, if any."""
    _transition(
        execution,
        ExecutionStatus.RUNNING,
        ExecutionStatus.SUCCEEDED,
        reason="Finished.",
        end_date=timezone.now(),
        result=result,
    )
    alerts.run_succeeded(execution)
    return execution


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
    _retry_or_break(execution)
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
    _retry_or_break(execution)
    return execution


def _retry_or_break(execution: Execution) -> None:
    """After a failure: another attempt if the instance allows one; else the failure is
    alerted and, once its pause_after_failures-th run in a row has failed, the failure
    breaker pauses the instance."""
    if _retry_if_allowed(execution) is None:
        alerts.run_failed(execution)
        _break_if_failing(execution.instance)


def _break_if_failing(instance: IntegrationBatchInstance) -> None:
    """Pause the instance (through the one pause service, so its coming runs are
    canceled) when its last pause_after_failures finished runs all failed, each after its
    retries. Runs that were canceled or skipped do not count either way."""
    instance.refresh_from_db(fields=["pause_after_failures", "cron_status", "archived"])
    limit = instance.pause_after_failures
    if not limit or instance.cron_status != CronStatus.ACTIVE or instance.archived:
        return
    outcomes = list(
        instance.executions.filter(
            status__in=[ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED], retry__isnull=True
        )
        .order_by("-end_date", "-pk")
        .values_list("status", flat=True)[:limit]
    )
    if len(outcomes) == limit and set(outcomes) == {ExecutionStatus.FAILED}:
        from apps.scheduling.services import instance_pause

        failures = f"{limit} consecutive failure{'s' if limit > 1 else ''}"
        reason = f"Paused after {failures}."
        with contextlib.suppress(TransitionError):  # paused or archived meanwhile
            instance_pause(instance=instance, reason=reason)
            alerts.instance_broke(instance, reason)


def _retry_if_allowed(execution: Execution) -> Execution | None:
    """Another attempt, after an exponential back-off, while the instance allows it."""
    instance = execution.instance
    if execution.attempt > instance.max_retries or instance.archived:
        return None
    delay = leases.backoff(instance.retry_backoff_seconds, execution.attempt)
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
    execution_dispatch_on_commit(retry)
    return retry


@transaction.atomic
def execution_heartbeat(*, execution: Execution) -> bool:
    """The runner still runs it; False if it is no longer RUNNING (reaped, or ended
    elsewhere), and the runner must stop."""
    return leases.heartbeat(
        Execution.objects.filter(pk=execution.pk, status=ExecutionStatus.RUNNING)
    )


def execution_report_progress(*, execution: Execution, progress: dict) -> None:
    """The plugin's counters (completed, failed, total): whole numbers an int column holds;
    anything else it sent is left out."""
    names = {"completed": "completed_tasks", "failed": "erroneous_tasks", "total": "num_tasks"}
    fields = {
        names[key]: value
        for key, value in progress.items()
        if key in names
        and isinstance(value, int)
        and not isinstance(value, bool)
        and 0 <= value < 2**31
    }
    if fields:
        Execution.objects.filter(pk=execution.pk).update(**fields)


def execution_log_append(*, execution_id: int, offset: int, text: str) -> None:
    """The next piece of a run's log, from character `offset` on."""
    ExecutionLogChunk.objects.create(
        execution_id=execution_id, offset=offset, end=offset + len(text), text=text
    )


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
    return executions_cancel_pending(
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


def executions_cancel_pending(
    executions, *, user, reason: str, release_fire_times: bool = False
) -> int:
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


# --- Handing executions to the workers ---------------------------------------------------
#
# A task only carries an execution's id: a worker claims the execution itself with one
# conditional update, so a duplicated task never runs it twice. Each execution is handed
# over once, recorded with its task's id, and again only when that task is known lost
# (apps.core.handover), so concurrent ticks and slow workers never fill the queue.

HAND_OVER_BATCH_SIZE = 500


def execution_enqueue(execution: Execution, *, now: datetime) -> str:
    """Queue the execution's run, to start at its expected start date; returns the task id."""
    start = execution.expected_start_date
    return handover.enqueue(run_execution, execution.pk, run_after=start if start > now else None)


def execution_dispatch_on_commit(execution: Execution) -> None:
    """Hand a new execution over as soon as its transaction commits, if it is due soon;
    later ones are handed over by executions_dispatch_due() as their time approaches."""

    def hand_over():
        now = timezone.now()
        if execution.expected_start_date <= now + _horizon():
            _hand_over(Execution.objects.filter(pk=execution.pk, dispatched_at__isnull=True), now)

    transaction.on_commit(hand_over)


def executions_dispatch_due(*, now: datetime | None = None) -> int:
    """Hand over every PENDING execution due within the horizon that was never handed over,
    and again those whose hand-over was lost. Returns how many were handed over."""
    now = now or timezone.now()
    due = Execution.objects.pending().filter(expected_start_date__lte=now + _horizon())
    count = 0
    while handed := _hand_over(due.filter(dispatched_at__isnull=True), now):
        count += handed
    stale = now - timedelta(seconds=settings.REDISPATCH_AFTER_SECONDS)
    while (again := _recover_lost(due.filter(dispatched_at__lt=stale), now)) is not None:
        count += again
    return count


def execution_dispatch_again(*, execution: Execution) -> None:
    """A task that came before its execution was due (clocks apart): queue it again, to
    start at its time, and record that task instead."""
    task_id = handover.enqueue(run_execution, execution.pk, run_after=execution.expected_start_date)
    Execution.objects.filter(pk=execution.pk).update(
        dispatched_at=timezone.now(), dispatch_task_id=task_id
    )


def _hand_over(executions, now: datetime) -> int:
    """Hand over up to HAND_OVER_BATCH_SIZE of these. Their rows are locked while their tasks are
    queued and recorded, and rows another tick holds are skipped: each goes to the queue
    once. (On the database backend the task rows commit with the record, atomically.)"""
    with transaction.atomic():
        batch = list(
            executions.select_for_update(skip_locked=True)
            .only("pk", "expected_start_date")
            .order_by("expected_start_date")[:HAND_OVER_BATCH_SIZE]
        )
        for execution in batch:
            execution.dispatch_task_id = execution_enqueue(execution, now=now)
            execution.dispatched_at = now
        Execution.objects.bulk_update(batch, ["dispatch_task_id", "dispatched_at"])
    return len(batch)


def _recover_lost(waiting, now: datetime) -> int | None:
    """Look at up to HAND_OVER_BATCH_SIZE executions handed over long ago and still waiting: hand
    over again those whose task is lost; the others are only behind in the queue, and are
    looked at again after another REDISPATCH_AFTER_SECONDS. Returns how many were handed
    over, or None when none waits."""
    with transaction.atomic():
        batch = list(
            waiting.select_for_update(skip_locked=True)
            .only("pk", "expected_start_date", "dispatch_task_id")
            .order_by("pk")[:HAND_OVER_BATCH_SIZE]
        )
        if not batch:
            return None
        lost = handover.lost(
            run_execution,
            [execution.dispatch_task_id for execution in batch],
            stuck_after=leases.timeout(),
        )
        handed = 0
        for execution in batch:
            if execution.dispatch_task_id in lost:
                handover.abandon(run_execution, execution.dispatch_task_id, "Handed over again.")
                execution.dispatch_task_id = execution_enqueue(execution, now=now)
                handed += 1
            execution.dispatched_at = now
        Execution.objects.bulk_update(batch, ["dispatch_task_id", "dispatched_at"])
    return handed


def _horizon() -> timedelta:
    return timedelta(seconds=settings.DISPATCH_HORIZON_SECONDS)


# --- Retention ------------------------------------------------------------------------

RETENTION_CHUNK = 500  # rows per short transaction: a clean-up never holds long locks


def executions_prune(executions, *, chunk: int = RETENTION_CHUNK, limit: int) -> int:
    """Delete these executions (finished ones: the caller's query says which) with their
    logs and history, `chunk` rows per transaction, at most `limit` in all. Returns how
    many were deleted."""
    deleted = 0
    while deleted < limit:
        ids = list(executions.values_list("pk", flat=True)[: min(chunk, limit - deleted)])
        if not ids:
            break
        with transaction.atomic():
            removed = Execution.objects.filter(pk__in=ids, status__in=ExecutionStatus.terminal())
            deleted += removed.delete()[1].get(Execution._meta.label, 0)
    return deleted


def logs_drop(executions, *, notice: str, chunk: int = RETENTION_CHUNK, limit: int) -> int:
    """Drop the logs of these finished executions, leaving `notice` as their log, `chunk`
    executions per transaction, at most `limit` in all. Returns how many."""
    dropped = 0
    executions = executions.filter(log_removed_at__isnull=True)
    while dropped < limit:
        ids = list(executions.values_list("pk", flat=True)[: min(chunk, limit - dropped)])
        if not ids:
            break
        with transaction.atomic():
            ExecutionLogChunk.objects.filter(execution_id__in=ids).delete()
            ExecutionLogChunk.objects.bulk_create(
                ExecutionLogChunk(execution_id=pk, offset=0, end=len(notice), text=notice)
                for pk in ids
            )
            Execution.objects.filter(pk__in=ids).update(log_removed_at=timezone.now())
        dropped += len(ids)
    return dropped
