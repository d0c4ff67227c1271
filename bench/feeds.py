"""External feeds: unit updates per second from intake to delivered batch, and the delay
from an update's arrival to its batch's delivery when buffers flush by age.

- throughput: a batched no-op plugin (batch_flush_max_size 1,000, lines spread over 100
  grouping keys); updates are stored through the intake service 10,000 at a time while
  W db_worker processes take them through the plugin and deliver the batches; the clock
  runs from the first update stored to the last batch delivered. A feed is worked on by
  one worker at a time (its lease), so it runs with one feed, and with one feed per worker;
- age: updates arriving one every 50 ms for a feed whose buffers never fill, flushed by
  age (BATCHWORKS_FEED_FLUSH_INTERVAL_SECONDS, 2 s here): delay from each update's arrival
  to its batch's delivery (median, p95), and the same less the interval (the platform's
  own part)."""

import os
import statistics
import time

from django.core.files.base import ContentFile
from django.db.models import Sum

from apps.accounts.models import Organisation
from apps.core.text import counted
from apps.feeds.models import AudienceSegmentExternalFeed, BatchStatus, FeedBatch
from apps.feeds.services import feed_create, updates_receive
from apps.plugins.models import PluginType
from apps.plugins.services import (
    batching_configuration_set,
    plugin_create,
    plugin_version_create,
)
from bench.engine import _workers
from bench.setup import median_and_p95

NO_OP = b"""from batchworks_sdk import BatchedAudienceFeedPlugin


class NoOp(BatchedAudienceFeedPlugin):
    def on_user_segment_update(self, request):
        value = request["user_identifiers"][0]["value"]
        return {"status": "ok", "data": [{"data": value, "grouping_key": f"k{value % 100}"}]}

    def on_batch_update(self, request):
        n = len(request["batch_content"])
        return {"status": "OK", "send_items_in_success": n, "send_items_in_error": 0}
"""
AGE_SECONDS = 2.0


def run(options) -> None:
    version = _no_op_version()
    updates = options.rows if options.rows != 200_000 else 100_000
    for feeds in (1, options.workers):
        rates = [
            _throughput(version, updates, feeds, options.workers) for _ in range(options.repeat)
        ]
        print(
            f"  median of {len(rates)}, {counted(feeds, 'feed')}: {statistics.median(rates):,.0f} "
            "updates/s from intake to delivered batch"
        )
    os.environ["BATCHWORKS_FEED_FLUSH_INTERVAL_SECONDS"] = str(AGE_SECONDS)  # its workers'
    _age(version, options.workers)


def _no_op_version():
    organisation = Organisation.objects.create(name="Bench")
    plugin = plugin_create(
        organisation=organisation,
        plugin_type=PluginType.AUDIENCE_SEGMENT_EXTERNAL_FEED,
        group_id="bench",
        artifact_id="feed-no-op",
    )
    version = plugin_version_create(
        plugin=plugin, version_id="1.0.0", artifact=ContentFile(NO_OP, name="no_op.py")
    )
    batching_configuration_set(version=version, enable_batching=True, batch_flush_max_size=1000)
    return version


def _feed(version, name: str) -> AudienceSegmentExternalFeed:
    return feed_create(
        organisation=version.plugin.organisation, version=version, segment_id=name, name=name
    )


def _updates(start: int, count: int) -> list[dict]:
    return [
        {"user_identifiers": [{"type": "ID", "value": n}], "operation": "UPSERT"}
        for n in range(start, start + count)
    ]


def _delivered(feeds) -> int:
    return (
        FeedBatch.objects.filter(feed__in=feeds, status=BatchStatus.DELIVERED).aggregate(
            n=Sum("line_count")
        )["n"]
        or 0
    )


def _throughput(version, count: int, feed_count: int, workers: int) -> float:
    feeds = [_feed(version, f"throughput-{time.time()}-{n}") for n in range(feed_count)]
    per_feed = count  # each of its 100 keys fills its batches exactly
    with _workers(workers):
        time.sleep(3)  # the workers are up and idle: the clock starts with the first update
        started = time.perf_counter()
        for start in range(0, per_feed, 10_000):
            for feed in feeds:
                updates_receive(feed=feed, updates=_updates(start, min(10_000, per_feed - start)))
        stored = time.perf_counter() - started
        _wait(lambda: _delivered(feeds) >= per_feed * feed_count)
        elapsed = time.perf_counter() - started
    total = per_feed * feed_count
    print(
        f"throughput, {counted(feed_count, 'feed')}, {workers} workers: {total:,} updates "
        f"stored in {stored:.1f} s ({total / stored:,.0f}/s), all delivered after "
        f"{elapsed:.1f} s = {total / elapsed:,.0f} updates/s from intake to delivered batch"
    )
    return total / elapsed


def _age(version, workers: int, count: int = 200) -> None:
    feed = _feed(version, "age")
    arrived = {}
    with _workers(workers):
        time.sleep(3)
        for n in range(count):
            arrived[str(n)] = time.time()
            updates_receive(feed=feed, updates=_updates(n, 1))
            time.sleep(0.05)
        _wait(lambda: _delivered([feed]) >= count)
    delays = []
    for batch in FeedBatch.objects.filter(feed=feed):
        for line in batch.lines.all():
            delays.append(batch.delivered_at.timestamp() - arrived[str(line.data)])
    median, p95 = median_and_p95(delays)
    print(
        f"age flush ({AGE_SECONDS:g} s interval), {count} updates 50 ms apart: arrival to "
        f"delivery median {median:.2f} s, p95 {p95:.2f} s; beyond the interval median "
        f"{median - AGE_SECONDS:.2f} s, p95 {p95 - AGE_SECONDS:.2f} s"
    )


def _wait(condition, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("benchmark timed out waiting for the workers")
        time.sleep(0.05)
