"""The scheduler as operators run it: run_scheduler for the embedded default, and
django-crontab's jobs in a real crontab for production."""

import os
import re
import shutil
import signal
import subprocess
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from apps.scheduling.management.commands.run_scheduler import due_jobs
from apps.scheduling.models import CronStatus, ExecutionType, SchedulerState
from tests.factories import make_instance
from tests.processes import manage, running
from tests.runner.conftest import wait_for

CRONTAB = shutil.which("crontab")


@pytest.mark.django_db
def test_run_scheduler_once_schedules(capsys):
    instance = make_instance(cron="*/5 * * * *", cron_status=CronStatus.ACTIVE)
    instance.executions.all().delete()
    call_command("run_scheduler", "--once")
    assert "TickReport(planned=1" in capsys.readouterr().out
    assert (
        instance.executions.filter(execution_type=ExecutionType.CRON, status="PENDING").count() == 1
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_run_scheduler_stops_cleanly_on_sigterm():
    with running("run_scheduler", "--interval", "0.5") as scheduler:
        wait_for(lambda: SchedulerState.current().last_tick_at, timeout=60, message="a tick")
        scheduler.send_signal(signal.SIGTERM)
        assert scheduler.wait(timeout=30) == 0


def crontab_lines() -> list[str]:
    listing = subprocess.run([CRONTAB, "-l"], capture_output=True, text=True)
    return [line for line in listing.stdout.splitlines() if "crontab run" in line]


@pytest.fixture
def installed_crontab():
    if CRONTAB is None:
        message = "needs crontab (apt-get install cron)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    yield
    manage("crontab", "remove")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_crontab_add_show_and_run_the_tick(installed_crontab):
    added = manage("crontab", "add")
    assert added.returncode == 0, added.stderr
    lines = crontab_lines()
    assert len(lines) == 9
    assert all(
        line.startswith(("* * * * * ", "17 3 * * * ", "23 * * * * ", "41 * * * * "))
        for line in lines
    )
    assert all(line.endswith("# batchworks") for line in lines)

    shown = manage("crontab", "show")
    jobs = dict(re.findall(r"^(\w{32}) -> \('[^']*', '([\w.]+)'\)$", shown.stdout, re.MULTILINE))
    assert set(jobs.values()) == {
        "apps.scheduling.jobs.tick",
        "apps.scheduling.jobs.reap",
        "apps.ingestion.jobs.reap",
        "apps.transfers.jobs.reap",
        "apps.feeds.jobs.reap",
        "apps.transfers.jobs.remove_expired_files",
        "apps.alerts.jobs.watch",
        "apps.scheduling.jobs.clean_up",
        "apps.scheduling.jobs.prune_task_results",
    }

    instance = make_instance(cron="*/5 * * * *", cron_status=CronStatus.ACTIVE)
    instance.executions.all().delete()
    tick_hash = next(h for h, job in jobs.items() if job.endswith(".tick"))
    ran = manage("crontab", "run", tick_hash)
    assert ran.returncode == 0, ran.stderr
    assert instance.executions.filter(execution_type=ExecutionType.CRON).count() == 1


def test_run_scheduler_runs_what_cronjobs_lists(settings):
    settings.CRONJOBS = [
        ("* * * * *", "apps.scheduling.jobs.tick"),
        ("17 3 * * *", "apps.scheduling.jobs.prune_task_results"),
    ]
    before, after = (
        datetime(2026, 6, 1, 3, 16, 58, tzinfo=UTC),
        datetime(2026, 6, 1, 3, 17, 3, tzinfo=UTC),
    )
    assert due_jobs(before, after) == [
        "apps.scheduling.jobs.tick",
        "apps.scheduling.jobs.prune_task_results",
    ]
    later = datetime(2026, 6, 1, 3, 17, 8, tzinfo=UTC)
    assert due_jobs(after, later) == ["apps.scheduling.jobs.tick"]  # the daily one ran already
