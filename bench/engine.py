"""The engine: scheduler tick cost, execution throughput next to the task queues' own,
and how close to their time runs start.

- tick: time and queries of schedule_tick() over N active instances, the first time
  (inserting every coming run) and in steady state (nothing new to insert);
- throughput: no-op executions claimed, run in their sandboxed child and finished per
  second by W `run_worker` processes, on the database backend and on RQ, next to the
  peers drained by W workers of their own: a no-op django-tasks-db task (`db_worker`) and a
  no-op RQ job (`rq worker`, a fork per job); taken in turns, medians of --repeat rounds;
- start on time: 200 MANUAL runs due at one moment (the first and the last start), and
  runs queued ahead by the tick (median, p95 of start_date - expected_start_date).

Each phase starts from queues holding only its own work, and checks that every run it
counted succeeded. RQ's phases need REDIS_URL."""

import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import UTC, timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.db.models import Max
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from apps.accounts.models import Organisation
from apps.plugins.models import PluginType
from apps.plugins.services import plugin_create, plugin_version_create
from apps.runner.services import executions_cancel_pending
from apps.runner.wakeups import wake_workers
from apps.scheduling.models import (
    CronStatus,
    Execution,
    ExecutionStatus,
    ExecutionType,
    IntegrationBatchInstance,
)
from apps.scheduling.services import schedule_tick
from bench import cpu, peers, rq_peer
from bench.setup import counting_queries, median_and_p95, stopwatch

ROOT = Path(__file__).resolve().parents[1]
NO_OP = b"""from batchworks_sdk import IntegrationBatchPlugin


class NoOp(IntegrationBatchPlugin):
    def run(self, context):
        return None
"""
PEER_QUEUE = "bench-peers"


def run(options) -> None:
    version = _no_op_version()
    _tick(version, options.instances)
    rates = _throughputs(version, options)
    for backend in _backends():
        _start_on_time(version, options.workers, backend, statistics.median(rates[backend]))
        _queued_ahead(version, options.workers, backend)


def _backends() -> list[str]:
    return ["database", "rq"] if settings.REDIS_URL else ["database"]


def _no_op_version():
    organisation = Organisation.objects.create(name="Bench")
    plugin = plugin_create(
        organisation=organisation,
        plugin_type=PluginType.INTEGRATION_BATCH,
        group_id="bench",
        artifact_id="no-op",
    )
    return plugin_version_create(
        plugin=plugin, version_id="1.0.0", artifact=ContentFile(NO_OP, name="no_op.py")
    )


def _tick(version, count: int) -> None:
    now = timezone.now()
    IntegrationBatchInstance.objects.bulk_create(
        IntegrationBatchInstance(
            organisation_id=version.plugin.organisation_id,
            version=version,
            name=f"bench {i}",
            cron=f"{i % 60} * * * *",
            cron_status=CronStatus.ACTIVE,
            scheduled_from=now,
        )
        for i in range(count)
    )
    for label in ("first tick (inserts every coming run)", "steady-state tick"):
        with counting_queries() as counted, stopwatch() as elapsed:
            schedule_tick(now=now)
        queries = counted["queries"]
        print(f"{label}: {count} instances in {elapsed['seconds']:.2f} s, {queries} queries")
    # The later phases' queue holds only their own work: the coming runs go.
    ticked = IntegrationBatchInstance.objects.filter(name__startswith="bench ")
    ticked.update(cron_status=CronStatus.PAUSED)
    executions_cancel_pending(
        Execution.objects.filter(instance__in=ticked, status=ExecutionStatus.PENDING),
        user=None,
        reason="The tick benchmark is over.",
    )


def _instance(version, name: str):
    return IntegrationBatchInstance.objects.create(
        organisation_id=version.plugin.organisation_id, version=version, name=name
    )


# --- throughput ----------------------------------------------------------------------------


