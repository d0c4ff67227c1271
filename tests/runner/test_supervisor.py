"""Real plugins run by the supervisor, in child processes, under real limits."""

import io
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.db import connection

from apps.plugins.services import plugin_version_create
from apps.runner import processes
from apps.runner.logs import read_log
from apps.runner.services import execution_cancel, execution_create_manual
from apps.runner.supervisor import run, run_next
from apps.scheduling.models import ExecutionStatus
from tests.factories import PluginFactory, make_instance
from tests.processes import ROOT
from tests.runner import plugins
from tests.runner.conftest import Background, wait_for, wait_for_status

MiB = 2**20
JOB_IN_A_PACKAGE = """from batchworks_sdk import IntegrationBatchPlugin
from customer.helpers import greet


class Job(IntegrationBatchPlugin):
    def run(self, context):
        return greet()
"""


def finished(execution):
    execution.refresh_from_db()
    return execution


@pytest.mark.django_db
def test_a_plugin_succeeds_with_its_result_progress_and_log(execution_of):
    execution = execution_of(
        plugins.SUCCEEDS, parameters={"rows": 10}, properties={"batch_size": {"value": 250}}
    )
    assert run(execution.pk) == "SUCCEEDED"
    execution = finished(execution)
    assert execution.status == ExecutionStatus.SUCCEEDED
    assert execution.result == {"provider": "mediarithmics", "batch_size": 250}
    assert (execution.completed_tasks, execution.erroneous_tasks, execution.num_tasks) == (7, 1, 10)
    assert execution.start_date <= execution.end_date and execution.duration.total_seconds() < 30
    log = read_log(execution.pk).text
    for line in ("hello from stdout", "hello from stderr", "INFO plugin: rows=10"):
        assert line in log
    assert [c.to_status for c in execution.status_changes.all()] == ["RUNNING", "SUCCEEDED"]


@pytest.mark.django_db
def test_a_run_costs_the_same_few_queries_each_time(execution_of, django_assert_num_queries):
    """Read it with its instance and version, claim it, read its properties, record its
    end: each claim and end with its history line is one statement on PostgreSQL."""
    first = execution_of(plugins.plugin("return None"))
    assert run(first.pk) == "SUCCEEDED"  # the worker has checked in
    expected = 4 if connection.vendor == "postgresql" else 7
    for _ in range(2):
        execution = execution_create_manual(instance=first.instance)
        with django_assert_num_queries(expected):
            assert run(execution.pk) == "SUCCEEDED"
    assert [c.to_status for c in execution.status_changes.all()] == ["RUNNING", "SUCCEEDED"]


@pytest.mark.django_db
def test_a_run_whose_execution_was_deleted_meanwhile_ends_saying_so(execution_of):
    execution = execution_of(plugins.plugin("return None"))
    pk = execution.pk
    execution.delete()  # retention, say, between the hand-over and the worker
    assert run(pk) == f"Execution {pk} no longer exists."


@pytest.mark.django_db
def test_what_the_database_cannot_hold_is_stored_as_replacement_characters(execution_of):
    """A NUL or a lone surrogate in a plugin's output would make PostgreSQL refuse the log,
    the result or the error, and leave the run RUNNING."""
    execution = execution_of(plugins.PRINTS_AND_RETURNS_UNSTORABLE_TEXT)
    assert run(execution.pk) == "SUCCEEDED"
    execution = finished(execution)
    assert execution.result == {"na\ufffdme": "lone \ufffd surrogate", "list": ["ok", "nul\ufffd"]}
    assert "before\ufffdafter" in read_log(execution.pk).text

    failing = execution_of(plugins.FAILS_WITH_UNSTORABLE_TEXT)
    run(failing.pk)
    failing = finished(failing)
    assert failing.error == {"message": "ValueError: row\ufffd 3 \ufffd"}
    assert failing.status_changes.last().reason == "ValueError: row\ufffd 3 \ufffd"


