"""Feeds on real worker processes: a worker killed mid-delivery loses no line and puts
none in two delivered batches; the RQ path works end to end."""

import os
import signal
from collections import Counter

import pytest

from apps.feeds import jobs, services
from apps.feeds.models import AudienceSegmentExternalFeed, BatchStatus, FeedBuffer
from tests.feeds.conftest import make_feed, update
from tests.processes import manage, running
from tests.runner.conftest import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
FAST = {"BATCHWORKS_LEASE_TIMEOUT_SECONDS": "2", "BATCHWORKS_FEED_FLUSH_INTERVAL_SECONDS": "1"}


def delivered_lines(feed) -> int:
    return sum(
        feed.batches.filter(status=BatchStatus.DELIVERED).values_list("line_count", flat=True)
    )


def test_a_worker_killed_mid_delivery_loses_no_line_and_delivers_none_twice(receiver, settings):
    settings.LEASE_TIMEOUT_SECONDS = 2
    feed = make_feed(receiver=receiver.url)  # batches of 3 lines
    sent = [f"UPSERT,EMAIL,{n}@x" for n in range(10)] + [f"UPSERT,PHONE,{n}" for n in range(4)]
    services.updates_receive(
        feed=feed,
        updates=[update(("EMAIL", f"{n}@x")) for n in range(10)]
        + [update(("PHONE", str(n))) for n in range(4)],
    )
    receiver.hold.clear()  # the partner takes its time over the first batch

    with running("run_worker", **FAST) as worker:
        assert receiver.arrived.wait(60), "no batch reached the partner"
        held = feed.batches.get(status=BatchStatus.DELIVERING)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    receiver.hold.set()
    assert feed.batches.get(pk=held.pk).status == BatchStatus.DELIVERING  # its worker is gone

    with running("run_worker", **FAST):
        wait_for(jobs.reap, timeout=30, message="the reaper to wake the feed")
        wait_for(lambda: delivered_lines(feed) == 14, timeout=60, message="every line delivered")

    assert not FeedBuffer.objects.filter(feed=feed, size__gt=0).exists()
    assert not feed.batches.exclude(status=BatchStatus.DELIVERED).exists()
    # The partner saw the held batch twice, under the same id, and can tell: by batch id,
    # every line arrived exactly once.
    unique = {b["context"]["batch_id"]: b["lines"] for b in receiver.batches}
    assert Counter(line for lines in unique.values() for line in lines) == Counter(sent)
    attempts = [
        b["context"]["attempt"]
        for b in receiver.batches
        if b["context"]["batch_id"] == str(held.pk)
    ]
    assert attempts == [1, 2]
    held.refresh_from_db()
    assert (
        "previous one was lost" in held.status_changes.filter(to_status="DELIVERING").last().reason
    )
    # Each key's lines in the order they came
    email = [line for b in receiver.batches[1:] for line in b["lines"] if ",EMAIL," in line]
    assert email == sorted(email, key=lambda line: int(line.split(",")[2].split("@")[0]))


@pytest.mark.redis
def test_the_rq_path_delivers_a_feeds_batches(receiver, settings):
    rq = {"BATCHWORKS_TASKS_BACKEND": "rq", "REDIS_URL": settings.REDIS_URL}
    feed = make_feed(receiver=receiver.url)
    services.updates_receive(feed=feed, updates=[update(("EMAIL", f"{n}@x")) for n in range(6)])
    # This test process woke it on its own (database) backend: leave it to the reaper of
    # the scheduler configured for RQ, as if that task had been lost.
    AudienceSegmentExternalFeed.objects.filter(pk=feed.pk).update(wake_at=None)

    scheduler = manage("run_scheduler", "--once", **rq)
    assert scheduler.returncode == 0, scheduler.stderr
    worker = manage("run_worker", "--burst", **rq)
    assert worker.returncode == 0, worker.stderr
    assert delivered_lines(feed) == 6, worker.stderr
    assert [len(b["lines"]) for b in receiver.batches] == [3, 3]
