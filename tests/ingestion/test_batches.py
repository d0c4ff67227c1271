"""A batch's life, from its files to Active or Failed, through the services and a worker."""

import errno
import io
import os
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.utils import timezone

from apps.core.errors import TransitionError
from apps.core.stored import parquet_dataset
from apps.ingestion import selectors, services
from apps.ingestion.models import Batch, BatchStatus
from apps.ingestion.schema import arrow_schema
from apps.ingestion.storage import TooLarge
from apps.ingestion.worker import stage_batch
from tests.ingestion.conftest import (
    CSV,
    JSON_ARRAY,
    JSON_LINES,
    PARQUET,
    SCHEMA,
    parquet_bytes,
)

pytestmark = pytest.mark.django_db
S = BatchStatus


def completed(batch) -> Batch:
    services.batch_complete(batch=batch)
    stage_batch(batch.pk)
    batch.refresh_from_db()
    return batch


def rows_of(dataset) -> int:
    return selectors.datasets_with_counts(type(dataset).objects.filter(pk=dataset.pk)).get().rows


def history(batch) -> list[str]:
    return [change.to_status for change in batch.status_changes.all()]


def test_files_in_every_format_land_as_one_parquet_file(batch_with, dataset):
    batch = completed(
        batch_with(
            {
                "orders.csv": CSV,
                "more.jsonl": JSON_LINES,
                "part=1/array.json": JSON_ARRAY,
                "old.parquet": PARQUET,
            }
        )
    )
    assert batch.status == S.ACTIVE, batch.errors
    assert history(batch) == ["loading", "loaded", "staging", "staged", "active"]
    assert (batch.records_read, batch.records_written, batch.file_count) == (9, 9, 4)
    table = pq.read_table(default_storage.open(batch.data, "rb"))
    rows = {row["order_id"]: row for row in table.to_pylist()}
    assert sorted(rows) == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert (
        rows[1]["paid"] is True and rows[1]["ordered_at"].isoformat() == "2018-07-10T23:05:59+00:00"
    )
    assert rows[2]["ordered_at"] == rows[1]["ordered_at"]  # epoch milliseconds, same moment
    assert rows[5]["amount"] == 3.0 and rows[3]["customer"] is None
    assert rows_of(dataset) == 9


def in_the_datasets_shape(**columns) -> pa.Table:
    """A table of the dataset's columns, in order, of the types the staged file gives them."""
    target = arrow_schema(SCHEMA)
    return pa.table({f.name: pa.array(columns.get(f.name, [None] * 3), f.type) for f in target})


def test_a_parquet_file_in_the_datasets_shape_is_staged_as_it_is(batch_with, dataset):
    moment = datetime(2018, 7, 10, 23, 5, 59, tzinfo=UTC)
    upload = parquet_bytes(
        in_the_datasets_shape(
            order_id=[1, 2, 3], customer=["ana", None, "cy"], ordered_at=[moment, None, moment]
        )
    )
    batch = completed(batch_with({"orders.parquet": upload}))
    assert batch.status == S.ACTIVE, batch.errors
    assert (batch.records_read, batch.records_written) == (3, 3)
    with default_storage.open(batch.data, "rb") as staged:
        assert staged.read() == upload  # not written again, nor copied: a second name
    (uploaded,) = batch.files.values_list("stored", flat=True)
    assert os.path.samefile(default_storage.path(uploaded), default_storage.path(batch.data))
    default_storage.delete(uploaded)  # each name removable alone
    with default_storage.open(batch.data, "rb") as staged:
        assert staged.read() == upload
    # Read as every dataset's data is, by the dataset's schema (its required id included).
    rows = parquet_dataset([batch.data], arrow_schema(SCHEMA)).to_table().to_pylist()
    assert [(row["order_id"], row["customer"], row["ordered_at"]) for row in rows] == [
        (1, "ana", moment),
        (2, None, None),
        (3, "cy", moment),
    ]
    assert rows_of(dataset) == 3


def test_where_hard_links_fail_a_file_in_the_datasets_shape_is_copied(batch_with, monkeypatch):
    from apps.ingestion import storage

    def no_hard_links(source, target):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(storage.os, "link", no_hard_links)  # another file system, say
    upload = parquet_bytes(in_the_datasets_shape(order_id=[1, 2, 3]))
    batch = completed(batch_with({"orders.parquet": upload}))
    assert batch.status == S.ACTIVE, batch.errors
    (uploaded,) = batch.files.values_list("stored", flat=True)
    assert not os.path.samefile(default_storage.path(uploaded), default_storage.path(batch.data))
    with default_storage.open(batch.data, "rb") as staged:
        assert staged.read() == upload