@pytest.mark.django_db
def test_a_result_nested_past_64_levels_fails_saying_so(execution_of):
    execution = execution_of(plugins.RETURNS_A_DEEP_RESULT)
    run(execution.pk)
    execution = finished(execution)
    assert execution.status == ExecutionStatus.FAILED
    assert execution.error == {"message": "The plugin's result is nested deeper than 64 levels."}


@pytest.mark.django_db
def test_an_exception_fails_with_its_message_and_the_traceback_in_the_log(execution_of):
    execution = execution_of(plugins.RAISES)
    run(execution.pk)
    execution = finished(execution)
    assert execution.status == ExecutionStatus.FAILED
    assert execution.error == {"message": "ValueError: row 3: 'amount' is not a number"}
    log = read_log(execution.pk).text
    assert "about to fail" in log
    assert "Traceback (most recent call last)" in log and 'raise ValueError("row 3' in log


@pytest.mark.django_db
def test_the_log_is_read_incrementally_from_an_offset(execution_of):
    execution = execution_of(plugins.CHATTERS)
    run(execution.pk)
    whole = read_log(execution.pk, limit=10**7).text
    assert whole.count("\n") == 2000
    parts, offset = [], 0
    while piece := read_log(execution.pk, offset=offset, limit=7_000):
        if not piece.text:
            break
        parts.append(piece.text)
        offset = piece.next_offset
    assert "".join(parts) == whole
    assert read_log(execution.pk, offset=offset).text == ""


@pytest.mark.django_db
def test_a_long_log_is_capped_with_a_notice(execution_of, settings):
    settings.EXECUTION_LOG_MAX_CHARS = 5_000
    execution = execution_of(plugins.CHATTERS)
    run(execution.pk)
    log = read_log(execution.pk, limit=10**6).text
    assert log.startswith("line 00000")
    assert "[log truncated: the 4.9\xa0KB log limit was reached" in log
    assert len(log) < 5_200
    assert finished(execution).status == ExecutionStatus.SUCCEEDED


@pytest.mark.django_db
def test_a_plugin_over_its_memory_size_fails_naming_the_limit(execution_of):
    execution = execution_of(plugins.EATS_MEMORY, ram_size="LOW")
    run(execution.pk)
    execution = finished(execution)
    assert execution.status == ExecutionStatus.FAILED
    assert execution.error == {"message": "memory limit LOW = 512 MiB exceeded"}


@pytest.mark.django_db
def test_the_same_plugin_fits_in_a_larger_memory_size(execution_of):
    execution = execution_of(plugins.EATS_MEMORY, ram_size="LARGE")
    run(execution.pk)
    assert finished(execution).result == 1024 * MiB


@pytest.mark.django_db
def test_a_file_over_the_disk_size_fails_naming_the_limit(execution_of, settings):
    settings.RESOURCE_LIMITS = {
        **settings.RESOURCE_LIMITS,
        "disk_size": {**settings.RESOURCE_LIMITS["disk_size"], "LOW": 16 * MiB},
    }
    execution = execution_of(plugins.WRITES_A_BIG_FILE, disk_size="LOW")
    run(execution.pk)
    assert finished(execution).error == {"message": "disk limit LOW = 16 MiB exceeded"}


@pytest.mark.django_db
def test_scratch_files_over_the_disk_size_stop_the_run(execution_of, settings):
    settings.RESOURCE_LIMITS = {
        **settings.RESOURCE_LIMITS,
        "disk_size": {**settings.RESOURCE_LIMITS["disk_size"], "LOW": 16 * MiB},
    }
    execution = execution_of(plugins.WRITES_MANY_FILES, disk_size="LOW")
    started = time.monotonic()
    run(execution.pk)
    assert finished(execution).error == {"message": "disk limit LOW = 16 MiB exceeded"}
    assert time.monotonic() - started < 15  # stopped, not left to sleep its 30 seconds


