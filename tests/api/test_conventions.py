"""What every endpoint shares: authentication, the envelope, and how bad input is refused."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import Role
from apps.accounts.services import api_token_create, api_token_revoke
from apps.scheduling.models import IntegrationBatchInstance
from tests.api.conftest import fingerprint

pytestmark = pytest.mark.django_db


def test_a_token_is_accepted_alone_or_as_bearer(world, org_a):
    _, raw = api_token_create(organisation=world.org_a, user=world.reader_a, name="ci")
    for header in (raw, f"Bearer {raw}", f"bearer  {raw} "):
        response = APIClient().get("/v1/plugins", HTTP_AUTHORIZATION=header)
        assert response.status_code == 200, header


@pytest.mark.parametrize(
    "header", [None, "not-a-token", "Bearer "], ids=["none", "unknown", "empty bearer"]
)
def test_without_a_valid_token_the_answer_is_401(world, header):
    kwargs = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = APIClient().get("/v1/plugins", **kwargs)
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHORIZED"
    assert response["WWW-Authenticate"] == 'Bearer realm="batchworks"'


def test_a_revoked_token_stops_working_at_once(world):
    token, raw = api_token_create(organisation=world.org_a, user=world.reader_a, name="ci")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=raw)
    assert client.get("/v1/plugins").status_code == 200
    api_token_revoke(token=token)
    response = client.get("/v1/plugins")
    assert response.status_code == 401
    assert "not valid" in response.json()["error"]


def test_using_a_token_records_last_used_at(world):
    token, raw = api_token_create(organisation=world.org_a, user=world.reader_a, name="ci")
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        APIClient().get("/v1/organisations", HTTP_AUTHORIZATION=raw)
    token.refresh_from_db()
    assert token.last_used_at == now


def test_an_admin_issues_a_token_shown_once_and_revokes_it(api, world):
    client = api(Role.ADMIN)
    created = client.post(
        f"/v1/organisations/{world.org_a.pk}/api_tokens",
        {"name": "reporting", "user_id": str(world.reader_a.pk)},
        format="json",
    )
    assert created.status_code == 201
    secret = created.json()["data"]["token"]
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=secret)
    assert reader.get("/v1/organisations").json()["data"][0]["role"] == "READER"
    listed = client.get(f"/v1/organisations/{world.org_a.pk}/api_tokens").json()["data"]
    assert all("token" not in item for item in listed)
    token_id = created.json()["data"]["id"]
    revoked = client.delete(f"/v1/organisations/{world.org_a.pk}/api_tokens/{token_id}")
    assert revoked.json()["data"]["revoked_at"] is not None
    assert reader.get("/v1/organisations").status_code == 401
    again = client.delete(f"/v1/organisations/{world.org_a.pk}/api_tokens/{token_id}")
    assert (again.status_code, again.json()["error_code"]) == (409, "ALREADY_REVOKED")


def test_the_last_admin_cannot_be_demoted_or_removed(api, world):
    client = api(Role.ADMIN)
    url = f"/v1/organisations/{world.org_a.pk}/members/{world.admin_a.pk}"
    demoted = client.put(url, {"role": "READER"}, format="json")
    assert (demoted.status_code, demoted.json()["error_code"]) == (409, "LAST_ADMIN")
    assert client.delete(url).status_code == 409
    promoted = client.put(
        f"/v1/organisations/{world.org_a.pk}/members/{world.editor_a.pk}",
        {"role": "ADMIN"},
        format="json",
    )
    assert promoted.json()["data"]["role"] == "ADMIN"
    assert client.put(url, {"role": "READER"}, format="json").status_code == 200


def test_ids_are_strings_and_dates_epoch_milliseconds(api, org_a):
    execution = api(Role.READER).get(f"/v1/executions/{org_a.execution.pk}").json()["data"]
    assert execution["id"] == str(org_a.execution.pk)
    assert execution["external_model_id"] == str(org_a.instance.pk)
    assert execution["expected_start_date"] == round(
        org_a.execution.expected_start_date.timestamp() * 1000
    )


def test_lists_carry_their_pagination(api, org_a):
    response = api(Role.READER).get("/v1/plugins?first_result=1&max_results=1").json()
    assert (
        response["status"],
        response["count"],
        response["first_result"],
        response["max_results"],
    ) == ("ok", 3, 1, 1)
    assert len(response["data"]) == 1 and response["has_more"] is True


@pytest.mark.parametrize(
    ("query", "field", "reason"),
    [
        ("max_results=0", "max_results", "greater than or equal to 1"),
        ("max_results=1001", "max_results", "At most 1000 per page."),
        ("first_result=-1", "first_result", "greater than or equal to 0"),
        ("first_result=100001", "first_result", "narrow the list with filters"),
        ("max_results=ten", "max_results", "A valid integer is required."),
        ("plugin_type=CRON", "plugin_type", '"CRON" is not a valid choice.'),
        ("colour=blue", "colour", "Unknown field."),
    ],
)
def test_bad_query_parameters_are_refused_by_name(api, org_a, query, field, reason):
    response = api(Role.READER).get(f"/v1/plugins?{query}")
    assert response.status_code == 400
    assert reason in response.json()["fields"][field][0]


def test_malformed_json_is_refused_saying_where(api, org_a):
    response = api(Role.EDITOR).generic(
        "POST",
        f"/v1/integration_batch_instances/{org_a.instance.pk}/executions",
        '{"parameters": {execution_type: "MANUAL"}}',
        content_type="application/json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "MALFORMED_REQUEST"
    assert "line 1 column 17" in body["error"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (
            {
                "name": "x",
                "plugin_version_id": "{version}",
                "cron": "* * * 7 *",
                "cron_status": "ACTIVE | PAUSED",
            },
            {"cron_status": ['"ACTIVE | PAUSED" is not a valid choice.']},
        ),
        (
            {
                "name": "x",
                "plugin_version_id": "{version}",
                "ram_size": "LOW | MEDIUM | LARGE | EXTRA_LARGE",
            },
            {"ram_size": ['"LOW | MEDIUM | LARGE | EXTRA_LARGE" is not a valid choice.']},
        ),
        (
            {"name": "x", "plugin_version_id": "{version}", "timeout_seconds": "3600"},
            {"timeout_seconds": ["Expected an integer."]},
        ),
        ({"plugin_version_id": "{version}"}, {"name": ["This field is required."]}),
        (
            {"name": "x", "plugin_version_id": "{version}", "crom": "0 2 * * *"},
            {"crom": ["Unknown field."]},
        ),
        (
            {
                "name": "x",
                "plugin_version_id": "{version}",
                "cron": "0 2 * *",
                "cron_status": "ACTIVE",
            },
            {
                "cron": [
                    "A cron has 5 fields (minute hour day-of-month month day-of-week); this one has 4."
                ]
            },
        ),
        (
            {
                "name": "x",
                "plugin_version_id": "{version}",
                "properties": [{"technical_name": "provider", "value": {"value": "y"}}],
            },
            {"properties.provider": ["provider is not writable: an instance cannot override it."]},
        ),
        (
            {"name": "x", "plugin_version_id": "{version_without_code}"},
            {"plugin_version_id": ["Version 3.0.0 has no code yet: upload it before running it."]},
        ),
        (
            ["not", "an", "object"],
            {"request": ["Invalid data. Expected a dictionary, but got list."]},
        ),
    ],
    ids=[
        "enum placeholder",
        "size placeholder",
        "wrong type",
        "missing",
        "unknown field",
        "bad cron",
        "non-writable override",
        "version without code",
        "not an object",
    ],
)
def test_bad_instances_are_refused_with_the_field_and_reason_and_nothing_saved(
    api, org_a, body, fields
):
    ids = org_a.ids()
    if isinstance(body, dict):
        body = {k: v.format(**ids) if isinstance(v, str) else v for k, v in body.items()}
    client = api(Role.EDITOR)
    before = fingerprint()
    response = client.post("/v1/integration_batch_instances", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error_code"] == "VALIDATION_ERROR"
    assert response.json()["fields"] == fields
    assert fingerprint() == before


def test_an_oversized_body_is_refused_with_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api(Role.EDITOR).post("/v1/plugins", {"name": "x" * 5000}, format="json")
    assert response.status_code == 413
    assert response.json()["error_code"] == "PAYLOAD_TOO_LARGE"


def test_oversized_code_is_refused_before_it_is_read(api, org_a, settings):
    settings.PLUGIN_ARTIFACT_MAX_BYTES = 1000
    from django.core.files.uploadedfile import SimpleUploadedFile

    url = f"/v1/plugins/{org_a.plugin.pk}/versions/{org_a.version_without_code.pk}/code"
    response = api(Role.ADMIN).put(
        url, {"file": SimpleUploadedFile("big.py", b"#" * 200_000)}, format="multipart"
    )
    assert response.status_code == 400
    assert "limited to 1000 bytes" in response.json()["fields"]["file"][0]
    org_a.version_without_code.refresh_from_db()
    assert not org_a.version_without_code.has_code


def test_code_is_uploaded_once_and_downloaded_as_uploaded(api, org_a):
    from tests.api.operations import code_upload

    client = api(Role.ADMIN)
    url = f"/v1/plugins/{org_a.plugin.pk}/versions/3.0.0/code"
    uploaded = client.put(url, code_upload(), format="multipart").json()["data"]
    assert uploaded["code"]["entry_point"] == "job:Plugin" and len(uploaded["code"]["sha256"]) == 64
    again = client.put(url, code_upload(), format="multipart")
    assert (again.status_code, again.json()["error_code"]) == (409, "CODE_ALREADY_UPLOADED")
    download = client.get(url)
    assert download["Content-Disposition"] == 'attachment; filename="job.py"'
    assert b"".join(download.streaming_content) == code_upload()["file"].read()


def test_an_unknown_endpoint_answers_json_404(api):
    response = api(Role.READER).get("/v1/integration_batch_instance")
    assert (response.status_code, response.json()["error_code"]) == (404, "NOT_FOUND")


def test_a_wrong_method_answers_405(api, org_a):
    response = api(Role.ADMIN).patch(f"/v1/plugins/{org_a.plugin.pk}", {}, format="json")
    assert (response.status_code, response.json()["error_code"]) == (405, "METHOD_NOT_ALLOWED")


def test_pause_and_resume_by_put_of_cron_status(api, org_a):
    client = api(Role.EDITOR)
    url = f"/v1/integration_batch_instances/{org_a.instance.pk}"
    coming = org_a.instance.executions.get(execution_type="CRON")
    paused = client.put(url, {"cron_status": "PAUSED"}, format="json").json()["data"]
    coming.refresh_from_db()
    assert (paused["cron_status"], paused["next_run_date"], coming.status) == (
        "PAUSED",
        None,
        "CANCELED",
    )
    again = client.put(url, {"cron_status": "PAUSED"}, format="json")
    assert again.status_code == 200  # already paused: nothing to do
    resumed = client.put(url, {"cron_status": "ACTIVE"}, format="json").json()["data"]
    assert resumed["cron_status"] == "ACTIVE" and resumed["next_run_date"] is not None


def test_a_get_then_put_round_trip_changes_only_what_was_edited(api, org_a):
    client = api(Role.EDITOR)
    url = f"/v1/integration_batch_instances/{org_a.instance.pk}"
    instance = client.get(url).json()["data"]
    instance["name"] = "Nightly import (EU)"
    saved = client.put(url, instance, format="json")
    assert saved.status_code == 200, saved.content
    assert saved.json()["data"] == {**instance, "updated_at": saved.json()["data"]["updated_at"]}


def test_delete_archives_an_instance_and_it_stays_readable(api, org_a):
    client = api(Role.EDITOR)
    url = f"/v1/integration_batch_instances/{org_a.instance.pk}"
    assert client.delete(url).json()["data"]["archived"] is True
    assert client.get(url).json()["data"]["archived"] is True
    assert client.put(url, {"archived": False}, format="json").status_code == 409
    assert client.post(f"{url}/executions", {}, format="json").json()["error_code"] == "ARCHIVED"
    assert IntegrationBatchInstance.objects.get(pk=org_a.instance.pk).archived


def test_a_cron_execution_cannot_be_created_by_hand(api, org_a):
    response = api(Role.EDITOR).post(
        f"/v1/integration_batch_instances/{org_a.instance.pk}/executions",
        {"execution_type": "CRON"},
        format="json",
    )
    assert response.status_code == 400
    assert "scheduler creates CRON ones" in response.json()["fields"]["execution_type"][0]


def test_the_executions_list_filters_and_orders(api, org_a):
    client = api(Role.READER)
    now = timezone.now()
    later = round((now + timedelta(days=1)).timestamp() * 1000)
    manual = client.get(
        f"/v1/executions?execution_type=MANUAL&instance_id={org_a.instance.pk}"
    ).json()["data"]
    by_hand = org_a.instance.executions.filter(execution_type="MANUAL")
    assert {e["id"] for e in manual} == {str(pk) for pk in by_hand.values_list("pk", flat=True)}
    assert {e["execution_type"] for e in manual} == {"MANUAL"} and str(org_a.execution.pk) in {
        e["id"] for e in manual
    }
    coming = client.get(
        f"/v1/executions?from_date={later - 1}&status=PENDING&order_by=expected_start_date"
    ).json()
    assert all(e["execution_type"] == "CRON" for e in coming["data"])
    assert client.get("/v1/executions?order_by=name").status_code == 400


def test_the_log_is_read_incrementally(api, org_a):
    from apps.runner.supervisor import run

    run(org_a.execution.pk)
    client = api(Role.READER)
    first = client.get(f"/v1/executions/{org_a.execution.pk}/log?limit=5").json()["data"]
    assert first["offset"] == 0 and first["next_offset"] == len(first["text"])
    rest = client.get(
        f"/v1/executions/{org_a.execution.pk}/log?offset={first['next_offset']}"
    ).json()["data"]
    assert rest["complete"] is True


def test_the_schema_and_interactive_docs_are_served(client):
    schema = client.get("/v1/schema?format=json").json()
    assert schema["info"]["title"] == "Batchworks API"
    assert "/v1/integration_batch_instances/{instance_id}/executions" in schema["paths"]
    assert schema["components"]["securitySchemes"]["apiToken"]["name"] == "Authorization"
    docs = client.get("/v1/docs")
    assert docs.status_code == 200 and "drf_spectacular_sidecar/swagger-ui-dist" in docs.text
    bundle = "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
    assert client.get(bundle).status_code == 200
