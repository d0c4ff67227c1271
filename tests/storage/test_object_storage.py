"""Everything the product stores, in S3-compatible object storage: a version's code, a
chunked upload, the staged data, an export's file. Read back where it is — staging and
DuckDB through Arrow's S3 client — and downloaded through the storage's presigned URL;
nothing lands on local disk but scratch space."""

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from django.core.files.storage import default_storage

from apps.ingestion import readers
from apps.ingestion import services as ingestion
from apps.ingestion.schema import arrow_schema
from apps.ingestion.selectors import dataset_preview
from apps.ingestion.worker import stage_batch
from apps.runner.services import execution_create_manual
from apps.runner.supervisor import run
from apps.scheduling.models import ExecutionStatus
from apps.transfers import links
from apps.transfers import services as transfers
from apps.transfers.worker import run_transfer
from tests.factories import make_instance, make_version
from tests.runner import plugins

pytestmark = pytest.mark.django_db
SCHEMA = [
    {"name": "email", "type": "String", "required": True},
    {"name": "age", "type": "Integer", "required": False},
]
CSV = b"email,age\n" + b"".join(f"user{n}@example.com,{n % 90}\n".encode() for n in range(3000))


def test_a_version_runs_from_object_storage(bucket):
    version = make_version(code=plugins.SUCCEEDS)
    assert any(key.startswith("tenant-a/") and key.endswith(".py") for key in bucket.stored_keys())
    execution = execution_create_manual(instance=make_instance(version=version))
    run(execution.pk)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    assert not bucket_free_media(bucket)


def test_a_chunked_upload_is_staged_and_exported_through_object_storage(
    bucket, world, client, monkeypatch
):
    # Pieces far smaller than the file: each one's unfinished row is read again from the
    # bucket, by seeking back, as the start of the next.
    monkeypatch.setattr(readers, "CSV_PIECE_BYTES", 4096)
    dataset = ingestion.dataset_create(organisation=world.org_a, name="People", schema=SCHEMA)
    batch = ingestion.batch_create(dataset=dataset)
    batch_file = ingestion.batch_file_initialize(batch=batch, name="people.csv")
    size, step = len(CSV), 20_000
    for start in range(0, size, step):
        piece = CSV[start : start + step]
        ingestion.batch_file_chunk(
            batch_file=batch_file,
            content_range=f"bytes {start}-{start + len(piece) - 1}/{size}",
            body=_stream(piece),
        )
    ingestion.batch_file_complete(batch_file=batch_file)
    ingestion.batch_complete(batch=batch)
    outcome = stage_batch(batch.pk)
    batch.refresh_from_db()
    assert outcome == "active", batch.errors
    batch.refresh_from_db()
    assert batch.records_written == 3000
    assert (
        f"{bucket.prefix}/{batch.data}" in bucket.stored_keys()
    )  # the staged Parquet, in the bucket
    assert dataset_preview(dataset, limit=2)[1] == [
        ["user0@example.com", 0],
        ["user1@example.com", 1],
    ]

    job = transfers.export_submit(
        dataset=dataset, job_name="People export", content_type="text/plain", sql_query=""
    )
    run_transfer(str(job.pk))  # DuckDB over the staged Parquet, read from the bucket
    job.refresh_from_db()
    assert job.status == "Completed", job.reason
    (file,) = job.files.all()
    answer = client.get(f"/ls/api/batch/download/{links.token_for(file)}")
    assert answer.status_code == 302
    presigned = answer["Location"]
    assert presigned.startswith(bucket.endpoint) and "Signature=" in presigned
    download = requests.get(presigned, timeout=10)
    assert download.status_code == 200
    assert download.content.count(b"\n") == 3000
    assert "attachment" in download.headers["Content-Disposition"]
    assert not bucket_free_media(bucket)


def test_a_parquet_file_in_the_datasets_shape_is_staged_from_the_bucket_as_it_is(bucket, world):
    dataset = ingestion.dataset_create(organisation=world.org_a, name="People", schema=SCHEMA)
    target = arrow_schema(SCHEMA)
    table = pa.table(
        {"email": pa.array(["a@example.com", "b@example.com"]), "age": pa.array([30, None])},
        schema=pa.schema([pa.field(f.name, f.type) for f in target]),
    )
    upload = io.BytesIO()
    pq.write_table(table, upload)
    batch = ingestion.batch_create(dataset=dataset)
    ingestion.batch_file_put(batch=batch, name="people.parquet", body=io.BytesIO(upload.getvalue()))
    ingestion.batch_complete(batch=batch)
    assert stage_batch(batch.pk) == "active"
    batch.refresh_from_db()
    assert f"{bucket.prefix}/{batch.data}" in bucket.stored_keys()
    with default_storage.open(batch.data, "rb") as staged:
        assert staged.read() == upload.getvalue()  # the upload itself, not written again
    assert dataset_preview(dataset, limit=5)[1] == [["a@example.com", 30], ["b@example.com", None]]
    assert not bucket_free_media(bucket)


def bucket_free_media(bucket) -> list:
    """Whatever was written to the local media folder (it must stay empty)."""
    from django.conf import settings

    folder = settings.MEDIA_ROOT
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def _stream(data: bytes):
    return io.BytesIO(data)


def test_healthz_checks_the_bucket(bucket, client, settings):
    assert client.get("/healthz").json()["checks"]["storage"] == "ok"
    options = {**settings.S3_OPTIONS, "endpoint_url": "http://127.0.0.1:1"}  # nothing there
    settings.S3_OPTIONS = options
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
    }
    answer = client.get("/healthz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["storage"] == "failing"
    assert "127.0.0.1" not in answer.text and "test-secret" not in answer.text
