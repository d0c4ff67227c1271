"""What the engine bench measures Batchworks against: the task queues' own no-op work."""

from django.tasks import task


@task
def no_op_task() -> None:
    """django-tasks-db's own cost per task: a no-op, drained by `manage.py db_worker`."""


def no_op_job() -> None:
    """RQ's own cost per job: a no-op, drained by `rq worker`, which forks per job."""
