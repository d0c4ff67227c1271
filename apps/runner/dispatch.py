"""Handing executions to the workers, through Django's tasks framework.

A task only carries an execution's id: a worker claims the execution itself with one
conditional update, so handing the same execution over twice is harmless, and handing
over again is how a lost queue message is recovered."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.runner.tasks import run_execution
from apps.scheduling.models import Execution

BATCH_SIZE = 500


def enqueue(execution: Execution, *, now: datetime) -> None:
    """Queue the execution's run, to start at its expected start date."""
    start = execution.expected_start_date
    task = run_execution.using(run_after=start) if start > now else run_execution
    task.enqueue(execution.pk)


def dispatch_on_commit(execution: Execution) -> None:
    """Hand a new execution over as soon as its transaction commits, if it is due soon;
    later ones are handed over by dispatch_due() as their time approaches."""

    def hand_over():
        now = timezone.now()
        if execution.expected_start_date <= now + _horizon():
            enqueue(execution, now=now)
            Execution.objects.filter(pk=execution.pk).update(dispatched_at=now)

    transaction.on_commit(hand_over)


def dispatch_due(*, now: datetime | None = None) -> int:
    """Hand over every PENDING execution due within the horizon that no worker has been
    handed yet, or was handed long ago and still waits (a lost message). Returns how many."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.REDISPATCH_AFTER_SECONDS)
    waiting = Execution.objects.pending().filter(
        Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=stale, expected_start_date__lt=stale),
        expected_start_date__lte=now + _horizon(),
    )
    count = 0
    while batch := list(
        waiting.only("pk", "expected_start_date").order_by("expected_start_date")[:BATCH_SIZE]
    ):
        for execution in batch:
            enqueue(execution, now=now)
        Execution.objects.filter(pk__in=[e.pk for e in batch]).update(dispatched_at=now)
        count += len(batch)
    return count


def _horizon() -> timedelta:
    return timedelta(seconds=settings.DISPATCH_HORIZON_SECONDS)
