import logging
import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from apps.ingestion.jobs import reap as reap_batches
from apps.scheduling.jobs import reap, tick

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Loop the scheduler: schedule coming runs, hand due runs to the workers, reap runs "
        "whose worker died. The embedded default's alternative to the crontab jobs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run one tick and exit.")
        parser.add_argument(
            "--interval",
            type=float,
            default=settings.SCHEDULER_INTERVAL_SECONDS,
            help="Seconds between ticks (default: %(default)s).",
        )

    def handle(self, *args, once, interval, **options):
        self.stopping = False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        while not self.stopping:
            report, reaped, batches = self._run(tick), self._run(reap), self._run(reap_batches)
            if once:
                self.stdout.write(f"{report}, reaped={reaped}, batches={batches}")
                return
            close_old_connections()  # one the database dropped is replaced at the next use
            self._sleep(interval)

    def _run(self, job):
        """A job that fails is logged and tried again next time: the loop never dies of it."""
        try:
            return job()
        except Exception:
            logger.exception("run_scheduler: %s failed", job.__module__ + "." + job.__name__)
            return None

    def _stop(self, signum, frame):
        self.stopping = True

    def _sleep(self, seconds: float) -> None:
        """Sleep in short steps, so a stop request is honoured within a fraction of a second."""
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.2, deadline - time.monotonic()))
