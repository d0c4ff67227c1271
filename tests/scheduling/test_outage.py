"""The scheduler as it really runs: outside any transaction, after an outage, and through
failures it must survive and show."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from apps.scheduling import jobs
from apps.scheduling.models import (
    CronStatus,
    ExecutionStatus,
    ExecutionType,
    IntegrationBatchInstance,
    SchedulerState,
)
from apps.scheduling.services import instance_update
from tests.factories import ExecutionFactory, PluginFactory, make_instance, make_version
from tests.processes import running
from tests.runner.conftest import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
T0 = datetime(2026, 6, 1, 0, 5, tzinfo=UTC)


def at(hour, minute=0):
    return datetime(2026, 6, 1, hour, minute, tzinfo=UTC)


def hourly(**kwargs):
    with time_machine.travel(T0, tick=False):
        return make_instance(cron="0 * * * *", cron_status=CronStatus.ACTIVE, **kwargs)


def cron_runs(instance, status):
    runs = instance.executions.filter(execution_type=ExecutionType.CRON, status=status)
    return list(runs.order_by("expected_start_date").values_list("expected_start_date", flat=True))


def test_the_tick_after_an_outage_cancels_the_missed_runs_and_goes_on_scheduling():
    instance = hourly()  # its 01:00 run was planned at creation; then the scheduler stopped
    with time_machine.travel(at(5, 30), tick=False):
        report = jobs.tick()
    assert report.errors == ()
    assert report.missed == 1
    assert cron_runs(instance, ExecutionStatus.CANCELED) == [at(1)]
    assert cron_runs(instance, ExecutionStatus.PENDING) == [at(5), at(6)]
    with time_machine.travel(at(6, 1), tick=False):
        assert jobs.tick().errors == ()  # and every tick after it works too
    assert SchedulerState.current().last_good_tick_at == at(6, 1)


def test_an_instance_that_cannot_be_scheduled_does_not_stop_the_others(client, world):
    version = make_version(plugin=PluginFactory(organisation=world.org_a))
    broken = hourly(version=version, name="Broken zone")
    healthy = hourly(version=version, name="Healthy")
    # A time zone the system stopped knowing (tzdata changed under a stored instance).
    IntegrationBatchInstance.objects.filter(pk=broken.pk).update(cron_timezone="Mars/Olympus")
    with time_machine.travel(at(1) + timedelta(seconds=30), tick=False):
        assert jobs.tick().errors == ()
    assert cron_runs(healthy, ExecutionStatus.PENDING) == [at(1), at(2)]
    assert cron_runs(broken, ExecutionStatus.PENDING) == [at(1)]  # nothing more
    broken.refresh_from_db()
    assert broken.schedule_error.startswith("ZoneInfoNotFoundError")

    client.force_login(world.reader_a)
    page = client.get(reverse("dashboard")).content.decode()
    assert "Broken zone</a> cannot be scheduled: ZoneInfoNotFoundError" in page
    assert "cannot plan this instance" in client.get(reverse("instance", args=[broken.pk])).text

    with time_machine.travel(at(1, 10), tick=False):
        instance_update(instance=broken, cron_timezone="Europe/Paris")
    broken.refresh_from_db()
    assert broken.schedule_error == ""


def test_the_dashboard_says_when_the_scheduler_never_ran_stopped_or_fails(client, world):
    client.force_login(world.reader_a)
    dashboard = reverse("dashboard")
    assert "The scheduler has never run" in client.get(dashboard).text

    with time_machine.travel(at(1), tick=False):
        jobs.tick()
        assert "Scheduler: last good tick" in client.get(dashboard).text
    with time_machine.travel(at(1, 10), tick=False):
        assert "The scheduler has not ticked since 2026-06-01 01:00:00 UTC" in (
            client.get(dashboard).text
        )


@pytest.fixture
def canceling_fails():
    """The database refuses to cancel any run, as it would with its disk full."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse_cancel() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION USING ERRCODE = 'disk_full', "
            "MESSAGE = 'could not extend file: No space left on device'; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER refuse_cancel BEFORE UPDATE ON scheduling_execution FOR EACH ROW "
            "WHEN (NEW.status = 'CANCELED') EXECUTE FUNCTION refuse_cancel()"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER refuse_cancel ON scheduling_execution")
        cursor.execute("DROP FUNCTION refuse_cancel()")


def test_the_scheduler_loop_survives_a_failing_step_and_shows_it(client, world, canceling_fails):
    """Canceling missed runs fails for real (the database refuses): the loop keeps
    ticking, scheduling still happens, and the dashboard names the failure."""
    instance = make_instance(cron="* * * * *", cron_status=CronStatus.ACTIVE)
    instance.executions.all().delete()
    now = timezone.now()
    for minutes_ago in (30, 20):  # two fire times missed: the older one is to cancel
        ExecutionFactory(
            instance=instance, expected_start_date=now - timedelta(minutes=minutes_ago)
        )
    with running("run_scheduler", "--interval", "0.2") as scheduler:

        def failed_ticks_after(moment):
            state = SchedulerState.current()
            return state.last_error_at and state.last_error_at > moment

        first = wait_for(lambda: SchedulerState.current().last_error_at, timeout=60)
        wait_for(lambda: failed_ticks_after(first), timeout=60, message="a second tick")
        assert scheduler.poll() is None  # still looping
    assert instance.executions.filter(
        status=ExecutionStatus.PENDING, expected_start_date__gt=now
    ).exists()
    state = SchedulerState.current()
    assert state.last_good_tick_at is None
    assert "canceling missed runs: OperationalError: could not extend file" in state.last_error

    client.force_login(world.reader_a)
    page = client.get(reverse("dashboard")).text
    assert "The scheduler&#x27;s last tick failed" in page
    assert "canceling missed runs: OperationalError: could not extend file" in page
