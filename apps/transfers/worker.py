"""A worker's part in a job's life: take it, run the import or export in a scratch folder
of its own, and complete, reject or retry it. Whatever goes wrong, the job does not stay
Processing: an error retries it, and a worker that dies is found by the reaper (its
heartbeat stops), so the job is taken again or Failed within LEASE_TIMEOUT_SECONDS."""

import logging
import shutil

from django.db import DatabaseError, connection

from apps.core.errors import TransitionError
from apps.ingestion import storage
from apps.transfers import exports, imports, scratch, services
from apps.transfers.models import TransferJob, TransferKind
from apps.transfers.progress import Rejected, Stopped, Watch

logger = logging.getLogger(__name__)
# A merge that finds the dataset changed under it merges again, this many times.
MERGE_ROUNDS = 3


def run_transfer(job_id: str) -> str:
    """Take the job and run it; says how it ended."""
    job = TransferJob.objects.select_related("dataset", "created_by").filter(pk=job_id).first()
    if job is None:
        return f"Job {job_id} no longer exists."
    try:
        job = services.job_start(job=job)
    except TransitionError as refusal:
        return refusal.message
    work = scratch.folder_for(job)
    try:
        with Watch(job) as watch:
            job = _run(job, work, watch)
    except Stopped:
        job = _stopped(job)
    except Rejected as rejected:
        job = services.job_reject(job=job, errors=rejected.errors)
    except Exception as error:  # not the input's fault: storage, the database, a bug
        logger.exception("Job %s: error while processing", job.pk)
        if isinstance(error, DatabaseError):
            connection.close()  # it may be broken; the next query reconnects
        job = services.job_retry_later(job=job, reason=f"{type(error).__name__}: {error}"[:500])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return job.status


def _run(job: TransferJob, work, watch: Watch) -> TransferJob:
    if job.kind == TransferKind.EXPORT:
        files, records = exports.run(job, work, watch)
        return services.export_complete(job=job, files=files, records=records)
    converted, records = imports.convert(job, work, watch)
    for _ in range(MERGE_ROUNDS):
        watch.check()
        imported = imports.combine(job, converted, records, work)
        try:
            return services.import_complete(job=job, imported=imported)
        except TransitionError as changed:
            storage.delete_all([imported.data])
            if changed.code != "dataset_changed":
                raise
    raise TransitionError("The dataset kept changing while the import merged into it.")


def _stopped(job: TransferJob) -> TransferJob:
    """Canceled if it was asked to; left to whoever holds it now if this worker lost it."""
    try:
        return services.job_stopped(job=job)
    except TransitionError:
        job.refresh_from_db()
        return job
