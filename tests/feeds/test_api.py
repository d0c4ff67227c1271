"""/v1/audience_segment_external_feeds: feeds, updates in, buffers and batches out."""

import json

import pytest

from apps.feeds import worker
from apps.feeds.models import AudienceSegmentExternalFeed, FeedBatch, UserSegmentUpdate
from apps.runner.services import execution_create_manual
from apps.runner.supervisor import run
from tests.api.conftest import client_with_token
from tests.factories import PluginFactory, make_instance, make_version
from tests.feeds.conftest import feed_version, make_feed, update
from tests.runner.plugins import plugin

URL = "/v1/audience_segment_external_feeds"


@pytest.fixture
def editor(world):
    return client_with_token(world.editor_a, world.org_a)


@pytest.fixture
def version(world):
    return feed_version(organisation=world.org_a)


def create(client, version, **body):
    return client.post(
        URL,
        {
            "plugin_version_id": str(version.pk),
            "audience_segment_id": "vip-customers",
            "properties": {"receiver": {"url": "https://partner.example/batches"}},
            **body,
        },
        format="json",
    )


@pytest.mark.django_db
def test_a_feed_is_created_with_its_properties_and_shows_its_setup(editor, version):
    answer = create(editor, version, name="VIP to partner")
    assert answer.status_code == 201, answer.json()
    feed = answer.json()["data"]
    assert feed["status"] == "ACTIVE" and feed["name"] == "VIP to partner"
    assert feed["creation_status"] == feed["connection_status"] == "pending"
    assert feed["batching"] == {"enable_batching": True, "batch_flush_max_size": 3}
    properties = editor.get(f"{URL}/{feed['id']}/properties").json()["data"]
    assert properties == [
        {
            "technical_name": "receiver",
            "property_type": "URL",
            "value": {"url": "https://partner.example/batches"},
            "origin": "INSTANCE",
        }
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, field",
    [
        ({"properties": {"nope": {"value": 1}}}, "properties.nope"),
        ({"properties": {"receiver": {"url": "ftp://x"}}}, "properties.receiver"),
        ({"status": "RUNNING"}, "status"),
        ({"audience_segment_id": ""}, "audience_segment_id"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_feed_input_names_the_field_and_creates_nothing(editor, version, body, field):
    answer = create(editor, version, **body)
    assert answer.status_code == 400, answer.json()
    assert field in answer.json()["fields"]
    assert not AudienceSegmentExternalFeed.objects.exists()


@pytest.mark.django_db
def test_only_feed_versions_of_ones_own_organisation_can_be_instantiated(world, editor):
    batch_version = make_version(plugin=PluginFactory(organisation=world.org_a))
    answer = create(editor, batch_version)
    assert answer.status_code == 400, answer.json()
    assert "AUDIENCE_SEGMENT_EXTERNAL_FEED" in answer.json()["fields"]["plugin_version_id"][0]
    other = feed_version(organisation=world.org_b)
    assert create(editor, other).status_code == 404
    assert not AudienceSegmentExternalFeed.objects.exists()


@pytest.mark.django_db
def test_updates_are_stored_one_or_many_and_bad_ones_change_nothing(world, editor, version):
    feed = make_feed(version)
    url = f"{URL}/{feed.pk}/user_segment_updates"
    one = editor.post(url, update(("EMAIL", "a@x")), format="json")
    assert one.status_code == 202 and one.json()["data"] == {"accepted": 1}
    many = editor.post(url, [update(("EMAIL", "b@x")), update(("PHONE", "1"))], format="json")
    assert many.json()["data"] == {"accepted": 2}
    stored = list(feed.updates.order_by("id").values_list("operation", "user_identifiers"))
    assert stored[2] == ("UPSERT", [{"type": "PHONE", "value": "1"}])

    bad = editor.post(
        url,
        [update(("EMAIL", "c@x")), {**update(("EMAIL", "d@x")), "operation": "MERGE"}],
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["fields"] == {"[1].operation": ["UPSERT or DELETE."]}
    assert editor.post(url, [], format="json").status_code == 400
    assert feed.updates.count() == 3


@pytest.mark.django_db
def test_updates_for_another_organisations_feed_or_too_large_a_body_are_refused(
    world, editor, settings
):
    theirs = make_feed(feed_version(organisation=world.org_b))
    url = f"{URL}/{theirs.pk}/user_segment_updates"
    assert editor.post(url, update(("EMAIL", "a@x")), format="json").status_code == 404
    assert editor.get(f"{URL}/{theirs.pk}/batches").status_code == 404

    mine = make_feed(feed_version(organisation=world.org_a))
    settings.FEED_MAX_REQUEST_BYTES = 1000
    big = [update(("EMAIL", f"{n}@example.com")) for n in range(50)]
    answer = editor.post(f"{URL}/{mine.pk}/user_segment_updates", big, format="json")
    assert answer.status_code == 413 and answer.json()["error_code"] == "PAYLOAD_TOO_LARGE"
    settings.FEED_MAX_UPDATES_PER_REQUEST = 10
    answer = editor.post(f"{URL}/{mine.pk}/user_segment_updates", big[:11], format="json")
    assert answer.status_code in (400, 413)
    assert not UserSegmentUpdate.objects.exists()


@pytest.mark.django_db
def test_a_reader_sees_feeds_but_cannot_send_updates(world, version):
    feed = make_feed(version)
    reader = client_with_token(world.reader_a, world.org_a)
    assert reader.get(f"{URL}/{feed.pk}").status_code == 200
    answer = reader.post(f"{URL}/{feed.pk}/user_segment_updates", update(("A", "1")), format="json")
    assert answer.status_code == 403


@pytest.mark.django_db(transaction=True)
def test_pause_batches_and_replay_through_the_api(world, editor, receiver):
    feed = make_feed(feed_version(organisation=world.org_a), receiver=receiver.url)
    assert (
        editor.put(f"{URL}/{feed.pk}", {"status": "PAUSED"}, format="json").json()["data"]["status"]
        == "PAUSED"
    )
    editor.post(
        f"{URL}/{feed.pk}/user_segment_updates",
        [update(("EMAIL", f"{n}@x")) for n in range(4)],
        format="json",
    )
    worker.run_feed(feed.pk)
    buffers = editor.get(f"{URL}/{feed.pk}/buffers").json()["data"]
    assert [(b["grouping_key"], b["size"]) for b in buffers] == [("EMAIL", 4)]

    receiver.answers.append({"status": "ERROR", "message": "quota exceeded"})
    editor.put(f"{URL}/{feed.pk}", {"status": "ACTIVE"}, format="json")
    worker.run_feed(feed.pk)
    failed = editor.get(f"{URL}/{feed.pk}/batches?status=FAILED").json()["data"]
    assert [(b["line_count"], b["message"]) for b in failed] == [(3, "quota exceeded")]

    replayed = editor.post(f"{URL}/{feed.pk}/batches/{failed[0]['id']}/replay")
    assert replayed.json()["data"]["status"] == "PENDING"
    again = editor.post(f"{URL}/{feed.pk}/batches/{failed[0]['id']}/replay")
    assert again.status_code == 409
    worker.run_feed(feed.pk)
    assert FeedBatch.objects.get(pk=failed[0]["id"]).status == "DELIVERED"
    assert editor.get(f"{URL}/{feed.pk}/batches/not-a-uuid").status_code == 404


SENDS_UPDATES = plugin("""
answer = context.feeds.send(context.parameters["feed"], [
    {"user_identifiers": [{"type": "EMAIL", "value": f"{n}@x"}], "operation": "UPSERT"}
    for n in range(5)
])
return answer["data"]
""")


@pytest.mark.django_db(transaction=True)
def test_plugin_code_sends_updates_through_the_sdk(world, live_server, settings):
    settings.BATCHWORKS_API_URL = live_server.url
    feed = make_feed(feed_version(organisation=world.org_a))
    theirs = make_feed(feed_version(organisation=world.org_b))
    instance = make_instance(
        version=make_version(plugin=PluginFactory(organisation=world.org_a), code=SENDS_UPDATES)
    )
    execution = execution_create_manual(instance=instance, parameters={"feed": feed.pk})
    assert run(execution.pk) == "SUCCEEDED"
    execution.refresh_from_db()
    assert execution.result == {"accepted": 5}
    assert feed.updates.count() == 5

    blocked = execution_create_manual(instance=instance, parameters={"feed": theirs.pk})
    run(blocked.pk)
    blocked.refresh_from_db()
    assert blocked.status == "FAILED" and "HTTP 404" in blocked.error["message"]
    assert theirs.updates.count() == 0


@pytest.mark.django_db
def test_the_feed_list_costs_the_same_queries_for_many_feeds(
    world, editor, django_assert_max_num_queries
):
    version = feed_version(organisation=world.org_a)
    make_feed(version)
    editor.get(URL)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        assert editor.get(URL).status_code == 200
    for n in range(20):
        make_feed(feed_version(organisation=world.org_a, artifact_id=f"feed{n}"))
    with CaptureQueriesContext(connection) as many:
        answer = editor.get(URL)
    assert len(answer.json()["data"]) == 21
    assert len(many) == len(one)
    assert json.loads(answer.content)["has_more"] is False