def test_a_file_in_the_datasets_shape_is_checked_value_by_value_all_the_same(batch_with):
    upload = parquet_bytes(in_the_datasets_shape(order_id=[1, None, 3]))
    batch = completed(batch_with({"orders.parquet": upload}))
    assert batch.status == S.FAILED and not batch.data
    assert batch.errors == [
        {
            "file": "orders.parquet",
            "row": 2,
            "field": "order_id",
            "message": "Required, and missing.",
        }
    ]


def test_a_parquet_file_of_another_shape_is_converted_and_written_anew(batch_with):
    reordered = in_the_datasets_shape(order_id=[1, 2, 3]).select(
        ["customer", "order_id", "amount", "paid", "ordered_at"]
    )
    upload = parquet_bytes(reordered)
    batch = completed(batch_with({"orders.parquet": upload}))
    assert batch.status == S.ACTIVE, batch.errors
    with default_storage.open(batch.data, "rb") as staged:
        table = pq.read_table(staged)
    assert table.column_names == [field["name"] for field in SCHEMA]
    assert table.column("order_id").to_pylist() == [1, 2, 3]


def test_a_failed_batch_lists_the_first_errors_and_counts_them_all(batch_with, settings):
    settings.INGESTION_MAX_ERRORS_LISTED = 2
    batch = completed(batch_with({"bad.csv": b"order_id,amount,colour\n1,ten,red\n,2,\nx,3,\n"}))
    assert batch.status == S.FAILED
    assert batch.error_count == 4  # an unknown column, a missing id, a bad id, a bad amount
    assert batch.errors == [
        {
            "file": "bad.csv",
            "row": None,
            "field": "colour",
            "message": "Not a field of the dataset's schema.",
        },
        {"file": "bad.csv", "row": 2, "field": "order_id", "message": "Required, and missing."},
    ]
    assert not batch.data and batch.records_written == 0


def test_every_error_is_counted_and_the_first_are_listed(batch_with):
    bad = b"order_id,amount\n1,ten\n,2\nx,3\n"
    batch = completed(batch_with({"bad.csv": bad}))
    assert batch.status == S.FAILED
    assert batch.errors == [
        {"file": "bad.csv", "row": 1, "field": "amount", "message": "'ten' is not a number."},
        {"file": "bad.csv", "row": 2, "field": "order_id", "message": "Required, and missing."},
        {"file": "bad.csv", "row": 3, "field": "order_id", "message": "'x' is not a whole number."},
    ]
    assert batch.status_changes.last().reason.startswith(
        "3 errors; first: file bad.csv, row 1, field amount"
    )


def test_malformed_files_fail_the_batch_saying_so(batch_with):
    batch = completed(batch_with({"broken.jsonl": b'{"order_id": 1}\n{"order_id": \n'}))
    assert batch.status == S.FAILED
    assert batch.errors[0]["file"] == "broken.jsonl" and batch.errors[0]["message"].startswith(
        "Not valid JSONL"
    )


def test_an_empty_batch_fails(batch_with):
    batch = completed(batch_with({"empty.csv": b"order_id\n"}))
    assert batch.errors[0]["message"] == "The batch holds no records."


def test_a_chunked_file_with_a_retried_chunk_is_assembled(batch_with):
    batch = batch_with({})
    batch_file = services.batch_file_initialize(batch=batch, name="big.csv")
    pieces = [CSV[:20], CSV[20:50], CSV[50:]]
    total = len(CSV)
    offset = 0
    for piece in pieces:
        services.batch_file_chunk(
            batch_file=batch_file,
            content_range=f"bytes {offset}-{offset + len(piece) - 1}/{total}",
            body=io.BytesIO(piece),
        )
        offset += len(piece)
    services.batch_file_chunk(
        batch_file=batch_file, content_range=f"bytes 20-49/{total}", body=io.BytesIO(pieces[1])
    )
    services.batch_file_complete(batch_file=batch_file)
    assert default_storage.open(batch_file.stored).read() == CSV
    assert not batch_file.chunks.exists()
    assert completed(batch).records_written == 3


