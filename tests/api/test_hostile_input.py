"""Input no server should choke on: NUL characters and lone surrogates (which PostgreSQL
cannot store), JSON nested absurdly deep, and digits that are not ASCII. Each gets a 400
naming the field and the reason (or a 404 for an id), and changes nothing."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.accounts.models import Role
from apps.ingestion.models import Batch
from apps.ingestion.services import batch_create, dataset_create
from tests.api.conftest import fingerprint
from tests.factories import PLUGIN_CODE
from tests.ingestion.conftest import SCHEMA

pytestmark = pytest.mark.django_db

NUL = "\\u0000"  # as JSON writes it
SURROGATE = "\\ud800"
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def editor(api):
    return api(Role.EDITOR)


def send(client, method: str, path: str, body: str):
    return client.generic(method, path, body, content_type="application/json")


def refused(response, field: str, reason: str):
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error_code"] == "VALIDATION_ERROR"
    assert any(reason in message for message in body["fields"][field]), body
    return body


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ('{"parameters": {"rows": "1' + NUL + '2"}}', "parameters.rows", "NUL character"),
        ('{"parameters": {"ro' + NUL + 'ws": 1}}', "parameters.ro\ufffdws", "NUL character"),
        ('{"parameters": {"rows": "' + SURROGATE + '"}}', "parameters.rows", "lone surrogate"),
    ],
    ids=["NUL in a value", "NUL in a name", "lone surrogate"],
)
def test_unstorable_execution_parameters_are_refused(editor, org_a, body, field, reason):
    before = fingerprint()
    path = f"/v1/integration_batch_instances/{org_a.instance.pk}/executions"
    refused(send(editor, "POST", path, body), field, reason)
    assert fingerprint() == before


def test_an_unstorable_property_value_is_refused(editor, org_a):
    before = fingerprint()
    path = f"/v1/plugins/{org_a.plugin.pk}/versions/{org_a.version.pk}/properties"
    body = (
        '{"technical_name": "label", "property_type": "STRING", "value": {"value": "a' + NUL + '"}}'
    )
    refused(send(editor, "POST", path, body), "value.value", "NUL character")
    instance_path = f"/v1/integration_batch_instances/{org_a.instance.pk}"
    body = (
        '{"properties": [{"technical_name": "batch_size", "value": {"value": "'
        + SURROGATE
        + '"}}]}'
    )
    refused(send(editor, "PUT", instance_path, body), "properties[0].value.value", "surrogate")
    assert fingerprint() == before


def test_json_nested_100_000_levels_deep_is_a_400(editor, org_a):
    before = fingerprint()
    for method, path in [
        ("POST", "/v1/plugins"),
        ("PUT", f"/v1/integration_batch_instances/{org_a.instance.pk}"),
        ("POST", f"/v1/integration_batch_instances/{org_a.instance.pk}/executions"),
    ]:
        response = send(editor, method, path, DEEP)
        assert response.status_code == 400, (path, response.content)
        assert "nested deeper than 64 levels" in response.json()["error"]
    assert fingerprint() == before


def test_json_65_levels_deep_is_refused_by_name(editor, org_a):
    deep = {"a": 1}
    for _ in range(70):
        deep = {"a": deep}
    path = f"/v1/integration_batch_instances/{org_a.instance.pk}/executions"
    response = send(editor, "POST", path, json.dumps({"parameters": deep}))
    assert response.status_code == 400
    [(field, reasons)] = response.json()["fields"].items()
    assert field.startswith("parameters.a.a.a") and reasons == ["Nested deeper than 64 levels."]


@pytest.fixture
def batch(world):
    return batch_create(
        dataset=dataset_create(organisation=world.org_a, name="orders", schema=SCHEMA)
    )


def test_a_file_name_with_a_nul_is_refused_on_upload_and_initialize(editor, batch):
    path = f"/v1/batches/{batch.pk}/datasets/{batch.dataset_id}/files/orders%00.csv"
    put = editor.put(path, b"order_id\n1\n", content_type="application/octet-stream")
    refused(put, "name", "NUL character")
    refused(editor.post(f"{path}?action=initialize"), "name", "NUL character")
    assert not Batch.objects.get(pk=batch.pk).files.exists()


@pytest.mark.parametrize(
    "digit", ["%C2%B9", "%D9%A3", "%EF%BC%93"], ids=["superscript", "arabic-indic", "fullwidth"]
)
def test_a_digit_that_is_not_ascii_is_no_id(editor, org_a, digit):
    assert editor.get(f"/v1/plugins/{digit}").status_code == 404
    assert editor.get(f"/v1/executions/{digit}").status_code == 404
    refused(editor.get(f"/v1/executions?instance_id={digit}"), "instance_id", "Expected an id")


def test_a_nul_in_a_query_parameter_is_a_400(editor, org_a):
    refused(editor.get("/v1/integration_batch_instances?version_id=1%00"), "version_id", "NUL")
    path = f"/v1/plugins/{org_a.plugin.pk}/versions/{org_a.version.pk}/properties/a%00b"
    refused(editor.get(path), "technical_name", "NUL character")


def test_console_and_admin_refuse_a_nul_and_odd_digits_too(client, world, org_a):
    client.force_login(world.superuser)
    assert client.get("/admin/plugins/plugin/?q=a%00").status_code == 400
    assert client.get(reverse("executions") + "?before=%C2%B9.%C2%B2").status_code == 200
    log = reverse("execution_log", args=[org_a.execution.pk])
    assert client.get(f"{log}?offset=%C2%B9").status_code == 200


@pytest.mark.parametrize(
    ("parameters", "reason"),
    [(DEEP, "Nested deeper than 64 levels"), ('{"rows": "' + NUL + '"}', "NUL character")],
    ids=["deep", "NUL"],
)
def test_the_admin_refuses_unstorable_json_in_a_form(client, world, org_a, parameters, reason):
    client.force_login(world.editor_a)
    before = fingerprint()
    response = client.post(
        reverse("admin:scheduling_execution_add"),
        {"instance": org_a.instance.pk, "parameters": parameters},
    )
    assert response.status_code == 200
    assert reason in response.text
    assert fingerprint() == before


def test_the_console_refuses_an_unstorable_property_value(client, world, org_a):
    client.force_login(world.editor_a)
    before = fingerprint()
    response = client.post(
        reverse("version_new", args=[org_a.plugin.pk]),
        {
            "version_id": "9.0.0",
            "code": SimpleUploadedFile("plugin.py", PLUGIN_CODE),
            "properties-TOTAL_FORMS": "1",
            "properties-INITIAL_FORMS": "0",
            "properties-0-technical_name": "file",
            "properties-0-property_type": "DATA_FILE",
            "properties-0-default": '{"uri": "' + NUL + '"}',
            "properties-0-origin": "PLUGIN",
        },
    )
    assert response.status_code == 200
    assert "NUL character" in response.text
    assert fingerprint() == before


@pytest.mark.parametrize(
    ("body", "field", "expected"),
    [
        ({"name": 5}, "name", "Expected a string."),
        ({"timeout_seconds": "3600"}, "timeout_seconds", "Expected an integer."),
        ({"timeout_seconds": True}, "timeout_seconds", "Expected an integer."),
        ({"archived": "false"}, "archived", "Expected a boolean."),
        ({"properties": {"batch_size": 1}}, "properties", "Expected an array."),
        ({"organisation_id": 12}, "organisation_id", "Expected a string."),
    ],
    ids=[
        "number for text",
        "text for number",
        "boolean for number",
        "text for boolean",
        "object for array",
        "number for id",
    ],
)
def test_a_json_body_takes_the_types_its_schema_says(editor, org_a, body, field, expected):
    before = fingerprint()
    path = f"/v1/integration_batch_instances/{org_a.instance.pk}"
    response = editor.put(path, body, format="json")
    refused(response, field, expected)
    assert fingerprint() == before
