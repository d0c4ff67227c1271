"""A job while a worker runs it: its heartbeat and progress, written from a thread of their
own so that a long step (a sort, a big chunk) does not look like a dead worker, and the
ways a run ends early."""

import logging
import threading
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError, connection

from apps.ingestion.processing import ErrorLog
from apps.transfers import services
from apps.transfers.models import TransferJob, TransferStatus

logger = logging.getLogger(__name__)


class Stopped(Exception):
    """The job was asked to stop (Canceling), or this worker no longer holds it."""


class Rejected(Exception):
    """The input does not fit: rows that do not convert, a query DuckDB refuses."""

    def __init__(self, errors: ErrorLog):
        super().__init__(errors.listed[0]["message"] if errors.listed else "rejected")
        self.errors = errors

    @classmethod
    def saying(cls, message: str, file: str = "", row: int | None = None) -> "Rejected":
        errors = ErrorLog(1)
        errors.add(file, row, None, message)
        return cls(errors)


class Watch:
    """Beats for the job every LEASE_HEARTBEAT_SECONDS with the records processed so far;
    notices a cancel (or the lease lost) and then interrupts what runs (`interrupting`)."""

    def __init__(self, job: TransferJob):
        self.job = job
        self.records = 0
        self.stopped = threading.Event()
        self.lost = False
        self._done = threading.Event()
        self._interrupts: list = []
        self._interrupts_lock = threading.Lock()
        self._thread = threading.Thread(target=self._beat, name=f"transfer-{job.pk}", daemon=True)

    def __enter__(self) -> "Watch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()

    def progress(self, records: int) -> None:
        """Records processed so far; raises Stopped once the job should stop."""
        self.records = records
        self.check()

    def check(self) -> None:
        if self.stopped.is_set():
            raise Stopped()

    @contextmanager
    def interrupting(self, interrupt):
        """While the block runs, call `interrupt` (DuckDB's, say) when the job should stop.
        Never after: what it interrupts (a connection) may be closed by then."""
        with self._interrupts_lock:
            self._interrupts.append(interrupt)
            if self.stopped.is_set():
                interrupt()
        try:
            yield
        finally:
            with self._interrupts_lock:
                self._interrupts.remove(interrupt)

    def _beat(self) -> None:
        try:
            while not self._done.wait(settings.LEASE_HEARTBEAT_SECONDS):
                try:
                    status = services.job_heartbeat(job=self.job, records=self.records)
                except DatabaseError:  # the database away for a moment: beat again later
                    logger.warning("Job %s: heartbeat failed", self.job.pk, exc_info=True)
                    connection.close()
                    continue
                if status in (None, TransferStatus.CANCELING):
                    self.lost = status is None
                    with self._interrupts_lock:
                        self.stopped.set()
                        for interrupt in self._interrupts:
                            interrupt()
                    return
        finally:
            connection.close()  # this thread's own connection
