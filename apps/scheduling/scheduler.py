"""The scheduler's tick: every scheduled instance keeps its coming run as a PENDING CRON
execution, so that it shows, can be canceled by a pause, and is handed to a worker on time.

Idempotent and safe to run concurrently: rows are inserted with ON CONFLICT DO NOTHING
against the one-CRON-execution-per-fire-time constraint. Costs a fixed number of queries
(three) per batch of instances."""

import logging
from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone

from apps.scheduling.cron import next_fire_time, previous_fire_time
from apps.scheduling.models import Execution, ExecutionType, IntegrationBatchInstance

BATCH_SIZE = 500
logger = logging.getLogger(__name__)


def schedule_tick(*, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> int:
    """Schedule every ACTIVE, unarchived instance with a cron; returns how many. Those that
    could not be planned carry their schedule_error."""
    now = now or timezone.now()
    scheduled = (
        IntegrationBatchInstance.objects.scheduled()
        .only(
            "pk",
            "organisation_id",
            "cron",
            "cron_timezone",
            "scheduled_from",
            "created_at",
            "schedule_error",
        )
        .order_by("pk")
    )
    count, last_pk = 0, 0
    while batch := list(scheduled.filter(pk__gt=last_pk)[:batch_size]):
        schedule_instances(batch, now=now)
        count += len(batch)
        last_pk = batch[-1].pk
    return count


def schedule_instances(
    instances: Iterable[IntegrationBatchInstance], *, now: datetime
) -> dict[int, str]:
    """Insert, for each instance, its next fire time and, if one was missed since its
    schedule began (the scheduler was down), the latest missed one: never a burst.

    An instance whose coming run is already PENDING needs nothing: that run was planned
    by an earlier tick, which also planned every fire time up to it. An instance whose
    fire times cannot be computed is left out, its error recorded on it, and the others
    are scheduled all the same. Returns those left out, with why."""
    instances = list(instances)
    planned = set(
        Execution.objects.pending()
        .filter(
            instance_id__in=[instance.pk for instance in instances],
            execution_type=ExecutionType.CRON,
            retry_of__isnull=True,
            expected_start_date__gt=now,
        )
        .values_list("instance_id", flat=True)
    )
    rows, failed = [], {}
    for instance in instances:
        if instance.pk in planned:
            continue
        try:
            fire_times = _fire_times_to_keep(instance, now)
        except Exception as error:  # one instance's schedule must not stop everyone's
            logger.exception("Instance %s could not be scheduled", instance.pk)
            failed[instance.pk] = f"{type(error).__name__}: {error}"[:500]
            continue
        rows += [
            Execution(
                organisation_id=instance.organisation_id,
                instance_id=instance.pk,
                execution_type=ExecutionType.CRON,
                expected_start_date=fire_time,
            )
            for fire_time in fire_times
        ]
    Execution.objects.bulk_create(rows, ignore_conflicts=True)
    _record_schedule_errors(instances, failed)
    return failed


def _record_schedule_errors(instances: list[IntegrationBatchInstance], failed: dict) -> None:
    """Show each failure on its instance; clear the errors of instances planned again. (Only
    instances whose error changes are written, so a healthy tick writes nothing here.)"""
    for pk, message in failed.items():
        IntegrationBatchInstance.objects.filter(pk=pk).update(schedule_error=message)
    recovered = [i.pk for i in instances if i.schedule_error and i.pk not in failed]
    if recovered:
        IntegrationBatchInstance.objects.filter(pk__in=recovered).update(schedule_error="")


def _fire_times_to_keep(instance: IntegrationBatchInstance, now: datetime) -> list[datetime]:
    cron, zone = instance.cron, instance.cron_timezone
    fire_times = [next_fire_time(cron, zone, now)]
    latest_due = previous_fire_time(cron, zone, now)
    if latest_due > (instance.scheduled_from or instance.created_at):
        fire_times.append(latest_due)
    return fire_times
