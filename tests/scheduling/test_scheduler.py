import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection

from apps.core.errors import TransitionError
from apps.runner.services import (
    execution_cancel,
    execution_claim,
    execution_create_manual,
    execution_fail,
    executions_cancel_missed,
)
from apps.scheduling.jobs import reap
from apps.scheduling.models import (
    CronStatus,
    Execution,
    ExecutionStatus,
    ExecutionType,
    IntegrationBatchInstance,
)
from apps.scheduling.services import (
    instance_archive,
    instance_pause,
    instance_resume,
    schedule_tick,
)
from tests.factories import make_instance, make_version

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 6, 1, 0, 5, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


def hourly(at=T0, **kwargs):
    with time_machine.travel(at, tick=False):
        return make_instance(cron="0 * * * *", cron_status=CronStatus.ACTIVE, **kwargs)


def cron_runs(instance, status=None):
    runs = instance.executions.filter(execution_type=ExecutionType.CRON)
    if status:
        runs = runs.filter(status=status)
    return list(runs.order_by("expected_start_date").values_list("expected_start_date", flat=True))


def at(hour, minute=0, day=1, second=0):
    return datetime(2026, 6, day, hour, minute, second, tzinfo=UTC)


def test_a_new_instance_shows_its_coming_run_at_once():
    assert cron_runs(hourly()) == [at(1)]


def test_ticks_keep_exactly_one_coming_run():
    instance = hourly()
    for minute in (10, 20, 30):
        schedule_tick(now=at(0, minute))
    assert cron_runs(instance) == [at(1)]
    schedule_tick(now=at(1, 0, day=1) + timedelta(seconds=30))
    assert cron_runs(instance) == [at(1), at(2)]


def test_only_active_unarchived_instances_with_a_cron_are_scheduled():
    on_demand = make_instance(name="On demand")
    paused = hourly(name="Paused")
    instance_pause(instance=paused)
    archived = hourly(name="Archived")
    instance_archive(instance=archived)
    assert schedule_tick(now=at(3)) == 0
    assert (
        cron_runs(on_demand, "PENDING")
        == cron_runs(paused, "PENDING")
        == cron_runs(archived, "PENDING")
        == []
    )


def test_after_hours_of_downtime_only_the_latest_missed_run_runs():
    instance = hourly()  # its 01:00 run was planned at creation
    now = at(5, 30)
    schedule_tick(now=now)  # the scheduler comes back at 05:30
    assert cron_runs(instance, "PENDING") == [at(1), at(5), at(6)]
    assert executions_cancel_missed(now=now) == 1
    assert cron_runs(instance, "PENDING") == [at(5), at(6)]
    missed = instance.executions.get(expected_start_date=at(1))
    assert missed.status == ExecutionStatus.CANCELED
    assert missed.status_changes.get().reason.startswith("Missed:")


def test_resume_after_a_long_pause_schedules_from_now_without_a_burst():
    instance = hourly()
    with time_machine.travel(at(0, 30), tick=False):
        instance_pause(instance=instance)
    resumed_at = at(10, 20, day=4)
    with time_machine.travel(resumed_at, tick=False):
        instance_resume(instance=instance)
    schedule_tick(now=resumed_at + timedelta(minutes=1))
    assert executions_cancel_missed(now=resumed_at + timedelta(minutes=1)) == 0
    assert cron_runs(instance, "PENDING") == [at(11, day=4)]


def test_resuming_before_a_canceled_fire_time_runs_it_after_all():
    instance = hourly()
    with time_machine.travel(at(0, 30), tick=False):
        instance_pause(instance=instance)
        instance_resume(instance=instance)
    assert cron_runs(instance, "CANCELED") == [at(1)]
    assert cron_runs(instance, "PENDING") == [at(1)]


def test_a_coming_run_canceled_by_hand_is_not_brought_back():
    instance = hourly()
    execution_cancel(execution=instance.executions.get())
    schedule_tick(now=at(0, 40))
    assert cron_runs(instance, "PENDING") == []
    schedule_tick(now=at(1, 0, day=1) + timedelta(seconds=5))
    assert cron_runs(instance, "PENDING") == [at(2)]


def daily_paris_runs(start: datetime, days: int) -> list[datetime]:
    """The runs a daily 02:30 Paris job had, ticking every 15 minutes for `days` days
    (the last one listed is the coming run planned by the last tick)."""
    with time_machine.travel(start, tick=False):
        instance = make_instance(
            cron="30 2 * * *", cron_timezone="Europe/Paris", cron_status="ACTIVE"
        )
    now = start
    while now < start + timedelta(days=days):
        schedule_tick(now=now)
        now += timedelta(minutes=15)
    return [moment.astimezone(PARIS) for moment in cron_runs(instance)]


def test_a_daily_paris_job_runs_once_a_day_across_spring_forward():
    runs = daily_paris_runs(datetime(2026, 3, 27, 12, tzinfo=UTC), days=4)
    assert [(r.day, r.hour, r.minute) for r in runs] == [
        (28, 2, 30),
        (29, 3, 30),
        (30, 2, 30),
        (31, 2, 30),
        (1, 2, 30),
    ]  # 02:30 does not exist on the 29th: it runs when the clock jumps past it


def test_a_daily_paris_job_runs_once_a_day_across_fall_back():
    runs = daily_paris_runs(datetime(2026, 10, 23, 12, tzinfo=UTC), days=4)
    assert [(r.day, r.hour, r.minute) for r in runs] == [
        (24, 2, 30),
        (25, 2, 30),
        (26, 2, 30),
        (27, 2, 30),
        (28, 2, 30),
    ]  # 02:30 happens twice on the 25th: it runs once
    assert runs[1].utcoffset() == timedelta(hours=2)


