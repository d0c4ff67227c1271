"""Every operation, as each role of the organisation and as another organisation."""

import pytest

from apps.accounts.models import Role
from tests.api.conftest import client_with_token, content_of, fingerprint
from tests.api.operations import OPERATIONS
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def ids_of(org_a) -> dict:
    return {**org_a.ids(), "outsider": UserFactory(username="outsider").username}


@pytest.mark.parametrize("role", [Role.READER, Role.EDITOR, Role.ADMIN], ids=str)
@pytest.mark.parametrize("operation", OPERATIONS, ids=str)
def test_each_role_may_do_what_its_role_allows(api, org_a, operation, role):
    client = api(role)
    ids = ids_of(org_a)
    before = fingerprint()
    response = operation.call(client, ids)
    if role.includes(operation.role):
        assert response.status_code == operation.status, response.content
        if operation.method == "GET" and response.get("Content-Type") == "application/json":
            assert response.json()["status"] == "ok"
    else:
        assert response.status_code == 403, response.content
        body = response.json()
        assert body["error_code"] == "FORBIDDEN"
        assert f"this needs {operation.role} or above" in body["error"]
        assert fingerprint() == before


@pytest.mark.parametrize("operation", OPERATIONS, ids=str)
def test_another_organisation_finds_nothing_and_changes_nothing(world, org_a, operation):
    content_of(world.org_b, world.admin_b)  # B has objects of its own
    intruder = client_with_token(world.admin_b, world.org_b)
    ids = ids_of(org_a)
    before = fingerprint()
    response = operation.call(intruder, ids)
    assert response.status_code == 404, response.content
    assert response.json() == {"status": "error", "error": "Not found.", "error_code": "NOT_FOUND"}
    assert fingerprint() == before


@pytest.mark.parametrize(
    "path",
    [
        "plugins",
        "integration_batch_instances",
        "executions",
        "organisations",
        "alert_channels",
        "alert_rules",
        "alerts",
    ],
)
def test_lists_show_only_the_callers_organisation(world, org_a, path):
    content_of(world.org_b, world.admin_b)
    items = client_with_token(world.admin_b, world.org_b).get(f"/v1/{path}").json()["data"]
    assert items and {item.get("organisation_id", item["id"]) for item in items} == {
        str(world.org_b.pk)
    }


def test_creating_in_another_organisation_is_not_found(world, org_a):
    intruder = client_with_token(world.admin_b, world.org_b)
    before = fingerprint()
    plugin = intruder.post(
        "/v1/plugins",
        {
            "organisation_id": str(world.org_a.pk),
            "plugin_type": "INTEGRATION_BATCH",
            "group_id": "com.intruder",
            "artifact_id": "x",
        },
        format="json",
    )
    assert plugin.status_code == 404
    instance = intruder.post(
        "/v1/integration_batch_instances",
        {
            "plugin_version_id": str(org_a.version.pk),
            "name": "Borrowed code",
        },
        format="json",
    )
    assert instance.status_code == 404
    rule = intruder.post(
        "/v1/alert_rules",
        {"instance_id": str(org_a.instance.pk), "channel_id": str(org_a.channel.pk)},
        format="json",
    )
    assert rule.status_code == 404
    assert instance.json()["fields"] == {
        "plugin_version_id": ["No such plugin version in this organisation."]
    }
    assert fingerprint() == before


def test_a_session_sees_all_its_organisations(client, world, org_a):
    content_of(world.org_b, world.admin_b)
    from apps.accounts.models import Membership

    Membership.objects.create(user=world.editor_a, organisation=world.org_b, role=Role.READER)
    client.force_login(world.editor_a)
    organisations = client.get("/v1/organisations").json()["data"]
    assert {(o["name"], o["role"]) for o in organisations} == {
        ("Org A", "EDITOR"),
        ("Org B", "READER"),
    }