@pytest.mark.parametrize(
    ("second_range", "reason"),
    [
        ("bytes 30-49/100", "Bytes 20-29 are missing: send the chunk starting at 20."),
        ("bytes 10-29/100", "overlap what was sent (up to 19)"),
        ("bytes 20-119/100", "fall outside a file of 100 bytes"),
        ("bytes 20-29/90", "The file was declared 100 bytes, not 90."),
        ("bytes 29-20/100", "ends (20) before it starts (29)"),
        ("20-29", "Expected 'bytes START-END/TOTAL'"),
    ],
    ids=["gap", "overlap", "out of range", "other total", "backwards", "malformed"],
)
def test_chunks_with_a_gap_an_overlap_or_out_of_range_are_refused(batch_with, second_range, reason):
    batch_file = services.batch_file_initialize(batch=batch_with({}), name="big.csv")
    services.batch_file_chunk(
        batch_file=batch_file, content_range="bytes 0-19/100", body=io.BytesIO(b"x" * 20)
    )
    size = 100
    with pytest.raises(ValidationError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        services.batch_file_chunk(
            batch_file=batch_file, content_range=second_range, body=io.BytesIO(b"y" * size)
        )
    assert list(batch_file.chunks.values_list("start", "end")) == [(0, 20)]


def test_a_chunk_longer_or_shorter_than_its_range_is_refused(batch_with):
    batch_file = services.batch_file_initialize(batch=batch_with({}), name="big.csv")
    with pytest.raises(TooLarge, match="longer than its Content-Range"):
        services.batch_file_chunk(
            batch_file=batch_file, content_range="bytes 0-9/100", body=io.BytesIO(b"x" * 11)
        )
    with pytest.raises(ValidationError, match=r"Says 10 bytes; the body has 4\."):
        services.batch_file_chunk(
            batch_file=batch_file, content_range="bytes 0-9/100", body=io.BytesIO(b"x" * 4)
        )
    assert not batch_file.chunks.exists()


def test_a_file_cannot_complete_with_missing_bytes(batch_with):
    batch = batch_with({})
    batch_file = services.batch_file_initialize(batch=batch, name="big.csv")
    services.batch_file_chunk(
        batch_file=batch_file, content_range="bytes 0-9/30", body=io.BytesIO(b"x" * 10)
    )
    with pytest.raises(ValidationError, match="has bytes 0-9 of 30: send the rest"):
        services.batch_file_complete(batch_file=batch_file)
    with pytest.raises(TransitionError, match=r"still being uploaded in chunks: big\.csv"):
        services.batch_complete(batch=batch)


def test_the_limits_are_enforced(batch_with, settings):
    settings.INGESTION_MAX_SMALL_FILE_BYTES = 100
    batch = batch_with({})
    with pytest.raises(TooLarge, match="at most 100 more bytes fit"):
        services.batch_file_put(batch=batch, name="big.csv", body=io.BytesIO(b"x" * 101))
    assert not batch.files.exists()
    settings.INGESTION_MAX_SMALL_FILE_BYTES = 10_000
    settings.INGESTION_MAX_FILES_PER_BATCH = 2
    for name in ("a.csv", "b.csv"):
        services.batch_file_put(batch=batch, name=name, body=io.BytesIO(CSV))
    with pytest.raises(ValidationError, match="A batch holds at most 2 files"):
        services.batch_file_put(batch=batch, name="c.csv", body=io.BytesIO(CSV))
    services.batch_file_put(batch=batch, name="a.csv", body=io.BytesIO(CSV))  # replacing is fine
    settings.INGESTION_MAX_BATCH_BYTES = len(CSV) * 2 + 10
    batch_file = services.batch_file_initialize(batch=batch, name="b.csv")
    size = len(CSV) + 20
    with pytest.raises(TooLarge, match=f"at most {len(CSV) + 10} more bytes fit"):
        services.batch_file_chunk(
            batch_file=batch_file,
            content_range=f"bytes 0-{size - 1}/500",
            body=io.BytesIO(b"x" * size),
        )


def test_rows_wider_than_the_limit_fail(batch_with, settings):
    settings.INGESTION_MAX_FIELDS_PER_ROW = 3
    batch = completed(batch_with({"wide.csv": CSV}))
    assert batch.errors[0]["message"] == "Rows have 5 fields; the limit is 3."


def test_abort_only_while_loading(batch_with):
    batch = batch_with({"orders.csv": CSV})
    services.batch_abort(batch=batch)
    assert batch.status == S.ABORTED
    loaded = batch_with({"orders.csv": CSV})
    services.batch_complete(batch=loaded)
    with pytest.raises(TransitionError, match="is loaded; only a loading batch can become aborted"):
        services.batch_abort(batch=loaded)


def test_abort_removes_stored_files_and_half_uploaded_chunks(
    batch_with, django_capture_on_commit_callbacks
):
    batch = batch_with({"orders.csv": CSV})
    half = services.batch_file_initialize(batch=batch, name="big.csv")
    services.batch_file_chunk(
        batch_file=half, content_range=f"bytes 0-9/{len(CSV)}", body=io.BytesIO(CSV[:10])
    )
    stored = [f.stored for f in batch.files.exclude(stored="")] + [
        c.stored for c in half.chunks.all()
    ]
    assert len(stored) == 2 and all(default_storage.exists(name) for name in stored)
    with django_capture_on_commit_callbacks(execute=True):
        services.batch_abort(batch=batch)
    assert not any(default_storage.exists(name) for name in stored)


@pytest.mark.parametrize(
    ("service", "allowed_from"),
    [
        (services.batch_complete, {S.LOADING}),
        (services.batch_abort, {S.LOADING}),
        (services.batch_revert, {S.ACTIVE}),
        (
            services.batch_delete,
            {S.ACTIVE, S.INACTIVE, S.FAILED, S.STALLED, S.ABORTED, S.ABANDONED},
        ),
    ],
    ids=["complete", "abort", "revert", "delete"],
)
@pytest.mark.parametrize("status", list(S), ids=str)
def test_each_transition_from_each_status(batch_with, service, allowed_from, status):
    batch = batch_with({"orders.csv": CSV})
    Batch.objects.filter(pk=batch.pk).update(status=status)
    batch.refresh_from_db()
    if status in allowed_from:
        service(batch=batch)
        assert batch.status != status
    else:
        with pytest.raises(TransitionError):
            service(batch=batch)
        batch.refresh_from_db()
        assert batch.status == status


def test_files_are_refused_once_the_batch_is_loaded(batch_with):
    batch = batch_with({"orders.csv": CSV})
    services.batch_complete(batch=batch)
    with pytest.raises(TransitionError, match="files are added only while it is loading"):
        services.batch_file_put(batch=batch, name="late.csv", body=io.BytesIO(CSV))


def test_revert_takes_the_rows_out_of_the_dataset_and_delete_removes_the_data(
    batch_with, dataset, django_capture_on_commit_callbacks
):
    batch = completed(batch_with({"orders.csv": CSV}))
    assert rows_of(dataset) == 3
    services.batch_revert(batch=batch)
    assert (batch.status, rows_of(dataset)) == (S.INACTIVE, 0)
    data = batch.data
    with django_capture_on_commit_callbacks(execute=True):
        services.batch_delete(batch=batch)
    assert batch.status == S.DELETED and not default_storage.exists(data)


def test_a_transient_error_retries_with_back_off_then_stalls(batch_with, settings, monkeypatch):
    settings.INGESTION_MAX_ATTEMPTS = 2
    from apps.ingestion import processing

    def storage_down(*args, **kwargs):
        raise OSError("storage unavailable")

    monkeypatch.setattr(processing, "stage_files", storage_down)
    batch = batch_with({"orders.csv": CSV})
    services.batch_complete(batch=batch)
    assert stage_batch(batch.pk) == S.RETRYING
    assert stage_batch(batch.pk) == S.STALLED
    batch.refresh_from_db()
    assert history(batch) == ["loading", "loaded", "staging", "retrying", "staging", "stalled"]
    assert "OSError: storage unavailable" in batch.status_changes.last().reason


def test_the_reaper_abandons_batches_never_completed_and_retries_lost_ones(batch_with, settings):
    settings.INGESTION_ABANDON_AFTER_SECONDS = 3600
    settings.LEASE_TIMEOUT_SECONDS = 60
    forgotten = batch_with({"orders.csv": CSV})
    lost = batch_with({"orders.csv": CSV})
    services.batch_complete(batch=lost)
    services.batch_start_staging(batch=lost, worker="gone:1")
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert services.batches_reap() == {"abandoned": 2 - 1, "lost": 1}
    forgotten.refresh_from_db()
    lost.refresh_from_db()
    assert (forgotten.status, lost.status) == (S.ABANDONED, S.RETRYING)
    assert "worker gone:1 lost" in lost.status_changes.last().reason
    assert stage_batch(lost.pk) == S.ACTIVE


def test_a_file_whose_columns_hold_what_no_database_stores_fails_readably(batch_with):
    """Its errors quote the data: a NUL or a lone surrogate there must not stop them from
    being stored (the batch would be left Staging, then stall)."""
    lines = b'{"order_id": 1, "na\\u0000me": 1}\n{"order_id": 2, "\\ud800": 2}\n'
    batch = completed(batch_with({"orders.jsonl": lines}))
    assert batch.status == S.FAILED
    assert sorted(error["field"] for error in batch.errors) == ["na\ufffdme", "\ufffd"]


def test_a_number_with_thousands_of_digits_is_out_of_range(batch_with):
    batch = completed(batch_with({"orders.csv": b"order_id\n" + b"9" * 5000 + b"\n"}))
    assert batch.status == S.FAILED
    assert "out of the Long range" in batch.errors[0]["message"]
