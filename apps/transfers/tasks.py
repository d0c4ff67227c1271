"""Import and export jobs, and their e-mails, on the same workers as executions."""

from django.tasks import task


@task
def run_transfer(job_id: str) -> str:
    # Imported here: running a job uses the services, which dispatch this task.
    from apps.transfers import worker

    return worker.run_transfer(job_id)


@task
def notify(job_id: str) -> str:
    """E-mail the job's notificationEmail that it ended."""
    from apps.transfers import notifications

    return notifications.send(job_id)
