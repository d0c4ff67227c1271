"""Worker processes as deployed: db_worker on PostgreSQL, RQ workers on Redis."""

import io
import os
import signal
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from apps.ingestion.models import Batch, BatchStatus
from apps.runner.logs import read_log
from apps.runner.services import execution_create_manual
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


def test_two_workers_run_each_execution_once():
    instance = make_instance(version=make_version(code=SAYS_IT_RAN))
    with running("run_worker"), running("run_worker"):
        executions = [execution_create_manual(instance=instance) for _ in range(4)]
        for execution in executions:
            wait_for_status(execution, ExecutionStatus.SUCCEEDED, timeout=60)
    for execution in executions:
        assert read_log(execution.pk).text.count("ran execution") == 1
        assert [c.to_status for c in execution.status_changes.all()] == ["RUNNING", "SUCCEEDED"]
    assert len({execution.worker for execution in executions}) == 2  # side by side


def test_a_run_asked_for_starts_at_once_and_one_asked_for_later_on_its_time():
    """Idle workers are woken, not left to their next look."""
    instance = make_instance(version=make_version(code=plugins.SUCCEEDS))
    with running("run_worker") as worker:
        wait_for(lambda: worker_ready(worker), timeout=60, message="the worker")
        now_run = execution_create_manual(instance=instance)
        due = timezone.now() + timedelta(seconds=3)
        later_run = execution_create_manual(instance=instance, expected_start_date=due)
        wait_for_status(later_run, ExecutionStatus.SUCCEEDED, timeout=60)
    now_run.refresh_from_db()
    assert (now_run.start_date - now_run.expected_start_date).total_seconds() < 0.5
    assert 0 <= (later_run.start_date - due).total_seconds() < 1


WAITS_A_MOMENT = plugins.plugin("""
print("started", flush=True)
time.sleep(2)
return "finished"
""")


def lines_of(process) -> list[str]:
    """The process's output lines as they come, read by a thread of their own."""
    lines: list[str] = []

    def read():
        for line in process.stdout:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_a_worker_told_to_stop_ends_the_run_under_way_first_then_exits():
    instance = make_instance(version=make_version(code=WAITS_A_MOMENT))
    with running("run_worker") as worker:
        execution = execution_create_manual(instance=instance)
        wait_for(lambda: "started" in read_log(execution.pk).text, timeout=60, message="the run")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    execution.refresh_from_db()
    assert (execution.status, execution.result) == (ExecutionStatus.SUCCEEDED, "finished")


def test_a_worker_told_twice_to_stop_stops_the_run_under_way_and_says_so():
    instance = make_instance(version=make_version(code=plugins.SLEEPS))
    with running("run_worker") as worker:
        output = lines_of(worker)
        execution = execution_create_manual(instance=instance)
        wait_for(lambda: "sleeping" in read_log(execution.pk).text, timeout=60, message="the run")
        worker.send_signal(signal.SIGTERM)
        wait_for(lambda: any("stopping once" in line for line in output), timeout=30)
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED
    assert execution.error["message"].startswith("The worker stopped during the run")
    wait_for(lambda: not plugin_processes_of(execution), timeout=30, message="the plugin to end")


def worker_ready(worker) -> bool:
    """Whether the worker's fork server is up (it starts it before its first look)."""
    return any(
        f"fork server of worker {worker.pid}" in Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        for pid in filter(str.isdigit, os.listdir("/proc"))
        if Path(f"/proc/{pid}/cmdline").exists()
    )


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
    # The reaper clears what the killed worker left: its run folder.
    assert run_folders_of(execution) == []
    retry = Execution.objects.filter(retry_of=execution).first()
    assert (retry is not None) == bool(max_retries)
    if retry:
        assert (retry.status, retry.attempt) == (ExecutionStatus.PENDING, 2)


@pytest.mark.redis
def test_the_rq_path_runs_an_execution_end_to_end(settings):
    rq = {"BATCHWORKS_TASKS_BACKEND": "rq", "REDIS_URL": settings.REDIS_URL}
    instance = make_instance(version=make_version(code=plugins.SUCCEEDS))
    execution = execution_create_manual(instance=instance, parameters={"rows": 3})
    worker = manage("run_worker", "--burst", **rq)
    assert worker.returncode == 0, worker.stderr

    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED, worker.stderr
    assert execution.result == {"provider": None, "batch_size": None}
    assert "rows=3" in read_log(execution.pk).text


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_task_queued_ahead_on_rq_starts_on_time_when_the_worker_moving_it_is_killed(
    settings, world
):
    """Tasks queued ahead (here a batch's retry) wait in RQ's scheduled registry; one worker
    at a time moves the due ones to the queue. Kill that one: the other takes over, and the
    task starts on time (RQ's own scheduler left it a minute late, or to the 300 s
    re-dispatch)."""
    from django_rq import get_connection

    from apps.ingestion import services as ingestion
    from apps.runner.rq import PROMOTER_LOCK_KEY
    from tests.ingestion.conftest import CSV, SCHEMA

    rq = {"BATCHWORKS_TASKS_BACKEND": "rq", "REDIS_URL": settings.REDIS_URL}
    settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    settings.TASKS_BACKEND = "rq"
    redis = get_connection("default")
    lock = PROMOTER_LOCK_KEY.format(queues="default")
    redis.delete(lock)
    dataset = ingestion.dataset_create(organisation=world.org_a, name="orders", schema=SCHEMA)
    batch = ingestion.batch_create(dataset=dataset)
    ingestion.batch_file_put(batch=batch, name="orders.csv", body=io.BytesIO(CSV))
    Batch.objects.filter(pk=batch.pk).update(status=BatchStatus.LOADED)
    with running("run_worker", **rq) as first, running("run_worker", **rq) as second:
        holder = wait_for(lambda: redis.get(lock), timeout=60, message="a worker to promote")
        moving = {first.pid: first, second.pid: second}[int(holder.decode().rsplit(":", 1)[1])]
        due = time.monotonic() + 8
        ingestion.dispatch(batch, after=timedelta(seconds=8))
        moving.kill()
        moving.wait()
        wait_for(
            lambda: Batch.objects.get(pk=batch.pk).status == BatchStatus.ACTIVE,
            timeout=60,
            message="the batch to be staged",
        )
        assert time.monotonic() - due < 5


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
