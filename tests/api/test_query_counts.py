"""Every list endpoint runs the same number of queries for 10 rows as for 1,000."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import ApiToken, Membership, Organisation, Role
from apps.plugins.models import Plugin, PluginProperty, PluginVersion
from apps.scheduling.models import Execution, InstanceProperty, IntegrationBatchInstance
from tests.api.conftest import client_with_token
from tests.factories import PROPERTIES, PluginFactory, make_instance, make_version

pytestmark = pytest.mark.django_db


def queries_for(client, url: str) -> int:
    assert client.get(url).status_code == 200  # warm up: the token's last_used_at is recorded
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def add_plugins(organisation, version, instance, start, count):
    Plugin.objects.bulk_create(
        Plugin(
            organisation=organisation,
            plugin_type="INTEGRATION_BATCH",
            group_id="bulk",
            artifact_id=f"p{start + i}",
        )
        for i in range(count)
    )


def add_versions(organisation, version, instance, start, count):
    versions = PluginVersion.objects.bulk_create(
        PluginVersion(plugin=version.plugin, version_id=f"0.{start + i}.0") for i in range(count)
    )
    PluginProperty.objects.bulk_create(
        PluginProperty(
            version=v,
            technical_name=p["technical_name"],
            property_type=p["property_type"],
            value=p["value"],
        )
        for v in versions
        for p in PROPERTIES
    )


def add_properties(organisation, version, instance, start, count):
    PluginProperty.objects.bulk_create(
        PluginProperty(version=version, technical_name=f"p{start + i}", property_type="STRING")
        for i in range(count)
    )


def add_instances(organisation, version, instance, start, count):
    instances = IntegrationBatchInstance.objects.bulk_create(
        IntegrationBatchInstance(
            organisation=organisation,
            version=version,
            name=f"i{start + i}",
            cron="0 2 * * *",
            cron_status="ACTIVE",
        )
        for i in range(count)
    )
    batch_size = version.properties.get(technical_name="batch_size")
    InstanceProperty.objects.bulk_create(
        InstanceProperty(instance=i, property=batch_size, value={"value": 7}) for i in instances
    )
    add_executions(organisation, version, instances[0], start, count)


def add_executions(organisation, version, instance, start, count):
    now = timezone.now()
    Execution.objects.bulk_create(
        Execution(
            organisation=organisation,
            instance=instance,
            execution_type="MANUAL",
            expected_start_date=now,
        )
        for _ in range(count)
    )


def add_members(organisation, version, instance, start, count):
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"member{start + i}") for i in range(count)
    )
    Membership.objects.bulk_create(
        Membership(user=u, organisation=organisation, role=Role.READER) for u in users
    )


def add_tokens(organisation, version, instance, start, count):
    user = organisation.memberships.first().user
    ApiToken.objects.bulk_create(
        ApiToken(
            organisation=organisation,
            user=user,
            name=f"t{start + i}",
            prefix="bw_",
            digest=f"{start + i:064d}",
        )
        for i in range(count)
    )


def add_organisations(organisation, version, instance, start, count):
    Organisation.objects.bulk_create(
        Organisation(name=f"Organisation {start + i}") for i in range(count)
    )


def add_datasets(organisation, version, instance, start, count):
    from apps.ingestion.models import Dataset

    schema = [{"name": "id", "type": "Long", "required": True}]
    Dataset.objects.bulk_create(
        Dataset(organisation=organisation, name=f"d{start + i}", schema=schema)
        for i in range(count)
    )


def add_batches(organisation, version, instance, start, count):
    from apps.ingestion.models import Batch, BatchFile, Dataset

    dataset, _ = Dataset.objects.get_or_create(
        organisation=organisation,
        name="bulk",
        defaults={"schema": [{"name": "id", "type": "Long", "required": True}]},
    )
    batches = Batch.objects.bulk_create(
        Batch(organisation=organisation, dataset=dataset) for _ in range(count)
    )
    BatchFile.objects.bulk_create(
        BatchFile(batch=batch, name="a.csv", size=10) for batch in batches
    )


def add_transfer_jobs(organisation, version, instance, start, count):
    from apps.ingestion.models import Dataset
    from apps.transfers.models import TransferFile, TransferJob, TransferStatusChange

    dataset, _ = Dataset.objects.get_or_create(
        organisation=organisation,
        name="bulk",
        defaults={"schema": [{"name": "id", "type": "Long", "required": True}]},
    )
    jobs = TransferJob.objects.bulk_create(
        TransferJob(organisation=organisation, dataset=dataset, kind="export", job_name=f"j{i}")
        for i in range(start, start + count)
    )
    TransferFile.objects.bulk_create(
        TransferFile(job=job, name="a.csv", stored="x", size=1) for job in jobs
    )
    TransferStatusChange.objects.bulk_create(
        TransferStatusChange(job=job, to_status="Initialized") for job in jobs
    )


def add_alert_channels(organisation, version, instance, start, count):
    from apps.alerts.models import AlertChannel

    AlertChannel.objects.bulk_create(
        AlertChannel(organisation=organisation, name=f"c{i}", kind="EMAIL", recipients="a@b.co")
        for i in range(start, start + count)
    )


def add_alert_rules(organisation, version, instance, start, count):
    from apps.alerts.models import AlertChannel, AlertRule

    channel, _ = AlertChannel.objects.get_or_create(
        organisation=organisation, name="bulk", kind="EMAIL", recipients="a@b.co"
    )
    AlertRule.objects.bulk_create(
        AlertRule(organisation=organisation, instance=instance, channel=channel)
        for _ in range(count)
    )


def add_alerts(organisation, version, instance, start, count):
    from apps.alerts.models import Alert, AlertChannel, DeliveryAttempt

    channel, _ = AlertChannel.objects.get_or_create(
        organisation=organisation, name="bulk", kind="EMAIL", recipients="a@b.co"
    )
    alerts = Alert.objects.bulk_create(
        Alert(organisation=organisation, channel=channel, instance=instance, kind="TEST")
        for _ in range(count)
    )
    DeliveryAttempt.objects.bulk_create(
        DeliveryAttempt(alert=alert, attempted_at=timezone.now()) for alert in alerts
    )


LISTS = [
    ("plugins", add_plugins),
    ("plugins/{plugin}/versions", add_versions),
    ("plugins/{plugin}/versions/{version}/properties", add_properties),
    ("integration_batch_instances", add_instances),
    ("integration_batch_instances/{instance}/executions", add_executions),
    ("executions", add_executions),
    ("organisations/{org}/members", add_members),
    ("organisations/{org}/api_tokens", add_tokens),
    ("organisations", add_organisations),
    ("datasets", add_datasets),
    ("batches", add_batches),
    ("transfer_jobs", add_transfer_jobs),
    ("alert_channels", add_alert_channels),
    ("alert_rules", add_alert_rules),
    ("alerts", add_alerts),
]


@pytest.mark.parametrize(("path", "add_rows"), LISTS, ids=[path for path, _ in LISTS])
def test_a_list_runs_the_same_queries_for_10_or_1000_rows(world, client, path, add_rows):
    version = make_version(plugin=PluginFactory(organisation=world.org_a), properties=PROPERTIES)
    instance = make_instance(version=version)
    if path == "organisations":  # a superuser's session lists every organisation
        client.force_login(world.superuser)
    else:
        client = client_with_token(world.admin_a, world.org_a)
    url = "/v1/" + path.format(
        org=world.org_a.pk, plugin=version.plugin_id, version=version.pk, instance=instance.pk
    )
    url += "?max_results=1000"

    add_rows(world.org_a, version, instance, 0, 10)
    few = queries_for(client, url)
    add_rows(world.org_a, version, instance, 10, 990)
    assert queries_for(client, url) == few
    assert client.get(url).json()["count"] >= 1000
