"""Worker processes as deployed: db_worker on PostgreSQL, RQ workers on Redis."""

import os
import signal
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from apps.runner.logs import read_log
from apps.runner.services import execution_create_manual, execution_enqueue
from apps.scheduling.jobs import reap
from apps.scheduling.models import Execution, ExecutionStatus
from tests.factories import make_instance, make_version
from tests.processes import manage, running
from tests.runner import plugins
from tests.runner.conftest import wait_for, wait_for_status

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SAYS_IT_RAN = plugins.plugin("""
print(f"ran execution {context.execution_id}")
time.sleep(0.5)
return "counted"
""")


def plugin_processes_of(execution: Execution) -> list[int]:
    """Live processes running this execution's plugin code."""
    marker = f"execution-{execution.pk}-"
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except OSError:
            continue
        if marker in command and "batchworks_sdk.child" in command and state != "Z":
            found.append(int(pid))
    return found


def run_folders_of(execution: Execution) -> list[Path]:
    return list(django_settings.EXECUTION_WORK_DIR.glob(f"execution-{execution.pk}-*"))


def test_an_execution_handed_over_twice_to_two_workers_runs_once():
    instance = make_instance(version=make_version(code=SAYS_IT_RAN))
    executions = [execution_create_manual(instance=instance) for _ in range(3)]
    for execution in executions:  # each already handed over once, as it was created
        execution_enqueue(execution, now=execution.expected_start_date)
    with running("run_worker"), running("run_worker"):
        for execution in executions:
            wait_for_status(execution, ExecutionStatus.SUCCEEDED, timeout=60)
    for execution in executions:
        assert read_log(execution.pk).text.count("ran execution") == 1
        assert [c.to_status for c in execution.status_changes.all()] == ["RUNNING", "SUCCEEDED"]


@pytest.mark.parametrize("max_retries", [0, 1], ids=["failed", "retried"])
def test_a_worker_killed_mid_run_leaves_nothing_running(settings, max_retries):
    settings.LEASE_TIMEOUT_SECONDS = 2
    instance = make_instance(version=make_version(code=plugins.SLEEPS), max_retries=max_retries)
    execution = execution_create_manual(instance=instance)  # handed over as it commits
    with running("run_worker") as worker:
        wait_for(lambda: "sleeping" in read_log(execution.pk).text, timeout=60, message="the run")
        assert plugin_processes_of(execution)
        assert run_folders_of(execution)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    wait_for(lambda: reap(), timeout=60, message="the reaper to find the lost run")
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED
    assert execution.error["message"].startswith("Worker lost: no heartbeat from")
    wait_for(
        lambda: not plugin_processes_of(execution),
        timeout=30,
        message="the plugin to die with its worker",
    )
    # The reaper clears what the killed worker left: its run folder and its task's record.
    assert run_folders_of(execution) == []
    assert DBTaskResult.objects.get(pk=execution.dispatch_task_id).status == "FAILED"
    assert not DBTaskResult.objects.filter(status="RUNNING").exists()
    retry = Execution.objects.filter(retry_of=execution).first()
    assert (retry is not None) == bool(max_retries)
    if retry:
        assert (retry.status, retry.attempt) == (ExecutionStatus.PENDING, 2)


@pytest.mark.redis
def test_the_rq_path_runs_an_execution_end_to_end(settings):
    rq = {"BATCHWORKS_TASKS_BACKEND": "rq", "REDIS_URL": settings.REDIS_URL}
    instance = make_instance(version=make_version(code=plugins.SUCCEEDS))
    execution = execution_create_manual(instance=instance, parameters={"rows": 3})
    # This test process dispatched it on its own (database) backend; leave it to the
    # scheduler configured for RQ.
    Execution.objects.filter(pk=execution.pk).update(dispatched_at=None)

    scheduler = manage("run_scheduler", "--once", **rq)
    assert scheduler.returncode == 0, scheduler.stderr
    assert "dispatched=1" in scheduler.stdout
    worker = manage("run_worker", "--burst", **rq)
    assert worker.returncode == 0, worker.stderr

    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED, worker.stderr
    assert execution.result == {"provider": None, "batch_size": None}
    assert "rows=3" in read_log(execution.pk).text


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_run_queued_ahead_on_rq_starts_on_time_when_the_worker_moving_it_is_killed(
    settings,
):
    """Runs queued ahead wait in RQ's scheduled registry; one worker at a time moves the
    due ones to the queue. Kill that one: the other takes over, and the run starts on
    time (RQ's own scheduler left it a minute late, or to the 300 s re-dispatch)."""
    from django_rq import get_connection

    from apps.runner.rq import PROMOTER_LOCK_KEY

    rq = {"BATCHWORKS_TASKS_BACKEND": "rq", "REDIS_URL": settings.REDIS_URL}
    settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    settings.TASKS_BACKEND = "rq"
    redis = get_connection("default")
    lock = PROMOTER_LOCK_KEY.format(queues="default")
    redis.delete(lock)
    instance = make_instance(version=make_version(code=plugins.SUCCEEDS))
    with running("run_worker", **rq) as first, running("run_worker", **rq) as second:
        holder = wait_for(lambda: redis.get(lock), timeout=60, message="a worker to promote")
        moving = {first.pid: first, second.pid: second}[int(holder.decode().rsplit(":", 1)[1])]
        due = timezone.now() + timedelta(seconds=8)
        execution = execution_create_manual(instance=instance, expected_start_date=due)
        assert Execution.objects.get(pk=execution.pk).dispatched_at is not None  # queued ahead
        moving.kill()
        moving.wait()
        wait_for_status(execution, ExecutionStatus.SUCCEEDED, timeout=60)
    assert (execution.start_date - due).total_seconds() < 5
    assert execution.worker != holder.decode()


@pytest.mark.django_db(transaction=True)
def test_a_worker_says_in_its_log_that_it_is_ready_and_what_it_reached():
    started = manage("run_worker", "--burst")
    assert started.returncode == 0, started.stderr
    log = started.stdout + started.stderr
    assert "ready: database, storage" in log
    assert "fork server" in log


@pytest.mark.django_db(transaction=True)
def test_a_worker_that_cannot_reach_redis_exits_saying_so(settings):
    started = manage(
        "run_worker", "--burst", BATCHWORKS_TASKS_BACKEND="rq", REDIS_URL="redis://127.0.0.1:1/0"
    )
    assert started.returncode != 0
    assert "not ready: cannot reach redis" in started.stderr
