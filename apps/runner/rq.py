"""The RQ worker `run_worker` runs when BATCHWORKS_TASKS_BACKEND=rq, beside its runs
(apps.runner.worker, which take executions from the database, not from RQ).

Jobs run in the worker's own process (SimpleWorker): a job only supervises, and a feed's
plugin code runs in a sandboxed process of the worker's fork server, which a fork per job
would lose.

Tasks queued ahead (a feed's timed flush, a batch's or an alert's retry) wait in RQ's
scheduled-job registry until their time. RQ's scheduler moves them to the queue once a
second, from one worker holding a lock of 61 seconds that the others try for only every
ten minutes: when that worker was killed, a task due seconds later started a minute late
or more. Here every worker keeps a promoter thread instead: one of them at a time (a lock
of PROMOTER_LOCK_SECONDS, renewed at each pass) moves the due jobs every
PROMOTE_EVERY_SECONDS, and when it dies another takes over within the lock's life. Should
two ever move the same job, the row it carries is still claimed once."""

import logging
import threading
import time

from rq.scheduler import RQScheduler
from rq.worker import SimpleWorker

from apps.core import leases

logger = logging.getLogger(__name__)
PROMOTE_EVERY_SECONDS = 0.1
PROMOTER_LOCK_SECONDS = 2.0
PROMOTER_LOCK_KEY = "batchworks:rq-promoter:{queues}"  # holds the promoting worker's host:pid


class Worker(SimpleWorker):
    def work(self, burst: bool = False, **kwargs):  # type: ignore[override]
        promoter = Promoter(self)
        if burst:
            promoter.promote_once()  # what is already due, then the queue as it stands
        else:
            threading.Thread(target=promoter.run, name="rq-promoter", daemon=True).start()
        return super().work(burst=burst, **kwargs)


class Promoter:
    """Moves this worker's queues' due scheduled jobs to the queues, when it holds the
    promoter's lock."""

    def __init__(self, worker: SimpleWorker):
        self.name = leases.WORKER_ID  # host:pid, as the worker is known everywhere else
        # RQ's own moving code, on a connection of this thread's, without RQ's locks.
        self.scheduler = RQScheduler(worker.queues, connection=worker.connection)
        self.scheduler.prepare_registries(worker.queue_names())
        self.lock_key = PROMOTER_LOCK_KEY.format(queues=",".join(sorted(worker.queue_names())))
        self.failing = False

    def run(self) -> None:
        """Until the worker exits (a daemon thread)."""
        while True:
            time.sleep(PROMOTE_EVERY_SECONDS)
            try:
                if self._hold_lock():
                    self.scheduler.enqueue_scheduled_jobs()
            except Exception:  # Redis away for a while: each pass tries again, said once
                if not self.failing:
                    logger.warning("Could not move due scheduled jobs", exc_info=True)
                self.failing = True
            else:
                if self.failing:
                    logger.info("Moving due scheduled jobs again")
                self.failing = False

    def promote_once(self) -> None:
        self.scheduler.enqueue_scheduled_jobs()

    def _hold_lock(self) -> bool:
        redis = self.scheduler.connection
        milliseconds = int(PROMOTER_LOCK_SECONDS * 1000)
        if redis.set(self.lock_key, self.name, nx=True, px=milliseconds):
            return True
        holder = redis.get(self.lock_key)
        if holder is not None and holder.decode() == self.name:
            redis.pexpire(self.lock_key, milliseconds)
            return True
        return False
