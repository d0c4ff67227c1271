"""Waking idle workers when runs may have become due, instead of each polling the
database every tenth of a second.

On PostgreSQL, whatever makes a run due now or sooner than before (a run asked for, a
retry, a backfill, the tick's plans, a run that others waited for ending) calls
wake_workers() in its transaction: a NOTIFY, delivered when that transaction commits
and dropped if it rolls back. Each worker LISTENs on its own connection and sleeps until
a notice comes or its next known run is due, and looks anyway every
IDLE_LOOK_SECONDS, should a notice be lost with a connection. Elsewhere (SQLite, one
machine) an idle worker looks every WORKER_POLL_SECONDS, one indexed query."""

import logging
import os
import select
import threading

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)
CHANNEL = "batchworks_runs"
IDLE_LOOK_SECONDS = 1.0


def wake_workers() -> None:
    """Tell idle workers to look for due runs once the current transaction commits."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])


class Alarm:
    """What an idle worker sleeps on: a notice from wake_workers(), its next run's time,
    or stop()."""

    def __init__(self):
        self.listener = None  # PostgreSQL connection LISTENing, opened on first use
        self.stop_read, self.stop_write = os.pipe()
        self.closing = threading.Lock()  # stop() may come from another thread than close()

    @property
    def longest_sleep(self) -> float:
        listening = connection.vendor == "postgresql"
        return IDLE_LOOK_SECONDS if listening else settings.WORKER_POLL_SECONDS

    def listen(self) -> None:
        """Start listening before looking for work, so no notice falls in between."""
        if connection.vendor == "postgresql" and self.listener is None:
            self.listener = connection.get_new_connection(connection.get_connection_params())
            self.listener.autocommit = True
            self.listener.execute(f"LISTEN {CHANNEL}")

    def sleep(self, seconds: float) -> None:
        """Up to `seconds`, less if woken or stopped."""
        watched = [self.stop_read]
        try:
            if self.listener is not None:
                watched.append(self.listener.fileno())
            ready, _, _ = select.select(watched, [], [], max(0.0, seconds))
            if self.listener is not None and self.listener.fileno() in ready:
                for _ in self.listener.notifies(timeout=0):  # read them all: one wake
                    pass
        except Exception:  # the listening connection broke: look again, listen anew
            logger.warning("Lost the connection that listens for due runs", exc_info=True)
            self.close_listener()

    def stop(self) -> None:
        with self.closing:
            if self.stop_write >= 0:
                os.write(self.stop_write, b"x")

    def close_listener(self) -> None:
        if self.listener is not None:
            try:
                self.listener.close()
            finally:
                self.listener = None

    def close(self) -> None:
        self.close_listener()
        with self.closing:
            os.close(self.stop_read)
            os.close(self.stop_write)
            self.stop_write = -1
