"""Alerts, the audit trail and the settings in the console, in a real browser, with a
real worker and a real HTTP receiver."""

import hashlib
import hmac
import re

import pytest
from playwright.sync_api import expect

from apps.alerts.models import Alert, DeliveryStatus
from tests.browser.conftest import go_to, log_in, screenshot
from tests.processes import running
from tests.receivers import http_receiver
from tests.runner.conftest import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_an_admin_adds_a_webhook_tests_it_and_finds_it_in_the_audit_trail(page, world):
    with http_receiver() as receiver, running("run_worker"):
        log_in(page, world.admin_a.username)
        go_to(page, "Alerts")
        page.get_by_text("Add a channel").click()
        page.get_by_label("Name").fill("Partner hook")
        page.get_by_label("Sends").select_option("WEBHOOK")
        page.get_by_label("Webhook URL").fill(receiver.url)
        page.get_by_role("button", name="Add the channel").click()
        notice = page.get_by_role("status").filter(has_text="Signing secret of Partner hook")
        secret = re.search(r": (\S+) — copy it now", notice.inner_text())[1]
        screenshot(page, "alerts")

        page.locator("tr", has_text="Partner hook").get_by_role(
            "button", name="Send a test"
        ).click()
        expect(page.get_by_role("status").filter(has_text="is on its way")).to_be_visible()
        assert receiver.arrived.wait(60), "the worker sent nothing"
        # The request arrives before the worker has the answer and records it.
        sent = Alert.objects.filter(channel__name="Partner hook", status=DeliveryStatus.SENT)
        wait_for(sent.exists, timeout=30, message="the delivery recorded")
        page.reload()
        expect(page.locator("#results tr", has_text="Test alert").locator(".status")).to_have_text(
            "SENT"
        )
        screenshot(page, "alerts-sent")

    (request,) = receiver.requests
    timestamp = request.headers["X-Batchworks-Timestamp"]
    signed = hmac.new(secret.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256)
    assert request.headers["X-Batchworks-Signature"] == "sha256=" + signed.hexdigest()

    go_to(page, "Audit")
    expect(page.locator("#results")).to_contain_text("alert_channel.created")
    expect(page.locator("#results")).to_contain_text("alert_channel.tested")
    page.get_by_label("Action").fill("alert_channel.tested")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#results tbody tr")).to_have_count(1)
    screenshot(page, "audit")

    go_to(page, "Settings")
    page.get_by_label("Keep logs (days)").fill("0")
    page.get_by_role("button", name="Save retention").click()
    expect(page.locator(".error-text")).to_contain_text("greater than or equal to 1")
    page.get_by_label("Keep logs (days)").fill("30")
    page.get_by_role("button", name="Save retention").click()
    expect(page.get_by_role("status").filter(has_text="Retention saved")).to_be_visible()
    screenshot(page, "settings")
    go_to(page, "Dashboard")
    expect(page.get_by_role("region", name="Clean-up")).to_contain_text("logs 30 days")
