"""Demo data for a first look: an organisation, its admin, the seed's example plugin, an
instance on a cron, and executions: finished in every end status, coming, and a slow
backfill that a worker runs live; an Attendee dataset, with an import job of its first
rows for the worker; a batched external feed with updates for the worker to deliver. Safe
to run again: it only adds what is missing."""

import os
from datetime import timedelta
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Membership, Organisation, Role
from apps.accounts.services import membership_add, organisation_create
from apps.alerts import services as alerts
from apps.audit.context import from_command
from apps.feeds.services import feed_create, updates_receive
from apps.ingestion.models import Dataset
from apps.ingestion.services import dataset_create
from apps.plugins.models import Plugin, PluginType, PluginVersion
from apps.plugins.services import (
    batching_configuration_set,
    plugin_create,
    plugin_version_create,
)
from apps.runner.services import (
    execution_cancel,
    execution_claim,
    execution_create_manual,
    execution_fail,
    execution_succeed,
)
from apps.scheduling.models import (
    CronStatus,
    Execution,
    ExecutionStatus,
    ExecutionType,
    IntegrationBatchInstance,
)
from apps.scheduling.services import instance_create
from apps.transfers.services import import_submit

DEMO_CODE = Path(__file__).resolve().parents[2] / "plugins" / "import_data_for_customer.py"
FEED_CODE = Path(__file__).resolve().parents[2] / "plugins" / "send_segment_to_partner.py"
DEMO_ATTENDEES = Path(__file__).resolve().parents[2] / "data" / "attendees.csv"
ATTENDEE_SCHEMA = [
    {"name": "email", "type": "String", "required": True, "key": True},
    {"name": "name", "type": "String", "required": False},
    {"name": "age", "type": "Integer", "required": False},
    {"name": "country", "type": "String", "required": False},
    {"name": "registered_at", "type": "Date-Time", "required": False},
    {"name": "vip", "type": "Boolean", "required": False},
]
DEFAULT_PASSWORD = "batchworks-demo"
DEMO_RUN_TIME = timedelta(minutes=7)
PROPERTIES = [
    {
        "technical_name": "one_more_property",
        "property_type": "STRING",
        "value": {"value": ""},
        "origin": "PLUGIN",
        "writable": True,
        "deletable": True,
    },
    {
        "technical_name": "provider",
        "property_type": "STRING",
        "value": {"value": "mediarithmics"},
        "origin": "PLUGIN_STATIC",
        "writable": False,
        "deletable": False,
    },
    {
        "technical_name": "name",
        "property_type": "STRING",
        "value": {"value": "My Plugin Name"},
        "origin": "PLUGIN_STATIC",
        "writable": False,
        "deletable": False,
    },
    {
        "technical_name": "batch_size",
        "property_type": "INT",
        "value": {"value": 100},
        "origin": "PLUGIN",
        "writable": True,
        "deletable": True,
    },
]


