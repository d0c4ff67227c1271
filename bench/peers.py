"""django-tasks-db's own cost per task, what the engine bench measures Batchworks against
(RQ's is in bench.rq_peer, which must not import Django)."""

from django.tasks import task


@task
def no_op_task() -> None:
    """django-tasks-db's own cost per task: a no-op, drained by `manage.py db_worker`."""
