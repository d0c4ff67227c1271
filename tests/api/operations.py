"""Every operation of the API on an organisation's objects: the role it needs and what it
answers when allowed. URLs and bodies name objects of tests.api.conftest.Content."""

from dataclasses import dataclass, field

from django.core.files.uploadedfile import SimpleUploadedFile

from apps.accounts.models import ApiToken, Membership, Organisation
from apps.accounts.permissions import change_role, view_role
from apps.alerts.models import Alert, AlertChannel, AlertRule
from apps.feeds.models import AudienceSegmentExternalFeed
from apps.plugins.models import BatchingConfiguration, Plugin, PluginProperty, PluginVersion
from apps.scheduling.models import Backfill, Execution, IntegrationBatchInstance
from tests.factories import PLUGIN_CODE

FUTURE = 4_102_444_800_000  # 2100-01-01, epoch milliseconds


@dataclass(frozen=True)
class Operation:
    method: str
    url: str
    model: type  # whose roles in apps.accounts.permissions the operation needs
    status: int = 200
    body: dict = field(default_factory=dict)
    multipart: bool = False

    def __str__(self):
        return f"{self.method} {self.url}"

    @property
    def role(self):
        return view_role(self.model) if self.method == "GET" else change_role(self.model)

    def call(self, client, ids: dict):
        url = "/v1/" + self.url.format(**ids)
        if self.multipart:
            return getattr(client, self.method.lower())(url, code_upload(), format="multipart")
        body = {k: v.format(**ids) if isinstance(v, str) else v for k, v in self.body.items()}
        return getattr(client, self.method.lower())(url, body or None, format="json")


def code_upload() -> dict:
    return {"file": SimpleUploadedFile("job.py", PLUGIN_CODE), "entry_point": "job:Plugin"}


ORGANISATION = "organisations/{org}"
PLUGIN = "plugins/{plugin}"
VERSION = "plugins/{plugin}/versions/{version}"
FEED = "plugins/{feed_plugin}/versions/{feed_version}"
INSTANCE = "integration_batch_instances/{instance}"
EXTERNAL_FEED = "audience_segment_external_feeds/{feed}"

