"""Retention: the hourly clean-up deletes what an instance (or its organisation) no longer
keeps, in bounded chunks, outside any request transaction, as it runs in production."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.services import organisation_set_retention
from apps.ingestion.models import Batch, Dataset
from apps.runner.logs import read_log
from apps.runner.models import ExecutionLogChunk
from apps.runner.services import execution_log_append, executions_prune
from apps.scheduling import jobs
from apps.scheduling.models import CleanUp, Execution
from tests.api.conftest import client_with_token
from tests.factories import PluginFactory, make_instance, make_version

pytestmark = pytest.mark.django_db(transaction=True)


def finished(instance, *, days_ago: float, status="SUCCEEDED", log=""):
    ended = timezone.now() - timedelta(days=days_ago)
    execution = Execution.objects.create(
        organisation_id=instance.organisation_id,
        instance=instance,
        execution_type="MANUAL",
        status=status,
        expected_start_date=ended - timedelta(minutes=1),
        start_date=ended - timedelta(minutes=1),
        end_date=ended,
    )
    if log:
        execution_log_append(execution_id=execution.pk, offset=0, text=log)
    return execution


def kept(instance) -> list[int]:
    return sorted(instance.executions.values_list("pk", flat=True))


def test_an_instance_keeps_its_last_runs_and_never_its_pending_ones(world):
    instance = make_instance(
        version=make_version(plugin=PluginFactory(organisation=world.org_a)), keep_last_runs=2
    )
    runs = [finished(instance, days_ago=days, log="hello\n") for days in (5, 4, 3, 2, 1)]
    waiting = Execution.objects.create(
        organisation_id=instance.organisation_id,
        instance=instance,
        execution_type="MANUAL",
        expected_start_date=timezone.now() - timedelta(days=9),
    )
    assert jobs.clean_up() == 1
    assert kept(instance) == sorted([runs[3].pk, runs[4].pk, waiting.pk])
    assert not ExecutionLogChunk.objects.filter(execution_id=runs[0].pk).exists()
    done = CleanUp.objects.get(organisation=world.org_a)
    assert (done.executions_deleted, done.logs_dropped) == (3, 0)
    assert jobs.clean_up() == 0  # nothing more to remove: no empty record


def test_the_organisations_default_applies_where_an_instance_sets_none(world):
    version = make_version(plugin=PluginFactory(organisation=world.org_a))
    follows = make_instance(version=version, name="Follows")
    own = make_instance(version=version, name="Own", keep_executions_days=60)
    organisation_set_retention(organisation=world.org_a, keep_executions_days=30)
    old, recent = finished(follows, days_ago=40), finished(follows, days_ago=10)
    own_old = finished(own, days_ago=40)
    other_org = make_instance()  # no retention at all
    untouched = finished(other_org, days_ago=400)
    jobs.clean_up()
    assert kept(follows) == [recent.pk] and old.pk not in kept(follows)
    assert kept(own) == [own_old.pk]
    assert kept(other_org) == [untouched.pk]


def test_an_old_log_is_dropped_with_a_notice_and_its_run_stays(client, world):
    instance = make_instance(
        version=make_version(plugin=PluginFactory(organisation=world.org_a)), keep_logs_days=7
    )
    old = finished(instance, days_ago=10, log="line one\nline two\n" * 1000)
    recent = finished(instance, days_ago=1, log="fresh\n")
    jobs.clean_up()
    old.refresh_from_db()
    assert old.log_removed_at is not None
    text = read_log(old.pk).text
    assert text.startswith("[The log of this run was removed on ")
    assert "logs are kept 7 days" in text and "line one" not in text
    assert read_log(recent.pk).text == "fresh\n"
    api = client_with_token(world.admin_a, world.org_a)
    shown = api.get(f"/v1/executions/{old.pk}/log").json()["data"]
    assert "was removed on" in shown["text"]
    client.force_login(world.reader_a)
    page = client.get("/")
    assert "Logs dropped" in page.text and "Nothing removed yet" not in page.text


def test_deletion_goes_in_bounded_chunks():
    instance = make_instance()
    for days in range(7):
        finished(instance, days_ago=days + 1)
    everything = instance.executions.all()
    assert executions_prune(everything, chunk=2, limit=5) == 5  # three transactions, capped
    assert executions_prune(everything, chunk=2, limit=100) == 2


def test_old_batches_lose_their_data_but_keep_their_record(world):
    organisation_set_retention(organisation=world.org_a, keep_data_days=2)
    dataset = Dataset.objects.create(
        organisation=world.org_a,
        name="attendees",
        schema=[{"name": "id", "type": "Long", "required": True}],
    )
    old = Batch.objects.create(organisation=world.org_a, dataset=dataset, status="active")
    fresh = Batch.objects.create(organisation=world.org_a, dataset=dataset, status="active")
    Batch.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    jobs.clean_up()
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert (old.status, fresh.status) == ("deleted", "active")
    assert CleanUp.objects.get(organisation=world.org_a).batches_deleted == 1


def test_bad_retention_is_refused_by_field_and_only_admins_set_it(world):
    url = f"/v1/organisations/{world.org_a.pk}"
    admin = client_with_token(world.admin_a, world.org_a)
    refused = admin.put(url, {"keep_logs_days": 0}, format="json")
    assert refused.status_code == 400 and "keep_logs_days" in refused.json()["fields"]
    editor = client_with_token(world.editor_a, world.org_a)
    assert editor.put(url, {"keep_logs_days": 3}, format="json").status_code == 403
    answer = admin.put(url, {"keep_logs_days": 3, "keep_last_runs": 100}, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["data"]["retention"] == {
        "keep_executions_days": None,
        "keep_last_runs": 100,
        "keep_logs_days": 3,
        "keep_data_days": None,
    }
    instance = make_instance(version=make_version(plugin=PluginFactory(organisation=world.org_a)))
    bad = editor.put(
        f"/v1/integration_batch_instances/{instance.pk}", {"keep_last_runs": 0}, format="json"
    )
    assert bad.status_code == 400 and "keep_last_runs" in bad.json()["fields"]


def test_the_settings_page_is_for_admins_and_keeps_what_was_typed(client, world):
    client.force_login(world.editor_a)
    assert client.get("/settings/").status_code == 403
    client.force_login(world.admin_a)
    refused = client.post("/settings/", {"keep_executions_days": "-3"})
    assert refused.status_code == 400 and 'value="-3"' in refused.text
    world.org_a.refresh_from_db()
    assert world.org_a.keep_executions_days is None
    client.post("/settings/", {"keep_executions_days": "90", "keep_logs_days": "14"})
    world.org_a.refresh_from_db()
    assert (world.org_a.keep_executions_days, world.org_a.keep_logs_days) == (90, 14)
