"""Limits that protect the platform: API calls per caller, batch creations per user, and
failed log-ins, each refused with a 429, Retry-After and the limit in words."""

import pytest
import requests
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.accounts.services import api_token_create
from apps.ingestion.services import dataset_create
from apps.runner.credentials import execution_credential
from apps.runner.services import execution_claim, execution_create_manual
from tests.api.conftest import client_with_token
from tests.factories import PluginFactory, make_instance, make_version
from tests.ingestion.conftest import SCHEMA
from tests.processes import serving


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()  # this test process's own cache (tests/settings.py)
    yield
    cache.clear()


@pytest.mark.django_db
def test_a_token_past_its_rate_gets_429_with_retry_after_and_the_limit(world, settings):
    settings.API_RATE = "3/minute"
    api = client_with_token(world.editor_a, world.org_a)
    assert [api.get("/v1/plugins").status_code for _ in range(3)] == [200, 200, 200]
    refused = api.get("/v1/plugins")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    body = refused.json()
    assert body["error_code"] == "TOO_MANY_REQUESTS"
    assert "at most 3 requests every minute for each caller" in body["error"]
    other = client_with_token(world.editor_a, world.org_a)  # another token: its own count
    assert other.get("/v1/plugins").status_code == 200


@pytest.mark.django_db
def test_batch_creations_have_their_own_limit_and_plugin_code_counts_too(world, settings):
    settings.BATCH_CREATION_RATE = "2/minute"
    dataset = dataset_create(organisation=world.org_a, name="orders", schema=SCHEMA)
    instance = make_instance(version=make_version(plugin=PluginFactory(organisation=world.org_a)))
    execution = execution_claim(execution=execution_create_manual(instance=instance))
    plugin_code = APIClient()
    plugin_code.credentials(HTTP_AUTHORIZATION=f"Execution {execution_credential(execution)}")
    body = {"datasetId": str(dataset.pk)}
    created = [plugin_code.post("/v1/batches", body, format="json").status_code for _ in range(3)]
    assert created == [201, 201, 429]
    assert plugin_code.get("/v1/batches").status_code == 200  # reading is not creating
    refused = plugin_code.post("/v1/batches", body, format="json").json()["error"]
    assert "at most 2 batch creations every minute" in refused


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_every_web_process_counts_together_in_redis(world, settings):
    _, token = api_token_create(organisation=world.org_a, user=world.editor_a, name="shared")
    with serving(
        workers=2,
        BATCHWORKS_TEST_SHARED_CACHE="1",
        REDIS_URL=settings.REDIS_URL,
        BATCHWORKS_API_RATE="5/minute",
    ) as (url, _):
        statuses = [
            requests.get(f"{url}/v1/plugins", headers={"Authorization": token}).status_code
            for _ in range(8)  # a new connection each: the two workers share them out
        ]
    assert statuses == [200] * 5 + [429] * 3


@pytest.mark.django_db
def test_failed_log_ins_lock_that_user_out_from_that_address(client, world, settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    user = world.editor_a
    user.set_password("right-password")
    user.save()
    for _ in range(3):
        client.post("/login", {"username": user.username, "password": "wrong"})
    refused = client.post("/login", {"username": user.username, "password": "right-password"})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) == 15 * 60
    assert "After 3 failed attempts for this user from this address" in refused.text
    reader = world.reader_a
    reader.set_password("reader-password")
    reader.save()
    other = client.post("/login", {"username": reader.username, "password": "reader-password"})
    assert other.status_code == 302  # another user is not locked out