@pytest.mark.django_db
@pytest.mark.parametrize(("cpu_size", "wanted"), [("LOW", 1), ("MEDIUM", 2), ("EXTRA_LARGE", 8)])
def test_cpu_size_is_the_number_of_cpus_the_plugin_may_use(execution_of, cpu_size, wanted):
    execution = execution_of(plugins.COUNTS_CPUS, cpu_size=cpu_size)
    run(execution.pk)
    assert finished(execution).result == min(wanted, len(os.sched_getaffinity(0)))


@pytest.mark.django_db
def test_plugin_code_sees_none_of_the_workers_environment(execution_of, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://secret@db/prod")
    monkeypatch.setenv("SECRET_KEY", "do-not-leak")
    execution = execution_of(plugins.REPORTS_ENVIRONMENT)
    run(execution.pk)
    visible = set(finished(execution).result)
    assert not visible & {"DATABASE_URL", "SECRET_KEY", "REDIS_URL"}
    assert {"PATH", "PYTHONPATH", "HOME", "TMPDIR"} <= visible


@pytest.mark.django_db
def test_a_run_is_forked_by_a_fork_server_that_holds_nothing_of_the_workers(
    execution_of, monkeypatch
):
    """A warm fork server saves each run a new interpreter and the SDK's import; what its
    children inherit is its memory, so it must never have loaded the platform."""
    monkeypatch.setenv("SECRET_KEY", "do-not-leak")
    execution = execution_of(plugins.REPORTS_ITS_ORIGIN)
    run(execution.pk)
    origin = finished(execution).result
    server = processes.fork_server().process
    assert origin["parent"] == server.pid
    # Only what the fork server (itself __main__) imports, none of it the platform's.
    assert origin["platform_modules"] == ["apps", "apps.runner", "apps.runner.confinement"]
    environment = Path(f"/proc/{server.pid}/environ").read_bytes()
    assert b"SECRET_KEY" not in environment and b"DATABASE_URL" not in environment


@pytest.mark.django_db(transaction=True)
def test_a_fork_server_killed_mid_run_fails_the_run_and_the_next_run_gets_a_new_one(
    execution_of,
):
    execution = execution_of(plugins.SLEEPS)
    runner = Background(run, execution.pk)
    runner.start()
    wait_for(lambda: "sleeping" in read_log(execution.pk).text, message="the plugin to start")
    killed = processes.fork_server().process
    killed.kill()
    runner.join(timeout=30)
    assert finished(execution).error == {"message": "The plugin process was killed by SIGKILL."}
    following = execution_of(plugins.SUCCEEDS)
    run(following.pk)
    assert finished(following).status == ExecutionStatus.SUCCEEDED
    assert processes.fork_server().process.pid != killed.pid


@pytest.mark.django_db
def test_a_zip_package_runs_from_its_entry_point():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr("customer/__init__.py", "")
        package.writestr("customer/helpers.py", "def greet():\n    return 'hello from a package'\n")
        package.writestr("customer/job.py", JOB_IN_A_PACKAGE)
    version = plugin_version_create(
        plugin=PluginFactory(),
        version_id="1.0.0",
        artifact=ContentFile(buffer.getvalue(), name="customer.zip"),
        entry_point="customer.job:Job",
    )
    execution = execution_create_manual(instance=make_instance(version=version))
    run(execution.pk)
    assert finished(execution).result == "hello from a package"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            plugins.RETURNS_NON_JSON,
            "The plugin's result is not JSON: Object of type set is not JSON serializable",
        ),
        (plugins.EXITS_HARD, "The plugin process exited with status 3 without a result."),
    ],
    ids=["non-JSON result", "hard exit"],
)
def test_a_run_without_a_usable_result_fails_saying_why(execution_of, code, message):
    execution = execution_of(code)
    run(execution.pk)
    assert finished(execution).error == {"message": message}


@pytest.mark.django_db
def test_a_second_delivery_of_a_finished_execution_does_nothing(execution_of):
    execution = execution_of(plugins.SUCCEEDS)
    assert run(execution.pk) == "SUCCEEDED"
    assert run(execution.pk) == f"Execution {execution.pk} is SUCCEEDED."
    assert [c.to_status for c in finished(execution).status_changes.all()] == [
        "RUNNING",
        "SUCCEEDED",
    ]


