"""A worker's part in a batch's life: take it, stage it (convert its files), promote
or fail it. Whatever
goes wrong, the batch does not stay Staging: a transient error retries it, and a worker
that dies is found by the reaper (its heartbeat stops)."""

import logging

from django.db import DatabaseError, connection

from apps.core import leases
from apps.core.errors import TransitionError
from apps.ingestion import processing, services
from apps.ingestion.models import Batch, BatchStatus

logger = logging.getLogger(__name__)


def stage_batch(batch_id: int) -> str:
    """Take the batch, convert its files, and promote or fail it; says how it ended."""
    batch = Batch.objects.select_related("dataset").filter(pk=batch_id).first()
    if batch is None:
        return f"Batch {batch_id} no longer exists."
    try:
        batch = services.batch_start_staging(batch=batch)
    except TransitionError as refusal:
        return refusal.message
    try:
        heartbeat = leases.throttled(lambda: services.batch_heartbeat(batch=batch))
        staged = processing.stage_files(batch, alive=heartbeat)
    except (OSError, DatabaseError) as error:
        logger.exception("Batch %s: transient error while staging", batch.pk)
        if isinstance(error, DatabaseError):
            connection.close()  # it may be broken; the next query reconnects

        return services.batch_retry_later(
            batch=batch, reason=f"{type(error).__name__}: {error}"
        ).status
    if staged.errors.count:
        services.batch_fail(
            batch=batch,
            errors=staged.errors.in_reading_order(),
            error_count=staged.errors.count,
            records_read=staged.records_read,
        )
        return BatchStatus.FAILED
    services.batch_promote(
        batch=batch,
        data=staged.data,
        records_read=staged.records_read,
        records_written=staged.records_written,
    )
    return BatchStatus.ACTIVE
