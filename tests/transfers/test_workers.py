"""Jobs on real worker processes, on PostgreSQL: a worker killed mid-import or mid-export
leaves a job that is taken again or Failed, never one stuck Processing, and never a
half-imported dataset."""

import os
import signal
import threading

import duckdb
import pytest

from apps.ingestion.models import BatchStatus
from apps.transfers import services
from apps.transfers.models import TransferJob
from apps.transfers.progress import Stopped, Watch
from tests.processes import running
from tests.runner.conftest import wait_for
from tests.transfers.conftest import imported, upload

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def many_rows(count: int) -> bytes:
    lines = "".join(
        f"person{n}@example.com,Person {n},{n % 90},1531263959000,{'true' if n % 2 else 'false'}\n"
        for n in range(count)
    )
    return ("email,name,age,joined,vip\n" + lines).encode()


def reload(job: TransferJob) -> TransferJob:
    job.refresh_from_db()
    return job


def kill_while_processing(job: TransferJob) -> None:
    with running("run_worker") as worker:
        wait_for(
            lambda: reload(job).status == "Processing" and job.records_processed > 0,
            timeout=60,
            message="the job to be under way",
        )
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    assert reload(job).status == "Processing"  # its worker is gone, mid-way


def test_a_worker_killed_mid_import_leaves_the_dataset_whole_then_the_job_is_taken_again(
    attendees, settings
):
    settings.LEASE_TIMEOUT_SECONDS = 2
    settings.TRANSFER_RETRY_BACKOFF_SECONDS = 1
    assert imported(attendees).status == "Completed"  # three rows, Active
    before = set(attendees.batches.values_list("pk", "status"))
    job = services.import_submit(
        dataset=attendees,
        upload=upload(many_rows(800_000)),
        job_name="Big import",
        content_type="text/csv",
        merge=True,
    )

    kill_while_processing(job)
    assert set(attendees.batches.values_list("pk", "status")) == before  # nothing half-done
    wait_for(lambda: services.jobs_reap()["lost"], timeout=15, message="the reaper to notice")
    assert reload(job).status == "Accepted" and "worker" in job.reason and "lost" in job.reason

    with running("run_worker"):
        wait_for(lambda: reload(job).is_ended, timeout=180, message="the retry to finish")
    assert job.status == "Completed", job.reason
    assert job.attempts == 2
    assert "800,000 added; it holds 800,003" in job.reason
    assert attendees.batches.filter(status=BatchStatus.ACTIVE).count() == 1
    assert [c.to_status for c in job.status_changes.order_by("created_at", "pk")] == [
        "Initialized",
        "Accepted",
        "Processing",
        "Accepted",
        "Processing",
        "Completed",
    ]


def test_a_worker_killed_mid_export_on_its_last_attempt_fails_the_job_and_keeps_no_file(
    attendees, settings
):
    settings.LEASE_TIMEOUT_SECONDS = 2
    settings.TRANSFER_MAX_ATTEMPTS = 1
    assert imported(attendees, many_rows(400_000)).status == "Completed"
    job = services.export_submit(
        dataset=attendees,
        job_name="Big export",
        content_type="text/plain",
        template="{{ email }};{{ name|upper }};{{ age }}",  # a row at a time: slow enough
    )

    kill_while_processing(job)
    wait_for(lambda: services.jobs_reap()["lost"], timeout=15, message="the reaper to notice")
    assert reload(job).status == "Failed"
    assert job.reason.startswith("Failed after 1 attempt; last error: worker")
    assert not job.files.exists()


def test_a_cancel_after_the_query_ended_interrupts_no_closed_connection(attendees, monkeypatch):
    """The watch calls DuckDB's interrupt only while the query's connection is open: a
    cancel arriving later (while the files are stored, say) stops the job quietly."""
    failures = []
    monkeypatch.setattr(threading, "excepthook", failures.append)
    job = services.job_start(
        job=services.export_submit(
            dataset=attendees, job_name="Late cancel", content_type="text/csv"
        )
    )
    with Watch(job) as watch:
        con = duckdb.connect()
        with watch.interrupting(con.interrupt):
            pass
        con.close()
        services.job_cancel(job=job)
        wait_for(watch.stopped.is_set, timeout=10, message="the watch to notice the cancel")
    assert failures == []
    with pytest.raises(Stopped):
        watch.check()


def test_a_cancel_interrupts_the_query_running_meanwhile(attendees):
    job = services.job_start(
        job=services.export_submit(dataset=attendees, job_name="Cancel", content_type="text/csv")
    )
    con, backstop_fired = duckdb.connect(), threading.Event()
    backstop = threading.Timer(60, lambda: (backstop_fired.set(), con.interrupt()))
    backstop.start()  # so that a failure cannot hang the suite
    with Watch(job) as watch, watch.interrupting(con.interrupt):
        services.job_cancel(job=job)
        with pytest.raises(duckdb.InterruptException):
            con.sql("SELECT count(*) FROM range(100000000000) a, range(1000) b").fetchall()
    backstop.cancel()
    assert watch.stopped.is_set() and not backstop_fired.is_set()
