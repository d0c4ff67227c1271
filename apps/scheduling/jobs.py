"""The periodic jobs: what cron runs every minute (see CRONJOBS) and run_scheduler loops.

Each is safe to run concurrently with itself and returns how much work it found."""

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from apps.core import leases
from apps.core.errors import TransitionError
from apps.runner.services import execution_reap, executions_cancel_missed
from apps.runner.workspaces import sweep_leftover_workspaces
from apps.scheduling.models import Execution, ExecutionStatus
from apps.scheduling.services import retention_clean_up, schedule_tick, scheduler_record_tick

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TickReport:
    planned: int | None  # instances whose coming run this tick planned
    missed: int | None
    errors: tuple[str, ...] = ()  # the steps that failed, with why


def tick() -> TickReport:
    """Keep every schedule's coming run, and drop runs missed in a burst. (Workers take due
    runs from the executions table themselves.)

    Each step runs whatever happened to the one before, so a failure in one (logged, and
    shown on the dashboard) does not stop the others; the next tick tries it again."""
    now, started = timezone.now(), time.monotonic()
    errors = []

    def step(name, function):
        try:
            return function(now=now)
        except Exception as error:
            logger.exception("tick: %s failed", name)
            errors.append(f"{name}: {type(error).__name__}: {error}")
            return None

    report = TickReport(
        planned=step("scheduling", schedule_tick),
        missed=step("canceling missed runs", executions_cancel_missed),
        errors=tuple(errors),
    )
    scheduler_record_tick(at=now, seconds=time.monotonic() - started, errors=report.errors)
    if errors:
        logger.error("tick: %s", report)
    else:
        logger.info("tick: %s", report)
    return report


def reap() -> int:
    """Fail (or retry) every RUNNING execution whose worker stopped sending heartbeats, and
    remove run folders killed workers left."""
    silent_since = leases.silent_since()
    reaped = 0
    lost = leases.lost(Execution.objects.filter(status=ExecutionStatus.RUNNING))
    for execution in lost.select_related("instance"):
        try:
            execution_reap(execution=execution, silent_since=silent_since)
        except TransitionError:
            continue  # it finished or sent a heartbeat meanwhile
        reaped += 1
    if reaped:
        logger.warning("reaper: %d executions lost their worker", reaped)
    sweep_leftover_workspaces()
    return reaped


def prune_task_results() -> None:
    """Finished task records of the database backend are only bookkeeping: keep a week."""
    if settings.TASKS_BACKEND == "database":
        call_command("prune_db_task_results", min_age_days=7, verbosity=0)


def clean_up() -> int:
    """Apply the retention settings; returns how many organisations had something removed."""
    passes = retention_clean_up()
    for done in passes:
        logger.info(
            "clean-up of organisation %s: %s executions, %s logs, %s batches, %s jobs' files",
            done.organisation_id,
            done.executions_deleted,
            done.logs_dropped,
            done.batches_deleted,
            done.job_files_removed,
        )
    return len(passes)
