"""Each run reaches the queue once, on both backends, however many ticks run at once and
however far the workers fall behind: counted as tasks in the queue, not only as runs."""

import threading
from datetime import timedelta

import django_rq
import pytest
import time_machine
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from rq.registry import ScheduledJobRegistry

from apps.runner.services import executions_dispatch_due
from apps.scheduling.models import Execution, ExecutionType
from tests.factories import make_instance

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RQ_TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}


class DatabaseQueue:
    settings = {}

    def clear(self):
        DBTaskResult.objects.all().delete()

    def tasks(self) -> list[int]:
        return sorted(row.args_kwargs["args"][0] for row in DBTaskResult.objects.all())


class RedisQueue:
    settings = {"TASKS": RQ_TASKS}

    def __init__(self):
        self.queue = django_rq.get_queue("default")

    def clear(self):
        self.queue.empty()
        registry = ScheduledJobRegistry(queue=self.queue)
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=True)

    def tasks(self) -> list[int]:
        ids = self.queue.job_ids + ScheduledJobRegistry(queue=self.queue).get_job_ids()
        return sorted(self.queue.fetch_job(job_id).args[0] for job_id in ids)


@pytest.fixture(params=["database", pytest.param("rq", marks=pytest.mark.redis)])
def queue(request):
    queue = DatabaseQueue() if request.param == "database" else RedisQueue()
    with override_settings(**queue.settings):
        queue.clear()
        yield queue
        queue.clear()


def due_runs(count: int) -> list[int]:
    """Runs due now that no one has handed over yet (as after a restart)."""
    instance = make_instance()
    now = timezone.now()
    Execution.objects.bulk_create(
        Execution(
            organisation_id=instance.organisation_id,
            instance=instance,
            execution_type=ExecutionType.MANUAL,
            expected_start_date=now - timedelta(seconds=index),
        )
        for index in range(count)
    )
    return sorted(instance.executions.values_list("pk", flat=True))


def test_four_concurrent_ticks_queue_each_due_run_once(queue):
    runs = due_runs(600)  # more than one batch of 500
    start = threading.Barrier(4)
    handed, errors = [], []

    def tick():
        try:
            start.wait()
            handed.append(executions_dispatch_due())
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
    assert sum(handed) == 600
    assert queue.tasks() == runs


def test_runs_waiting_behind_slow_workers_are_not_queued_again(queue, settings):
    settings.REDISPATCH_AFTER_SECONDS = 300
    runs = due_runs(50)
    assert executions_dispatch_due() == 50
    for minutes in (6, 12, 60):
        with time_machine.travel(timezone.now() + timedelta(minutes=minutes)):
            assert executions_dispatch_due() == 0
    assert queue.tasks() == runs


def test_runs_whose_queue_lost_them_are_queued_again_once(queue, settings):
    settings.REDISPATCH_AFTER_SECONDS = 300
    runs = due_runs(20)
    executions_dispatch_due()
    queue.clear()  # Redis restarted empty, or the task table was pruned
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        assert executions_dispatch_due() == 20
        assert executions_dispatch_due() == 0
    assert queue.tasks() == runs
