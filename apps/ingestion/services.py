"""Every change to datasets and batches, each in one function.

A batch moves Loading → Loaded (COMPLETE) → Staging → Staged → Active, or to Failed (bad
data), Retrying then Staging again (a transient error, after a back-off), Stalled (the
retries ran out), Abandoned (never completed), Aborted (ABORT while loading), Inactive
(reverted) and Deleted (its data removed). Every move is recorded with its time."""

import logging
import re
import time
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from apps.accounts.models import Organisation
from apps.audit import services as audit
from apps.core import handover, leases
from apps.core.errors import TransitionError
from apps.core.text import errors_in_brief, storable, unstorable_reason, with_article
from apps.ingestion import storage
from apps.ingestion.models import (
    Batch,
    BatchFile,
    BatchFileChunk,
    BatchStatus,
    BatchStatusChange,
    BatchUpload,
    Dataset,
)
from apps.ingestion.readers import FORMATS
from apps.ingestion.schema import check_change_keeps_data

logger = logging.getLogger(__name__)
# Batches whose data is stored: the dataset's schema must keep fitting it.
HOLDING_DATA = (BatchStatus.STAGED, BatchStatus.ACTIVE, BatchStatus.INACTIVE)
# Where each person-made move may start.
ABORTABLE = [BatchStatus.LOADING]
REVERTIBLE = [BatchStatus.ACTIVE]
DELETABLE = [
    BatchStatus.ACTIVE,
    BatchStatus.INACTIVE,
    BatchStatus.FAILED,
    BatchStatus.STALLED,
    BatchStatus.ABORTED,
    BatchStatus.ABANDONED,
]
CONTENT_RANGE = re.compile(r"^bytes ([0-9]{1,18})-([0-9]{1,18})/([0-9]{1,18}|\*)\Z")
INPUT_FORMATS = ("csv", "json", "parquet")
# An upload in flight records a heartbeat this often as its bytes arrive.
UPLOAD_HEARTBEAT_SECONDS = 5

# --- Datasets ------------------------------------------------------------------------------


@transaction.atomic
def dataset_create(
    *, organisation: Organisation, name: str, schema, description: str = ""
) -> Dataset:
    dataset = Dataset(organisation=organisation, name=name, schema=schema, description=description)
    dataset.full_clean()
    dataset.save()
    audit.record("dataset.created", dataset)
    return dataset


@transaction.atomic
def dataset_update(*, dataset: Dataset, **changes) -> Dataset:
    """Rename, describe, or change the schema in ways the stored data still fits."""
    dataset.refresh_from_db(from_queryset=Dataset.objects.select_for_update())
    old_schema = dataset.schema
    before = audit.snapshot(dataset, changes)
    for field, value in changes.items():
        setattr(dataset, field, value)
    dataset.full_clean()
    if "schema" in changes and dataset.batches.filter(status__in=HOLDING_DATA).exists():
        try:
            check_change_keeps_data(old_schema, dataset.schema)
        except ValidationError as error:
            raise ValidationError({"schema": error.error_list}) from None
    dataset.save()
    changed = audit.changes_between(before, audit.snapshot(dataset, changes))
    audit.record("dataset.changed", dataset, changes=changed)
    return dataset


@transaction.atomic
def dataset_delete(*, dataset: Dataset) -> None:
    if dataset.batches.exclude(status=BatchStatus.DELETED).exists():
        raise TransitionError(
            "This dataset still has batches: delete them first.", code="dataset_in_use"
        )
    audit.record("dataset.deleted", dataset)
    dataset.batches.all().delete()
    dataset.delete()


