"""Handing executions to the workers, through Django's tasks framework.

A task only carries an execution's id: a worker claims the execution itself with one
conditional update, so a duplicated task never runs it twice. Each execution is handed
over once, recorded with its task's id, and again only when that task is known lost
(apps.core.handover), so concurrent ticks and slow workers never fill the queue."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core import handover, leases
from apps.runner.tasks import run_execution
from apps.scheduling.models import Execution

BATCH_SIZE = 500


def enqueue(execution: Execution, *, now: datetime) -> str:
    """Queue the execution's run, to start at its expected start date; returns the task id."""
    start = execution.expected_start_date
    return handover.enqueue(run_execution, execution.pk, run_after=start if start > now else None)


def dispatch_on_commit(execution: Execution) -> None:
    """Hand a new execution over as soon as its transaction commits, if it is due soon;
    later ones are handed over by dispatch_due() as their time approaches."""

    def hand_over():
        now = timezone.now()
        if execution.expected_start_date <= now + _horizon():
            _hand_over(Execution.objects.filter(pk=execution.pk, dispatched_at__isnull=True), now)

    transaction.on_commit(hand_over)


def dispatch_due(*, now: datetime | None = None) -> int:
    """Hand over every PENDING execution due within the horizon that was never handed over,
    and again those whose hand-over was lost. Returns how many were handed over."""
    now = now or timezone.now()
    due = Execution.objects.pending().filter(expected_start_date__lte=now + _horizon())
    count = 0
    while handed := _hand_over(due.filter(dispatched_at__isnull=True), now):
        count += handed
    stale = now - timedelta(seconds=settings.REDISPATCH_AFTER_SECONDS)
    while (handed := _recover_lost(due.filter(dispatched_at__lt=stale), now)) is not None:
        count += handed
    return count


def dispatch_again_at_its_time(execution: Execution) -> None:
    """A task that came before its execution was due (clocks apart): queue it again, to
    start at its time, and record that task instead."""
    task_id = handover.enqueue(run_execution, execution.pk, run_after=execution.expected_start_date)
    Execution.objects.filter(pk=execution.pk).update(
        dispatched_at=timezone.now(), dispatch_task_id=task_id
    )


def _hand_over(executions, now: datetime) -> int:
    """Hand over up to BATCH_SIZE of these. Their rows are locked while their tasks are
    queued and recorded, and rows another tick holds are skipped: each goes to the queue
    once. (On the database backend the task rows commit with the record, atomically.)"""
    with transaction.atomic():
        batch = list(
            executions.select_for_update(skip_locked=True)
            .only("pk", "expected_start_date")
            .order_by("expected_start_date")[:BATCH_SIZE]
        )
        for execution in batch:
            execution.dispatch_task_id = enqueue(execution, now=now)
            execution.dispatched_at = now
        Execution.objects.bulk_update(batch, ["dispatch_task_id", "dispatched_at"])
    return len(batch)


def _recover_lost(waiting, now: datetime) -> int | None:
    """Look at up to BATCH_SIZE executions handed over long ago and still waiting: hand
    over again those whose task is lost; the others are only behind in the queue, and are
    looked at again after another REDISPATCH_AFTER_SECONDS. Returns how many were handed
    over, or None when none waits."""
    with transaction.atomic():
        batch = list(
            waiting.select_for_update(skip_locked=True)
            .only("pk", "expected_start_date", "dispatch_task_id")
            .order_by("pk")[:BATCH_SIZE]
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
                execution.dispatch_task_id = enqueue(execution, now=now)
                handed += 1
            execution.dispatched_at = now
        Execution.objects.bulk_update(batch, ["dispatch_task_id", "dispatched_at"])
    return handed


def _horizon() -> timedelta:
    return timedelta(seconds=settings.DISPATCH_HORIZON_SECONDS)
