import pytest
from django.core.management import call_command

from apps.accounts.models import Membership, Organisation
from apps.ingestion.models import Dataset
from apps.plugins.models import Plugin, PluginProperty, PluginVersion
from apps.runner.logs import read_log
from apps.runner.services import execution_create_manual
from apps.runner.supervisor import run
from apps.scheduling.models import Execution, ExecutionStatus, IntegrationBatchInstance
from apps.transfers.models import TransferJob

pytestmark = pytest.mark.django_db
MODELS = [
    Organisation,
    Membership,
    Plugin,
    PluginVersion,
    PluginProperty,
    IntegrationBatchInstance,
    Execution,
    Dataset,
    TransferJob,
]


def counts():
    return {model.__name__: model.objects.count() for model in MODELS}


def test_demo_builds_the_seed_example_and_running_it_again_adds_nothing(client, capsys):
    call_command("demo")
    assert "Log in as admin / batchworks-demo" in capsys.readouterr().out
    first = counts()
    call_command("demo")
    assert counts() == first

    version = PluginVersion.objects.get(
        plugin__artifact_id="import-data-for-customer", version_id="1.0.0"
    )
    assert b"class ImportDataForCustomer(IntegrationBatchPlugin)" in version.artifact.read()
    instance = IntegrationBatchInstance.objects.get()
    assert (instance.cron, instance.cron_status) == ("0 2 * * *", "ACTIVE")
    statuses = set(Execution.objects.values_list("status", flat=True))
    assert statuses == {"PENDING", "SUCCEEDED", "FAILED", "CANCELED"}
    backfill = Execution.objects.get(parameters__pause_seconds=1)
    assert backfill.status == ExecutionStatus.PENDING and backfill.execution_type == "MANUAL"

    assert client.login(username="admin", password="batchworks-demo")
    assert client.get("/admin/scheduling/execution/").status_code == 200


def test_the_demo_plugin_really_runs():
    call_command("demo")
    instance = IntegrationBatchInstance.objects.get()
    execution = execution_create_manual(instance=instance, parameters={"rows": 1000})
    assert run(execution.pk) == "SUCCEEDED"
    execution.refresh_from_db()
    imported, rejected = execution.result["imported_rows"], execution.result["rejected_rows"]
    assert imported + rejected == 1000 and imported > 900
    assert (execution.completed_tasks, execution.num_tasks) == (imported, 1000)
    assert "Importing 1000 rows from mediarithmics" in read_log(execution.pk).text


@pytest.mark.django_db(transaction=True)
def test_the_demo_import_job_fills_the_attendee_dataset():
    from apps.transfers.worker import run_transfer

    call_command("demo")
    job = TransferJob.objects.get()
    assert job.status == "Accepted"
    assert run_transfer(str(job.pk)) == "Completed"
    job.refresh_from_db()
    assert job.records_processed == 20


def test_the_demo_feed_delivers_its_updates_by_identifier_type(settings):
    from apps.feeds import worker
    from apps.feeds.models import AudienceSegmentExternalFeed, BatchStatus

    call_command("demo")
    feed = AudienceSegmentExternalFeed.objects.get()
    worker.run_feed(feed.pk)
    delivered = feed.batches.filter(status=BatchStatus.DELIVERED)
    assert sorted(delivered.values_list("grouping_key", "line_count")) == [
        ("USER_EMAIL", 100),
        ("USER_EMAIL", 100),
    ]
    assert "would send 100 USER_EMAIL lines: DELETE,USER_EMAIL,customer0@example.com" in "".join(
        feed.log_entries.values_list("text", flat=True)
    )
    settings.FEED_FLUSH_INTERVAL_SECONDS = 0  # what waits goes once its oldest line is old
    worker.run_feed(feed.pk)
    assert sum(delivered.values_list("line_count", flat=True)) == 250 + 84


def test_the_readme_shows_the_demo_feed_plugin_as_it_is():
    from pathlib import Path

    from django.conf import settings

    source = (settings.BASE_DIR / "apps/demo/plugins/send_segment_to_partner.py").read_text()
    assert source in Path(settings.BASE_DIR / "README.md").read_text()