@transaction.atomic
def dataset_replace_data(
    *,
    dataset: Dataset,
    data: str,
    records: int,
    replacing: set[int] | None,
    external_id: str,
    user=None,
    reason: str,
) -> Batch:
    """Make the stored Parquet file `data` the dataset's data, in one step: a new Active
    batch holds it, and the batches Active until now become Inactive (kept, revertible by
    hand). `replacing` names the batches the new data was made from (a merge read them): if
    another became Active meanwhile, nothing changes (TransitionError "dataset_changed").
    None: replace whatever is Active (an override)."""
    Dataset.objects.select_for_update().filter(pk=dataset.pk).get()
    active = set(dataset.batches.filter(status=BatchStatus.ACTIVE).values_list("pk", flat=True))
    if replacing is not None and active != replacing:
        raise TransitionError(
            "The dataset's data changed while the import was merging; it is merged again.",
            code="dataset_changed",
        )
    now = timezone.now()
    batch = Batch.objects.create(
        organisation_id=dataset.organisation_id,
        dataset=dataset,
        status=BatchStatus.ACTIVE,
        data=data,
        records_read=records,
        records_written=records,
        external_id=external_id,
        created_client="transfer",
        available_from=now,
        created_by=user,
        updated_by=user,
    )
    _history(batch, "", BatchStatus.ACTIVE, user, reason)
    for old in dataset.batches.filter(pk__in=active):
        _transition(
            old,
            [BatchStatus.ACTIVE],
            BatchStatus.INACTIVE,
            user,
            f"Replaced by batch {batch.pk}: {reason}"[:500],
            available_until=now,
        )
    return batch


# --- Batches: loading ----------------------------------------------------------------------


def batch_create(
    *,
    dataset: Dataset,
    user=None,
    execution=None,
    input_format: str = "",
    external_id: str = "",
    tags: dict | None = None,
    created_client: str = "",
) -> Batch:
    """A new, Loading batch. `external_id` and `tags` are the uploader's own, kept as sent;
    `created_client` says which client made it (api, plugin…), as the catalog shows."""
    if input_format and input_format not in INPUT_FORMATS:
        raise ValidationError({"inputFormat": f"One of {', '.join(INPUT_FORMATS)}, or none."})
    with transaction.atomic():
        batch = Batch(
            organisation_id=dataset.organisation_id,
            dataset=dataset,
            execution=execution,
            input_format=input_format,
            external_id=external_id,
            tags=tags or {},
            created_client=created_client,
            created_by=user,
            updated_by=user,
        )
        batch.full_clean(exclude=["dataset", "execution", "organisation"])
        batch.save()
        _history(batch, "", BatchStatus.LOADING, user, "Created.")
    return batch


def batch_file_put(*, batch: Batch, name: str, body, user=None) -> BatchFile:
    """A whole file in one request (at most INGESTION_MAX_SMALL_FILE_BYTES), streamed to
    storage. A file of the same name is replaced."""
    _refuse_unless_loading(batch)
    _check_file_name(batch, name)
    limit = min(settings.INGESTION_MAX_SMALL_FILE_BYTES, _bytes_left(batch, replacing=name))
    stored = storage.unique_name(f"{batch.storage_folder}/files", "file")
    with _upload_in_flight(batch, name, stored) as upload:
        stream = storage.BoundedStream(body, limit, _too_large_message(limit), upload.beat)
        storage.save_stream(stored, stream)
        with transaction.atomic():
            upload.finish()
            batch_file = _fresh_file(batch, name)
            batch_file.stored, batch_file.size, batch_file.complete = stored, stream.size, True
            batch_file.save()
            _count_files(batch, user)
    return batch_file


def batch_file_initialize(*, batch: Batch, name: str, user=None) -> BatchFile:
    """Start a file uploaded in chunks (PATCH with Content-Range, then COMPLETE)."""
    _refuse_unless_loading(batch)
    _check_file_name(batch, name)
    with transaction.atomic():
        batch_file = _fresh_file(batch, name)
        batch_file.save()
        _count_files(batch, user)
    return batch_file


