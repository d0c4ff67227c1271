from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api.fields import EpochMillisField, IdField, IdInputField, StrictSerializer
from apps.core.api.responses import PageParameters
from apps.feeds.models import BatchStatus, FeedStatus, Operation, SetupStatus
from apps.scheduling.models import ResourceSize


class FeedPropertySerializer(serializers.Serializer):
    technical_name = serializers.CharField()
    property_type = serializers.CharField()
    value = serializers.JSONField()
    origin = serializers.CharField()


class BatchingSerializer(serializers.Serializer):
    enable_batching = serializers.BooleanField()
    batch_flush_max_size = serializers.IntegerField()


class TroubleshootSerializer(serializers.Serializer):
    requested_at = EpochMillisField()
    answered_at = EpochMillisField(allow_null=True)
    answer = serializers.JSONField(
        allow_null=True, help_text="on_troubleshoot's answer: {status, message?, data?}."
    )


class FeedSerializer(serializers.Serializer):
    id = IdField(source="pk")
    organisation_id = IdField()
    plugin_id = IdField(source="version.plugin_id")
    plugin_version_id = IdField(source="version_id")
    group_id = serializers.CharField(source="version.plugin.group_id")
    artifact_id = serializers.CharField(source="version.plugin.artifact_id")
    version_id = serializers.CharField(source="version.version_id")
    audience_segment_id = serializers.CharField(source="segment_id")
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=FeedStatus.choices)
    ram_size = serializers.ChoiceField(choices=ResourceSize.choices)
    cpu_size = serializers.ChoiceField(choices=ResourceSize.choices)
    disk_size = serializers.ChoiceField(choices=ResourceSize.choices)
    batching = BatchingSerializer(allow_null=True, help_text="null: every update on its own.")
    creation_status = serializers.ChoiceField(choices=SetupStatus.choices)
    connection_status = serializers.ChoiceField(choices=SetupStatus.choices)
    setup_message = serializers.CharField(help_text="What the handlers answered last.")
    troubleshoot = serializers.SerializerMethodField()
    created_at = EpochMillisField()
    updated_at = EpochMillisField()

    @extend_schema_field(TroubleshootSerializer(allow_null=True))
    def get_troubleshoot(self, feed):
        if feed.troubleshoot_requested_at is None:
            return None
        return TroubleshootSerializer(
            {
                "requested_at": feed.troubleshoot_requested_at,
                "answered_at": feed.troubleshoot_answered_at,
                "answer": feed.troubleshoot_answer if feed.troubleshoot_answered_at else None,
            }
        ).data


class FeedWriteSerializer(StrictSerializer):
    organisation_id = IdInputField(required=False)
    plugin_version_id = IdInputField(help_text="The AUDIENCE_SEGMENT_EXTERNAL_FEED version.")
    audience_segment_id = serializers.CharField(max_length=255)
    name = serializers.CharField(max_length=255, required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=FeedStatus.choices, required=False)
    ram_size = serializers.ChoiceField(choices=ResourceSize.choices, required=False)
    cpu_size = serializers.ChoiceField(choices=ResourceSize.choices, required=False)
    disk_size = serializers.ChoiceField(choices=ResourceSize.choices, required=False)
    properties = serializers.DictField(
        child=serializers.JSONField(allow_null=True),
        required=False,
        help_text='By technical name: {"partner_url": {"url": "https://…"}}; null removes one.',
    )


class FeedUpdateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=255, required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=FeedStatus.choices, required=False)
    ram_size = serializers.ChoiceField(choices=ResourceSize.choices, required=False)
    cpu_size = serializers.ChoiceField(choices=ResourceSize.choices, required=False)
    disk_size = serializers.ChoiceField(choices=ResourceSize.choices, required=False)
    properties = serializers.DictField(child=serializers.JSONField(allow_null=True), required=False)


class FeedFilterSerializer(PageParameters):
    status = serializers.ChoiceField(choices=FeedStatus.choices, required=False)
    plugin_version_id = IdInputField(required=False)


class UserSegmentUpdateSerializer(serializers.Serializer):
    """One unit update, as senders post it (a list of them, or one)."""

    user_identifiers = serializers.ListField(child=serializers.DictField())
    operation = serializers.ChoiceField(choices=Operation.choices)
    ts = serializers.IntegerField(required=False, help_text="Epoch ms; now by default.")
    session_id = serializers.CharField(required=False)


class AcceptedSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Updates stored, to be handled in order.")


class BufferSerializer(serializers.Serializer):
    grouping_key = serializers.CharField()
    size = serializers.IntegerField()
    oldest = EpochMillisField()


class FeedBatchSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    feed_id = IdField()
    grouping_key = serializers.CharField()
    status = serializers.ChoiceField(choices=BatchStatus.choices)
    line_count = serializers.IntegerField()
    flushed_because = serializers.CharField()
    attempts = serializers.IntegerField()
    next_attempt_at = EpochMillisField(allow_null=True)
    message = serializers.CharField()
    send_items_in_success = serializers.IntegerField(allow_null=True)
    send_items_in_error = serializers.IntegerField(allow_null=True)
    created_at = EpochMillisField()
    delivered_at = EpochMillisField(allow_null=True)


class FeedBatchFilterSerializer(PageParameters):
    status = serializers.ChoiceField(choices=BatchStatus.choices, required=False)
    grouping_key = serializers.CharField(required=False)
