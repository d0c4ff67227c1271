"""Alerts as people receive them: e-mails over SMTP and signed webhooks over HTTP, sent
by a worker process to receivers these tests start."""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.alerts import delivery, services
from apps.alerts.models import Alert, AlertKind, DeliveryStatus
from apps.runner.services import (
    execution_claim,
    execution_create_manual,
    execution_fail,
    execution_succeed,
)
from apps.scheduling.models import Execution, ExecutionStatus
from tests.api.conftest import client_with_token
from tests.factories import PluginFactory, make_instance, make_version
from tests.processes import manage
from tests.receivers import http_receiver, smtp_server

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def inbox():
    with smtp_server() as server:
        yield server


def work(**env) -> None:
    """A worker sends what is queued, then exits."""
    done = manage("run_worker", "--burst", **env)
    assert done.returncode == 0, done.stdout + done.stderr


def fail(instance, message="sftp refused the connection"):
    execution = execution_claim(execution=execution_create_manual(instance=instance))
    return execution_fail(execution=execution, message=message)


def succeed(instance):
    execution = execution_claim(execution=execution_create_manual(instance=instance))
    return execution_succeed(execution=execution)


def email_channel(organisation, **fields):
    channel, _ = services.channel_create(
        organisation=organisation,
        name="On call",
        kind="EMAIL",
        recipients="oncall@example.com, lead@example.com",
        **fields,
    )
    return channel


def test_a_failure_streak_mails_once_and_its_recovery_closes_it(inbox):
    instance = make_instance()
    services.rule_create(
        organisation=instance.organisation, channel=email_channel(instance.organisation)
    )  # the organisation's default: the instance has no rule of its own
    first = fail(instance)
    fail(instance)
    fail(instance, message="still refused")
    work(BATCHWORKS_EMAIL_URL=inbox.url)

    (message,) = inbox.messages
    assert message["Subject"] == "[Batchworks] Nightly import failed"
    assert message["To"] == "oncall@example.com, lead@example.com"
    body = message.get_content()
    assert f"Execution {first.pk} failed: sftp refused the connection" in body
    assert f"/executions/{first.pk}/" in body
    streak = Alert.objects.get(kind=AlertKind.FAILURE)
    assert (streak.failures, streak.closed_at, streak.status) == (3, None, DeliveryStatus.SENT)

    inbox.arrived.clear()
    success = succeed(instance)
    work(BATCHWORKS_EMAIL_URL=inbox.url)
    assert inbox.arrived.wait(30)
    recovery = inbox.messages[1]
    assert recovery["Subject"] == "[Batchworks] Nightly import recovered"
    assert f"Execution {success.pk} succeeded after 3 failed runs" in recovery.get_content()
    streak.refresh_from_db()
    assert streak.closed_at is not None

    fail(instance)  # a new streak, a new alert
    assert Alert.objects.filter(kind=AlertKind.FAILURE).count() == 2


def test_an_instances_own_rules_replace_the_default(inbox):
    instance = make_instance()
    other = make_instance(version=instance.version, name="Weekly export")
    organisation = instance.organisation
    default = email_channel(organisation)
    own, _ = services.channel_create(
        organisation=organisation, name="Team", kind="EMAIL", recipients="team@example.com"
    )
    services.rule_create(organisation=organisation, channel=default)
    services.rule_create(
        organisation=organisation, instance=instance, channel=own, on_recovery=False
    )
    fail(instance)
    fail(other)
    work(BATCHWORKS_EMAIL_URL=inbox.url)
    sent = sorted((m["To"], m["Subject"]) for m in inbox.messages)
    assert sent == [
        ("oncall@example.com, lead@example.com", "[Batchworks] Weekly export failed"),
        ("team@example.com", "[Batchworks] Nightly import failed"),
    ]
    succeed(instance)  # its rule does not alert on recovery
    assert not Alert.objects.filter(kind=AlertKind.RECOVERY).exists()


def test_the_breaker_alerts_that_it_paused_the_instance(inbox):
    instance = make_instance(cron="0 2 * * *", cron_status="ACTIVE", pause_after_failures=2)
    services.rule_create(
        organisation=instance.organisation, channel=email_channel(instance.organisation)
    )
    fail(instance)
    fail(instance)
    work(BATCHWORKS_EMAIL_URL=inbox.url)
    subjects = sorted(message["Subject"] for message in inbox.messages)
    assert subjects == [
        "[Batchworks] Nightly import failed",
        "[Batchworks] Nightly import was paused",
    ]
    paused = next(m for m in inbox.messages if m["Subject"].endswith("paused"))
    assert "Paused after 2 consecutive failures." in paused.get_content()


def webhook_channel(organisation, url, **fields):
    return services.channel_create(
        organisation=organisation, name="Hook", kind="WEBHOOK", url=url, **fields
    )


