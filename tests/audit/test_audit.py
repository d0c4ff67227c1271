"""The audit trail: each change an operator cares about says who made it, when, what
changed and from which surface; admins read it, nobody edits it."""

import io
import json

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.audit.models import AuditEvent
from apps.runner.services import execution_claim, execution_create_manual, execution_fail
from tests.api.conftest import client_with_token
from tests.factories import PluginFactory, make_instance, make_version

pytestmark = pytest.mark.django_db

PASSWORD = "s3cr3t-partner-p4ss"
PROPERTIES = [
    {"technical_name": "sftp_password", "property_type": "SECRET", "value": {"value": ""}},
    {"technical_name": "host", "property_type": "STRING", "value": {"value": "sftp.example"}},
]


@pytest.fixture
def instance(world):
    version = make_version(plugin=PluginFactory(organisation=world.org_a), properties=PROPERTIES)
    return make_instance(version=version, cron="0 2 * * *", cron_status="ACTIVE")


def last(action: str) -> AuditEvent:
    return AuditEvent.objects.filter(action=action).latest("created_at", "id")


def test_an_api_change_records_the_token_its_fields_and_only_that_a_secret_was_set(world, instance):
    api = client_with_token(world.editor_a, world.org_a)
    answer = api.put(
        f"/v1/integration_batch_instances/{instance.pk}",
        {
            "cron": "30 3 * * *",
            "ram_size": "LARGE",
            "properties": [
                {"technical_name": "sftp_password", "value": {"value": PASSWORD}},
                {"technical_name": "host", "value": {"value": "sftp.b"}},
            ],
        },
        format="json",
    )
    assert answer.status_code == 200, answer.json()
    event = last("instance.updated")
    assert event.actor == world.editor_a and event.surface == "API"
    assert event.actor_name == f"{world.editor_a.username} (token tests)"
    assert event.target_name == "Nightly import" and event.target_id == str(instance.pk)
    assert event.changes["cron"] == ["0 2 * * *", "30 3 * * *"]
    assert event.changes["ram_size"] == ["LOW", "LARGE"]
    assert event.changes["properties.host"] == [None, {"value": "sftp.b"}]
    assert event.changes["properties.sftp_password"] == [None, "(secret set)"]
    assert PASSWORD not in json.dumps(list(AuditEvent.objects.values()), default=str)

    api.put(
        f"/v1/integration_batch_instances/{instance.pk}",
        {"properties": [{"technical_name": "sftp_password", "value": None}]},
        format="json",
    )
    assert last("instance.updated").changes == {
        "properties.sftp_password": [None, "(secret cleared)"]
    }


def test_the_console_the_admin_and_commands_say_so(client, world, instance):
    client.force_login(world.editor_a)
    client.post(f"/instances/{instance.pk}/pause")
    paused = last("instance.paused")
    assert (paused.surface, paused.actor_name) == ("CONSOLE", world.editor_a.username)

    client.force_login(world.admin_a)
    membership = world.org_a.memberships.get(user=world.reader_a)
    client.post(f"/admin/accounts/membership/{membership.pk}/change/", {"role": "EDITOR"})
    changed = last("member.role_changed")
    assert changed.surface == "ADMIN" and changed.changes == {"role": ["READER", "EDITOR"]}
    assert changed.target_name == world.reader_a.username

    call_command(
        "create_api_token",
        organisation=world.org_a.name,
        user=world.admin_a.username,
        name="deploy",
        stdout=io.StringIO(),
    )
    made = last("token.created")
    assert made.surface == "COMMAND" and made.target_name.startswith("deploy (of ")
    assert made.actor_name.endswith(" (manage.py)")  # the operator's account


def test_the_platforms_own_changes_are_the_systems(world):
    version = make_version(plugin=PluginFactory(organisation=world.org_a))
    instance = make_instance(
        version=version, cron="0 2 * * *", cron_status="ACTIVE", pause_after_failures=1
    )
    execution = execution_claim(execution=execution_create_manual(instance=instance))
    execution_fail(execution=execution, message="refused")
    paused = last("instance.paused")
    assert (paused.surface, paused.actor, paused.actor_name) == ("SYSTEM", None, "system")
    assert paused.changes == {"reason": [None, "Paused after 1 consecutive failure."]}


def test_only_admins_read_the_trail_and_nobody_changes_it(client, world, instance):
    url = f"/v1/organisations/{world.org_a.pk}/audit_events"
    admin = client_with_token(world.admin_a, world.org_a)
    assert admin.get(url).json()["data"][0]["action"] == "token.created"  # the admin's token
    assert client_with_token(world.editor_a, world.org_a).get(url).status_code == 403
    assert client_with_token(world.admin_b, world.org_b).get(url).status_code == 404
    for method in ("post", "put", "delete"):
        assert getattr(admin, method)(url).status_code == 405

    client.force_login(world.superuser)
    event = AuditEvent.objects.first()
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"action": "forged"})
    event.refresh_from_db()
    assert event.action == "token.created"

    client.force_login(world.editor_a)
    assert client.get("/audit/").status_code == 403
    client.force_login(world.admin_a)
    assert "instance.created" in client.get("/audit/").text


def test_filters_narrow_the_trail_and_bad_ones_are_refused(world, instance):
    url = f"/v1/organisations/{world.org_a.pk}/audit_events"
    admin = client_with_token(world.admin_a, world.org_a)
    admin.put(
        f"/v1/integration_batch_instances/{instance.pk}", {"cron_status": "PAUSED"}, format="json"
    )
    actions = [e["action"] for e in admin.get(f"{url}?action=instance.").json()["data"]]
    assert actions == ["instance.paused", "instance.created"]
    mine = admin.get(f"{url}?actor={world.admin_a.username}&surface=API").json()["data"]
    assert [e["action"] for e in mine] == ["instance.paused"]
    inverted = admin.get(f"{url}?from_date=1800000000000&to_date=1700000000000")
    assert inverted.status_code == 400 and "to_date" in inverted.json()["fields"]


def test_the_trail_runs_the_same_queries_for_few_or_many_events(client, world, instance):
    client.force_login(world.admin_a)
    api = client_with_token(world.admin_a, world.org_a)
    url = f"/v1/organisations/{world.org_a.pk}/audit_events"

    def queries(path):
        with CaptureQueriesContext(connection) as captured:
            assert (api if path == url else client).get(path).status_code == 200
        return len(captured)

    queries(url)  # the token's first use is recorded
    few = queries(url), queries("/audit/")
    for name in range(30):
        make_instance(version=instance.version, name=f"i{name}")
    assert (queries(url), queries("/audit/")) == few


def test_datasets_and_feeds_are_in_the_trail_without_property_values(world):
    from apps.feeds.services import feed_create, feed_update
    from apps.ingestion.services import dataset_create, dataset_update
    from apps.plugins.models import PluginType

    dataset = dataset_create(
        organisation=world.org_a, name="People", schema=[{"name": "id", "type": "Long"}]
    )
    dataset_update(dataset=dataset, description="Who came")
    assert last("dataset.changed").changes == {"description": ["", "Who came"]}
    plugin = PluginFactory(
        organisation=world.org_a, plugin_type=PluginType.AUDIENCE_SEGMENT_EXTERNAL_FEED
    )
    feed = feed_create(
        organisation=world.org_a, version=make_version(plugin=plugin), segment_id="vip"
    )
    feed_update(feed=feed, user=world.editor_a, status="PAUSED")
    paused = last("feed.paused")
    assert paused.actor == world.editor_a and paused.target_id == str(feed.pk)
