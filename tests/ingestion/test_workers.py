"""Ingestion with real processes, on PostgreSQL: a worker killed mid-processing, and a
1 GiB file uploaded in chunks to a real server whose memory stays bounded."""

import io
import os
import signal
import urllib.request
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from apps.accounts.services import api_token_create
from apps.ingestion import services
from apps.ingestion.models import Batch, BatchStatus
from tests.ingestion.conftest import SCHEMA
from tests.processes import peak_memory_mib, running, serving
from tests.runner.conftest import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
GiB, MiB = 2**30, 2**20


def big_csv(rows: int) -> bytes:
    lines = "".join(
        f"{n},customer {n},{n % 97}.5,{'true' if n % 2 else 'false'},1531263959000\n"
        for n in range(rows)
    )
    return ("order_id,customer,amount,paid,ordered_at\n" + lines).encode()


def status(batch) -> str:
    batch.refresh_from_db()
    return batch.status


def test_a_worker_killed_mid_processing_leaves_the_batch_retrying_then_active(world, settings):
    settings.LEASE_TIMEOUT_SECONDS = 2
    settings.INGESTION_RETRY_BACKOFF_SECONDS = 1
    dataset = services.dataset_create(organisation=world.org_a, name="orders", schema=SCHEMA)
    batch = services.batch_create(dataset=dataset)
    services.batch_file_put(batch=batch, name="orders.csv", body=io.BytesIO(big_csv(600_000)))
    services.batch_complete(batch=batch)  # queued for the workers

    with running("run_worker") as worker:
        wait_for(
            lambda: status(batch) == BatchStatus.STAGING, timeout=60, message="staging to start"
        )
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    assert status(batch) == BatchStatus.STAGING  # the worker is gone, mid-way

    first_task = Batch.objects.get(pk=batch.pk).dispatch_task_id
    wait_for(lambda: services.batches_reap()["lost"], timeout=15, message="the reaper to notice")
    assert status(batch) == BatchStatus.RETRYING
    # The killed worker's task is closed, not left RUNNING; the retry has its own task.
    assert DBTaskResult.objects.get(pk=first_task).status == "FAILED"
    assert not DBTaskResult.objects.filter(status="RUNNING").exists()
    with running("run_worker"):
        wait_for(
            lambda: status(batch) == BatchStatus.ACTIVE, timeout=120, message="the retry to finish"
        )
    batch.refresh_from_db()
    assert batch.records_written == 600_000 and batch.attempts == 2
    assert [c.to_status for c in batch.status_changes.all()] == [
        "loading",
        "loaded",
        "staging",
        "retrying",
        "staging",
        "staged",
        "active",
    ]


def tasks_of(batch) -> int:
    return sum(row.args_kwargs["args"] == [batch.pk] for row in DBTaskResult.objects.all())


def test_a_batch_waiting_behind_slow_workers_is_queued_once_and_again_only_if_lost(world, settings):
    settings.REDISPATCH_AFTER_SECONDS = 300
    dataset = services.dataset_create(organisation=world.org_a, name="orders", schema=SCHEMA)
    batch = services.batch_create(dataset=dataset)
    services.batch_file_put(batch=batch, name="orders.csv", body=io.BytesIO(big_csv(10)))
    services.batch_complete(batch=batch)
    for minutes in (6, 12, 60):  # no worker takes it for an hour
        with time_machine.travel(timezone.now() + timedelta(minutes=minutes)):
            services.batches_reap()
    assert tasks_of(batch) == 1

    DBTaskResult.objects.all().delete()  # the queue lost it
    with time_machine.travel(timezone.now() + timedelta(minutes=70)):
        services.batches_reap()
        services.batches_reap()
    assert tasks_of(batch) == 1


def csv_pieces(size: int, piece: int):
    """`size` bytes of CSV, made `piece` bytes at a time: never the whole file at once."""
    line = b"1234567890,customer-name-padding-padding,42.5,true,1531263959000\n"
    block = b"order_id,customer,amount,paid,ordered_at\n" + line * (piece // len(line))
    sent = 0
    while sent < size:
        chunk = block[: min(piece, size - sent)]
        sent += len(chunk)
        yield chunk
        block = line * (piece // len(line) + 1)


def send(base_url: str, token: str, method: str, path: str, body: bytes = b"", **headers):
    request = urllib.request.Request(base_url + path, data=body, method=method)
    request.add_header("Authorization", token)
    request.add_header("Content-Type", "application/octet-stream")
    for name, value in headers.items():
        request.add_header(name.replace("_", "-"), value)
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.status


def test_a_1_gib_file_uploads_in_chunks_with_the_servers_memory_bounded(world):
    dataset = services.dataset_create(organisation=world.org_a, name="orders", schema=SCHEMA)
    batch = services.batch_create(dataset=dataset)
    _, token = api_token_create(organisation=world.org_a, user=world.editor_a, name="upload")
    path = f"/v1/batches/{batch.pk}/datasets/{dataset.pk}/files/big.csv"
    with serving() as (base_url, worker):
        assert send(base_url, token, "POST", f"{path}?action=initialize") == 201  # warms up
        at_rest = peak_memory_mib(worker)  # the app loaded, before any byte of the file

        start = 0
        for piece in csv_pieces(GiB, 32 * MiB):
            content_range = f"bytes {start}-{start + len(piece) - 1}/{GiB}"
            assert send(base_url, token, "PATCH", path, piece, Content_Range=content_range) == 200
            start += len(piece)
        assert send(base_url, token, "POST", f"{path}?action=COMPLETE") == 200
        peak = peak_memory_mib(worker)
    big = Batch.objects.get(pk=batch.pk).files.get()
    assert (big.complete, big.size) == (True, GiB)
    print(f"server worker memory: {at_rest} MiB at rest, {peak} MiB peak")
    assert peak - at_rest < 32, (at_rest, peak)  # reads of 1 MiB at a time, never a chunk
    services.batch_abort(batch=batch)  # and the gigabyte leaves the storage
