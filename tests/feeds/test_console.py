"""The console's feeds: the list, the form, and a feed's page with its actions."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.feeds import services, worker
from apps.feeds.models import AudienceSegmentExternalFeed, BatchStatus
from tests.feeds.conftest import feed_version, make_feed, update

pytestmark = pytest.mark.django_db


def test_a_feed_is_created_from_the_form_and_its_page_follows_its_setup(client, world):
    version = feed_version(organisation=world.org_a)
    client.force_login(world.editor_a)
    response = client.post(
        "/feeds/new",
        {
            "version": version.pk,
            "segment_id": "vip",
            "name": "VIP",
            "properties": json.dumps({"receiver": {"url": "https://partner.example/in"}}),
            "ram_size": "LOW",
            "status": "ACTIVE",
        },
    )
    feed = AudienceSegmentExternalFeed.objects.get()
    assert response.url == f"/feeds/{feed.pk}/"
    assert feed.properties == {"receiver": {"url": "https://partner.example/in"}}
    page = client.get(response.url).text
    assert "Pause deliveries" in page and "Troubleshoot" in page
    assert f'hx-get="/feeds/{feed.pk}/"' in page  # it follows the set-up while pending
    assert "Lines per batch at most" in page


def test_a_refused_feed_shows_why_on_its_field_and_creates_nothing(client, world):
    version = feed_version(organisation=world.org_a)
    client.force_login(world.editor_a)
    response = client.post(
        "/feeds/new",
        {
            "version": version.pk,
            "segment_id": "vip",
            "properties": json.dumps({"receiver": {"url": "gopher://x"}}),
            "ram_size": "LOW",
            "status": "ACTIVE",
        },
    )
    assert response.status_code == 200
    assert "http or https URL" in response.text
    assert not AudienceSegmentExternalFeed.objects.exists()


def test_pause_resume_and_the_batching_tab_go_through_the_services(client, world):
    feed = make_feed(feed_version(organisation=world.org_a))
    client.force_login(world.editor_a)
    client.post(f"/feeds/{feed.pk}/pause")
    assert AudienceSegmentExternalFeed.objects.get(pk=feed.pk).status == "PAUSED"
    assert "Resume deliveries" in client.get(f"/feeds/{feed.pk}/").text
    again = client.post(f"/feeds/{feed.pk}/pause", follow=True)
    assert "This feed is PAUSED; only an ACTIVE feed can be paused." in again.text
    client.post(f"/feeds/{feed.pk}/resume")
    assert AudienceSegmentExternalFeed.objects.get(pk=feed.pk).status == "ACTIVE"

    client.post(f"/feeds/{feed.pk}/batching", {"enable_batching": "on", "batch_flush_max_size": 50})
    feed.version.batching_configuration.refresh_from_db()
    assert feed.version.batching_configuration.batch_flush_max_size == 50
    response = client.post(f"/feeds/{feed.pk}/batching", {"batch_flush_max_size": 0}, follow=True)
    assert "batch_flush_max_size" in response.text
    feed.version.batching_configuration.refresh_from_db()
    assert feed.version.batching_configuration.batch_flush_max_size == 50


def test_readers_see_feeds_but_no_actions_and_other_organisations_feeds_are_404(client, world):
    mine = make_feed(feed_version(organisation=world.org_a))
    theirs = make_feed(feed_version(organisation=world.org_b))
    client.force_login(world.reader_a)
    page = client.get(f"/feeds/{mine.pk}/").text
    assert "Pause deliveries" not in page and "Save batching" not in page
    assert client.post(f"/feeds/{mine.pk}/pause").status_code == 403
    assert client.get(f"/feeds/{theirs.pk}/").status_code == 404
    assert "New feed" not in client.get("/feeds/").text


@pytest.mark.django_db(transaction=True)
def test_a_feeds_page_shows_buffers_batches_and_replays_a_failed_one(client, world, receiver):
    feed = make_feed(feed_version(organisation=world.org_a), receiver=receiver.url)
    receiver.answers.append({"status": "ERROR", "message": "partner refused the batch"})
    services.updates_receive(
        feed=feed, updates=[update(("EMAIL", f"{n}@x")) for n in range(4)] + [update(("ID", "1"))]
    )
    worker.run_feed(feed.pk)
    client.force_login(world.editor_a)
    page = client.get(f"/feeds/{feed.pk}/").text
    assert "partner refused the batch" in page and "Replay" in page
    assert "in: 5" in page and "delivered: 0" in page  # the chart's totals of the last hour
    assert '<td class="mono">EMAIL</td><td>1</td>' in page.replace("\n", "")  # one waits
    batch = feed.batches.get()
    client.post(f"/feeds/{feed.pk}/batches/{batch.pk}/replay")
    batch.refresh_from_db()
    assert batch.status == BatchStatus.PENDING
    receiver.answers.clear()
    worker.run_feed(feed.pk)
    assert "delivered: 3" in client.get(f"/feeds/{feed.pk}/").text
    activity = client.get(
        f"/feeds/{feed.pk}/", headers={"HX-Request": "true", "HX-Target": "feed-activity"}
    )
    assert activity.text.lstrip().startswith('<div id="feed-activity"')


def test_the_feed_list_and_page_cost_the_same_queries_for_many_batches(client, world):
    feed = make_feed(feed_version(organisation=world.org_a))
    client.force_login(world.editor_a)

    def queries(url):
        client.get(url)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    few = queries(f"/feeds/{feed.pk}/"), queries("/feeds/")
    from apps.feeds.models import FeedBatch

    FeedBatch.objects.bulk_create(
        FeedBatch(
            feed=feed,
            grouping_key=f"k{n}",
            line_count=1,
            first_line_id=n,
            last_line_id=n,
            flushed_because="size",
            created_at=feed.created_at,
            status="DELIVERED",
        )
        for n in range(80)
    )
    for n in range(10):
        make_feed(feed_version(organisation=world.org_a, artifact_id=f"f{n}"))
    assert (queries(f"/feeds/{feed.pk}/"), queries("/feeds/")) == few
