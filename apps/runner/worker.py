"""A worker's runs: in a thread of `run_worker` beside the tasks backend's own loop, take
the earliest due run from the executions table, run it, and again; with nothing due,
sleep until a run may be (apps.runner.wakeups).

Runs do not go through the task queue: a task row or job per run cost more than the run
itself, and the executions table already says what is due, in what order, and who
holds what. Batches, transfer jobs, feeds and alerts still do."""

import logging
import signal
import threading

from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

from apps.core import leases
from apps.runner import supervisor
from apps.runner.wakeups import Alarm
from apps.scheduling.models import Execution

logger = logging.getLogger(__name__)
PAUSE_AFTER_ERROR_SECONDS = 1.0


class Runs(threading.Thread):
    """Runs one execution at a time until stop(); with `burst`, until none is due."""

    def __init__(self, *, burst: bool = False):
        super().__init__(name="runs")
        self.burst = burst
        self.stopping = threading.Event()
        self.aborting = threading.Event()
        self.alarm = Alarm()
        self.failing = False  # the last look for a run failed (and said why)

    def run(self) -> None:
        try:
            if supervisor.refusal_to_run():  # said in the log once: other workers run them
                return
            while not self.stopping.is_set():
                if self._run_one():
                    continue
                if self.burst:
                    return
                self._sleep()
        finally:
            self.alarm.close()
            connection.close()

    def stop(self) -> None:
        """Take no more runs; the one running goes on to its end."""
        self.stopping.set()
        self.alarm.stop()

    def finish(self, *, stop: bool) -> None:
        """Wait for the runs to end; with `stop`, take no more and let the one under way
        end. Told to stop while waiting (SIGTERM, Ctrl-C), stop that run at once: it is
        recorded as failed, saying why. Called by the main thread."""
        signal.signal(signal.SIGTERM, self._abort)
        signal.signal(signal.SIGINT, self._abort)
        if stop:
            self.stop()
            logger.info(
                "Worker %s stopping once the run under way ends (stop it again to end that "
                "run now)",
                leases.WORKER_ID,
            )
        self.join()

    def _abort(self, signum, frame) -> None:
        self.stop()
        self.aborting.set()

    def _run_one(self) -> bool:
        """Run the earliest due run, if any; whether there was one."""
        try:
            self.alarm.listen()
            ran = supervisor.run_next(abort=self.aborting) is not None
        except supervisor.WorkerStopping:
            return False
        except Exception:  # the database away, say: said once, tried again each second
            if not self.failing:
                logger.exception("Could not take or run the next execution")
            self.failing = True
            connection.close()  # it may be broken; the next query reconnects
            self.alarm.close_listener()
            self.stopping.wait(PAUSE_AFTER_ERROR_SECONDS)
            return False
        if self.failing:
            logger.info("Taking executions again")
            self.failing = False
        return ran

    def _sleep(self) -> None:
        """Until the next run is due, a wake-up, or stop(); at most the alarm's longest."""
        close_old_connections()  # as between requests: expired or broken connections go
        try:
            due = _next_due_in_seconds()
        except DatabaseError:
            due = None
        longest = self.alarm.longest_sleep
        self.alarm.sleep(longest if due is None else min(due, longest))


def _next_due_in_seconds() -> float | None:
    """Seconds until the next PENDING run's time, if one is coming."""
    now = timezone.now()
    coming = (
        Execution.objects.pending()
        .filter(expected_start_date__gt=now)
        .order_by("expected_start_date")
        .values_list("expected_start_date", flat=True)
        .first()
    )
    return None if coming is None else (coming - now).total_seconds()
