"""The console's Alerts page and an instance's alert rules, through Django's test client."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.alerts import services
from apps.alerts.models import Alert, AlertChannel, AlertKind, AlertRule
from tests.factories import PluginFactory, make_instance, make_version

pytestmark = pytest.mark.django_db


def as_user(client, user):
    client.force_login(user)
    return client


def channel_of(organisation, name="On call"):
    return services.channel_create(
        organisation=organisation, name=name, kind="EMAIL", recipients="oncall@example.com"
    )[0]


def test_an_admin_adds_a_channel_and_sees_its_secret_once(client, world):
    client = as_user(client, world.admin_a)
    refused = client.post(
        "/alerts/channels/new",
        {"name": "Hook", "kind": "WEBHOOK", "url": "ftp://example.com", "body_format": "JSON"},
    )
    assert refused.status_code == 400
    assert "Enter an http:// or https:// URL." in refused.text
    assert 'value="ftp://example.com"' in refused.text  # what was typed is kept
    assert not AlertChannel.objects.exists()

    made = client.post(
        "/alerts/channels/new",
        {"name": "Hook", "kind": "WEBHOOK", "url": "https://example.com/h", "body_format": "SLACK"},
        follow=True,
    )
    assert "Signing secret of Hook:" in made.text and "not shown again" in made.text
    again = client.get("/alerts/")
    assert "Signing secret" not in again.text and "https://example.com/h" in again.text


def test_send_a_test_queues_an_alert_the_page_lists(client, world):
    channel = channel_of(world.org_a)
    client = as_user(client, world.admin_a)
    answer = client.post(f"/alerts/channels/{channel.pk}/test", follow=True)
    assert "is on its way" in answer.text
    assert Alert.objects.get().kind == AlertKind.TEST
    assert "Test alert for channel" in answer.text and "none yet" in answer.text


def test_readers_see_alerts_but_change_nothing(client, world):
    channel = channel_of(world.org_a)
    client = as_user(client, world.reader_a)
    page = client.get("/alerts/")
    assert page.status_code == 200 and "Send a test" not in page.text
    for url in [
        f"/alerts/channels/{channel.pk}/test",
        f"/alerts/channels/{channel.pk}/delete",
        "/alerts/channels/new",
        "/alerts/rules/new",
    ]:
        assert client.post(url).status_code == 403, url
    assert AlertChannel.objects.count() == 1 and not Alert.objects.exists()


def test_another_organisations_channel_is_not_found(client, world):
    theirs = channel_of(world.org_b, "Theirs")
    client = as_user(client, world.admin_a)
    assert client.post(f"/alerts/channels/{theirs.pk}/delete").status_code == 404
    assert client.post(f"/alerts/channels/{theirs.pk}/test").status_code == 404
    answer = client.post("/alerts/rules/new", {"channel": theirs.pk, "on_failure": "on"})
    assert answer.status_code == 400 and not AlertRule.objects.exists()


def test_an_editor_gives_an_instance_its_own_rule_from_its_page(client, world):
    channel = channel_of(world.org_a)
    services.rule_create(organisation=world.org_a, channel=channel)
    instance = make_instance(version=make_version(plugin=PluginFactory(organisation=world.org_a)))
    client = as_user(client, world.editor_a)
    page = client.get(f"/instances/{instance.pk}/")
    assert "follows the organisation's 1 default rule." in page.text

    refused = client.post(
        "/alerts/rules/new",
        {"instance": instance.pk, "channel": channel.pk, "not_started_minutes": 0},
        follow=True,
    )
    assert "Rule not added" in refused.text and "greater than or equal to 1" in refused.text
    client.post(
        "/alerts/rules/new",
        {"instance": instance.pk, "channel": channel.pk, "not_started_minutes": 15},
    )
    rule = AlertRule.objects.get(instance=instance)
    assert (rule.on_failure, rule.not_started_minutes) == (False, 15)
    page = client.get(f"/instances/{instance.pk}/")
    assert "not started after 15 min" in page.text


def test_the_alerts_page_runs_the_same_queries_for_few_or_many_alerts(client, world):
    client = as_user(client, world.admin_a)
    channel = channel_of(world.org_a)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/alerts/").status_code == 200
        return len(captured)

    services.channel_test(channel=channel)
    few = queries()
    for _ in range(30):
        services.channel_test(channel=channel)
    services.rule_create(organisation=world.org_a, channel=channel_of(world.org_a, "Second"))
    assert queries() == few


def test_the_admin_adds_a_channel_through_the_service_and_refuses_a_bad_address(client, world):
    client = as_user(client, world.admin_a)
    fields = {"organisation": world.org_a.pk, "name": "Ops", "kind": "EMAIL", "url": ""}
    fields["body_format"] = "JSON"
    refused = client.post(
        "/admin/alerts/alertchannel/add/", {**fields, "recipients": "ops@", "_save": "Save"}
    )
    assert refused.status_code == 200 and "&#x27;ops@&#x27; is not an e-mail address" in (
        refused.text
    )
    assert not AlertChannel.objects.exists()
    made = client.post(
        "/admin/alerts/alertchannel/add/",
        {**fields, "recipients": "ops@example.com", "_save": "Save"},
        follow=True,
    )
    assert "The signing secret is" in made.text and "not shown again" in made.text
    assert AlertChannel.objects.get().signing_secret  # made by the service, encrypted


def test_a_failure_alert_counts_its_failed_runs_in_words(client, world):
    channel = channel_of(world.org_a)
    for failures in (1, 3):
        Alert.objects.create(
            organisation=world.org_a,
            channel=channel,
            kind=AlertKind.FAILURE,
            subject=f"Streak of {failures}",
            message="…",
            failures=failures,
        )
    page = as_user(client, world.reader_a).get("/alerts/").text
    assert "1 failure, open" in page and "3 failures, open" in page