def batch_file_chunk(*, batch_file: BatchFile, content_range: str, body) -> BatchFileChunk:
    """Bytes start-end (inclusive, as HTTP says) of a file. Chunks come in order: one that
    leaves a gap, overlaps another, or falls outside the declared size is refused; the
    same range sent again replaces the first attempt."""
    batch = batch_file.batch
    _refuse_unless_loading(batch)
    if batch_file.complete:
        raise TransitionError(
            f"{batch_file.name} is complete; initialize it again to re-upload.",
            code="file_complete",
        )
    start, end, total = _parse_range(content_range)
    length = end - start + 1
    retried = batch_file.chunks.filter(start=start, end=end + 1).first()
    if total is not None:
        if batch_file.expected_size not in (None, total):
            raise ValidationError(
                {
                    "Content-Range": f"The file was declared {batch_file.expected_size} bytes, "
                    f"not {total}."
                }
            )
        if end >= total:
            raise ValidationError(
                {"Content-Range": f"Bytes {start}-{end} fall outside a file of {total} bytes."}
            )
    if retried is None:
        _check_in_order(batch_file, start, end)
    room = _bytes_left(batch) + (retried.end - retried.start if retried else 0)
    if length > room:
        raise storage.TooLarge(_too_large_message(room))
    stored = storage.unique_name(batch_file.chunk_folder, str(start))
    with _upload_in_flight(batch, batch_file.name, stored) as upload:
        stream = storage.BoundedStream(
            body,
            length,
            f"The body is longer than its Content-Range ({length} bytes).",
            upload.beat,
        )
        storage.save_stream(stored, stream)
        if stream.size != length:
            raise ValidationError(
                {"Content-Range": f"Says {length} bytes; the body has {stream.size}."}
            )
        with transaction.atomic():
            upload.finish()
            if retried is not None:
                transaction.on_commit(partial(storage.delete_all, [retried.stored]))
                retried.delete()
            chunk = BatchFileChunk.objects.create(
                file=batch_file, start=start, end=end + 1, stored=stored
            )
            batch_file.size = (
                batch_file.chunks.aggregate(size=Sum(F("end") - F("start")))["size"] or 0
            )
            if total is not None:
                batch_file.expected_size = total
            batch_file.save(update_fields=["size", "expected_size"])
            _count_files(batch, None)
    return chunk


def batch_file_complete(*, batch_file: BatchFile) -> BatchFile:
    """Join a chunked file's chunks: they must cover it from its first byte to its last."""
    _refuse_unless_loading(batch_file.batch)
    chunks = list(batch_file.chunks.order_by("start"))
    if not chunks:
        raise ValidationError({"file": f"{batch_file.name} has no chunks yet."})
    covered, pieces = chunks[-1].end, [chunk.stored for chunk in chunks]
    if batch_file.expected_size is not None and covered != batch_file.expected_size:
        raise ValidationError(
            {
                "file": f"{batch_file.name} has bytes 0-{covered - 1} of "
                f"{batch_file.expected_size}: send the rest."
            }
        )
    stored = storage.unique_name(f"{batch_file.batch.storage_folder}/files", "file")
    with _upload_in_flight(batch_file.batch, batch_file.name, stored) as upload:
        storage.concatenate(stored, pieces)
        with transaction.atomic():
            upload.finish()
            batch_file.stored, batch_file.size, batch_file.complete = stored, covered, True
            batch_file.expected_size = covered
            batch_file.save()
            batch_file.chunks.all().delete()
            transaction.on_commit(lambda: storage.delete_all(pieces))
    return batch_file


def _fresh_file(batch: Batch, name: str) -> BatchFile:
    """The batch's file of this name, emptied (its old bytes removed after commit)."""
    existing = BatchFile.objects.filter(batch=batch, name=name).first()
    if existing is None:
        return BatchFile(batch=batch, name=name)
    old = [existing.stored, *existing.chunks.values_list("stored", flat=True)]
    transaction.on_commit(lambda: storage.delete_all(old))
    existing.chunks.all().delete()
    existing.stored, existing.size, existing.expected_size, existing.complete = "", 0, None, False
    return existing


def _check_file_name(batch: Batch, name: str) -> None:
    if not name or name.startswith("/") or ".." in name.split("/") or len(name) > 1024:
        raise ValidationError({"file": "A file name is a relative path without '..'."})
    if any(ord(character) < 32 for character in name) or unstorable_reason(name):
        raise ValidationError({"file": "A file name has no control characters or lone surrogates."})
    if not batch.input_format and name.rsplit(".", 1)[-1].lower() not in {
        s.lstrip(".") for s in FORMATS
    }:
        raise ValidationError(
            {
                "file": "Name the file .csv, .json, .jsonl or .parquet, "
                "or give the batch an inputFormat."
            }
        )
    known = batch.files.filter(name=name).exists()
    if not known and batch.files.count() >= settings.INGESTION_MAX_FILES_PER_BATCH:
        raise ValidationError(
            {"file": f"A batch holds at most {settings.INGESTION_MAX_FILES_PER_BATCH} files."}
        )


def _bytes_left(batch: Batch, replacing: str = "") -> int:
    used = batch.files.exclude(name=replacing).aggregate(size=Sum("size"))["size"] or 0
    return max(0, settings.INGESTION_MAX_BATCH_BYTES - used)


