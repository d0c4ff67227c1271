"""The feed runtime in one worker, with real plugin code in its warm sandboxed process."""

import json
import os
from datetime import timedelta

import pytest

from apps.feeds import handlers, selectors, services, worker
from apps.feeds.models import AudienceSegmentExternalFeed, BatchStatus, SetupStatus
from tests.feeds import plugins
from tests.feeds.conftest import feed_version, make_feed, update
from tests.runner.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_lines_are_grouped_by_exact_key_and_flushed_by_size(receiver):
    feed = make_feed(receiver=receiver.url)
    services.updates_receive(
        feed=feed,
        updates=[
            update(("EMAIL", "a@x"), ("PHONE", "1")),
            update(("EMAIL", "b@x")),
            update(("email", "c@x")),  # another key: grouping keys are exact
            update(("EMAIL", "d@x"), operation="DELETE"),
        ],
    )
    worker.run_feed(feed.pk)
    feed.refresh_from_db()
    assert feed.creation_status == feed.connection_status == SetupStatus.OK
    assert receiver.lines() == ["UPSERT,EMAIL,a@x", "UPSERT,EMAIL,b@x", "DELETE,EMAIL,d@x"]
    batch = feed.batches.get()
    assert batch.status == BatchStatus.DELIVERED and batch.flushed_because == "size"
    assert (batch.send_items_in_success, batch.send_items_in_error) == (3, 0)
    assert receiver.batches[0]["context"]["batch_id"] == str(batch.pk)
    assert [b.size for b in selectors.buffers(feed)] == [1, 1]  # PHONE and email wait


def test_a_small_buffer_is_flushed_once_its_oldest_line_has_waited(receiver, settings):
    feed = make_feed(receiver=receiver.url)
    services.updates_receive(feed=feed, updates=[update(("EMAIL", "a@x"))])
    worker.run_feed(feed.pk)
    assert receiver.batches == []
    feed.refresh_from_db()
    oldest = feed.lines.get().created_at
    assert feed.wake_at == oldest + timedelta(seconds=settings.FEED_FLUSH_INTERVAL_SECONDS)

    settings.FEED_FLUSH_INTERVAL_SECONDS = 0
    worker.run_feed(feed.pk)
    assert receiver.lines() == ["UPSERT,EMAIL,a@x"]
    assert feed.batches.get().flushed_because == "age"


def test_error_fails_the_batch_with_its_message_and_replay_delivers_it(receiver):
    feed = make_feed(receiver=receiver.url)
    receiver.answers.append({"status": "ERROR", "message": "partner said no"})
    services.updates_receive(feed=feed, updates=[update(("EMAIL", f"{n}@x")) for n in range(3)])
    worker.run_feed(feed.pk)
    batch = feed.batches.get()
    assert (batch.status, batch.message) == (BatchStatus.FAILED, "partner said no")
    assert batch.lines.count() == 3  # kept for a replay

    services.batch_replay(batch=batch)
    worker.run_feed(feed.pk)
    batch.refresh_from_db()
    assert batch.status == BatchStatus.DELIVERED and batch.attempts == 1
    assert (
        len(receiver.batches) == 2 and receiver.batches[1]["lines"] == receiver.batches[0]["lines"]
    )
    assert [c.to_status for c in batch.status_changes.all()] == [
        "PENDING",
        "DELIVERING",
        "FAILED",
        "PENDING",
        "DELIVERING",
        "DELIVERED",
    ]


def test_retry_delivers_again_after_the_delay_then_gives_up_at_the_limit(receiver, settings):
    settings.FEED_MAX_ATTEMPTS = 3
    feed = make_feed(receiver=receiver.url)
    receiver.answers.extend([{"status": "RETRY", "message": "busy", "next_msg_delay_in_ms": 0}] * 2)
    services.updates_receive(feed=feed, updates=[update(("EMAIL", f"{n}@x")) for n in range(3)])
    worker.run_feed(feed.pk)
    batch = feed.batches.get()
    assert batch.status == BatchStatus.DELIVERED and batch.attempts == 3
    assert {b["context"]["batch_id"] for b in receiver.batches} == {str(batch.pk)}
    assert [b["context"]["attempt"] for b in receiver.batches] == [1, 2, 3]

    receiver.answers.extend([{"status": "RETRY", "next_msg_delay_in_ms": 0}] * 3)
    services.updates_receive(feed=feed, updates=[update(("EMAIL", f"{n}@y")) for n in range(3)])
    worker.run_feed(feed.pk)
    given_up = feed.batches.exclude(pk=batch.pk).get()
    assert given_up.status == BatchStatus.FAILED and "Gave up after 3 attempts" in (
        given_up.status_changes.last().reason
    )


