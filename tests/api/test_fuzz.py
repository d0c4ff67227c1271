"""Schemathesis sends generated requests to every operation of the OpenAPI schema: no
answer may be a 5xx, and every answer must match what the schema says."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from apps.accounts.services import api_token_create
from tests.api.conftest import content_of

# Loaded when the module is collected (generating the schema needs no database).
# schemathesis.pytest.from_fixture would defer it, but relies on a pytest internal
# (`Node._nodeid`) that pytest 9 removed.
schema = schemathesis.openapi.from_wsgi("/v1/schema", get_wsgi_application())


@pytest.fixture
def connection_kept_across_requests():
    """Django's test client keeps the test's database connection open across requests
    (the test runs in a transaction on it); the WSGI calls made here must too."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,  # the same requests on every run: CI stays reproducible
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_no_request_breaks_the_api(case, world, connection_kept_across_requests):
    if not hasattr(world, "token"):
        content_of(world.org_a, world.admin_a)
        world.token = api_token_create(organisation=world.org_a, user=world.admin_a, name="fuzz")[1]
    # Business rules no schema states (a plugin's coordinates are unique; an instance names
    # a version one of several ways) refuse some schema-valid requests, rightly.
    case.call_and_validate(
        headers={"Authorization": world.token}, excluded_checks=[positive_data_acceptance]
    )
