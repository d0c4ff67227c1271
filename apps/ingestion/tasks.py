"""Staging a completed batch, on the same workers as executions."""

from django.tasks import task


@task
def stage_batch(batch_id: int) -> str:
    # Imported here: staging uses the services, which dispatch this task.
    from apps.ingestion import worker

    return worker.stage_batch(batch_id)
