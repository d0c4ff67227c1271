"""The REST API, /v1: every route in one place."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from apps.accounts import api as accounts
from apps.alerts import api as alerts
from apps.audit import api as audit
from apps.core.api.errors import not_found
from apps.feeds import api as feeds
from apps.ingestion import api as ingestion
from apps.plugins import api as plugins
from apps.scheduling import api as scheduling
from apps.transfers import api as transfers

PLUGIN = "plugins/<str:plugin_id>"
VERSION = f"{PLUGIN}/versions/<str:version_id>"
INSTANCE = "integration_batch_instances/<str:instance_id>"
FEED = "audience_segment_external_feeds/<str:feed_id>"

urlpatterns = [
    path(
        "schema",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="schema",
    ),
    path(
        "docs",
        SpectacularSwaggerView.as_view(
            url_name="api:schema", authentication_classes=[], permission_classes=[]
        ),
        name="docs",
    ),
    path(
        "redoc",
        SpectacularRedocView.as_view(
            url_name="api:schema", authentication_classes=[], permission_classes=[]
        ),
        name="redoc",
    ),
    path("organisations", accounts.OrganisationListView.as_view()),
    path("organisations/<str:organisation_id>", accounts.OrganisationDetailView.as_view()),
    path("organisations/<str:organisation_id>/members", accounts.MemberListView.as_view()),
    path(
        "organisations/<str:organisation_id>/members/<str:user_id>",
        accounts.MemberDetailView.as_view(),
    ),
    path("organisations/<str:organisation_id>/api_tokens", accounts.ApiTokenListView.as_view()),
    path("organisations/<str:organisation_id>/audit_events", audit.AuditEventListView.as_view()),
    path(
        "organisations/<str:organisation_id>/api_tokens/<str:token_id>",
        accounts.ApiTokenDetailView.as_view(),
    ),
    path("alert_channels", alerts.ChannelListView.as_view()),
    path("alert_channels/<str:channel_id>", alerts.ChannelDetailView.as_view()),
    path("alert_channels/<str:channel_id>/test", alerts.ChannelTestView.as_view()),
    path("alert_rules", alerts.RuleListView.as_view()),
    path("alert_rules/<str:rule_id>", alerts.RuleDetailView.as_view()),
    path("alerts", alerts.AlertListView.as_view()),
    path("alerts/<str:alert_id>", alerts.AlertDetailView.as_view()),
    path("plugins", plugins.PluginListView.as_view()),
    path(PLUGIN, plugins.PluginDetailView.as_view()),
    path(f"{PLUGIN}/versions", plugins.VersionListView.as_view()),
    path(VERSION, plugins.VersionDetailView.as_view()),
    path(f"{VERSION}/code", plugins.VersionCodeView.as_view()),
    path(f"{VERSION}/properties", plugins.PropertyListView.as_view()),
    path(f"{VERSION}/properties/<str:technical_name>", plugins.PropertyDetailView.as_view()),
    path(f"{VERSION}/batching_configurations", plugins.BatchingConfigurationListView.as_view()),
    path(
        f"{VERSION}/batching_configurations/<str:configuration_id>",
        plugins.BatchingConfigurationDetailView.as_view(),
    ),
    path("integration_batch_instances", scheduling.InstanceListView.as_view()),
    path(INSTANCE, scheduling.InstanceDetailView.as_view()),
    path(f"{INSTANCE}/executions", scheduling.InstanceExecutionListView.as_view()),
    path(
        f"{INSTANCE}/executions/<str:execution_id>",
        scheduling.InstanceExecutionDetailView.as_view(),
    ),
    path(f"{INSTANCE}/backfills", scheduling.BackfillListView.as_view()),
    path(f"{INSTANCE}/backfills/<str:backfill_id>", scheduling.BackfillDetailView.as_view()),
    path(f"{INSTANCE}/backfills/<str:backfill_id>/cancel", scheduling.BackfillCancelView.as_view()),
    path("executions", scheduling.ExecutionListView.as_view()),
    path("executions/<str:execution_id>", scheduling.ExecutionDetailView.as_view()),
    path("executions/<str:execution_id>/cancel", scheduling.ExecutionCancelView.as_view()),
    path("executions/<str:execution_id>/log", scheduling.ExecutionLogView.as_view()),
    path("executions/<str:execution_id>/repeat", scheduling.ExecutionRepeatView.as_view()),
    path("datasets", ingestion.DatasetListView.as_view()),
    path("datasets/<str:dataset_id>", ingestion.DatasetDetailView.as_view()),
    path("datasets/<str:dataset_id>/preview", ingestion.DatasetPreviewView.as_view()),
    path("batches", ingestion.BatchListView.as_view()),
    path("batches/<str:batch_id>", ingestion.BatchView.as_view()),
    path(
        "batches/<str:batch_id>/datasets/<str:dataset_id>/files/<path:name>",
        ingestion.BatchFileView.as_view(),
    ),
    path("batch/<str:batch_id>", ingestion.BatchCatalogView.as_view()),
    path("transfer_jobs", transfers.TransferJobListView.as_view()),
    path("transfer_jobs/<str:job_id>", transfers.TransferJobDetailView.as_view()),
    path("transfer_jobs/<str:job_id>/cancel", transfers.TransferJobCancelView.as_view()),
    path("audience_segment_external_feeds", feeds.FeedListView.as_view()),
    path(FEED, feeds.FeedDetailView.as_view()),
    path(f"{FEED}/properties", feeds.FeedPropertiesView.as_view()),
    path(f"{FEED}/user_segment_updates", feeds.UserSegmentUpdatesView.as_view()),
    path(f"{FEED}/troubleshoot", feeds.FeedTroubleshootView.as_view()),
    path(f"{FEED}/connect", feeds.FeedConnectView.as_view()),
    path(f"{FEED}/buffers", feeds.FeedBufferListView.as_view()),
    path(f"{FEED}/batches", feeds.FeedBatchListView.as_view()),
    path(f"{FEED}/batches/<str:batch_id>", feeds.FeedBatchDetailView.as_view()),
    path(f"{FEED}/batches/<str:batch_id>/replay", feeds.FeedBatchReplayView.as_view()),
    re_path(r"^[\s\S]*$", not_found),  # any other /v1/ path, newlines included: a JSON 404
]
