import logging
import signal
import time
from datetime import datetime

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.utils import timezone
from django.utils.module_loading import import_string

from apps.scheduling.cron import previous_fire_time

logger = logging.getLogger(__name__)
EVERY_MINUTE = "* * * * *"


class Command(BaseCommand):
    help = (
        "Loop the periodic jobs of CRONJOBS (the tick, the reapers, the clean-ups): those "
        "cron runs every minute run at every loop, the others when their time comes. The "
        "embedded default's alternative to installing them in the crontab."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--once", action="store_true", help="Run the every-minute jobs once and exit."
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=settings.SCHEDULER_INTERVAL_SECONDS,
            help="Seconds between loops (default: %(default)s).",
        )

    def handle(self, *args, once, interval, **options):
        self.stopping = False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        previous = timezone.now()
        while not self.stopping:
            now = timezone.now()
            results = {path: self._run(path) for path in due_jobs(previous, now)}
            if once:
                self.stdout.write(
                    ", ".join(f"{path}: {result}" for path, result in results.items())
                )
                return
            previous = now
            close_old_connections()  # one the database dropped is replaced at the next use
            self._sleep(interval)

    def _run(self, path: str):
        """A job that fails is logged and tried again next time: the loop never dies of it."""
        try:
            return import_string(path)()
        except Exception:
            logger.exception("run_scheduler: %s failed", path)
            return None

    def _stop(self, signum, frame):
        self.stopping = True

    def _sleep(self, seconds: float) -> None:
        """Sleep in short steps, so a stop request is honoured within a fraction of a second."""
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.2, deadline - time.monotonic()))


def due_jobs(previous: datetime, now: datetime) -> list[str]:
    """The CRONJOBS to run in a loop from `previous` to `now`: every-minute ones always (the
    loop is their minute, only finer), the others if a fire time of theirs has come since."""
    return [
        path
        for schedule, path, *_ in settings.CRONJOBS
        if schedule == EVERY_MINUTE or previous_fire_time(schedule, "UTC", now) > previous
    ]
