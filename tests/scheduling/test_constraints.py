"""The database itself refuses what the services never write, whatever writes it."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import Membership, Role
from apps.plugins.models import Plugin
from apps.scheduling.models import Execution, ExecutionType, IntegrationBatchInstance
from tests.factories import ExecutionFactory, MembershipFactory, PluginFactory, make_instance

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def refused(write):
    with pytest.raises(IntegrityError), transaction.atomic():
        write()


def test_one_cron_execution_per_instance_and_fire_time():
    instance = make_instance()
    ExecutionFactory(instance=instance, expected_start_date=NOW)
    refused(lambda: ExecutionFactory(instance=instance, expected_start_date=NOW))
    assert Execution.objects.count() == 1


def test_manual_executions_may_share_a_start_date_with_each_other_and_cron():
    instance = make_instance()
    ExecutionFactory(instance=instance, expected_start_date=NOW)
    ExecutionFactory(
        instance=instance, expected_start_date=NOW, execution_type=ExecutionType.MANUAL
    )
    ExecutionFactory(
        instance=instance, expected_start_date=NOW, execution_type=ExecutionType.MANUAL
    )
    assert Execution.objects.count() == 3


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "DONE"},
        {"execution_type": "HOURLY"},
        {"status": "RUNNING", "start_date": NOW, "end_date": NOW - timedelta(seconds=1)},
        {"status": "SUCCEEDED", "start_date": NOW},
    ],
    ids=["unknown status", "unknown type", "ends before it starts", "finished without end date"],
)
def test_an_inconsistent_execution_is_refused(fields):
    instance = make_instance()
    refused(lambda: ExecutionFactory(instance=instance, **fields))


@pytest.mark.parametrize(
    "fields",
    [
        {"cron": "0 2 * * *", "cron_status": None},
        {"cron": "", "cron_status": "ACTIVE"},
        {"ram_size": "HUGE"},
    ],
    ids=["cron without status", "status without cron", "unknown size"],
)
def test_an_inconsistent_instance_is_refused(fields):
    instance = make_instance()
    refused(lambda: IntegrationBatchInstance.objects.filter(pk=instance.pk).update(**fields))


def test_plugin_coordinates_are_unique_within_an_organisation():
    plugin = PluginFactory()
    refused(
        lambda: Plugin.objects.create(
            organisation=plugin.organisation,
            plugin_type=plugin.plugin_type,
            group_id=plugin.group_id,
            artifact_id=plugin.artifact_id,
        )
    )


def test_one_membership_per_user_and_organisation_with_a_known_role():
    membership = MembershipFactory()
    refused(
        lambda: Membership.objects.create(
            user=membership.user, organisation=membership.organisation
        )
    )
    refused(lambda: Membership.objects.filter(pk=membership.pk).update(role="OWNER"))
    assert Membership.objects.get().role == Role.EDITOR