def test_a_paused_feed_buffers_and_delivers_nothing_until_resumed(receiver):
    feed = make_feed(receiver=receiver.url)
    services.feed_pause(feed=feed)
    services.updates_receive(feed=feed, updates=[update(("EMAIL", f"{n}@x")) for n in range(7)])
    worker.run_feed(feed.pk)
    assert receiver.batches == [] and feed.batches.count() == 0
    assert [b.size for b in selectors.buffers(feed)] == [7]

    services.feed_resume(feed=feed)
    worker.run_feed(feed.pk)
    assert [len(b["lines"]) for b in receiver.batches] == [3, 3]
    assert [b.size for b in selectors.buffers(feed)] == [1]


def test_a_plugin_that_raises_fails_that_update_only(receiver):
    feed = make_feed(receiver=receiver.url)
    services.updates_receive(
        feed=feed,
        updates=[update(("EMAIL", "a@x")), update(("BROKEN", "?")), update(("NONE", "-"))],
    )
    worker.run_feed(feed.pk)
    statuses = list(feed.updates.order_by("id").values_list("status", "message"))
    assert statuses[0] == ("ok", "")
    assert statuses[1] == ("error", "ValueError: cannot read this identifier")
    assert statuses[2] == ("no_eligible_identifier", "")
    assert "Traceback" in feed.log_entries.get(handler="on_user_segment_update").text


@pytest.fixture
def unbatched():
    return make_feed(feed_version(plugins.UNBATCHED, flush_size=None))


def test_unbatched_retry_holds_later_updates_back_so_order_is_kept(unbatched):
    services.updates_receive(
        feed=unbatched, updates=[update(("ID", "retry")), update(("ID", "after"))]
    )
    wait_for(lambda: worker.run_feed(unbatched.pk) and not pending(unbatched), timeout=20)
    log = "".join(unbatched.log_entries.order_by("id").values_list("text", flat=True))
    assert log.index("update 3: retry") < log.index("update 4: after")
    retried = unbatched.updates.order_by("id").first()
    assert (retried.status, retried.attempts) == ("ok", 3)


@pytest.mark.parametrize(
    "value, reason",
    [
        ("fail", "partner refused fail"),
        ("shape", "on_user_segment_update answered list, not an object."),
        ("die", "The plugin process exited with status 3"),
        ("hang", "did not answer within 2 s"),
    ],
)
def test_a_broken_update_fails_with_a_reason_and_the_feed_goes_on(
    unbatched, settings, value, reason
):
    settings.FEED_CALL_TIMEOUT_SECONDS = 2
    services.updates_receive(
        feed=unbatched,
        updates=[update(("ID", "before")), update(("ID", value)), update(("ID", "after"))],
    )
    worker.run_feed(unbatched.pk)
    statuses = list(unbatched.updates.order_by("id").values_list("status", "message"))
    assert statuses[0] == ("ok", "") and statuses[2] == ("ok", "")
    assert statuses[1][0] == "error" and reason in statuses[1][1]


def test_not_ready_is_asked_again_and_a_connection_error_is_shown():
    feed = make_feed(feed_version(plugins.NOT_READY_ONCE, flush_size=None))
    worker.run_feed(feed.pk)
    feed.refresh_from_db()
    assert feed.creation_status == SetupStatus.NOT_READY and feed.setup_retry_at
    assert feed.wake_at == feed.setup_retry_at

    AudienceSegmentExternalFeed.objects.filter(pk=feed.pk).update(setup_retry_at=None)
    worker.run_feed(feed.pk)
    feed.refresh_from_db()
    assert feed.creation_status == SetupStatus.OK
    assert feed.connection_status == SetupStatus.ERROR
    assert feed.setup_message == "on_external_segment_connection: error — bad credentials"


