"""Every change to import and export jobs, each in one function.

A job moves through the docs' eight statuses: Initialized (received) → Accepted (its file
stored, its parameters valid) → Processing → Completed; Rejected (bad parameters, or a
file or query that does not fit: the input's fault); Canceling (asked to stop while
Processing) → Canceled (at once when not yet Processing); Failed (an error that is not
the input's, after the retries). Each move is one conditional update of the job's row,
recorded in its history with a reason a person can act on."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.core import handover, leases
from apps.core.errors import TransitionError
from apps.core.text import counted, errors_in_brief, storable, unstorable_reason, with_article
from apps.ingestion import storage
from apps.ingestion.models import Dataset
from apps.ingestion.processing import ErrorLog
from apps.ingestion.schema import key_fields
from apps.ingestion.services import dataset_replace_data
from apps.transfers import parameters
from apps.transfers.models import (
    TransferFile,
    TransferJob,
    TransferKind,
    TransferStatus,
    TransferStatusChange,
)

logger = logging.getLogger(__name__)
S = TransferStatus
SNIFF_BYTES = 4096
# A job still Initialized this long was left by a server that stopped while storing it.
INITIALIZED_FOR_AT_MOST = timedelta(hours=1)
ACCEPTED_REASON = "The file has been stored and the job is ready for processing"
# The docs' names of a job's fields, which refusals name.
API_NAMES = {
    "job_name": "jobName",
    "content_type": "contentType",
    "notification_email": "notificationEmail",
    "sql_query": "sqlQuery",
    "row_header": "rowHeader",
    "input_name": "file",
}
TOO_LARGE = f"An import's file holds at most {settings.TRANSFER_MAX_IMPORT_BYTES} bytes."


@dataclass(frozen=True)
class Imported:
    """What an import's worker made: the dataset's new data, stored, not yet visible."""

    data: str
    records: int
    replacing: set[int] | None  # the Active batches a merge read; None for an override
    summary: str


@dataclass(frozen=True)
class Exported:
    name: str
    stored: str
    size: int


# --- Submitting ----------------------------------------------------------------------------


def import_submit(
    *,
    dataset: Dataset,
    upload,
    job_name: str,
    content_type: str,
    template: str = "",
    merge=False,
    notification_email: str = "",
    user=None,
) -> TransferJob:
    """An import of `upload` (an open file with a name) into the dataset, as the docs'
    POST /ls/api/batch/import. Bad parameters, or a file that contradicts its
    contentType, are refused (ValidationError by field) and nothing is created; a merge
    into a dataset without key fields is Rejected; otherwise the file is stored and the
    job Accepted for the workers."""
    merge = parameters.boolean(merge, "merge")
    if (getattr(upload, "size", 0) or 0) > settings.TRANSFER_MAX_IMPORT_BYTES:
        raise ValidationError({"file": TOO_LARGE})
    file_format = parameters.sniffed_format(
        parameters.content_format(content_type, parameters.IMPORT_CONTENT_TYPES),
        _head(upload),
    )
    parameters.import_mapping(template, file_format, dataset.schema)
    job = _initialized(
        dataset,
        TransferKind.IMPORT,
        user,
        job_name=job_name,
        content_type=content_type,
        template=template,
        notification_email=notification_email,
        merge=merge,
        input_name=storable(str(getattr(upload, "name", "") or "file"))[-255:],
        input_format=file_format,
    )
    if merge and not key_fields(dataset.schema):
        return _end(
            job,
            [S.INITIALIZED],
            S.REJECTED,
            f"Merging matches rows by the dataset's key fields, and {dataset.name} declares "
            "none: mark its identifying fields as keys in its schema, or import without "
            "merge to replace its data.",
        )
    stored = storage.unique_name(job.storage_folder, "input")
    try:
        stream = storage.BoundedStream(upload, settings.TRANSFER_MAX_IMPORT_BYTES, TOO_LARGE)
        storage.save_stream(stored, stream)
    except storage.TooLarge:  # a file whose size was not known beforehand
        return _end(job, [S.INITIALIZED], S.REJECTED, TOO_LARGE)
    except OSError as error:
        logger.exception("Import %s: the file could not be stored", job.pk)
        return _end(job, [S.INITIALIZED], S.FAILED, f"The file could not be stored: {error}")
    return _accept(job, ACCEPTED_REASON, input_stored=stored, input_size=stream.size)


def export_submit(
    *,
    dataset: Dataset,
    job_name: str,
    content_type: str,
    row_header=False,
    template: str = "",
    sql_query: str = "",
    filters=None,
    notification_email: str = "",
    user=None,
) -> TransferJob:
    """An export of the dataset's data, as the docs' POST /ls/api/batch/export: its
    records, those `filters` match, or what `sql_query` selects (the query wins over
    filters). Bad parameters are refused (ValidationError by field); a query that may not
    run or does not bind is Rejected with DuckDB's message before any work."""
    from apps.transfers import exports  # it reads through DuckDB, which services need not load

    row_header = parameters.boolean(row_header, "rowHeader")
    content_format = parameters.content_format(content_type, parameters.EXPORT_CONTENT_TYPES)
    compiled = parameters.export_template(template, content_format)
    sql_query = (sql_query or "").strip()
    sent_filters = parameters.filter_dict(filters)
    if not sql_query:
        parameters.filters(sent_filters, dataset.schema)
    if compiled and not sql_query:
        compiled.check_columns([field["name"] for field in dataset.schema])
    job = _initialized(
        dataset,
        TransferKind.EXPORT,
        user,
        job_name=job_name,
        content_type=content_type,
        template=template,
        notification_email=notification_email,
        row_header=row_header,
        sql_query=sql_query,
        filters={} if sql_query else sent_filters,
        filters_disregarded=bool(sql_query and sent_filters),
    )
    if problem := exports.query_problem(job):
        return _end(job, [S.INITIALIZED], S.REJECTED, problem)
    return _accept(job, f"The job is ready for processing.{_disregarded(job)}")


