"""The executions table is the workers' queue: a worker takes the earliest due run that
may start, each run is taken once however many workers look at once, missed and waiting
runs are left alone, and idle workers wake when a run is asked for rather than polling."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.core.errors import TransitionError
from apps.runner import statements
from apps.runner.services import (
    execution_claim,
    execution_claim_next,
    execution_create_manual,
    executions_cancel_missed,
)
from apps.runner.wakeups import Alarm
from apps.scheduling.models import Execution, ExecutionStatus, ExecutionType
from apps.scheduling.selectors import effective_properties
from tests.factories import PROPERTIES, ExecutionFactory, make_instance, make_version

SECOND = timedelta(seconds=1)


def runs_due(
    instance, *offsets_in_seconds: float, execution_type=ExecutionType.MANUAL, **fields
) -> list[Execution]:
    now = timezone.now()
    return [
        ExecutionFactory(
            instance=instance,
            execution_type=execution_type,
            expected_start_date=now + offset * SECOND,
            **fields,
        )
        for offset in offsets_in_seconds
    ]


@pytest.mark.django_db
def test_a_worker_takes_the_earliest_due_run_first_and_never_one_still_to_come():
    instance = make_instance()
    later, earliest, coming = runs_due(instance, -5, -60, 3600)
    assert execution_claim_next() == earliest
    assert execution_claim_next() == later
    assert execution_claim_next() is None
    coming.refresh_from_db()
    assert coming.status == ExecutionStatus.PENDING
    earliest.refresh_from_db()
    assert (earliest.status, earliest.worker) == (ExecutionStatus.RUNNING, earliest.worker)
    assert [c.to_status for c in earliest.status_changes.all()] == ["RUNNING"]


@pytest.mark.django_db
def test_the_run_taken_comes_with_its_instance_version_and_properties_as_the_orm_reads_them():
    version = make_version(properties=PROPERTIES)
    instance = make_instance(version=version, properties={"batch_size": {"value": 7}})
    (run,) = runs_due(instance, -1, parameters={"rows": [1, {"a": None}]})
    claimed = execution_claim_next()
    read = Execution.objects.select_related("instance__version").get(pk=run.pk)
    for model_of in (lambda e: e, lambda e: e.instance, lambda e: e.instance.version):
        fields = model_of(read)._meta.concrete_fields
        assert [f.value_from_object(model_of(claimed)) for f in fields] == [
            f.value_from_object(model_of(read)) for f in fields
        ]
    as_read = [(p.prop.technical_name, p.value, p.own) for p in effective_properties(read.instance)]
    assert [
        (p.prop.technical_name, p.value, p.own) for p in effective_properties(claimed.instance)
    ] == (as_read)
    assert ("batch_size", {"value": 7}, True) in as_read


@pytest.mark.django_db
def test_a_missed_fire_time_is_not_run_when_a_later_one_is_due_and_the_tick_cancels_it():
    instance = make_instance()
    missed, latest = runs_due(instance, -3600, -60, execution_type=ExecutionType.CRON)
    assert execution_claim_next() == latest
    assert execution_claim_next() is None
    assert executions_cancel_missed(now=timezone.now()) == 1
    missed.refresh_from_db()
    assert missed.status == ExecutionStatus.CANCELED


@pytest.mark.django_db
def test_under_forbid_a_fire_time_that_comes_while_a_run_runs_is_skipped_and_the_next_taken():
    forbid = make_instance(concurrency_policy="FORBID")
    running = execution_claim(execution=runs_due(forbid, -120)[0])
    (skipped,) = runs_due(forbid, -60, execution_type=ExecutionType.CRON)
    (other,) = runs_due(make_instance(), -1)
    assert execution_claim_next() == other
    skipped.refresh_from_db()
    assert skipped.status == ExecutionStatus.CANCELED
    assert f"execution {running.pk} was still running" in skipped.error["message"]


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_database_clock_says_what_is_due_on_postgresql():
    """Every worker agrees on what is due, whatever its own clock says."""
    (run,) = runs_due(make_instance(), 2)
    with pytest.raises(TransitionError):
        execution_claim(execution=run)
    assert statements.claim_next(worker="w:1", now=timezone.now()) == (None, None)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_four_workers_looking_at_once_take_each_run_exactly_once():
    instance = make_instance()
    runs = runs_due(instance, *[-i for i in range(120)])
    start = threading.Barrier(4)
    taken, errors = [], []

    def worker(name):
        try:
            start.wait()
            while (execution := execution_claim_next(worker=name)) is not None:
                taken.append((execution.pk, name))
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(f"w:{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(pk for pk, _ in taken) == sorted(run.pk for run in runs)
    assert len({name for _, name in taken}) > 1  # they shared the work
    assert Execution.objects.filter(status=ExecutionStatus.RUNNING).count() == len(runs)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_idle_worker_wakes_when_a_run_is_asked_for_not_at_its_next_look():
    alarm = Alarm()
    alarm.listen()
    instance = make_instance()
    woken = threading.Event()

    def sleep():
        alarm.sleep(30)
        woken.set()

    sleeper = threading.Thread(target=sleep)
    sleeper.start()
    try:
        time.sleep(0.2)  # asleep, not merely about to be
        assert not woken.is_set()
        execution_create_manual(instance=instance)
        assert woken.wait(timeout=5)
    finally:
        alarm.stop()
        sleeper.join()
        alarm.close()


@pytest.mark.django_db(transaction=True)
def test_a_stopped_alarm_ends_its_sleep_at_once():
    alarm = Alarm()
    alarm.listen()
    threading.Timer(0.2, alarm.stop).start()
    started = time.monotonic()
    alarm.sleep(30)
    assert time.monotonic() - started < 5
    alarm.close()
