"""Channels and rules through the API: bad input is refused by field and changes nothing;
roles and organisations hold."""

import pytest

from apps.alerts import services
from apps.alerts.models import AlertChannel, AlertRule
from tests.api.conftest import client_with_token
from tests.factories import PluginFactory, make_instance, make_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_api(world):
    return client_with_token(world.admin_a, world.org_a)


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"kind": "EMAIL", "recipients": ["not-an-address"]}, "recipients", "not an e-mail"),
        ({"kind": "EMAIL", "recipients": []}, "recipients", "needs an address"),
        ({"kind": "WEBHOOK", "url": "ftp://example.com/x"}, "url", "http:// or https://"),
        ({"kind": "WEBHOOK", "url": "javascript:alert(1)"}, "url", "http:// or https://"),
        ({"kind": "WEBHOOK"}, "url", "needs a URL"),
        ({"kind": "SMS", "url": "https://example.com"}, "kind", "not a valid choice"),
    ],
)
def test_a_bad_channel_is_refused_by_field(admin_api, body, field, reason):
    answer = admin_api.post("/v1/alert_channels", {"name": "Bad", **body}, format="json")
    assert answer.status_code == 400, answer.json()
    assert reason in " ".join(answer.json()["fields"][field])
    assert not AlertChannel.objects.exists()


def test_a_channel_name_is_unique_in_its_organisation(admin_api):
    body = {"name": "Ops", "kind": "EMAIL", "recipients": ["ops@example.com"]}
    assert admin_api.post("/v1/alert_channels", body, format="json").status_code == 201
    again = admin_api.post("/v1/alert_channels", body, format="json")
    assert again.status_code in (400, 409) and AlertChannel.objects.count() == 1


def test_renewing_the_signing_secret_shows_the_new_one_once(admin_api, world):
    channel, first = services.channel_create(
        organisation=world.org_a, name="Hook", kind="WEBHOOK", url="https://example.com/h"
    )
    renewed = admin_api.put(
        f"/v1/alert_channels/{channel.pk}", {"renew_signing_secret": True}, format="json"
    )
    secret = renewed.json()["data"]["signing_secret"]
    assert isinstance(secret, str) and secret != first
    assert first not in AlertChannel.objects.get().signing_secret  # encrypted at rest
    shown = admin_api.get(f"/v1/alert_channels/{channel.pk}").json()["data"]
    assert shown["signing_secret"] == {"set": True}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"not_started_minutes": 0}, "not_started_minutes"),
        ({"running_longer_than_minutes": -5}, "running_longer_than_minutes"),
        ({"running_longer_than_p95": 0.5}, "running_longer_than_p95"),
        (
            {"running_longer_than_minutes": 10, "running_longer_than_p95": 2},
            "running_longer_than_p95",
        ),
        ({"on_failure": False, "on_recovery": False}, "request"),
    ],
)
def test_a_bad_rule_is_refused_by_field(admin_api, world, body, field):
    channel, _ = services.channel_create(
        organisation=world.org_a, name="Ops", kind="EMAIL", recipients="ops@example.com"
    )
    answer = admin_api.post(
        "/v1/alert_rules", {"channel_id": str(channel.pk), **body}, format="json"
    )
    assert answer.status_code == 400, answer.json()
    assert field in answer.json()["fields"], answer.json()
    assert not AlertRule.objects.exists()


def test_a_rule_cannot_send_to_another_organisations_channel(admin_api, world):
    theirs, _ = services.channel_create(
        organisation=world.org_b, name="Theirs", kind="EMAIL", recipients="b@example.com"
    )
    instance = make_instance(version=make_version(plugin=PluginFactory(organisation=world.org_a)))
    answer = admin_api.post(
        "/v1/alert_rules",
        {"instance_id": str(instance.pk), "channel_id": str(theirs.pk)},
        format="json",
    )
    assert answer.status_code == 404 and "channel_id" in answer.json()["fields"]
    assert not AlertRule.objects.exists()


def test_editors_set_rules_but_only_admins_set_channels(world):
    editor = client_with_token(world.editor_a, world.org_a)
    refused = editor.post(
        "/v1/alert_channels",
        {"name": "Mine", "kind": "EMAIL", "recipients": ["me@example.com"]},
        format="json",
    )
    assert refused.status_code == 403 and not AlertChannel.objects.exists()
    channel, _ = services.channel_create(
        organisation=world.org_a, name="Ops", kind="EMAIL", recipients="ops@example.com"
    )
    made = editor.post(
        "/v1/alert_rules", {"channel_id": str(channel.pk), "on_recovery": False}, format="json"
    )
    assert made.status_code == 201, made.json()
    rule = made.json()["data"]
    assert rule["instance_id"] is None and rule["on_failure"] and not rule["on_recovery"]
    listed = editor.get("/v1/alert_rules?default=true").json()
    assert [r["id"] for r in listed["data"]] == [rule["id"]]


def test_a_webhook_url_is_shown_whole_to_admins_only(world, client):
    slack = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    channel, _ = services.channel_create(
        organisation=world.org_a, name="Slack", kind="WEBHOOK", url=slack, body_format="SLACK"
    )
    admin = client_with_token(world.admin_a, world.org_a)
    assert admin.get(f"/v1/alert_channels/{channel.pk}").json()["data"]["url"] == slack
    reader = client_with_token(world.reader_a, world.org_a)
    assert reader.get(f"/v1/alert_channels/{channel.pk}").json()["data"]["url"] == (
        "https://hooks.slack.com/…"
    )
    assert "XXXXSECRET" not in reader.get("/v1/alert_channels").content.decode()
    client.force_login(world.editor_a)
    assert "XXXXSECRET" not in client.get("/alerts/").text
