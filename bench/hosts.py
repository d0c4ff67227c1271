"""Start delay across hosts: 200 MANUAL runs due at one moment, run by two workers on two
"hosts" (each its own empty data folder, sharing only PostgreSQL, Redis and an S3 bucket
on moto's server, through RQ), next to two workers on one host (the database backend,
local files). Median and p95 of start_date - expected_start_date. Needs REDIS_URL."""

import socket
import tempfile
import uuid
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import boto3
from django.conf import settings
from django.core.files.base import ContentFile
from django.test.utils import override_settings
from django.utils import timezone

from apps.plugins.services import plugin_version_create
from bench.engine import (
    NO_OP,
    _all_ended,
    _create,
    _delays,
    _instance,
    _no_op_version,
    _run_executions,
    _wait_until,
    processes_with,
)
from bench.setup import median_and_p95

RUNS = 200
KEYS = {"BATCHWORKS_S3_ACCESS_KEY_ID": "bench", "BATCHWORKS_S3_SECRET_ACCESS_KEY": "bench"}


def run(options) -> None:
    if not settings.REDIS_URL:
        raise SystemExit("The hosts benchmark needs Redis: set REDIS_URL=redis://…")
    version = _no_op_version()
    with _s3_bucket() as s3:
        print(f"{RUNS} MANUAL runs due at once, {options.workers} workers:")
        _report("one host, database backend", _delays_of(version, options.workers, None))
        with _s3_storage(s3):  # its code in the bucket, where the other hosts read it
            in_bucket = plugin_version_create(
                plugin=version.plugin, version_id="2.0.0", artifact=ContentFile(NO_OP, "no_op.py")
            )
            two_hosts = _delays_of(in_bucket, options.workers, s3)
        _report("two hosts, RQ, an S3 bucket", two_hosts)


def _delays_of(version, workers: int, s3: dict | None) -> list[float]:
    backend = "rq" if s3 else "database"
    instance = _instance(version, f"{RUNS} at once, {backend}")
    due = timezone.now() + timedelta(seconds=8)
    with _hosts(workers, backend, s3):
        _run_executions(instance, 2 * workers)  # warm-up: every worker up and ready
        _create(instance, [due] * RUNS)
        _wait_until(lambda: _all_ended(instance, RUNS + 2 * workers))
    return _delays(instance.executions.filter(expected_start_date=due))


def _report(label: str, delays: list[float]) -> None:
    median, p95 = median_and_p95(delays)
    print(
        f"  {label}: start delay median {median:.2f} s, p95 {p95:.2f} s, last {max(delays):.2f} s"
    )


@contextmanager
def _hosts(count: int, backend: str, s3: dict | None):
    """`count` run_worker processes; with `s3`, each a host of its own: its own data
    folder, the bucket for storage."""
    with tempfile.TemporaryDirectory() as root:
        environments = [{"BATCHWORKS_TASKS_BACKEND": backend} for _ in range(count)]
        if s3:
            for number, environment in enumerate(environments):
                folder = str(Path(root) / f"host-{number}")
                environment |= {
                    **s3,
                    "BATCHWORKS_DATA_DIR": folder,
                    "SECRET_KEY": settings.SECRET_KEY,
                }
        with processes_with(["manage.py", "run_worker"], environments):
            yield


@contextmanager
def _s3_bucket():
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint, bucket = f"http://127.0.0.1:{port}", f"bench-{uuid.uuid4().hex[:8]}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=KEYS["BATCHWORKS_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=KEYS["BATCHWORKS_S3_SECRET_ACCESS_KEY"],
    )
    client.create_bucket(Bucket=bucket)
    try:
        yield {"BATCHWORKS_S3_BUCKET": bucket, "BATCHWORKS_S3_ENDPOINT_URL": endpoint, **KEYS}
    finally:
        server.stop()


@contextmanager
def _s3_storage(s3: dict):
    """This process storing in the bucket too, as the web process of such hosts would."""
    options = {
        **settings.S3_OPTIONS,
        "bucket_name": s3["BATCHWORKS_S3_BUCKET"],
        "endpoint_url": s3["BATCHWORKS_S3_ENDPOINT_URL"],
        "access_key": KEYS["BATCHWORKS_S3_ACCESS_KEY_ID"],
        "secret_key": KEYS["BATCHWORKS_S3_SECRET_ACCESS_KEY"],
    }
    storages = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
    }
    with override_settings(S3_BUCKET=options["bucket_name"], S3_OPTIONS=options, STORAGES=storages):
        yield