OPERATIONS = [
    Operation("GET", ORGANISATION, Organisation),
    Operation("GET", f"{ORGANISATION}/members", Membership),
    Operation(
        "POST",
        f"{ORGANISATION}/members",
        Membership,
        201,
        {"username": "{outsider}", "role": "READER"},
    ),
    Operation("PUT", f"{ORGANISATION}/members/{{member}}", Membership, body={"role": "EDITOR"}),
    Operation("DELETE", f"{ORGANISATION}/members/{{member}}", Membership),
    Operation("GET", f"{ORGANISATION}/api_tokens", ApiToken),
    Operation("POST", f"{ORGANISATION}/api_tokens", ApiToken, 201, {"name": "deploy"}),
    Operation("DELETE", f"{ORGANISATION}/api_tokens/{{token}}", ApiToken),
    Operation("GET", PLUGIN, Plugin),
    Operation("PUT", PLUGIN, Plugin, body={"name": "Renamed"}),
    Operation("DELETE", "plugins/{spare_plugin}", Plugin),
    Operation("GET", f"{PLUGIN}/versions", PluginVersion),
    Operation("POST", f"{PLUGIN}/versions", PluginVersion, 201, {"version_id": "9.0.0"}),
    Operation("GET", VERSION, PluginVersion),
    Operation("DELETE", f"{PLUGIN}/versions/{{spare_version}}", PluginVersion),
    Operation("GET", f"{VERSION}/code", PluginVersion),
    Operation(
        "PUT", f"{PLUGIN}/versions/{{version_without_code}}/code", PluginVersion, multipart=True
    ),
    Operation("GET", f"{VERSION}/properties", PluginProperty),
    Operation(
        "POST",
        f"{VERSION}/properties",
        PluginProperty,
        201,
        {"technical_name": "extra", "property_type": "BOOLEAN", "value": {"value": True}},
    ),
    Operation("GET", f"{VERSION}/properties/batch_size", PluginProperty),
    Operation(
        "PUT", f"{VERSION}/properties/batch_size", PluginProperty, body={"value": {"value": 5}}
    ),
    Operation("DELETE", f"{VERSION}/properties/batch_size", PluginProperty),
    Operation("GET", f"{FEED}/batching_configurations", BatchingConfiguration),
    Operation(
        "POST",
        "plugins/{feed_plugin}/versions/{bare_feed_version}/batching_configurations",
        BatchingConfiguration,
        201,
        {
            "plugin_version_id": "{bare_feed_version}",
            "enable_batching": True,
            "batch_flush_max_size": 100,
        },
    ),
    Operation("GET", f"{FEED}/batching_configurations/{{batching}}", BatchingConfiguration),
    Operation(
        "PUT",
        f"{FEED}/batching_configurations/{{batching}}",
        BatchingConfiguration,
        body={
            "plugin_version_id": "{feed_version}",
            "enable_batching": False,
            "batch_flush_max_size": 50,
        },
    ),
    Operation("DELETE", f"{FEED}/batching_configurations/{{batching}}", BatchingConfiguration),
    Operation("GET", INSTANCE, IntegrationBatchInstance),
    Operation("PUT", INSTANCE, IntegrationBatchInstance, body={"cron_status": "PAUSED"}),
    Operation("DELETE", INSTANCE, IntegrationBatchInstance),
    Operation("GET", f"{INSTANCE}/executions", Execution),
    Operation(
        "POST",
        f"{INSTANCE}/executions",
        Execution,
        201,
        {"execution_type": "MANUAL", "expected_start_date": FUTURE},
    ),
    Operation("GET", f"{INSTANCE}/executions/{{execution}}", Execution),
    Operation(
        "PUT", f"{INSTANCE}/executions/{{execution}}", Execution, body={"status": "CANCELED"}
    ),
    Operation("DELETE", f"{INSTANCE}/executions/{{execution}}", Execution),
    Operation("GET", "executions/{execution}", Execution),
    Operation("POST", "executions/{execution}/cancel", Execution),
    Operation("GET", "executions/{execution}/log", Execution),
    Operation("POST", "executions/{finished_execution}/repeat", Execution, 201),
    Operation("GET", f"{INSTANCE}/backfills", Backfill),
    Operation(
        "POST",
        f"{INSTANCE}/backfills",
        Backfill,
        body={"start_date": 1_704_067_200_000, "end_date": 1_704_326_400_000, "dry_run": True},
    ),
    Operation(
        "POST",
        f"{INSTANCE}/backfills",
        Backfill,
        201,
        {"start_date": 1_704_067_200_000, "end_date": 1_704_326_400_000},
    ),
    Operation("GET", f"{INSTANCE}/backfills/{{backfill}}", Backfill),
    Operation("POST", f"{INSTANCE}/backfills/{{backfill}}/cancel", Backfill),
    Operation("GET", EXTERNAL_FEED, AudienceSegmentExternalFeed),
    Operation("PUT", EXTERNAL_FEED, AudienceSegmentExternalFeed, body={"status": "PAUSED"}),
    Operation("GET", f"{EXTERNAL_FEED}/properties", AudienceSegmentExternalFeed),
    Operation("GET", f"{EXTERNAL_FEED}/buffers", AudienceSegmentExternalFeed),
    Operation("GET", f"{EXTERNAL_FEED}/batches", AudienceSegmentExternalFeed),
    Operation("GET", f"{EXTERNAL_FEED}/batches/{{feed_batch}}", AudienceSegmentExternalFeed),
    Operation(
        "POST", f"{EXTERNAL_FEED}/batches/{{feed_batch}}/replay", AudienceSegmentExternalFeed
    ),
    Operation("POST", f"{EXTERNAL_FEED}/troubleshoot", AudienceSegmentExternalFeed, 202),
    Operation("POST", f"{EXTERNAL_FEED}/connect", AudienceSegmentExternalFeed, 202),
    Operation(
        "POST",
        f"{EXTERNAL_FEED}/user_segment_updates",
        AudienceSegmentExternalFeed,
        202,
        {
            "user_identifiers": [{"type": "USER_EMAIL", "email": "a@example.com"}],
            "operation": "UPSERT",
        },
    ),
    Operation("GET", "alert_channels/{channel}", AlertChannel),
    Operation("PUT", "alert_channels/{channel}", AlertChannel, body={"name": "Pager"}),
    Operation("POST", "alert_channels/{channel}/test", AlertChannel, 202),
    Operation("DELETE", "alert_channels/{channel}", AlertChannel),
    Operation("GET", "alert_rules/{rule}", AlertRule),
    Operation("PUT", "alert_rules/{rule}", AlertRule, body={"on_recovery": False}),
    Operation("DELETE", "alert_rules/{rule}", AlertRule),
    Operation("GET", "alerts/{alert}", Alert),
]