def _too_large_message(limit: int) -> str:
    return (
        f"Too large: at most {limit} more bytes fit (a single upload holds "
        f"{settings.INGESTION_MAX_SMALL_FILE_BYTES} bytes, "
        f"a batch {settings.INGESTION_MAX_BATCH_BYTES}); "
        "upload large files in chunks."
    )


def _parse_range(content_range: str) -> tuple[int, int, int | None]:
    match = CONTENT_RANGE.match((content_range or "").strip())
    if match is None:
        raise ValidationError(
            {"Content-Range": "Expected 'bytes START-END/TOTAL' (TOTAL may be *)."}
        )
    start, end, total = int(match[1]), int(match[2]), match[3]
    if end < start:
        raise ValidationError(
            {"Content-Range": f"The range ends ({end}) before it starts ({start})."}
        )
    return start, end, None if total == "*" else int(total)


def _check_in_order(batch_file: BatchFile, start: int, end: int) -> None:
    last = batch_file.chunks.order_by("-start").first()
    next_byte = last.end if last else 0
    if start > next_byte:
        raise ValidationError(
            {
                "Content-Range": f"Bytes {next_byte}-{start - 1} are missing: "
                f"send the chunk starting at {next_byte}."
            }
        )
    if start < next_byte:
        raise ValidationError(
            {
                "Content-Range": f"Bytes {start}-{end} overlap what was sent (up to "
                f"{next_byte - 1}); resend a whole chunk to retry it."
            }
        )


def _count_files(batch: Batch, user) -> None:
    totals = batch.files.aggregate(count=Count("pk"), size=Sum("size"))
    Batch.objects.filter(pk=batch.pk).update(
        file_count=totals["count"],
        bytes=totals["size"] or 0,
        updated_at=timezone.now(),
        **({"updated_by": user} if user else {}),
    )


# --- Batches: transitions ------------------------------------------------------------------


@transaction.atomic
def batch_complete(*, batch: Batch, user=None) -> Batch:
    """COMPLETE: the files are all there; the batch is queued for processing. Refused
    while an upload into it is still streaming (its file would be missing or partial)."""
    _lock(batch)
    _forget_lost_uploads(batch.uploads.all())
    if streaming := list(batch.uploads.values_list("name", flat=True)[:5]):
        raise TransitionError(
            f"Files still uploading: {', '.join(sorted(set(streaming)))}. Complete the batch "
            "when their uploads have finished.",
            code="uploads_in_flight",
        )
    if not batch.files.exists():
        raise TransitionError(
            "Upload at least one file before completing the batch.", code="no_files"
        )
    if unfinished := list(batch.files.filter(complete=False).values_list("name", flat=True)[:5]):
        raise TransitionError(
            f"Files still being uploaded in chunks: {', '.join(unfinished)}.",
            code="files_incomplete",
        )
    batch = _transition(
        batch, [BatchStatus.LOADING], BatchStatus.LOADED, user, "Completed by the uploader."
    )
    transaction.on_commit(lambda: dispatch(batch))
    return batch


@transaction.atomic
def batch_abort(*, batch: Batch, user=None) -> Batch:
    """ABORT: only while loading; once Loaded a batch cannot be aborted."""
    batch = _transition(batch, ABORTABLE, BatchStatus.ABORTED, user, "Aborted by the uploader.")
    _remove_files(batch)
    return batch


def batch_revert(*, batch: Batch, user=None) -> Batch:
    """Its data stops counting in the dataset; it stays stored until deleted."""
    return _transition(
        batch, REVERTIBLE, BatchStatus.INACTIVE, user, "Reverted.", available_until=timezone.now()
    )


@transaction.atomic
def batch_delete(*, batch: Batch, user=None) -> Batch:
    """Remove the batch's data and files; its record stays, Deleted."""
    batch.refresh_from_db(fields=["available_from", "available_until"])
    ended = batch.available_until or (timezone.now() if batch.available_from else None)
    batch = _transition(
        batch, DELETABLE, BatchStatus.DELETED, user, "Deleted.", available_until=ended
    )
    _remove_files(batch)
    return batch


def batch_start_staging(*, batch: Batch, worker: str = leases.WORKER_ID) -> Batch:
    """A worker takes a Loaded (or Retrying) batch to stage: one move under the batch's
    row lock, so only one worker gets it."""
    return _transition(
        batch,
        [BatchStatus.LOADED, BatchStatus.RETRYING],
        BatchStatus.STAGING,
        None,
        f"Processing on {worker}.",
        attempts=batch.attempts + 1,
        **leases.held_now(worker),
    )


