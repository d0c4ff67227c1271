"""The periodic jobs: what cron runs every minute (see CRONJOBS) and run_scheduler loops.

Each is safe to run concurrently with itself and returns how much work it found."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from apps.core.errors import TransitionError
from apps.runner.dispatch import dispatch_due
from apps.scheduling.models import Execution, ExecutionStatus
from apps.scheduling.scheduler import schedule_tick
from apps.scheduling.services import execution_reap, executions_cancel_missed

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TickReport:
    instances: int
    missed: int
    dispatched: int


def tick() -> TickReport:
    """Keep every schedule's coming run, drop runs missed in a burst, hand due runs over."""
    now = timezone.now()
    report = TickReport(
        instances=schedule_tick(now=now),
        missed=executions_cancel_missed(now=now),
        dispatched=dispatch_due(now=now),
    )
    logger.info("tick: %s", report)
    return report


def reap() -> int:
    """Fail (or retry) every RUNNING execution whose worker stopped sending heartbeats."""
    silent_since = timezone.now() - timedelta(seconds=settings.EXECUTION_HEARTBEAT_TIMEOUT_SECONDS)
    reaped = 0
    lost = Execution.objects.filter(status=ExecutionStatus.RUNNING, heartbeat_at__lt=silent_since)
    for execution in lost.select_related("instance"):
        try:
            execution_reap(execution=execution, silent_since=silent_since)
            reaped += 1
        except TransitionError:
            pass  # it finished or sent a heartbeat meanwhile
    if reaped:
        logger.warning("reaper: %d executions lost their worker", reaped)
    return reaped


def prune_task_results() -> None:
    """Finished task records of the database backend are only bookkeeping: keep a week."""
    if settings.TASKS_BACKEND == "database":
        call_command("prune_db_task_results", min_age_days=7, verbosity=0)
