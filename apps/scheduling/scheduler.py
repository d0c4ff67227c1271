"""The scheduler's tick: every scheduled instance keeps its coming run as a PENDING CRON
execution, so that it shows, can be canceled by a pause, and is handed to a worker on time.

Idempotent and safe to run concurrently: rows are inserted with ON CONFLICT DO NOTHING
against the one-CRON-execution-per-fire-time constraint. Costs a fixed number of queries
(three) per batch of instances."""

from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone

from apps.scheduling.cron import next_fire_time, previous_fire_time
from apps.scheduling.models import Execution, ExecutionType, IntegrationBatchInstance

BATCH_SIZE = 500


def schedule_tick(*, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> int:
    """Schedule every ACTIVE, unarchived instance with a cron; returns how many."""
    now = now or timezone.now()
    scheduled = (
        IntegrationBatchInstance.objects.scheduled()
        .only("pk", "organisation_id", "cron", "cron_timezone", "scheduled_from", "created_at")
        .order_by("pk")
    )
    count, last_pk = 0, 0
    while batch := list(scheduled.filter(pk__gt=last_pk)[:batch_size]):
        schedule_instances(batch, now=now)
        count += len(batch)
        last_pk = batch[-1].pk
    return count


def schedule_instances(instances: Iterable[IntegrationBatchInstance], *, now: datetime) -> None:
    """Insert, for each instance, its next fire time and, if one was missed since its
    schedule began (the scheduler was down), the latest missed one: never a burst.

    An instance whose coming run is already PENDING needs nothing: that run was planned
    by an earlier tick, which also planned every fire time up to it."""
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
    rows = [
        Execution(
            organisation_id=instance.organisation_id,
            instance_id=instance.pk,
            execution_type=ExecutionType.CRON,
            expected_start_date=fire_time,
        )
        for instance in instances
        if instance.pk not in planned
        for fire_time in _fire_times_to_keep(instance, now)
    ]
    Execution.objects.bulk_create(rows, ignore_conflicts=True)


def _fire_times_to_keep(instance: IntegrationBatchInstance, now: datetime) -> list[datetime]:
    cron, zone = instance.cron, instance.cron_timezone
    fire_times = [next_fire_time(cron, zone, now)]
    latest_due = previous_fire_time(cron, zone, now)
    if latest_due > (instance.scheduled_from or instance.created_at):
        fire_times.append(latest_due)
    return fire_times