def make_due(execution):
    Execution.objects.filter(pk=execution.pk).update(expected_start_date=at(0) - timedelta(days=1))
    execution.refresh_from_db()
    return execution


def test_forbid_skips_a_fire_time_while_the_previous_run_still_runs():
    instance = hourly(concurrency_policy="FORBID")
    running = execution_claim(execution=execution_create_manual(instance=instance))
    coming = make_due(instance.executions.get(execution_type="CRON"))
    with pytest.raises(TransitionError, match="Skipped: execution") as refusal:
        execution_claim(execution=coming)
    assert refusal.value.code == "skipped"
    coming.refresh_from_db()
    assert coming.status == ExecutionStatus.CANCELED
    assert coming.error == {
        "message": f"Skipped: execution {running.pk} was still running at this fire time "
        "(concurrency policy FORBID)."
    }


def test_allow_runs_a_fire_time_beside_the_previous_run():
    instance = hourly()
    execution_claim(execution=execution_create_manual(instance=instance))
    coming = execution_claim(execution=make_due(instance.executions.get(execution_type="CRON")))
    assert coming.status == ExecutionStatus.RUNNING


def test_a_failed_run_is_retried_with_exponential_back_off_until_retries_run_out():
    instance = make_instance(max_retries=2, retry_backoff_seconds=60)
    execution = execution_create_manual(instance=instance, parameters={"day": "2026-06-01"})
    attempts = []
    with time_machine.travel(T0, tick=False):
        while execution is not None:
            execution_claim(execution=make_due(execution))
            execution_fail(execution=execution, message="Connection refused")
            attempts.append(execution)
            execution = Execution.objects.filter(retry_of=execution).first()
            if execution:
                assert execution.parameters == {"day": "2026-06-01"}
                delays = {2: 60, 3: 120}
                assert execution.expected_start_date == T0 + timedelta(
                    seconds=delays[execution.attempt]
                )
    assert [a.attempt for a in attempts] == [1, 2, 3]
    assert all(a.status == ExecutionStatus.FAILED for a in attempts)


def test_the_reaper_fails_runs_whose_worker_went_silent(settings):
    settings.LEASE_TIMEOUT_SECONDS = 60
    instance = make_instance()
    with time_machine.travel(at(0), tick=False):
        lost = execution_claim(execution=execution_create_manual(instance=instance))
        alive = execution_claim(execution=execution_create_manual(instance=instance))
    Execution.objects.filter(pk=lost.pk).update(worker="host-a:123")
    with time_machine.travel(at(0, 5), tick=False):
        Execution.objects.filter(pk=alive.pk).update(heartbeat_at=at(0, 4, second=30))
        assert reap() == 1
    lost.refresh_from_db()
    alive.refresh_from_db()
    assert lost.status == ExecutionStatus.FAILED
    assert lost.error["message"] == (
        "Worker lost: no heartbeat from host-a:123 since 2026-06-01 00:00:00 UTC."
    )
    assert alive.status == ExecutionStatus.RUNNING


def test_a_reaped_run_is_retried_when_the_instance_allows():
    instance = make_instance(max_retries=1)
    with time_machine.travel(at(0), tick=False):
        lost = execution_claim(execution=execution_create_manual(instance=instance))
    with time_machine.travel(at(1), tick=False):
        reap()
    assert Execution.objects.get(retry_of=lost).attempt == 2


def test_a_tick_with_nothing_to_plan_is_two_queries_however_many_instances(
    django_assert_num_queries,
):
    version = make_version()
    for count in (10, 40):
        while IntegrationBatchInstance.objects.count() < count:
            hourly(version=version)
        schedule_tick(now=at(3), batch_size=7)  # plans the new ones
        with django_assert_num_queries(2):  # the scheduled instances, the coming runs
            assert schedule_tick(now=at(3), batch_size=7) == 0


def test_a_tick_plans_only_instances_missing_their_coming_run_in_batches(
    django_assert_num_queries,
):
    version = make_version()
    already = [hourly(version=version) for _ in range(5)]
    schedule_tick(now=at(3))
    missing = [hourly(version=version) for _ in range(25)]
    # Two to find them (which also tell which have a coming run); then per batch of 10:
    # the instances, the insert and, on PostgreSQL, a notice to the workers.
    with django_assert_num_queries(2 + 3 * (2 + (connection.vendor == "postgresql"))):
        assert schedule_tick(now=at(3), batch_size=10) == 25
    assert all(at(4) in cron_runs(instance) for instance in already + missing)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_four_concurrent_ticks_create_exactly_one_execution_per_fire_time():
    version = make_version()
    instances = [hourly(version=version) for _ in range(40)]
    now = at(3, 10)
    start = threading.Barrier(4)
    errors = []

    def tick():
        try:
            start.wait()
            schedule_tick(now=now, batch_size=7)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for instance in instances:
        assert cron_runs(instance) == [at(1), at(3), at(4)]  # planned, latest missed, next


def test_a_planned_run_holds_what_the_orm_would_have_saved():
    """The tick inserts its runs in one statement of its own (on PostgreSQL): each has
    every field as Execution.objects.create() would have set it."""
    instance = hourly()
    planned = instance.executions.get(execution_type="CRON")
    created = Execution.objects.create(
        organisation_id=instance.organisation_id,
        instance=instance,
        execution_type="CRON",
        expected_start_date=planned.expected_start_date + timedelta(hours=5),
    )
    differing = {"id", "expected_start_date", "created_at"}
    fields = [f for f in Execution._meta.concrete_fields if f.name not in differing]
    assert [f.value_from_object(planned) for f in fields] == [
        f.value_from_object(created) for f in fields
    ]
    assert planned.created_at == T0  # when the tick planned it (travelled to T0)
