import logging
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from apps.core import leases
from apps.core.health import reachable
from apps.feeds.jobs import sweep_leftover_folders as sweep_leftover_feed_folders
from apps.runner import isolation
from apps.runner.processes import fork_server
from apps.runner.services import worker_check_in
from apps.runner.worker import Runs
from apps.runner.workspaces import sweep_leftover_workspaces
from apps.transfers.scratch import sweep_leftover_folders

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Run a worker: executions as they fall due, one at a time (apps.runner.worker), and "
        "the configured tasks backend's tasks: db_worker for the database backend, an RQ "
        "worker (apps.runner.rq: jobs in-process, and tasks set to start later moved to the "
        "queue on time) for rq."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--burst", action="store_true", help="Run what is due or queued now, then exit."
        )

    def handle(self, *args, burst, **options):
        if refused := isolation.refusal():
            raise CommandError(refused)
        isolation.hide_worker()
        worker_check_in(leases.WORKER_ID)  # logs a warning if isolation is weaker than production's
        sweep_leftover_workspaces()  # of runs this machine's killed workers left
        sweep_leftover_folders()  # and of import and export jobs
        sweep_leftover_feed_folders()  # and of feeds' plugin processes
        self._say_ready(fork_server().process.pid)  # warm before the first run
        runs = Runs(burst=burst)
        runs.start()
        try:
            self._work_on_tasks(burst)
        finally:
            # The tasks loop ends when the worker is told to stop, or with --burst when
            # its queue is empty: then the runs go on until none is due.
            runs.finish(stop=not burst or sys.exc_info()[0] is not None)

    def _work_on_tasks(self, burst: bool) -> None:
        """The tasks backend's own worker loop: batches, transfer jobs, feeds, alerts."""
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

    def _say_ready(self, fork_server_pid: int) -> None:
        """The readiness line operators and orchestrators read in a worker's log; a worker
        that cannot reach what it needs exits saying so, rather than wait idle."""
        checks = reachable()
        if not all(checks.values()):
            failing = ", ".join(name for name, passed in checks.items() if not passed)
            raise CommandError(f"Worker {leases.WORKER_ID} not ready: cannot reach {failing}.")
        logger.info(
            "Worker %s ready: %s reachable; tasks backend %s; fork server %s; %s",
            leases.WORKER_ID,
            ", ".join(checks),
            settings.TASKS_BACKEND,
            fork_server_pid,
            isolation.probe().summary(),
        )
