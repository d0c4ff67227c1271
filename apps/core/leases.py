"""A row a worker holds — an execution running, a batch staging, an import or export
job, a feed: claimed by one conditional update, kept alive by heartbeats, reaped when
they stop, retried after one back-off rule.

Services call these (apps.*.services); no view, command or worker writes a lease itself."""

import os
import socket
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from apps.core.errors import TransitionError

# Who holds a row: this machine and process, as operators read it in the admin and logs.
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"[:128]


def claim(free: QuerySet, *, worker: str = WORKER_ID, **changes) -> int:
    """Take the row `free` names only in the state it is free to be taken in: one
    conditional update, so of two workers handed the same row exactly one gets it (1)."""
    return free.update(**held_now(worker), **changes)


def held_now(worker: str = WORKER_ID) -> dict:
    """The fields of a row taken now by `worker`, for a claim made under a row lock."""
    return {"worker": worker, "heartbeat_at": timezone.now()}


def heartbeat(held: QuerySet) -> bool:
    """Say this worker still holds the row `held` names; False if nobody does any more (it
    was reaped, or ended elsewhere), and the worker should let go."""
    return bool(held.update(heartbeat_at=timezone.now()))


def throttled(beat: Callable[[], object]) -> Callable[[], None]:
    """`beat` for a loop that checks in far more often than a lease needs (between blocks
    of a file, say): called once every LEASE_HEARTBEAT_SECONDS at most, the first time
    that long after the claim (which was a heartbeat too)."""
    last = time.monotonic()

    def maybe_beat() -> None:
        nonlocal last
        if (now := time.monotonic()) - last >= settings.LEASE_HEARTBEAT_SECONDS:
            last = now
            beat()

    return maybe_beat


def timeout() -> timedelta:
    return timedelta(seconds=settings.LEASE_TIMEOUT_SECONDS)


def silent_since(now: datetime | None = None) -> datetime:
    """Held rows with no heartbeat since this moment have lost their worker."""
    return (now or timezone.now()) - timeout()


def lost(held: QuerySet, now: datetime | None = None) -> QuerySet:
    """Of the rows `held` names, those whose worker stopped sending heartbeats: to reap."""
    return held.filter(heartbeat_at__lt=silent_since(now))


def reap(held: QuerySet, task, retry: Callable[[Any, str], object], now: datetime) -> int:
    """Retry (with `retry(row, reason)`) each row of `held` whose worker went silent, and
    close the record of the task that worker was running; returns how many. A row that
    moved on meanwhile (TransitionError) is left as it is."""
    from apps.core import handover

    reaped = 0
    for row in lost(held, now):
        reason = f"worker {row.worker} lost: no heartbeat since {row.heartbeat_at:%H:%M:%S} UTC"
        try:
            retry(row, reason)
        except TransitionError:
            continue
        handover.abandon(task, row.dispatch_task_id, reason)
        reaped += 1
    return reaped


def backoff(first_seconds: float, attempt: int) -> timedelta:
    """The wait after attempt number `attempt` failed: `first_seconds`, doubling for each
    attempt after the first."""
    return timedelta(seconds=first_seconds * 2 ** (attempt - 1))