def _head(upload) -> bytes:
    """The file's first bytes, leaving it where it was."""
    if upload is None:
        raise ValidationError({"file": "Required: the file to import."})
    head = upload.read(SNIFF_BYTES)
    upload.seek(0)
    return head


def _initialized(dataset: Dataset, kind: str, user, **fields) -> TransferJob:
    unstorable = {
        API_NAMES.get(name, name): reason
        for name, value in fields.items()
        if isinstance(value, str) and (reason := unstorable_reason(value))
    }
    if unstorable:
        raise ValidationError(unstorable)
    job = TransferJob(
        organisation_id=dataset.organisation_id,
        dataset=dataset,
        kind=kind,
        created_by=user,
        reason="The job has been received and is being accepted.",
        **fields,
    )
    try:
        job.full_clean(exclude=["organisation", "dataset", "created_by"])
    except ValidationError as error:
        raise ValidationError(
            {API_NAMES.get(field, field): m for field, m in error.message_dict.items()}
        ) from None
    with transaction.atomic():
        job.save(force_insert=True)
        _history(job, "", S.INITIALIZED, user, job.reason)
    return job


@transaction.atomic
def _accept(job: TransferJob, reason: str, **fields) -> TransferJob:
    job = _move(job, [S.INITIALIZED], S.ACCEPTED, reason, **fields)
    transaction.on_commit(partial(dispatch, job))
    return job


# --- A person's moves ----------------------------------------------------------------------


@transaction.atomic
def job_cancel(*, job: TransferJob, user=None) -> TransferJob:
    """Cancel: at once if the job has not started; a Processing job stops at its next
    chunk (Canceling, then Canceled), leaving the dataset as it was."""
    who = f" by {user}" if user else ""
    status = _locked_status(job)
    if status in (S.INITIALIZED, S.ACCEPTED):
        return _end(job, [status], S.CANCELED, f"Canceled{who} before it started.", user=user)
    if status == S.PROCESSING:
        return _move(
            job,
            [S.PROCESSING],
            S.CANCELING,
            f"Cancel requested{who}: the job stops at its next chunk.",
            user=user,
            cancel_requested_at=timezone.now(),
        )
    if status == S.CANCELING:
        return job
    raise TransitionError(f"The job is {status}: it has ended.", code="job_ended")