def batch_heartbeat(*, batch: Batch) -> bool:
    """The worker staging it still does; False if it no longer stages (reaped meanwhile)."""
    return leases.heartbeat(Batch.objects.filter(pk=batch.pk, status=BatchStatus.STAGING))


@transaction.atomic
def batch_promote(*, batch: Batch, data: str, records_read: int, records_written: int) -> Batch:
    """Staged, then Active: its rows now count in the dataset."""
    batch = _transition(
        batch,
        [BatchStatus.STAGING],
        BatchStatus.STAGED,
        None,
        "Every row converted.",
        data=data,
        records_read=records_read,
        records_written=records_written,
        errors=[],
        error_count=0,
    )
    return _transition(
        batch,
        [BatchStatus.STAGED],
        BatchStatus.ACTIVE,
        None,
        "Promoted: available in the dataset.",
        available_from=timezone.now(),
    )


def batch_fail(*, batch: Batch, errors: list[dict], error_count: int, records_read: int) -> Batch:
    errors = storable(errors)  # they quote the data, which may hold what no database stores
    return _transition(
        batch,
        [BatchStatus.STAGING],
        BatchStatus.FAILED,
        None,
        errors_in_brief(errors, error_count)[:500],
        errors=errors,
        error_count=error_count,
        records_read=records_read,
        records_written=0,
    )


@transaction.atomic
def batch_retry_later(*, batch: Batch, reason: str, from_statuses=(BatchStatus.STAGING,)) -> Batch:
    """A transient error: try again after a back-off that doubles, or stall for good."""
    batch.refresh_from_db()
    if batch.attempts >= settings.INGESTION_MAX_ATTEMPTS:
        return _transition(
            batch,
            list(from_statuses),
            BatchStatus.STALLED,
            None,
            f"Stalled after {batch.attempts} attempts; last error: {reason}"[:500],
        )
    delay = leases.backoff(settings.INGESTION_RETRY_BACKOFF_SECONDS, batch.attempts)
    batch = _transition(
        batch,
        list(from_statuses),
        BatchStatus.RETRYING,
        None,
        f"Attempt {batch.attempts} failed ({reason}); next in {delay}."[:500],
    )
    transaction.on_commit(lambda: dispatch(batch, after=delay))
    return batch


def batches_reap() -> dict[str, int]:
    """Abandon batches never completed; retry those whose processing worker went silent;
    hand over again Loaded and Retrying batches whose hand-over to the queue was lost."""
    from apps.ingestion.tasks import stage_batch

    now = timezone.now()
    abandoned = 0
    for batch in Batch.objects.filter(
        status=BatchStatus.LOADING,
        created_at__lt=now - timedelta(seconds=settings.INGESTION_ABANDON_AFTER_SECONDS),
    ):
        try:
            _transition(
                batch, [BatchStatus.LOADING], BatchStatus.ABANDONED, None, "Not completed in time."
            )
            _remove_files(batch)
            abandoned += 1
        except TransitionError:
            pass
    with transaction.atomic():
        _forget_lost_uploads(BatchUpload.objects.all())
    lost = leases.reap(
        Batch.objects.filter(status=BatchStatus.STAGING),
        stage_batch,
        lambda batch, reason: batch_retry_later(batch=batch, reason=reason),
        now,
    )
    stale = now - timedelta(seconds=settings.REDISPATCH_AFTER_SECONDS)
    waiting = list(
        Batch.objects.filter(status__in=[BatchStatus.LOADED, BatchStatus.RETRYING])
        .filter(Q(dispatched_at__lt=stale) | Q(dispatched_at__isnull=True, updated_at__lt=stale))
        .order_by("pk")[:500]
    )
    behind = [batch.pk for batch in handover.hand_over_lost(stage_batch, waiting, dispatch)]
    Batch.objects.filter(pk__in=behind).update(dispatched_at=now)  # look again later
    return {"abandoned": abandoned, "lost": lost}


def dispatch(batch: Batch, after: timedelta | None = None) -> None:
    """Hand the batch to the workers (after a back-off), recording the task."""
    from apps.ingestion.tasks import stage_batch

    now = timezone.now()
    task_id = handover.enqueue(stage_batch, batch.pk, run_after=now + after if after else None)
    Batch.objects.filter(pk=batch.pk).update(dispatched_at=now, dispatch_task_id=task_id)


