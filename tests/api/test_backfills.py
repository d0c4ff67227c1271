"""/v1/integration_batch_instances/{id}/backfills and /v1/executions/{id}/repeat."""

from datetime import UTC, datetime

import pytest

from apps.accounts.models import Role
from apps.scheduling.models import Backfill
from tests.factories import ExecutionFactory, PluginFactory, make_instance, make_version

pytestmark = pytest.mark.django_db


def millis(*parts) -> int:
    return round(datetime(*parts, tzinfo=UTC).timestamp() * 1000)


JAN = {"start_date": millis(2026, 1, 1), "end_date": millis(2026, 1, 3, 12)}


@pytest.fixture
def instance(world):
    version = make_version(plugin=PluginFactory(organisation=world.org_a))
    return make_instance(
        version=version, cron="0 9 * * *", cron_timezone="Europe/Paris", cron_status="PAUSED"
    )


def url_of(instance) -> str:
    return f"/v1/integration_batch_instances/{instance.pk}/backfills"


def test_a_dry_run_tells_what_it_would_create_and_creates_nothing(api, instance):
    answer = api(Role.EDITOR).post(url_of(instance), {**JAN, "dry_run": True}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["data"] == {
        "count": 3,
        "first_fire_time": millis(2026, 1, 1, 8),
        "last_fire_time": millis(2026, 1, 3, 8),
        "skipped_count": 0,
    }
    assert not Backfill.objects.exists()


def test_a_backfill_is_created_listed_and_its_runs_found_and_canceled(api, instance):
    client = api(Role.EDITOR)
    created = client.post(url_of(instance), {**JAN, "parameters": {"full": True}}, format="json")
    assert created.status_code == 201, created.content
    backfill = created.json()["data"]
    assert (backfill["run_count"], backfill["one_at_a_time"], backfill["runs"]["PENDING"]) == (
        3,
        False,
        3,
    )
    runs = client.get(f"/v1/executions?backfill_id={backfill['id']}").json()["data"]
    assert sorted(run["fire_time"] for run in runs) == [
        millis(2026, 1, day, 8) for day in (1, 2, 3)
    ]
    assert {(run["execution_type"], str(run["parameters"])) for run in runs} == {
        ("MANUAL", "{'full': True}")
    }
    listed = client.get(url_of(instance)).json()
    assert [b["id"] for b in listed["data"]] == [backfill["id"]]
    canceled = client.post(f"{url_of(instance)}/{backfill['id']}/cancel").json()["data"]
    assert (canceled["runs"]["PENDING"], canceled["runs"]["CANCELED"]) == (0, 3)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start_date": millis(2026, 1, 3), "end_date": millis(2026, 1, 1)}, "end_date"),
        ({"start_date": millis(2026, 1, 1), "end_date": millis(2100, 1, 1)}, "end_date"),
        ({"start_date": millis(2026, 1, 1, 10), "end_date": millis(2026, 1, 1, 11)}, "start_date"),
        ({"start_date": "soon", "end_date": millis(2026, 1, 1)}, "start_date"),
        ({**JAN, "parameters": [1]}, "parameters"),
        ({**JAN, "colour": "red"}, "colour"),
        ({"end_date": millis(2026, 1, 1)}, "start_date"),
    ],
    ids=["inverted", "future", "empty", "not-a-date", "parameters", "unknown-field", "missing"],
)
def test_a_wrong_request_names_the_field_and_creates_nothing(api, instance, body, field):
    answer = api(Role.EDITOR).post(url_of(instance), body, format="json")
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["fields"]
    assert not Backfill.objects.exists()


def test_an_instance_without_cron_conflicts(api, world):
    on_demand = make_instance(version=make_version(plugin=PluginFactory(organisation=world.org_a)))
    answer = api(Role.EDITOR).post(url_of(on_demand), JAN, format="json")
    assert (answer.status_code, answer.json()["error_code"]) == (409, "NO_CRON")


def test_repeat_runs_a_finished_execution_again_and_refuses_an_unfinished_one(api, instance):
    finished = ExecutionFactory(
        instance=instance,
        execution_type="MANUAL",
        status="FAILED",
        parameters={"rows": 3},
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        end_date=datetime(2026, 1, 1, tzinfo=UTC),
    )
    client = api(Role.EDITOR)
    again = client.post(f"/v1/executions/{finished.pk}/repeat")
    assert again.status_code == 201, again.content
    run = again.json()["data"]
    assert (run["repeats_id"], run["parameters"], run["status"]) == (
        str(finished.pk),
        {"rows": 3},
        "PENDING",
    )
    refused = client.post(f"/v1/executions/{run['id']}/repeat")
    assert refused.status_code == 409 and "only a finished one" in refused.json()["error"]