# --- A worker's moves ----------------------------------------------------------------------


def job_start(*, job: TransferJob, worker: str = leases.WORKER_ID) -> TransferJob:
    """A worker takes an Accepted job: one conditional update, so one worker gets it."""
    with transaction.atomic():
        free = TransferJob.objects.filter(pk=job.pk, status=S.ACCEPTED)
        reason = f"Processing on {worker} (attempt {job.attempts + 1})."
        taken = leases.claim(
            free,
            worker=worker,
            status=S.PROCESSING,
            reason=reason,
            attempts=F("attempts") + 1,
            started_at=timezone.now(),
        )
        if not taken:
            job.refresh_from_db(fields=["status"])
            raise TransitionError(f"The job is {job.status}; only an Accepted job starts.")
        _history(job, S.ACCEPTED, S.PROCESSING, None, reason)
        transaction.on_commit(partial(_remove_leftovers, job))  # an earlier attempt's
    job.refresh_from_db()
    return job


def job_heartbeat(*, job: TransferJob, records: int) -> str | None:
    """The worker still runs the job, having processed `records`; says the job's status
    now (Canceling: stop), or None if the worker no longer holds it (reaped meanwhile)."""
    held = TransferJob.objects.filter(
        pk=job.pk, status__in=[S.PROCESSING, S.CANCELING], worker=job.worker
    )
    if not leases.heartbeat(held):
        return None
    held.update(records_processed=records, run_time_ms=_run_time_ms(job))
    return held.values_list("status", flat=True).first()


@transaction.atomic
def import_complete(*, job: TransferJob, imported: Imported) -> TransferJob:
    """The import's data becomes the dataset's, and the job Completed, in one step; a job
    asked to stop meanwhile is Canceled instead, and the dataset left as it was.
    TransitionError "dataset_changed": a merge read data that is no longer Active."""
    if _locked_status(job) == S.CANCELING:
        storage.delete_all([imported.data])
        return job_stopped(job=job)
    dataset_replace_data(
        dataset=job.dataset,
        data=imported.data,
        records=imported.records,
        replacing=imported.replacing,
        external_id=str(job.pk),
        user=job.created_by,
        reason=f"Import job {job.job_name!r} ({job.pk}).",
    )
    return _end(
        job,
        [S.PROCESSING],
        S.COMPLETED,
        imported.summary,
        records_processed=imported.records,
        **_finished(job),
    )


@transaction.atomic
def export_complete(*, job: TransferJob, files: Sequence[Exported], records: int) -> TransferJob:
    """The export's files become downloadable, their links valid TRANSFER_LINK_DAYS."""
    if _locked_status(job) == S.CANCELING:
        storage.delete_all([file.stored for file in files])
        return job_stopped(job=job)
    finished = _finished(job)
    expires = finished["finished_at"] + timedelta(days=settings.TRANSFER_LINK_DAYS)
    TransferFile.objects.bulk_create(
        TransferFile(job=job, name=file.name, stored=file.stored, size=file.size) for file in files
    )
    return _end(
        job,
        [S.PROCESSING],
        S.COMPLETED,
        f"Exported {counted(records, 'record')} to {counted(len(files), 'file')}; the links expire "
        f"{expires:%Y-%m-%d %H:%M} UTC.{_disregarded(job)}",
        records_processed=records,
        links_expire_at=expires,
        **finished,
    )


@transaction.atomic
def job_reject(*, job: TransferJob, errors: ErrorLog) -> TransferJob:
    """The input does not fit (rows that do not convert, a query DuckDB refuses): the
    first errors by row and field, and the count of all."""
    listed = storable(errors.in_reading_order())  # they quote the data
    return _end(
        job,
        [S.PROCESSING, S.CANCELING],
        S.REJECTED,
        errors_in_brief(listed, errors.count, where=("row", "field"))[:2000],
        errors=listed,
        error_count=errors.count,
        **_finished(job),
    )