@pytest.mark.django_db
def test_an_execution_asked_to_run_before_its_time_waits_for_it(execution_of):
    execution = execution_of(plugins.SUCCEEDS)
    later = execution.expected_start_date.replace(year=execution.expected_start_date.year + 1)
    type(execution).objects.filter(pk=execution.pk).update(expected_start_date=later)
    assert run(execution.pk) == f"Execution {execution.pk} is not yet due."
    assert run_next() is None
    assert finished(execution).status == ExecutionStatus.PENDING


@pytest.mark.django_db(transaction=True)
def test_a_run_past_its_timeout_is_stopped_and_fails(execution_of):
    """The timeout counts from the start of the child: on a busy machine the plugin may not
    have printed yet, so only the outcome is asserted (the cancel test checks the log)."""
    execution = execution_of(plugins.SLEEPS, timeout_seconds=1)
    started = time.monotonic()
    run(execution.pk)
    execution = finished(execution)
    assert execution.status == ExecutionStatus.FAILED
    assert execution.error == {"message": "Timed out after 0:00:01 (timeout_seconds=1)."}
    assert time.monotonic() - started < 50  # stopped: it would sleep for 60 seconds


@pytest.mark.django_db(transaction=True)
def test_cancel_stops_a_running_plugin_and_ends_it_canceled(execution_of, world):
    execution = execution_of(plugins.SLEEPS)
    runner = Background(run, execution.pk)
    runner.start()
    wait_for(lambda: "sleeping" in read_log(execution.pk).text, message="the plugin to start")
    execution_cancel(execution=finished(execution), user=world.editor_a)
    runner.join(timeout=30)
    assert runner.result == "CANCELED"
    execution = finished(execution)
    assert execution.status == ExecutionStatus.CANCELED
    log = read_log(execution.pk).text
    assert "sleeping" in log  # what it wrote before it was stopped
    assert log.endswith(
        f"[batchworks] Canceled by {world.editor_a.username}: the run was stopped on request.\n"
    )
    assert execution.status_changes.last().user == world.editor_a


@pytest.mark.django_db(transaction=True)
def test_a_plugin_ignoring_sigterm_is_killed_after_the_grace_period(execution_of):
    execution = execution_of(plugins.IGNORES_SIGTERM)
    runner = Background(run, execution.pk)
    runner.start()
    wait_for(lambda: "cannot stop me" in read_log(execution.pk).text, message="the plugin to start")
    started = time.monotonic()
    execution_cancel(execution=finished(execution))
    runner.join(timeout=30)
    assert wait_for_status(execution, ExecutionStatus.CANCELED)
    assert time.monotonic() - started < 30  # killed: it would sleep for 60 seconds


def test_a_run_starts_without_loading_the_http_stack():
    """urllib.request (http.client, email, ssl) was a third of every run's start-up; the
    SDK imports it only when plugin code calls the platform's API."""
    loaded = subprocess.run(
        [sys.executable, "-c", LOADED_BY_THE_CHILD],
        cwd=ROOT / "sdk",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert loaded == []


LOADED_BY_THE_CHILD = (
    "import sys, batchworks_sdk.child; "
    "print(*[m for m in ('urllib.request', 'http.client', 'email', 'ssl') if m in sys.modules])"
)


@pytest.mark.django_db
def test_a_worker_reads_a_versions_code_from_the_storage_once(execution_of):
    """The second run of a version takes its code from the worker's memory: even with
    the stored file gone, it runs (on object storage, one request fewer per run)."""
    first = execution_of(plugins.SUCCEEDS)
    run(first.pk)
    assert finished(first).status == ExecutionStatus.SUCCEEDED
    version = first.instance.version
    version.artifact.storage.delete(version.artifact.name)
    again = execution_create_manual(instance=first.instance)
    run(again.pk)
    assert finished(again).status == ExecutionStatus.SUCCEEDED
