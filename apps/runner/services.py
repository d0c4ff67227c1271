"""Every change of state of executions, each in one function, and the runner's own
records: the workers and how well they confine plugin code."""

import contextlib
import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.alerts import selectors as alerts_selectors
from apps.alerts import services as alerts
from apps.audit import services as audit
from apps.core import leases
from apps.core.errors import TransitionError
from apps.core.text import json_problem, with_article
from apps.runner import isolation, statements
from apps.runner.models import ExecutionLogChunk, Worker
from apps.runner.wakeups import wake_workers
from apps.scheduling.cron import fire_times
from apps.scheduling.models import (
    Backfill,
    ConcurrencyPolicy,
    CronStatus,
    Execution,
    ExecutionQuerySet,
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
    wake_workers()
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


# --- Backfills ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BackfillPlan:
    """The runs a backfill would create: one per fire time, in order."""

    fire_times: list[datetime]
    skipped: int  # fire times left out: a run for them already succeeded

    @property
    def count(self) -> int:
        return len(self.fire_times)

    @property
    def first(self) -> datetime:
        return self.fire_times[0]

    @property
    def last(self) -> datetime:
        return self.fire_times[-1]


def backfill_plan(
    *,
    instance: IntegrationBatchInstance,
    start_date: datetime,
    end_date: datetime,
    only_missing: bool = True,
    parameters: dict | None = None,
) -> BackfillPlan:
    """The past fire times of the instance's cron from `start_date` to `end_date` (both
    included), checked: a range in the past holding at most BACKFILL_MAX_RUNS of them.
    With `only_missing`, fire times that already have a successful run are left out."""
    instance.refuse_if_archived()
    if not instance.cron:
        raise TransitionError(
            "This instance has no cron: a backfill runs the past fire times of its cron.",
            code="no_cron",
        )
    if end_date < start_date:
        raise ValidationError({"end_date": "The range ends before it starts."})
    if end_date > timezone.now():
        raise ValidationError(
            {"end_date": "A backfill covers past fire times; the cron runs the coming ones."}
        )
    validate_manual_execution(expected_start_date=None, parameters=parameters)
    times = _fire_times_between(instance, start_date, end_date, limit=settings.BACKFILL_MAX_RUNS)
    where = f"{instance.cron} ({instance.cron_timezone})"
    if not times:
        raise ValidationError({"start_date": f"No fire time of {where} falls in this range."})
    if len(times) > settings.BACKFILL_MAX_RUNS:
        raise ValidationError(
            {
                "end_date": f"This range holds more than {settings.BACKFILL_MAX_RUNS:,} fire "
                f"times of {where}; a backfill creates at most {settings.BACKFILL_MAX_RUNS:,} "
                "runs: narrow the range."
            }
        )
    done = _succeeded_fire_times(instance, times[0], times[-1]) if only_missing else set()
    missing = [time for time in times if time not in done]
    if not missing:
        raise ValidationError(
            {
                "start_date": f"Each of the {len(times):,} fire times in this range already "
                "has a successful run; include them to run them again."
            }
        )
    return BackfillPlan(fire_times=missing, skipped=len(times) - len(missing))


def _fire_times_between(instance, start: datetime, end: datetime, *, limit: int) -> list:
    """Up to `limit` + 1 fire times from `start` to `end`: one more says there are more."""
    times: list[datetime] = []
    for time in fire_times(
        instance.cron, instance.cron_timezone, start - timedelta(microseconds=1)
    ):
        if time > end or len(times) > limit:
            break
        times.append(time)
    return times


def _succeeded_fire_times(instance, first: datetime, last: datetime) -> set[datetime]:
    """The fire times from `first` to `last` for which a run of the instance succeeded."""
    succeeded = instance.executions.filter(status=ExecutionStatus.SUCCEEDED)
    cron_runs = succeeded.filter(
        execution_type=ExecutionType.CRON,
        fire_time__isnull=True,
        expected_start_date__range=(first, last),
    ).values_list("expected_start_date", flat=True)
    others = succeeded.filter(fire_time__range=(first, last)).values_list("fire_time", flat=True)
    return set(cron_runs) | set(others)


@transaction.atomic
def backfill_create(
    *,
    instance: IntegrationBatchInstance,
    start_date: datetime,
    end_date: datetime,
    only_missing: bool = True,
    parameters: dict | None = None,
    user=None,
) -> Backfill:
    """Create the runs of `backfill_plan`, due now, each told the fire time it stands for.
    They start in fire-time order; under FORBID one at a time, each after the one before."""
    instance = IntegrationBatchInstance.objects.select_for_update().get(pk=instance.pk)
    parameters = parameters or {}
    plan = backfill_plan(
        instance=instance,
        start_date=start_date,
        end_date=end_date,
        only_missing=only_missing,
        parameters=parameters,
    )
    backfill = Backfill.objects.create(
        organisation_id=instance.organisation_id,
        instance=instance,
        start_date=start_date,
        end_date=end_date,
        run_count=plan.count,
        skipped_count=plan.skipped,
        one_at_a_time=instance.concurrency_policy == ConcurrencyPolicy.FORBID,
        parameters=parameters,
        user=user,
    )
    now = timezone.now()
    runs = Execution.objects.bulk_create(
        Execution(
            organisation_id=instance.organisation_id,
            instance=instance,
            execution_type=ExecutionType.MANUAL,
            expected_start_date=now,
            fire_time=fire_time,
            backfill=backfill,
            parameters=parameters,
            user=user,
        )
        for fire_time in plan.fire_times
    )
    if backfill.one_at_a_time:
        for previous, run in itertools.pairwise(runs):
            run.waits_for = previous
        Execution.objects.bulk_update(runs[1:], ["waits_for"], batch_size=500)
    audit.record(
        "instance.backfilled",
        instance,
        user=user,
        changes={
            "backfill": [
                None,
                f"{plan.count} runs for {plan.first.isoformat()} to {plan.last.isoformat()}",
            ]
        },
    )
    wake_workers()
    return backfill


@transaction.atomic
def backfill_cancel(*, backfill: Backfill, user=None) -> int:
    """Cancel the backfill's runs that have not started; returns how many. Running ones
    go on (cancel each to stop it)."""
    audit.record(
        "instance.backfill_canceled",
        backfill.instance,
        user=user,
        changes={"backfill": [backfill.pk, None]},
    )
    return executions_cancel_pending(
        backfill.executions.pending(), user=user, reason=f"Backfill {backfill.pk} canceled."
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
    workers after the same execution, exactly one gets it; the other gets TransitionError.

    Under FORBID, while another run of the instance runs, a CRON run is skipped instead
    (ended CANCELED, saying so, its fire time spent) and a backfill run waits for it."""
    # Only a run that may have to yield to another is claimed under its instance's lock;
    # any other claim is one statement.
    may_yield = execution.may_have_to_yield
    with transaction.atomic() if may_yield else contextlib.nullcontext():
        refusal = _refuse_if_overlapping(execution) if may_yield else None
        if refusal is None:
            now = timezone.now()
            with contextlib.suppress(TransitionError):  # not claimable: why, below
                return _start(execution, now, worker, among=Execution.objects.due(now))
    if refusal is not None:
        raise refusal
    if execution.status == ExecutionStatus.PENDING:
        if (
            execution.waits_for_id
            and not Execution.objects.ready().filter(pk=execution.pk).exists()
        ):
            raise TransitionError(
                f"Execution {execution.pk} waits for execution {execution.waits_for_id} to end.",
                code="waiting",
            )
        raise TransitionError(f"Execution {execution.pk} is not yet due.", code="not_due")
    raise TransitionError(f"Execution {execution.pk} is {execution.status}.", code="not_claimable")


def execution_claim_next(*, worker: str = leases.WORKER_ID) -> Execution | None:
    """Take the earliest run that may start now (Execution.objects.claimable()), with its
    instance and version; None when there is none. The executions table is the workers'
    queue: the run is picked and claimed at once, its row locked and rows other workers
    hold skipped, so two workers never wait on, or fight for, one run. On PostgreSQL that
    is one statement (apps.runner.statements), and a run is due by the database's clock,
    the same for every worker.

    A run that may have to yield to another of its instance (FORBID) is claimed as
    execution_claim() claims it, under the instance's lock, and may be skipped or made to
    wait instead: then the next one is taken."""
    while True:
        now = timezone.now()
        if statements.available():
            picked, claimed = statements.claim_next(worker=worker, now=now)
        else:
            picked, claimed = _claim_next_in_a_transaction(worker, now)
        if picked is None or claimed is not None:
            return claimed
        execution = Execution.objects.select_related("instance__version").get(pk=picked)
        with contextlib.suppress(TransitionError):  # skipped, or waits now: take the next
            return execution_claim(execution=execution, worker=worker)


def _claim_next_in_a_transaction(worker: str, now: datetime) -> tuple[int | None, Execution | None]:
    """execution_claim_next's pick and claim through the ORM, as statements.claim_next()."""
    with transaction.atomic():
        execution = (
            Execution.objects.claimable(now)
            .select_related("instance__version")
            .select_for_update(skip_locked=True, of=("self",))
            .first()
        )
        if execution is None:
            return None, None
        if execution.may_have_to_yield:
            return execution.pk, None
        return execution.pk, _start(execution, now, worker)


def _start(
    execution: Execution, now: datetime, worker: str, among: QuerySet | None = None
) -> Execution:
    return _transition(
        execution,
        ExecutionStatus.PENDING,
        ExecutionStatus.RUNNING,
        among=among,
        reason="Started.",
        start_date=now,
        **leases.held_now(worker),
    )


def _refuse_if_overlapping(execution: Execution) -> TransitionError | None:
    """Of a run that may have to yield, when another run of its instance is running: end
    a CRON run CANCELED, or make a backfill run wait for that one (its end hands this one
    over again). Returns why, or None to go ahead. The instance row lock makes the check
    and the claim one step for concurrent workers."""
    instance = IntegrationBatchInstance.objects.select_for_update().get(pk=execution.instance_id)
    if instance.concurrency_policy != ConcurrencyPolicy.FORBID:
        return None
    running = instance.executions.filter(status=ExecutionStatus.RUNNING).exclude(pk=execution.pk)
    running_pk = running.values_list("pk", flat=True).first()
    if running_pk is None:
        return None
    if execution.execution_type != ExecutionType.CRON:
        # Not claimed until that run ends (ready() looks at its status), which wakes
        # the workers; should it end before this commits, an idle worker's next look
        # finds this one.
        Execution.objects.filter(pk=execution.pk).update(waits_for=running_pk)
        return TransitionError(
            f"Execution {execution.pk} waits for execution {running_pk} to end "
            "(concurrency policy FORBID).",
            code="waiting",
        )
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
    return TransitionError(message, code="skipped")


def execution_succeed(*, execution: Execution, result=None) -> Execution:
    """A RUNNING execution succeeds; it ends its instance's failure streak, if any."""
    succeeded = {"reason": "Finished.", "end_date": timezone.now(), "result": result}
    with contextlib.suppress(TransitionError):  # most runs end no streak: one statement
        if statements.available():
            outcome = statements.succeed_unless_streak(execution, **succeeded)
            changes = {"status": ExecutionStatus.SUCCEEDED, **succeeded}
            return _settle(execution, ExecutionStatus.RUNNING, changes, *outcome)
        return _transition(
            execution,
            ExecutionStatus.RUNNING,
            ExecutionStatus.SUCCEEDED,
            among=alerts_selectors.executions_ending_no_streak(),
            **succeeded,
        )
    with transaction.atomic():
        _transition(execution, ExecutionStatus.RUNNING, ExecutionStatus.SUCCEEDED, **succeeded)
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
        among=Execution.objects.filter(heartbeat_at__lt=silent_since),
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
        fire_time=execution.stands_for,
        backfill_id=execution.backfill_id,
        parameters=execution.parameters,
        user=execution.user,
        attempt=execution.attempt + 1,
        retry_of=execution,
    )
    # The backfill run after this one waits for its last attempt, not its first.
    Execution.objects.filter(waits_for=execution).update(waits_for=retry)
    wake_workers()
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
    the scheduler or the workers were down, and are canceled rather than run in a burst
    (no worker claims them meanwhile)."""
    return executions_cancel_pending(
        Execution.objects.missed(now),
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
    among: QuerySet | None = None,
    **fields,
) -> Execution:
    """`execution` goes from `from_status` to `to_status` with `fields`, if it still is
    `from_status` and among `among`; its history says so. An end that runs waited for
    wakes the workers to start them."""
    changes = {"status": to_status, **fields}
    entry = ExecutionStatusChange(
        execution=execution, from_status=from_status, to_status=to_status, user=user, reason=reason
    )
    ends = to_status in ExecutionStatus.terminal()
    changed, waited_for = entry.save_with_update(
        (Execution.objects if among is None else among).filter(pk=execution.pk, status=from_status),
        changes,
        report=_waiting_for(execution) if ends else None,
    )
    return _settle(execution, from_status, changes, changed, waited_for)


def _settle(
    execution: Execution, from_status: str, changes: dict, changed: bool, waited_for: bool
) -> Execution:
    """After a conditional update of the execution's row: bring `execution` up to date
    (with the values written when it took, from the database when it did not, saying
    why), and wake the workers for runs that waited for it."""
    if not changed:
        execution.refresh_from_db()
        raise TransitionError(
            f"Execution {execution.pk} is {execution.status}; "
            f"only {with_article(from_status)} execution can become {changes['status']}."
        )
    for name, value in changes.items():
        setattr(execution, name, value)
    if waited_for:  # seldom: spare every other run's end the notice
        wake_workers()
    return execution


def _waiting_for(execution: Execution) -> ExecutionQuerySet:
    """The runs that wait for `execution` to end before they may start."""
    return Execution.objects.pending().filter(waits_for=execution.pk)


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
