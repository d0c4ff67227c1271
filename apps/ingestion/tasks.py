"""Processing a completed batch, on the same workers as executions."""

from django.tasks import task


@task
def process_batch(batch_id: int) -> str:
    # Imported here: the processing uses the services, which dispatch this task.
    from apps.ingestion.worker import process

    return process(batch_id)