@transaction.atomic
def job_stopped(*, job: TransferJob) -> TransferJob:
    """A job asked to stop has stopped: Canceled, having changed nothing."""
    what = "the dataset is unchanged" if job.kind == TransferKind.IMPORT else "no file is kept"
    return _end(
        job, [S.CANCELING], S.CANCELED, f"Canceled while processing: {what}.", **_finished(job)
    )


@transaction.atomic
def job_retry_later(*, job: TransferJob, reason: str) -> TransferJob:
    """An error that is not the input's fault: try again after a back-off that doubles,
    or fail for good once TRANSFER_MAX_ATTEMPTS are spent. A job asked to stop stops."""
    status = _locked_status(job)
    job.refresh_from_db(fields=["attempts"])
    if status == S.CANCELING:
        return job_stopped(job=job)
    if job.attempts >= settings.TRANSFER_MAX_ATTEMPTS:
        return _end(
            job,
            [S.PROCESSING],
            S.FAILED,
            f"Failed after {counted(job.attempts, 'attempt')}; last error: {reason}"[:2000],
            **_finished(job),
        )
    delay = leases.backoff(settings.TRANSFER_RETRY_BACKOFF_SECONDS, job.attempts)
    job = _move(
        job,
        [S.PROCESSING],
        S.ACCEPTED,
        f"Attempt {job.attempts} failed ({reason}); it is tried again in {delay}."[:2000],
        worker="",
        heartbeat_at=None,
    )
    transaction.on_commit(partial(dispatch, job, after=delay))
    return job


def job_notified(*, job: TransferJob, error: str = "") -> None:
    """The notification e-mail went (or could not, and why)."""
    TransferJob.objects.filter(pk=job.pk).update(
        notified_at=None if error else timezone.now(), notification_error=storable(error)[:2000]
    )


# --- Periodic ------------------------------------------------------------------------------


def jobs_reap() -> dict[str, int]:
    """Jobs whose worker went silent are retried (or Canceled, if asked to stop); Accepted
    jobs whose hand-over to the queue was lost are handed over again; jobs left
    Initialized by a server that stopped are Failed."""
    from apps.transfers.tasks import run_transfer

    now = timezone.now()
    lost = leases.reap(
        TransferJob.objects.filter(status__in=[S.PROCESSING, S.CANCELING]),
        run_transfer,
        lambda job, reason: job_retry_later(job=job, reason=reason),
        now,
    )
    abandoned = 0
    for job in TransferJob.objects.filter(
        status=S.INITIALIZED, submitted_at__lt=now - INITIALIZED_FOR_AT_MOST
    ):
        try:
            _end(
                job,
                [S.INITIALIZED],
                S.FAILED,
                "The server stopped before the job was accepted: submit it again.",
            )
            abandoned += 1
        except TransitionError:
            pass
    _dispatch_lost_hand_overs(run_transfer, now)
    return {"lost": lost, "abandoned": abandoned}


def _dispatch_lost_hand_overs(run_transfer, now) -> None:
    stale = now - timedelta(seconds=settings.REDISPATCH_AFTER_SECONDS)
    waiting = list(
        TransferJob.objects.filter(status=S.ACCEPTED)
        .filter(Q(dispatched_at__lt=stale) | Q(dispatched_at__isnull=True, submitted_at__lt=stale))
        .order_by("submitted_at")[:500]
    )
    behind = [job.pk for job in handover.hand_over_lost(run_transfer, waiting, dispatch)]
    TransferJob.objects.filter(pk__in=behind).update(dispatched_at=now)  # look again later


def files_remove_expired() -> int:
    """Remove the files of exports whose links have expired; their jobs stay listed."""
    expired = TransferFile.objects.filter(job__links_expire_at__lt=timezone.now())
    names = list(expired.values_list("stored", flat=True)[:10_000])
    with transaction.atomic():
        removed, _ = TransferFile.objects.filter(stored__in=names).delete()
        transaction.on_commit(partial(storage.delete_all, names))
    return removed


