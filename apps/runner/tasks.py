"""The task a worker runs for an execution, on whichever tasks backend is configured."""

from django.tasks import task


@task
def run_execution(execution_id: int) -> str:
    # Imported here: the supervisor uses the runner's services, which enqueue this task.
    from apps.runner.supervisor import run

    return run(execution_id)