def _lock(batch: Batch) -> None:
    """Reload the batch's status under a row lock: its transitions and the end of its
    uploads queue up behind one another."""
    batch.status = (
        Batch.objects.select_for_update().values_list("status", flat=True).get(pk=batch.pk)
    )


class _Upload:
    """An upload in flight: its record, kept alive as bytes arrive (see BatchUpload)."""

    def __init__(self, batch: Batch, record: BatchUpload):
        self.batch, self.record = batch, record
        self.last_beat = time.monotonic()

    def beat(self) -> None:
        """Called as bytes arrive; writes a heartbeat every few seconds."""
        if time.monotonic() - self.last_beat >= UPLOAD_HEARTBEAT_SECONDS:
            self.last_beat = time.monotonic()
            BatchUpload.objects.filter(pk=self.record.pk).update(heartbeat_at=timezone.now())

    def finish(self) -> None:
        """In the transaction that keeps what was uploaded: only if the batch still loads."""
        _lock(self.batch)
        _refuse_unless_loading(self.batch, locked=True)
        BatchUpload.objects.filter(pk=self.record.pk).delete()


@contextmanager
def _upload_in_flight(batch: Batch, name: str, stored: str):
    """Record an upload of `name` (written to `stored`) for the duration of the block:
    COMPLETE waits for it to end, ABORT removes what it wrote. If the block fails, or the
    batch left Loading before it ended, nothing of it is kept."""
    with transaction.atomic():
        _lock(batch)
        _refuse_unless_loading(batch, locked=True)
        record = BatchUpload.objects.create(
            batch=batch, name=name, stored=stored, heartbeat_at=timezone.now()
        )
    try:
        yield _Upload(batch, record)
    except BaseException as error:
        BatchUpload.objects.filter(pk=record.pk).delete()
        storage.delete_all([stored])
        if isinstance(error, OSError):  # its bytes removed under it: the batch has gone?
            _refuse_unless_loading(batch)
        raise


def _forget_lost_uploads(uploads) -> None:
    """Uploads silent for INGESTION_UPLOAD_SILENT_SECONDS lost their uploader (the web
    process died, say): they no longer hold their batch, and their bytes are removed."""
    lost = uploads.filter(
        heartbeat_at__lt=timezone.now()
        - timedelta(seconds=settings.INGESTION_UPLOAD_SILENT_SECONDS)
    )
    names = list(lost.values_list("stored", flat=True))
    if names:
        lost.delete()
        transaction.on_commit(lambda: storage.delete_all(names))


def _refuse_unless_loading(batch: Batch, *, locked: bool = False) -> None:
    if not locked:
        batch.refresh_from_db(fields=["status"])
    if batch.status != BatchStatus.LOADING:
        raise TransitionError(
            f"Batch {batch.pk} is {batch.status}: files are added only while it is loading.",
            code="not_loading",
        )


def _transition(
    batch: Batch, from_statuses: Sequence[str], to_status: str, user, reason: str, **fields
) -> Batch:
    with transaction.atomic():
        locked = Batch.objects.select_for_update().get(pk=batch.pk)
        if locked.status not in from_statuses:
            raise TransitionError(
                f"Batch {batch.pk} is {locked.status}; only "
                f"{with_article(' or '.join(from_statuses))} batch can become {to_status}."
            )
        Batch.objects.filter(pk=batch.pk).update(
            status=to_status,
            updated_at=timezone.now(),
            **({"updated_by": user} if user else {}),
            **fields,
        )
        _history(batch, locked.status, to_status, user, reason)
    batch.refresh_from_db()
    return batch


def _history(batch, from_status, to_status, user, reason) -> None:
    BatchStatusChange.objects.create(
        batch=batch,
        from_status=from_status,
        to_status=to_status,
        user=user,
        reason=storable(reason),  # may quote an error's text
    )


def _remove_files(batch: Batch) -> None:
    """Its data, files and chunks, in two queries whatever the number of files. (An upload
    still streaming removes its own bytes when it is refused; a lost one's go too.)"""
    _forget_lost_uploads(batch.uploads.all())
    names = [
        batch.data,
        *batch.files.values_list("stored", flat=True),
        *BatchFileChunk.objects.filter(file__batch=batch).values_list("stored", flat=True),
    ]
    transaction.on_commit(lambda: storage.delete_all(names))