def dispatch(job: TransferJob, after: timedelta | None = None) -> None:
    """Hand the job to the workers (after a back-off), recording the task."""
    from apps.transfers.tasks import run_transfer

    now = timezone.now()
    task_id = handover.enqueue(run_transfer, str(job.pk), run_after=now + after if after else None)
    TransferJob.objects.filter(pk=job.pk).update(dispatched_at=now, dispatch_task_id=task_id)


# --- Moves ---------------------------------------------------------------------------------


def _move(
    job: TransferJob,
    from_statuses: Sequence[str],
    to_status: str,
    reason: str,
    *,
    user=None,
    **fields,
) -> TransferJob:
    """One conditional update: the job moves only from one of `from_statuses`."""
    with transaction.atomic():
        old = _locked_status(job)
        moved = TransferJob.objects.filter(pk=job.pk, status__in=from_statuses).update(
            status=to_status, reason=storable(reason), **fields
        )
        if not moved:
            raise TransitionError(
                f"The job is {old}; only {with_article(' or '.join(from_statuses))} job can become "
                f"{to_status}.",
                code="job_status",
            )
        _history(job, old, to_status, user, reason)
    job.refresh_from_db()
    return job


@transaction.atomic
def _end(job: TransferJob, from_statuses, to_status: str, reason: str, **fields) -> TransferJob:
    """A job's last move: then its input file is removed, and its submitter told."""
    from apps.transfers.tasks import notify

    job = _move(job, from_statuses, to_status, reason, **fields)
    if job.input_stored:
        transaction.on_commit(partial(storage.delete_all, [job.input_stored]))
    if to_status != S.COMPLETED:
        transaction.on_commit(partial(_remove_leftovers, job))
    if job.notification_email and job.status != S.CANCELED:
        transaction.on_commit(partial(handover.enqueue, notify, str(job.pk)))
    return job


def _disregarded(job: TransferJob) -> str:
    if not job.filters_disregarded:
        return ""
    return " The filters are disregarded: the SQL query wins over them."


def _remove_leftovers(job: TransferJob) -> None:
    """Files the job's attempts stored that it does not keep: those of an attempt whose
    worker died, or of one that did not complete."""
    kept = set(job.files.values_list("stored", flat=True))
    folders = [job.data_folder] if job.kind == TransferKind.IMPORT else []
    folders += [f"{job.storage_folder}/{attempt}" for attempt in range(1, job.attempts + 1)]
    for folder in folders:
        try:
            _, names = default_storage.listdir(folder)
        except FileNotFoundError:
            continue
        storage.delete_all(
            name for name in (f"{folder}/{file}" for file in names) if name not in kept
        )


def _locked_status(job: TransferJob) -> str:
    return TransferJob.objects.select_for_update().values_list("status", flat=True).get(pk=job.pk)


def _finished(job: TransferJob) -> dict:
    now = timezone.now()
    return {"finished_at": now, "run_time_ms": _run_time_ms(job, now)}


def _run_time_ms(job: TransferJob, now=None) -> int:
    """Milliseconds of processing: since the current attempt started."""
    if job.started_at is None:
        return 0
    return max(0, int(((now or timezone.now()) - job.started_at).total_seconds() * 1000))


def _history(job, from_status, to_status, user, reason) -> None:
    TransferStatusChange.objects.create(
        job=job, from_status=from_status, to_status=to_status, user=user, reason=storable(reason)
    )


def job_files_remove(jobs, *, limit: int) -> int:
    """Remove the files (the uploaded input, the exported results) of these ended jobs;
    the jobs stay listed. At most `limit` jobs; returns how many had files removed."""
    jobs = jobs.filter(status__in=TransferStatus.ended()).exclude(
        input_stored="", files__isnull=True
    )
    removed = 0
    for job in jobs.distinct()[:limit]:
        with transaction.atomic():
            names = [job.input_stored, *job.files.values_list("stored", flat=True)]
            job.files.all().delete()
            TransferJob.objects.filter(pk=job.pk).update(input_stored="")
            transaction.on_commit(partial(storage.delete_all, [n for n in names if n]))
        removed += 1
    return removed
