import pytest
from django.core.management import call_command

from apps.accounts.models import Membership, Organisation
from apps.plugins.models import Plugin, PluginProperty, PluginVersion
from apps.scheduling.models import Execution, ExecutionStatus, IntegrationBatchInstance

pytestmark = pytest.mark.django_db
MODELS = [
    Organisation,
    Membership,
    Plugin,
    PluginVersion,
    PluginProperty,
    IntegrationBatchInstance,
    Execution,
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
    assert set(Execution.objects.values_list("status", flat=True)) == set(ExecutionStatus.values)

    assert client.login(username="admin", password="batchworks-demo")
    assert client.get("/admin/scheduling/execution/").status_code == 200
