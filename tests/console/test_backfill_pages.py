"""The backfill page: a range in the instance's time, a preview, then the runs it showed."""

from datetime import UTC, datetime

import pytest

from apps.runner.services import backfill_create
from apps.scheduling.models import Backfill, Execution
from tests.factories import PluginFactory, make_instance, make_version

pytestmark = pytest.mark.django_db

# 09:00 in Paris, January 2026: 08:00 UTC. From Jan 1 00:00 to Jan 3 12:00, Paris time.
RANGE = {"start_date": "2026-01-01T00:00", "end_date": "2026-01-03T12:00", "only_missing": "on"}


def instance_of(world, **fields):
    return make_instance(
        version=make_version(plugin=PluginFactory(organisation=world.org_a)), **fields
    )


@pytest.fixture
def instance(world):
    return instance_of(world, cron="0 9 * * *", cron_timezone="Europe/Paris", cron_status="PAUSED")


def editor(client, world):
    client.force_login(world.editor_a)
    return client


def test_the_page_offers_last_week_and_only_a_preview_first(client, world, instance):
    page = editor(client, world).get(f"/instances/{instance.pk}/backfill")
    assert page.status_code == 200
    form = page.context["form"]
    assert form["only_missing"].value() is True and form["start_date"].value()
    assert "Preview" in page.text and "Create" not in page.text
    assert "Europe/Paris time" in page.text


def test_a_preview_tells_the_count_first_and_last_and_creates_nothing(client, world, instance):
    page = editor(client, world).post(
        f"/instances/{instance.pk}/backfill", {**RANGE, "action": "preview"}
    )
    assert page.status_code == 200
    plan = page.context["plan"]
    assert (plan.count, plan.first, plan.last) == (
        3,
        datetime(2026, 1, 1, 8, tzinfo=UTC),
        datetime(2026, 1, 3, 8, tzinfo=UTC),
    )
    assert "Create 3 runs" in page.text and 'value="3"' in page.text  # what it will create
    assert not Backfill.objects.exists()


def test_creating_makes_the_previewed_runs_and_the_instance_page_follows_them(
    client, world, instance
):
    client = editor(client, world)
    answer = client.post(
        f"/instances/{instance.pk}/backfill", {**RANGE, "previewed": 3, "action": "create"}
    )
    assert answer.status_code == 302 and answer.url == f"/instances/{instance.pk}/#backfills"
    backfill = Backfill.objects.get()
    assert sorted(e.fire_time.day for e in backfill.executions.all()) == [1, 2, 3]
    page = client.get(answer.url)
    assert "0 of 3 succeeded" in page.text and "3 waiting" in page.text
    assert "Cancel the rest" in page.text
    runs = client.get(f"/executions/?instance={instance.pk}&backfill={backfill.pk}")
    assert {e.pk for e in runs.context["page"].rows} == set(
        backfill.executions.values_list("pk", flat=True)
    )


def test_a_range_that_changed_since_its_preview_is_shown_again_not_created(client, world, instance):
    page = editor(client, world).post(
        f"/instances/{instance.pk}/backfill", {**RANGE, "previewed": 2, "action": "create"}
    )
    assert page.status_code == 200 and not Backfill.objects.exists()
    assert "now holds 3 runs, not the 2 previewed" in page.text
    assert "Create 3 runs" in page.text


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"end_date": "2025-12-31T00:00"}, "end_date", "ends before it starts"),
        ({"end_date": "2100-01-01T00:00"}, "end_date", "past fire times"),
        ({"start_date": "yesterday"}, "start_date", "Enter a valid date/time"),
        ({"parameters": "[1, 2]"}, "parameters", "JSON object"),
    ],
    ids=["inverted", "future", "not-a-date", "parameters"],
)
def test_wrong_input_is_told_beside_its_field_kept_and_changes_nothing(
    client, world, instance, change, field, words
):
    page = editor(client, world).post(
        f"/instances/{instance.pk}/backfill", {**RANGE, **change, "action": "create"}
    )
    assert page.status_code == 400
    assert words in " ".join(page.context["form"].errors[field])
    assert next(iter(change.values())) in page.text  # what was typed is kept
    assert not Backfill.objects.exists() and not Execution.objects.filter(backfill__isnull=False)


def test_an_instance_without_cron_is_told_so(client, world):
    on_demand = instance_of(world, name="On demand")
    page = editor(client, world).post(
        f"/instances/{on_demand.pk}/backfill", {**RANGE, "action": "preview"}
    )
    assert page.status_code == 400 and "has no cron" in page.text


def test_cancel_the_rest_cancels_the_waiting_runs(client, world, instance):
    backfill = backfill_create(
        instance=instance,
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        end_date=datetime(2026, 1, 3, 12, tzinfo=UTC),
    )
    answer = editor(client, world).post(f"/backfills/{backfill.pk}/cancel")
    assert answer.status_code == 302
    assert set(backfill.executions.values_list("status", flat=True)) == {"CANCELED"}
    page = editor(client, world).get(f"/instances/{instance.pk}/")
    assert '<progress class="status-CANCELED"' in page.text  # not a success's colour


def test_readers_and_other_organisations_cannot_backfill(client, world, instance):
    client.force_login(world.reader_a)
    assert client.post(f"/instances/{instance.pk}/backfill", RANGE).status_code == 403
    client.force_login(world.admin_b)
    assert client.get(f"/instances/{instance.pk}/backfill").status_code == 404
    backfill = backfill_create(
        instance=instance,
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        end_date=datetime(2026, 1, 3, 12, tzinfo=UTC),
    )
    assert client.post(f"/backfills/{backfill.pk}/cancel").status_code == 404
    assert not backfill.executions.filter(status="CANCELED").exists()
