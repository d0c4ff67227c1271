"""Schemathesis sends generated requests to every operation of the published OpenAPI
schema, alone and in sequences (stateful: create, read, change, delete), with every one of
its checks: no 5xx, schema-valid requests accepted, invalid ones refused, and every answer's
status, content type and body as the schema says. The schema is the truth."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from apps.accounts.services import api_token_create
from tests.api.conftest import content_of

# Loaded when the module is collected (generating the schema needs no database).
# schemathesis.pytest.from_fixture would defer it, but relies on a pytest internal
# (`Node._nodeid`) that pytest 9 removed.
# Rules no JSON Schema can state, each refusing (400) some requests the schema allows; the
# schema's descriptions say them, and every other operation takes what its schema allows.
RULES_NO_SCHEMA_STATES = {
    "POST /v1/datasets": "a schema names each field once",
    "PUT /v1/datasets/{dataset_id}": "a schema names each field once",
    "POST /v1/plugins/{plugin_id}/versions": "a version names each property once",
    "POST /v1/integration_batch_instances": "property values take their declared types",
    "PUT /v1/integration_batch_instances/{instance_id}": (
        "property values take their declared types; a cron_status needs a cron"
    ),
    "POST /v1/integration_batch_instances/{instance_id}/executions": "it starts now or later",
    "PUT /v1/plugins/{plugin_id}/versions/{version_id}/properties/{technical_name}": (
        "a value takes its property's type"
    ),
    "POST /v1/alert_channels": "an EMAIL channel needs addresses, a WEBHOOK one an http(s) URL",
    "PUT /v1/alert_channels/{channel_id}": "an EMAIL channel needs addresses, a WEBHOOK a URL",
    "POST /v1/alert_rules": "a rule alerts on something, with at most one running limit",
    "PUT /v1/alert_rules/{rule_id}": "a rule alerts on something, with one running limit",
    "GET /v1/organisations/{organisation_id}/audit_events": "from_date is not after to_date",
}
ACCEPTED = ["2xx", "401", "403", "404", "409"]
schema = schemathesis.openapi.from_wsgi(
    "/v1/schema",
    get_wsgi_application(),
    config=schemathesis.Config.from_dict(
        {
            # The schema says text never holds NUL (PostgreSQL stores none):
            # test_hostile_input sends it on purpose; here it would only be refused.
            "generation": {"allow-x00": False},
            "operations": [
                {
                    "include-name": name,
                    "checks": {
                        "positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}
                    },
                }
                for name in RULES_NO_SCHEMA_STATES
            ]
            + [
                {
                    # DELETE archives an instance: it and what hangs off it stay readable
                    # (documented), which this check takes for a resource still served.
                    "include-path-regex": r"^/v1/integration_batch_instances/\{instance_id\}",
                    "checks": {"use_after_free": {"enabled": False}},
                }
            ],
        }
    ),
)
FUZZING = settings(
    max_examples=25,
    stateful_step_count=6,
    deadline=None,
    derandomize=True,  # the same requests on every run: CI stays reproducible
    suppress_health_check=list(HealthCheck),
)
# A cron is five fields the server parses; the schema says so with its own format.
schemathesis.openapi.format(
    "cron",
    st.sampled_from(["0 2 * * *", "*/15 * * * 1-5", "30 6 1 * *", "0 0 * * 0", "5 4 * 7 *"]),
)
TOKEN = {}


@schemathesis.auth(refresh_interval=None)
class ApiToken:
    """The token of an organisation admin, made for each test (the database is new each
    time); schemathesis' authentication checks take it away to see it is required."""

    def get(self, case, context):
        return TOKEN.get("raw", "")  # asked at collection too, before any test

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": data}


@pytest.fixture
def api_token(world):
    content_of(world.org_a, world.admin_a)
    TOKEN["raw"] = api_token_create(organisation=world.org_a, user=world.admin_a, name="fuzz")[1]
    yield
    TOKEN.clear()


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
@FUZZING
def test_every_operation_does_what_the_schema_says(
    case, api_token, connection_kept_across_requests
):
    case.call_and_validate()


class Workflow(schema.as_state_machine()):
    """Each scenario starts from the same data: what one created is rolled back after it, so
    every scenario replays the same way when hypothesis shrinks a failure."""

    def setup(self):
        self.savepoint = transaction.savepoint_create()

    def teardown(self):
        transaction.savepoint_rollback(self.savepoint)


@pytest.mark.django_db
def test_sequences_of_operations_do_what_the_schema_says(
    api_token, connection_kept_across_requests
):
    Workflow.run(settings=FUZZING)
