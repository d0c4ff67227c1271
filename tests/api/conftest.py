from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import ApiToken, Membership, Role
from apps.accounts.services import api_token_create
from apps.alerts import services as alerts
from apps.alerts.models import Alert, AlertChannel, AlertRule
from apps.feeds.models import AudienceSegmentExternalFeed, FeedBatch, UserSegmentUpdate
from apps.feeds.services import feed_create
from apps.plugins.models import (
    BatchingConfiguration,
    Plugin,
    PluginProperty,
    PluginType,
    PluginVersion,
)
from apps.plugins.services import batching_configuration_set, plugin_version_create
from apps.runner.services import backfill_create, execution_create_manual
from apps.scheduling.models import Backfill, Execution, IntegrationBatchInstance
from tests.factories import (
    PROPERTIES,
    ExecutionFactory,
    MembershipFactory,
    PluginFactory,
    UserFactory,
    make_instance,
    make_version,
)


def client_with_token(user, organisation) -> APIClient:
    _, raw = api_token_create(organisation=organisation, user=user, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=raw)
    return client


@pytest.fixture
def api(world):
    """`api(Role.EDITOR)`: a client with a token of the org A member of that role."""
    users = {Role.ADMIN: world.admin_a, Role.EDITOR: world.editor_a, Role.READER: world.reader_a}
    return lambda role: client_with_token(users[role], world.org_a)


@dataclass
class Content:
    """One of everything in an organisation, for tests to point URLs at."""

    plugin: Plugin
    version: PluginVersion
    version_without_code: PluginVersion
    spare_plugin: Plugin
    spare_version: PluginVersion
    feed_version: PluginVersion
    bare_feed_version: PluginVersion
    batching: BatchingConfiguration
    instance: IntegrationBatchInstance
    execution: Execution
    finished_execution: Execution
    backfill: Backfill
    member: Membership
    token: ApiToken
    feed: AudienceSegmentExternalFeed
    feed_batch: FeedBatch
    channel: AlertChannel
    rule: AlertRule
    alert: Alert

    def ids(self) -> dict[str, str]:
        return {
            "org": self.plugin.organisation_id,
            "plugin": self.plugin.pk,
            "version": self.version.pk,
            "version_without_code": self.version_without_code.pk,
            "spare_plugin": self.spare_plugin.pk,
            "spare_version": self.spare_version.pk,
            "feed_plugin": self.feed_version.plugin_id,
            "feed_version": self.feed_version.pk,
            "bare_feed_version": self.bare_feed_version.pk,
            "batching": self.batching.pk,
            "instance": self.instance.pk,
            "execution": self.execution.pk,
            "finished_execution": self.finished_execution.pk,
            "backfill": self.backfill.pk,
            "member": self.member.user_id,
            "token": self.token.pk,
            "feed": self.feed.pk,
            "feed_batch": self.feed_batch.pk,
            "channel": self.channel.pk,
            "rule": self.rule.pk,
            "alert": self.alert.pk,
        }


def content_of(organisation, admin) -> Content:
    yesterday = timezone.now() - timedelta(days=1)
    plugin = PluginFactory(organisation=organisation)
    version = make_version(plugin=plugin, properties=PROPERTIES)
    feed = PluginFactory(
        organisation=organisation, plugin_type=PluginType.AUDIENCE_SEGMENT_EXTERNAL_FEED
    )
    feed_version = make_version(plugin=feed)
    spare_plugin = PluginFactory(organisation=organisation)
    instance = make_instance(version=version, cron="0 2 * * *", cron_status="ACTIVE")
    external_feed = feed_create(
        organisation=organisation, version=feed_version, segment_id="vip", name="VIP feed"
    )
    channel, _ = alerts.channel_create(
        organisation=organisation, name="On call", kind="EMAIL", recipients="oncall@example.com"
    )
    return Content(
        plugin=plugin,
        version=version,
        version_without_code=plugin_version_create(plugin=plugin, version_id="3.0.0"),
        spare_plugin=spare_plugin,
        spare_version=make_version(plugin=plugin, version_id="2.0.0"),
        feed_version=feed_version,
        bare_feed_version=make_version(plugin=feed, version_id="1.1.0"),
        batching=batching_configuration_set(
            version=feed_version, enable_batching=True, batch_flush_max_size=10
        ),
        instance=instance,
        execution=execution_create_manual(instance=instance, parameters={"rows": 1}),
        finished_execution=ExecutionFactory(
            instance=instance,
            execution_type="MANUAL",
            status="SUCCEEDED",
            start_date=yesterday,
            end_date=yesterday,
        ),
        backfill=backfill_create(
            instance=instance, start_date=yesterday - timedelta(days=3), end_date=yesterday
        ),
        member=MembershipFactory(organisation=organisation, role=Role.READER),
        token=api_token_create(organisation=organisation, user=admin, name="existing")[0],
        feed=external_feed,
        feed_batch=FeedBatch.objects.create(
            feed=external_feed,
            grouping_key="EMAIL",
            status="FAILED",
            line_count=0,
            first_line_id=0,
            last_line_id=0,
            flushed_because="size",
            created_at=external_feed.created_at,
        ),
        channel=channel,
        rule=alerts.rule_create(organisation=organisation, instance=instance, channel=channel),
        alert=alerts.channel_test(channel=channel),
    )


@pytest.fixture
def org_a(world) -> Content:
    return content_of(world.org_a, world.admin_a)


def fingerprint() -> tuple:
    """Everything a request could change, to prove one changed nothing."""
    return (
        list(Plugin.objects.order_by("pk").values_list("pk", "name")),
        list(PluginVersion.objects.order_by("pk").values_list("pk", "artifact_sha256")),
        list(
            PluginProperty.objects.order_by("pk").values_list(
                "pk", "value", "writable", "deletable", "origin"
            )
        ),
        list(
            BatchingConfiguration.objects.order_by("pk").values_list(
                "pk", "enable_batching", "batch_flush_max_size"
            )
        ),
        list(
            IntegrationBatchInstance.objects.order_by("pk").values_list(
                "pk", "name", "cron_status", "archived", "version_id"
            )
        ),
        list(Execution.objects.order_by("pk").values_list("pk", "status", "cancel_requested_at")),
        list(
            AudienceSegmentExternalFeed.objects.order_by("pk").values_list(
                "pk", "name", "status", "properties", "troubleshoot_requested_at"
            )
        ),
        UserSegmentUpdate.objects.count(),
        list(FeedBatch.objects.order_by("pk").values_list("pk", "status")),
        list(Membership.objects.order_by("pk").values_list("pk", "role")),
        list(ApiToken.objects.order_by("pk").values_list("pk", "revoked_at")),
        UserFactory._meta.model.objects.count(),
    )