class Command(BaseCommand):
    help = "Create demo data (idempotent): organisation, admin user, plugin, instance, executions."

    @from_command
    def handle(self, *args, **options):
        with transaction.atomic():
            organisation = Organisation.objects.filter(
                name="Demo Organisation"
            ).first() or organisation_create(name="Demo Organisation")
            user = self._admin_user(organisation)
            version = self._plugin_version(organisation, user)
            instance = self._instance(organisation, version, user)
            # The import and the feed first: the one worker takes them before the slow
            # backfill, which holds it for minutes.
            self._attendees(organisation, user)
            self._feed(organisation, user)
            self._alerting(organisation)
            self._executions(instance, user)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))

    def _admin_user(self, organisation):
        User = get_user_model()
        user = User.objects.filter(username="admin").first()
        if user is None:
            password = os.environ.get("BATCHWORKS_DEMO_PASSWORD", DEFAULT_PASSWORD)
            user = User.objects.create_superuser("admin", "admin@example.com", password)
            self.stdout.write(f"Log in as admin / {password}")
        else:
            self.stdout.write("Log in as admin (user already present, password unchanged)")
        if not Membership.objects.filter(user=user, organisation=organisation).exists():
            membership_add(organisation=organisation, user=user, role=Role.ADMIN)
        return user

    def _alerting(self, organisation) -> None:
        """An e-mail channel (the embedded default writes its messages to var/mail) that
        the organisation's default rule alerts on failures, recoveries and late runs."""
        if organisation.alert_channels.exists():
            return
        channel, _ = alerts.channel_create(
            organisation=organisation, name="On call", kind="EMAIL", recipients="oncall@example.com"
        )
        alerts.rule_create(organisation=organisation, channel=channel, not_started_minutes=15)

    def _attendees(self, organisation, user) -> None:
        """The Attendee dataset, and an import of its first rows (run by the worker)."""
        if Dataset.objects.filter(organisation=organisation, name="Attendee").exists():
            return
        dataset = dataset_create(
            organisation=organisation,
            name="Attendee",
            schema=ATTENDEE_SCHEMA,
            description="People registered for events; rows are matched by email.",
        )
        with DEMO_ATTENDEES.open("rb") as attendees:
            import_submit(
                dataset=dataset,
                upload=File(attendees, name=DEMO_ATTENDEES.name),
                job_name="Attendee Import Job",
                content_type="plain/text",
                user=user,
            )

    def _feed(self, organisation, user) -> None:
        """The batched feed plugin of the README, a feed of it, and updates for it."""
        if Plugin.objects.filter(
            organisation=organisation, artifact_id="segment-to-partner"
        ).exists():
            return
        plugin = plugin_create(
            organisation=organisation,
            plugin_type=PluginType.AUDIENCE_SEGMENT_EXTERNAL_FEED,
            group_id="com.my-client.audience_feed",
            artifact_id="segment-to-partner",
            name="Send a segment to a partner",
            user=user,
        )
        with FEED_CODE.open("rb") as code:
            version = plugin_version_create(
                plugin=plugin,
                version_id="1.0.0",
                artifact=File(code, name=FEED_CODE.name),
                properties=[
                    {
                        "technical_name": "partner_url",
                        "property_type": "STRING",
                        "value": {"value": ""},
                    }
                ],
                user=user,
            )
        batching_configuration_set(version=version, enable_batching=True, batch_flush_max_size=100)
        feed = feed_create(
            organisation=organisation,
            version=version,
            segment_id="vip-customers",
            name="VIP customers to partner",
            user=user,
        )
        updates_receive(
            feed=feed,
            updates=[
                {
                    "operation": "UPSERT" if n % 10 else "DELETE",
                    "user_identifiers": [
                        {"type": "USER_EMAIL", "value": f"customer{n}@example.com"},
                        *([{"type": "USER_ACCOUNT", "value": f"acc-{n}"}] if n % 3 == 0 else []),
                    ],
                }
                for n in range(250)
            ],
        )

    def _plugin_version(self, organisation, user):
        plugin = Plugin.objects.filter(
            organisation=organisation, artifact_id="import-data-for-customer"
        ).first() or plugin_create(
            organisation=organisation,
            plugin_type=PluginType.INTEGRATION_BATCH,
            group_id="com.my-client.integration_batch",
            artifact_id="import-data-for-customer",
            name="Import data for customer",
            user=user,
        )
        version = PluginVersion.objects.filter(plugin=plugin, version_id="1.0.0").first()
        if version is None:
            with DEMO_CODE.open("rb") as code:
                version = plugin_version_create(
                    plugin=plugin,
                    version_id="1.0.0",
                    artifact=File(code, name=DEMO_CODE.name),
                    entry_point="import_data_for_customer:ImportDataForCustomer",
                    properties=PROPERTIES,
                    user=user,
                )
        return version

    def _instance(self, organisation, version, user):
        return IntegrationBatchInstance.objects.filter(
            version=version, name="Nightly import"
        ).first() or instance_create(
            organisation=organisation,
            version=version,
            name="Nightly import",
            user=user,
            cron="0 2 * * *",
            cron_timezone="Europe/Paris",
            cron_status=CronStatus.ACTIVE,
            properties={"batch_size": {"value": 250}},
        )

    def _executions(self, instance, user):
        """Finished executions in every end status, their dates spread over the past days
        so the history reads like a real one; one for later; and a slow backfill due now,
        which the first worker to start runs live."""
        if instance.executions.filter(execution_type=ExecutionType.MANUAL).exists():
            return
        now = timezone.now()
        finished = [
            (3, execution_succeed, {"result": {"imported_rows": 500, "rejected_rows": 4}}),
            (2, execution_fail, {"message": "Connection refused by sftp.customer.example"}),
            (1, execution_succeed, {"result": {"imported_rows": 498, "rejected_rows": 2}}),
        ]
        for days_ago, finish, outcome in finished:
            execution = execution_claim(
                execution=execution_create_manual(instance=instance, user=user)
            )
            finish(execution=execution, **outcome)
            self._backdate(execution, now - timedelta(days=days_ago))
        execution_cancel(
            execution=execution_create_manual(
                instance=instance, user=user, expected_start_date=now + timedelta(hours=1)
            ),
            user=user,
            reason="Scheduled by mistake.",
        )
        execution_create_manual(
            instance=instance, user=user, expected_start_date=now + timedelta(hours=6)
        )
        # Half a minute (30 batches of 250 rows, a second each): long enough to watch it
        # live, short enough not to keep the embedded default's one worker from a run the
        # user starts next.
        execution_create_manual(
            instance=instance, user=user, parameters={"rows": 7_500, "pause_seconds": 1}
        )

    def _backdate(self, execution, start):
        """Move a finished demo execution into the past, as a seven-minute run."""
        end = start + DEMO_RUN_TIME
        Execution.objects.filter(pk=execution.pk).update(
            expected_start_date=start, start_date=start, end_date=end
        )
        execution.status_changes.filter(to_status__in=ExecutionStatus.terminal()).update(
            created_at=end
        )
        execution.status_changes.exclude(to_status__in=ExecutionStatus.terminal()).update(
            created_at=start
        )
