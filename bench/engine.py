"""The engine: scheduler tick cost, worker throughput and start delay.

- tick: time and queries of schedule_tick() over N active instances, the first time
  (inserting every coming run) and in steady state (nothing new to insert);
- throughput: executions of a no-op plugin claimed and finished per second by W db_worker
  processes on PostgreSQL;
- delay: start_date - expected_start_date of runs set to start over the next seconds,
  handed over ahead by the tick as in production (median, p95)."""

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import Organisation
from apps.plugins.models import PluginType
from apps.plugins.services import plugin_create, plugin_version_create
from apps.runner.services import executions_dispatch_due
from apps.scheduling.models import (
    Execution,
    ExecutionStatus,
    ExecutionType,
    IntegrationBatchInstance,
)
from apps.scheduling.services import schedule_tick
from bench.setup import median_and_p95, stopwatch

ROOT = Path(__file__).resolve().parents[1]
NO_OP = b"""from batchworks_sdk import IntegrationBatchPlugin


class NoOp(IntegrationBatchPlugin):
    def run(self, context):
        return None
"""


def run(options) -> None:
    version = _no_op_version()
    _tick(version, options.instances)
    _throughput(version, options.executions, options.workers)
    _delay(version, options.workers)


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
            cron_status="ACTIVE",
            scheduled_from=now,
        )
        for i in range(count)
    )
    for label in ("first tick (inserts every coming run)", "steady-state tick"):
        with CaptureQueriesContext(connection) as queries, stopwatch() as elapsed:
            schedule_tick(now=now)
        print(f"{label}: {count} instances in {elapsed['seconds']:.2f} s, {len(queries)} queries")
    IntegrationBatchInstance.objects.filter(name__startswith="bench ").update(cron_status="PAUSED")


def _instance(version, name: str):
    return IntegrationBatchInstance.objects.create(
        organisation_id=version.plugin.organisation_id, version=version, name=name
    )


def _throughput(version, count: int, workers: int) -> None:
    instance = _instance(version, "throughput")
    now = timezone.now()
    Execution.objects.bulk_create(
        Execution(
            organisation_id=instance.organisation_id,
            instance=instance,
            execution_type=ExecutionType.MANUAL,
            expected_start_date=now,
        )
        for _ in range(count)
    )
    executions_dispatch_due(now=now)
    with _workers(workers), stopwatch() as elapsed:
        _wait_until_finished(instance)
    rate = count / elapsed["seconds"]
    print(
        f"throughput: {count} no-op executions in {elapsed['seconds']:.1f} s with {workers} "
        f"workers = {rate:.1f} executions/s claimed and finished"
    )


def _delay(version, workers: int, count: int = 40) -> None:
    instance = _instance(version, "delay")
    start = timezone.now() + timedelta(seconds=5)
    Execution.objects.bulk_create(
        Execution(
            organisation_id=instance.organisation_id,
            instance=instance,
            execution_type=ExecutionType.MANUAL,
            expected_start_date=start + timedelta(seconds=i * 0.5),
        )
        for i in range(count)
    )
    # As the tick does: runs due within the horizon are handed over ahead, with run_after.
    executions_dispatch_due()
    with _workers(workers):
        _wait_until_finished(instance)
    delays = [
        (e.start_date - e.expected_start_date).total_seconds() for e in instance.executions.all()
    ]
    median, p95 = median_and_p95(delays)
    print(
        f"start delay (expected_start_date -> start_date) over {count} runs: "
        f"median {median:.2f} s, p95 {p95:.2f} s"
    )


class _workers:
    def __init__(self, count: int):
        self.count = count

    def __enter__(self):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
        self.processes = [
            subprocess.Popen(
                [sys.executable, "manage.py", "run_worker"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(self.count)
        ]
        return self

    def __exit__(self, *exc):
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=30)


def _wait_until_finished(instance, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while instance.executions.exclude(status__in=ExecutionStatus.terminal()).exists():
        if time.monotonic() > deadline:
            raise SystemExit("benchmark timed out waiting for the workers")
        time.sleep(0.05)