def test_a_webhook_is_signed_with_the_channels_secret_and_slack_gets_text(world):
    api = client_with_token(world.admin_a, world.org_a)
    with http_receiver() as receiver:
        made = api.post(
            "/v1/alert_channels",
            {"name": "Hook", "kind": "WEBHOOK", "url": receiver.url},
            format="json",
        )
        assert made.status_code == 201, made.json()
        channel = made.json()["data"]
        secret = channel["signing_secret"]
        assert api.get(f"/v1/alert_channels/{channel['id']}").json()["data"]["signing_secret"] == {
            "set": True
        }
        tested = api.post(f"/v1/alert_channels/{channel['id']}/test")
        assert tested.status_code == 202 and tested.json()["data"]["kind"] == "TEST"
        work()
        (request,) = receiver.requests

    timestamp = request.headers["X-Batchworks-Timestamp"]
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    assert request.headers["X-Batchworks-Signature"] == f"sha256={expected}"
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    assert body["alert"]["kind"] == "TEST"
    assert body["alert"]["subject"] == "[Batchworks] Test alert for channel 'Hook'"
    alert = api.get(f"/v1/alerts/{tested.json()['data']['id']}").json()["data"]
    assert alert["delivery_status"] == "SENT"
    assert [attempt["http_status"] for attempt in alert["attempts"]] == [200]

    instance = make_instance(version=make_version(plugin=PluginFactory(organisation=world.org_a)))
    services.rule_create(organisation=world.org_a, instance=instance, channel_id=int(channel["id"]))
    with http_receiver() as receiver:
        changed = api.put(
            f"/v1/alert_channels/{channel['id']}",
            {"body_format": "SLACK", "url": receiver.url},
            format="json",
        )
        assert changed.status_code == 200, changed.json()
        failed = fail(instance)
        work()
        (request,) = receiver.requests
    text = json.loads(request.body)["text"]
    assert text.startswith("*[Batchworks] Nightly import failed*\n")
    assert f"Execution {failed.pk} failed: sftp refused the connection" in text


def test_a_failing_webhook_is_tried_again_and_every_attempt_is_kept(settings):
    instance = make_instance()
    with http_receiver(500, 503) as receiver:
        channel, _ = webhook_channel(instance.organisation, receiver.url)
        alert = services.channel_test(channel=channel)
        for _ in range(3):  # what the worker does at each attempt
            delivery.deliver(alert.pk)
    alert.refresh_from_db()
    assert alert.status == DeliveryStatus.SENT and alert.attempts == 3
    attempts = list(alert.delivery_attempts.values_list("http_status", "error"))
    assert attempts == [
        (500, "HTTP 500 Internal Server Error"),
        (503, "HTTP 503 Service Unavailable"),
        (200, ""),
    ]
    assert len(receiver.requests) == 3


def test_a_dead_channel_gives_up_after_its_attempts_and_never_holds_a_run(settings):
    settings.ALERT_DELIVERY_ATTEMPTS = 2
    instance = make_instance()
    with http_receiver() as receiver:
        url = receiver.url  # nothing listens there once the receiver stops
    channel, _ = webhook_channel(instance.organisation, url)
    services.rule_create(organisation=instance.organisation, channel=channel)
    failed = fail(instance)
    failed.refresh_from_db()
    assert failed.status == ExecutionStatus.FAILED  # ended before anything was sent
    alert = Alert.objects.get(execution=failed)
    delivery.deliver(alert.pk)
    alert.refresh_from_db()
    assert alert.status == DeliveryStatus.PENDING
    assert alert.next_attempt_at > timezone.now()  # after a back-off
    delivery.deliver(alert.pk)
    alert.refresh_from_db()
    assert (alert.status, alert.attempts, alert.next_attempt_at) == (
        DeliveryStatus.FAILED,
        2,
        None,
    )
    assert "Connection refused" in alert.delivery_attempts.first().error


def test_late_and_long_runs_are_alerted_once_each():
    instance = make_instance()
    channel = email_channel(instance.organisation)
    late_rule = services.rule_create(
        organisation=instance.organisation,
        channel=channel,
        on_failure=False,
        on_recovery=False,
        not_started_minutes=5,
        running_longer_than_minutes=30,
    )
    waiting = execution_create_manual(instance=instance)
    running = execution_claim(execution=execution_create_manual(instance=instance))
    now = timezone.now()
    assert services.runs_watch(now=now) == 0
    later = now + timedelta(minutes=31)
    assert services.runs_watch(now=later) == 2
    assert services.runs_watch(now=later) == 0  # once per run
    kinds = dict(Alert.objects.values_list("execution_id", "kind"))
    assert kinds == {waiting.pk: AlertKind.NOT_STARTED, running.pk: AlertKind.RUNNING_LONG}
    late = Alert.objects.get(kind=AlertKind.NOT_STARTED)
    assert late.rule == late_rule
    assert "is still PENDING 5 minutes later" in late.message


def test_a_run_is_long_against_its_instances_recent_p95():
    instance = make_instance()
    services.rule_create(
        organisation=instance.organisation,
        instance=instance,
        channel=email_channel(instance.organisation),
        on_failure=False,
        running_longer_than_p95=2,
    )
    now = timezone.now()
    for minutes in (9, 10, 10, 11, 12):  # p95: 12 minutes
        done = execution_succeed(
            execution=execution_claim(execution=execution_create_manual(instance=instance))
        )
        Execution.objects.filter(pk=done.pk).update(
            start_date=now - timedelta(minutes=minutes), end_date=now
        )
    running = execution_claim(execution=execution_create_manual(instance=instance))
    Execution.objects.filter(pk=running.pk).update(start_date=now - timedelta(minutes=20))
    assert services.runs_watch(now=now) == 0  # 20 min < 2 x 12 min
    assert services.runs_watch(now=now + timedelta(minutes=5)) == 1
    (alert,) = Alert.objects.filter(kind=AlertKind.RUNNING_LONG)
    assert "longer than 2 times its recent p95 (12 min 00 s)" in alert.message


def test_a_webhook_to_a_link_local_address_is_refused():
    instance = make_instance()
    channel, _ = webhook_channel(instance.organisation, "http://169.254.169.254/latest/meta-data")
    alert = services.channel_test(channel=channel)
    delivery.deliver(alert.pk)
    attempt = Alert.objects.get(pk=alert.pk).delivery_attempts.get()
    assert attempt.http_status is None
    assert "link-local address" in attempt.error
