"""Feeds and their batches in the Django admin: scoped to one's organisations, acted on
only through the services."""

import pytest

from apps.feeds.models import AudienceSegmentExternalFeed, FeedBatch
from tests.feeds.conftest import feed_version, make_feed

pytestmark = pytest.mark.django_db


def test_the_pause_action_pauses_through_the_service_in_ones_own_organisation(client, world):
    mine = make_feed(feed_version(organisation=world.org_a))
    theirs = make_feed(feed_version(organisation=world.org_b))
    client.force_login(world.editor_a)
    listed = client.get("/admin/feeds/audiencesegmentexternalfeed/").text
    assert f"Feed {mine.pk} of" in listed and f"Feed {theirs.pk} of" not in listed
    client.post(
        "/admin/feeds/audiencesegmentexternalfeed/",
        {"action": "pause", "_selected_action": [mine.pk, theirs.pk]},
    )
    assert AudienceSegmentExternalFeed.objects.get(pk=mine.pk).status == "PAUSED"
    assert AudienceSegmentExternalFeed.objects.get(pk=theirs.pk).status == "ACTIVE"
    assert "Delete selected" not in listed


def test_a_failed_batch_is_replayed_from_the_admin(client, world):
    feed = make_feed(feed_version(organisation=world.org_a))
    batch = FeedBatch.objects.create(
        feed=feed,
        grouping_key="EMAIL",
        status="FAILED",
        line_count=0,
        first_line_id=0,
        last_line_id=0,
        flushed_because="size",
        created_at=feed.created_at,
    )
    client.force_login(world.editor_a)
    assert client.get(f"/admin/feeds/feedbatch/{batch.pk}/change/").status_code == 200
    client.post("/admin/feeds/feedbatch/", {"action": "replay", "_selected_action": [batch.pk]})
    batch.refresh_from_db()
    assert batch.status == "PENDING"
    assert batch.status_changes.get().user == world.editor_a