def _throughputs(version, options) -> dict[str, list[float]]:
    """Each contender's rate per round, the rounds taken in turns."""
    contenders = {
        "django-tasks-db no-op task": _peer_task,
        "database": _executions_on("database"),
    }
    if settings.REDIS_URL:
        contenders["RQ no-op job (fork per job)"] = _peer_job
        contenders["rq"] = _executions_on("rq")
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    costs: dict[str, list[dict]] = {name: [] for name in contenders}
    for _ in range(options.repeat):
        for name, measure in contenders.items():
            seconds, cost = measure(version, options.executions, options.workers)
            rates[name].append(options.executions / seconds)
            costs[name].append(cost)
    _print_rates(rates, options)
    _print_costs(rates, costs, options)
    return rates


def _print_costs(rates, costs, options) -> None:
    """Each contender's CPU per item, by kind of process, in its median round."""
    print("CPU per item, by kind of process (median round):")
    for name, rounds in costs.items():
        median = sorted(range(len(rounds)), key=lambda i: rates[name][i])[len(rounds) // 2]
        spent = {
            kind: seconds * 1000 / options.executions for kind, seconds in rounds[median].items()
        }
        parts = ", ".join(
            f"{kind} {ms:.1f}"
            for kind, ms in sorted(spent.items(), key=lambda item: -item[1])
            if ms >= 0.05
        )
        print(f"  {name}: {sum(spent.values()):.1f} ms ({parts})")


def _print_rates(rates: dict[str, list[float]], options) -> None:
    print(
        f"throughput, {options.executions} each, {options.workers} workers, medians of "
        f"{options.repeat} rounds taken in turns:"
    )
    median = {name: statistics.median(values) for name, values in rates.items()}
    for name, values in rates.items():
        label = f"Batchworks no-op executions, {name} backend" if name in _backends() else name
        runs = ", ".join(f"{value:.1f}" for value in values)
        print(f"  {label}: {median[name]:.1f}/s (rounds: {runs})")
    rq_peer = median.get("RQ no-op job (fork per job)")
    for backend in _backends():
        ratios = [f"÷ django-tasks-db {median[backend] / median['django-tasks-db no-op task']:.2f}"]
        if rq_peer:
            ratios.append(f"÷ RQ {median[backend] / rq_peer:.2f}")
        print(f"  Batchworks on {backend}: " + ", ".join(ratios))


def _executions_on(backend: str):
    def measure(version, count: int, workers: int) -> tuple[float, dict]:
        instance = _instance(version, f"throughput on {backend}")
        with _workers(workers, backend):
            _run_executions(instance, 2 * workers)  # warm-up: every worker up and ready
            return _run_executions(instance, count)

    return measure


def _run_executions(instance, count: int) -> tuple[float, dict]:
    """Seconds from asking for `count` runs due now to the end of the last (as the runs
    record it: the polling here only waits), and the CPU spent meanwhile; every one must
    succeed."""
    with cpu.spent() as spent:
        asked = timezone.now()
        created = _create(instance, [asked] * count)
        batch = Execution.objects.filter(pk__in=[execution.pk for execution in created])
        _wait_until(
            lambda: not instance.executions.exclude(status__in=ExecutionStatus.terminal()).exists()
        )
    if failed := batch.exclude(status=ExecutionStatus.SUCCEEDED).count():
        raise SystemExit(f"{failed} of {count} no-op executions did not succeed")
    return (batch.aggregate(last=Max("end_date"))["last"] - asked).total_seconds(), spent


def _peer_task(version, count: int, workers: int) -> tuple[float, dict]:
    command = ["manage.py", "db_worker", "--interval", str(settings.WORKER_POLL_SECONDS)]
    with _processes(command, workers):
        _drain_tasks(2 * workers)  # warm-up
        return _drain_tasks(count)


def _drain_tasks(count: int) -> tuple[float, dict]:
    """Seconds from queuing `count` no-op tasks to the end of the last, as recorded, and
    the CPU spent meanwhile."""
    with cpu.spent() as spent:
        asked = timezone.now()
        queued = [peers.no_op_task.enqueue().id for _ in range(count)]
        done = DBTaskResult.objects.filter(id__in=queued, status=TaskResultStatus.SUCCESSFUL)
        _wait_until(lambda: done.count() == count)
    return (done.aggregate(last=Max("finished_at"))["last"] - asked).total_seconds(), spent


def _peer_job(version, count: int, workers: int) -> tuple[float, dict]:
    from django_rq import get_connection
    from rq import Queue

    queue = Queue(PEER_QUEUE, connection=get_connection("default"))
    queue.empty()
    rq = str(Path(sys.executable).parent / "rq")
    with _processes([rq, "worker", PEER_QUEUE, "--url", settings.REDIS_URL], workers):
        _drain_jobs(queue, 2 * workers)  # warm-up
        return _drain_jobs(queue, count)


def _drain_jobs(queue, count: int) -> tuple[float, dict]:
    """Seconds from queuing `count` no-op jobs to the end of the last, as RQ records it,
    and the CPU spent meanwhile."""
    from rq.job import Job
    from rq.registry import FinishedJobRegistry

    finished = FinishedJobRegistry(queue=queue)
    before = finished.get_job_count()
    with cpu.spent() as spent:
        asked = timezone.now()
        queued = [queue.enqueue(rq_peer.no_op_job).id for _ in range(count)]
        _wait_until(lambda: finished.get_job_count() - before >= count)
    last = max(job.ended_at for job in Job.fetch_many(queued, connection=queue.connection))
    return (last.replace(tzinfo=last.tzinfo or UTC) - asked).total_seconds(), spent


# --- starting on time ----------------------------------------------------------------------


def _start_on_time(version, workers: int, backend: str, rate: float, count: int = 200) -> None:
    instance = _instance(version, f"200 at once on {backend}")
    due = timezone.now() + timedelta(seconds=5)
    with _workers(workers, backend):
        _run_executions(instance, 2 * workers)  # warm-up
        _create(instance, [due] * count)
        _wait_until(lambda: _all_ended(instance, count + 2 * workers))
    delays = _delays(instance.executions.filter(expected_start_date=due))
    goal = count / rate + 1
    print(
        f"{count} MANUAL runs due at once ({backend}): the first started {min(delays):.2f} s "
        f"after its time (goal ≤ 0.5 s), the last {max(delays):.2f} s (goal ≤ {count} / "
        f"{rate:.1f} per s + 1 = {goal:.1f} s)"
    )


def _queued_ahead(version, workers: int, backend: str, count: int = 40) -> None:
    instance = _instance(version, f"queued ahead on {backend}")
    start = timezone.now() + timedelta(seconds=5)
    times = [start + timedelta(seconds=i * 0.5) for i in range(count)]
    with _workers(workers, backend):
        _create(instance, times)
        _wait_until(lambda: _all_ended(instance, count))
    median, p95 = median_and_p95(_delays(instance.executions.all()))
    print(
        f"start delay of {count} runs queued ahead ({backend}): median {median:.2f} s, "
        f"p95 {p95:.2f} s (goal ≤ 0.5 s)"
    )


def _create(instance, start_dates) -> list[Execution]:
    """Runs to start at these times, the workers told, as when runs are asked for."""
    created = Execution.objects.bulk_create(
        Execution(
            organisation_id=instance.organisation_id,
            instance=instance,
            execution_type=ExecutionType.MANUAL,
            expected_start_date=start,
        )
        for start in start_dates
    )
    wake_workers()
    return created


def _all_ended(instance, count: int) -> bool:
    return instance.executions.filter(status__in=ExecutionStatus.terminal()).count() >= count


def _delays(executions) -> list[float]:
    return [(e.start_date - e.expected_start_date).total_seconds() for e in executions]


# --- processes -----------------------------------------------------------------------------


def _workers(count: int, backend: str):
    return _processes(["manage.py", "run_worker"], count, BATCHWORKS_TASKS_BACKEND=backend)


def _processes(command: list[str], count: int, **env: str):
    return processes_with(command, [env] * count)


@contextmanager
def processes_with(command: list[str], environments: list[dict]):
    """One process of `command` for each environment (added to this one's)."""
    base = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    started = [
        subprocess.Popen(
            [sys.executable, *command] if command[0].endswith(".py") else command,
            cwd=ROOT,
            env={**base, **environment},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for environment in environments
    ]
    try:
        yield
    finally:
        for process in started:
            process.terminate()
        for process in started:
            process.wait(timeout=30)


def _wait_until(condition, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("benchmark timed out waiting for the workers")
        time.sleep(0.1)  # what is measured is recorded; a slower look costs them less