def test_troubleshoot_calls_the_handler_and_keeps_its_answer(receiver):
    feed = make_feed(receiver=receiver.url)
    services.feed_troubleshoot(feed=feed)
    worker.run_feed(feed.pk)
    feed.refresh_from_db()
    assert feed.troubleshoot_answer["status"] == "ok"
    assert feed.troubleshoot_answer["message"] == "receiver reachable"


def test_the_warm_process_serves_many_calls(receiver):
    feed = make_feed(receiver=receiver.url)
    for n in range(3):
        services.updates_receive(feed=feed, updates=[update(("EMAIL", f"{n}@x"))] * 3)
        worker.run_feed(feed.pk)
    pids = {b["context"]["feed_id"] for b in receiver.batches}
    assert len(receiver.batches) == 3 and pids == {feed.pk}
    services.feed_troubleshoot(feed=feed)
    worker.run_feed(feed.pk)
    first_pid = AudienceSegmentExternalFeed.objects.get(pk=feed.pk).troubleshoot_answer["data"]
    services.feed_troubleshoot(feed=feed)
    worker.run_feed(feed.pk)
    assert (
        AudienceSegmentExternalFeed.objects.get(pk=feed.pk).troubleshoot_answer["data"] == first_pid
    )


def pending(feed) -> int:
    return feed.updates.filter(status="pending").count()


def test_text_the_database_cannot_hold_is_stored_replaced(receiver):
    feed = make_feed(receiver=receiver.url)
    services.updates_receive(feed=feed, updates=[update(("NUL", "x")), update(("EMAIL", "a@x"))])
    worker.run_feed(feed.pk)
    assert sorted(feed.lines.values_list("grouping_key", "data")) == [
        ("EMAIL", "UPSERT,EMAIL,a@x"),
        ("NUL", "a\ufffdb"),
    ]


def test_a_worker_keeps_a_bounded_number_of_warm_processes(receiver, settings):
    settings.FEED_MAX_WARM_PROCESSES = 2
    feeds = [make_feed(feed_version(artifact_id=f"f{n}"), receiver=receiver.url) for n in range(3)]
    for feed in feeds:
        services.feed_troubleshoot(feed=feed)
        worker.run_feed(feed.pk)
    assert sorted(handlers._warm) == [feeds[1].pk, feeds[2].pk]  # the first, least recent, went
    assert all(process.alive for process, _ in handlers._warm.values())


SNOOPS = b"""
import json, os
from pathlib import Path
from batchworks_sdk import AudienceFeedPlugin


class Snoops(AudienceFeedPlugin):
    def on_user_segment_update(self, request):
        return {"status": "ok"}

    def on_troubleshoot(self, request):
        found = {"environment": sorted(os.environ)}
        for name, path in json.loads(self.context.properties.get("paths")).items():
            try:
                Path(path).read_bytes()
                found[name] = "read"
            except OSError as error:
                found[name] = type(error).__name__
        return {"status": "ok", "data": found}
"""


def test_a_feeds_plugin_process_is_confined_as_an_executions_is(settings):
    from django.core.files.base import ContentFile

    from apps.plugins.services import plugin_version_create
    from apps.runner import isolation
    from tests.factories import PluginFactory

    if not isolation.probe().confines_files:
        pytest.skip("this kernel has no Landlock")
    secret = settings.MEDIA_ROOT / "someone-elses-upload.csv"
    secret.write_text("email\nana@example.com\n")
    version = plugin_version_create(
        plugin=PluginFactory(plugin_type="AUDIENCE_SEGMENT_EXTERNAL_FEED"),
        version_id="1.0.0",
        artifact=ContentFile(SNOOPS, name="snoops.py"),
        properties=[{"technical_name": "paths", "property_type": "STRING", "value": {"value": ""}}],
    )
    paths = {"upload": str(secret), "environ": f"/proc/{os.getpid()}/environ"}
    feed = services.feed_create(
        organisation=version.plugin.organisation,
        version=version,
        segment_id="s",
        properties={"paths": {"value": json.dumps(paths)}},
    )
    services.feed_troubleshoot(feed=feed)
    worker.run_feed(feed.pk)
    found = AudienceSegmentExternalFeed.objects.get(pk=feed.pk).troubleshoot_answer["data"]
    assert found["upload"] == "PermissionError" and found["environ"] == "PermissionError"
    assert not {"DATABASE_URL", "SECRET_KEY", "REDIS_URL"} & set(found["environment"])
