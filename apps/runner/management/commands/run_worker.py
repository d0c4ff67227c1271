from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from apps.core import leases
from apps.feeds.jobs import sweep_leftover_folders as sweep_leftover_feed_folders
from apps.runner import isolation
from apps.runner.processes import fork_server
from apps.runner.services import worker_check_in
from apps.runner.workspaces import sweep_leftover_workspaces
from apps.transfers.scratch import sweep_leftover_folders


class Command(BaseCommand):
    help = (
        "Run a worker for the configured tasks backend: db_worker for the database backend, "
        "an RQ worker (apps.runner.rq: jobs in-process, and runs set to start later moved to "
        "the queue on time) for rq."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--burst", action="store_true", help="Run what is queued now, then exit."
        )

    def handle(self, *args, burst, **options):
        if refused := isolation.refusal():
            raise CommandError(refused)
        isolation.hide_worker()
        worker_check_in(leases.WORKER_ID)  # logs a warning if isolation is weaker than production's
        sweep_leftover_workspaces()  # of runs this machine's killed workers left
        sweep_leftover_folders()  # and of import and export jobs
        sweep_leftover_feed_folders()  # and of feeds' plugin processes
        fork_server()  # warm before the first run, and started from this main thread
        if settings.TASKS_BACKEND == "rq":
            call_command(
                "rqworker",
                "default",
                burst=burst,
                job_class="django_tasks_rq.Job",
                worker_class="apps.runner.rq.Worker",  # its docstring says why not RQ's own
            )
        else:
            call_command(
                "db_worker", batch=burst, reload=False, interval=settings.WORKER_POLL_SECONDS
            )
