"""The failure breaker: an instance may pause itself after N failed runs in a row."""

import pytest
from django.utils import timezone

from apps.runner.services import (
    execution_claim,
    execution_create_manual,
    execution_fail,
    execution_succeed,
)
from apps.scheduling.models import Execution, ExecutionStatus, InstanceAction
from apps.scheduling.services import instance_resume
from tests.api.conftest import client_with_token
from tests.factories import PluginFactory, make_instance, make_version

pytestmark = pytest.mark.django_db(transaction=True)


def fail(instance, message="sftp refused the connection"):
    execution = execution_claim(execution=execution_create_manual(instance=instance))
    return execution_fail(execution=execution, message=message)


def succeed(instance):
    execution = execution_claim(execution=execution_create_manual(instance=instance))
    return execution_succeed(execution=execution)


def test_the_nth_failure_in_a_row_pauses_the_instance_and_says_why():
    instance = make_instance(cron="0 2 * * *", cron_status="ACTIVE", pause_after_failures=3)
    coming = instance.executions.get(status=ExecutionStatus.PENDING)
    fail(instance)
    succeed(instance)  # a success starts the count again
    fail(instance)
    fail(instance)
    instance.refresh_from_db()
    assert instance.cron_status == "ACTIVE"

    fail(instance)
    instance.refresh_from_db()
    assert instance.cron_status == "PAUSED"
    assert instance.paused_reason == "Paused after 3 consecutive failures."
    coming.refresh_from_db()
    assert coming.status == ExecutionStatus.CANCELED  # through the one pause service
    event = instance.events.filter(action=InstanceAction.PAUSED).get()
    assert (event.user, event.reason) == (None, "Paused after 3 consecutive failures.")

    instance_resume(instance=instance)
    instance.refresh_from_db()
    assert (instance.cron_status, instance.paused_reason) == ("ACTIVE", "")


def test_a_failure_that_is_retried_counts_once_its_retries_fail_too():
    instance = make_instance(
        cron="0 2 * * *", cron_status="ACTIVE", pause_after_failures=1, max_retries=1
    )
    first = fail(instance)
    instance.refresh_from_db()
    assert instance.cron_status == "ACTIVE"  # it is tried again first
    Execution.objects.filter(pk=first.retry.pk).update(expected_start_date=timezone.now())
    retry = execution_claim(execution=first.retry)
    execution_fail(execution=retry, message="still refused")
    instance.refresh_from_db()
    assert instance.cron_status == "PAUSED"


def test_the_breaker_is_set_and_shown_in_the_api(world):
    version = make_version(plugin=PluginFactory(organisation=world.org_a))
    instance = make_instance(version=version, cron="0 2 * * *", cron_status="ACTIVE")
    api = client_with_token(world.editor_a, world.org_a)
    url = f"/v1/integration_batch_instances/{instance.pk}"
    refused = api.put(url, {"pause_after_failures": 0}, format="json")
    assert refused.status_code == 400 and "pause_after_failures" in refused.json()["fields"]
    answer = api.put(url, {"pause_after_failures": 1}, format="json")
    assert answer.status_code == 200, answer.json()
    body = answer.json()["data"]
    assert body["pause_after_failures"] == 1 and body["paused_reason"] == ""
    fail(instance)
    body = api.get(url).json()["data"]
    assert (body["cron_status"], body["paused_reason"]) == (
        "PAUSED",
        "Paused after 1 consecutive failure.",
    )
    assert api.put(url, body, format="json").status_code == 200  # a GET's body PUTs back


def test_the_console_sets_the_breaker_and_shows_why_an_instance_was_paused(client, world):
    version = make_version(plugin=PluginFactory(organisation=world.org_a))
    instance = make_instance(
        version=version, cron="0 2 * * *", cron_status="ACTIVE", pause_after_failures=1
    )
    client.force_login(world.editor_a)
    assert (
        "Pause after this many failures in a row"
        in client.get(f"/instances/{instance.pk}/edit").text
    )
    fail(instance)
    page = client.get(f"/instances/{instance.pk}/").text
    assert "Paused after 1 consecutive failure." in page and "Resume" in page
    assert "pauses after 1 failed run in a row" in page
