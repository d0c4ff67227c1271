from rest_framework import serializers

from apps.accounts.models import Role
from apps.alerts.models import (
    MAX_MINUTES,
    AlertKind,
    BodyFormat,
    ChannelKind,
    DeliveryStatus,
)
from apps.core.api.fields import EpochMillisField, IdField, IdInputField, StrictSerializer
from apps.core.api.responses import PageParameters


class _ChannelFields(serializers.Serializer):
    id = IdField(source="pk")
    organisation_id = IdField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=ChannelKind.choices)
    recipients = serializers.ListField(
        child=serializers.CharField(), source="recipient_list", help_text="EMAIL channels."
    )
    url = serializers.SerializerMethodField(
        help_text="WEBHOOK channels; its path shown to admins only (it may be a credential)."
    )
    body_format = serializers.ChoiceField(choices=BodyFormat.choices)
    created_at = EpochMillisField()

    def get_url(self, channel) -> str:
        if not channel.url:
            return ""
        access = self.context.get("access")
        admin = access is None or access.role_in(channel.organisation_id) == Role.ADMIN
        return channel.url if admin else channel.masked_destination


class ChannelSerializer(_ChannelFields):
    signing_secret = serializers.SerializerMethodField(
        help_text='Always {"set": true}: the secret is shown once, when created or renewed.'
    )

    def get_signing_secret(self, channel) -> dict:
        return {"set": bool(channel.signing_secret)}


class NewSecretChannelSerializer(_ChannelFields):
    signing_secret = serializers.CharField(
        help_text="The HMAC-SHA256 key of the webhook signatures, in this answer only."
    )


class _ChannelSettings(StrictSerializer):
    recipients = serializers.ListField(
        child=serializers.CharField(max_length=254),
        max_length=20,
        required=False,
        help_text="EMAIL: the addresses to send to.",
    )
    url = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, help_text="WEBHOOK: http(s) URL."
    )
    body_format = serializers.ChoiceField(
        choices=BodyFormat.choices,
        required=False,
        help_text='WEBHOOK: JSON (the alert and its run) or SLACK ({"text": …}).',
    )


class ChannelWriteSerializer(_ChannelSettings):
    organisation_id = IdInputField(required=False)
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=ChannelKind.choices)


class ChannelUpdateSerializer(_ChannelSettings):
    name = serializers.CharField(max_length=200, required=False)
    kind = serializers.ChoiceField(choices=ChannelKind.choices, required=False)
    renew_signing_secret = serializers.BooleanField(
        required=False, help_text="true: a new signing secret, shown in this answer only."
    )


class ChannelFilterSerializer(PageParameters):
    organisation_id = IdInputField(required=False)


class RuleSerializer(serializers.Serializer):
    id = IdField(source="pk")
    organisation_id = IdField()
    instance_id = IdField(
        allow_null=True, help_text="null: the organisation's default, for instances with none."
    )
    channel_id = IdField()
    channel_name = serializers.CharField(source="channel.name")
    on_failure = serializers.BooleanField()
    on_recovery = serializers.BooleanField()
    not_started_minutes = serializers.IntegerField(allow_null=True)
    running_longer_than_minutes = serializers.IntegerField(allow_null=True)
    running_longer_than_p95 = serializers.FloatField(allow_null=True)
    created_at = EpochMillisField()


class _RuleTriggers(StrictSerializer):
    on_failure = serializers.BooleanField(required=False)
    on_recovery = serializers.BooleanField(required=False)
    not_started_minutes = serializers.IntegerField(
        min_value=1, max_value=MAX_MINUTES, required=False, allow_null=True
    )
    running_longer_than_minutes = serializers.IntegerField(
        min_value=1, max_value=MAX_MINUTES, required=False, allow_null=True
    )
    running_longer_than_p95 = serializers.FloatField(
        min_value=1.0, max_value=100.0, required=False, allow_null=True
    )


class RuleWriteSerializer(_RuleTriggers):
    organisation_id = IdInputField(required=False)
    instance_id = IdInputField(
        required=False, allow_null=True, help_text="Omit or null: the organisation's default."
    )
    channel_id = IdInputField()


class RuleUpdateSerializer(_RuleTriggers):
    channel_id = IdInputField(required=False)


class RuleFilterSerializer(PageParameters):
    organisation_id = IdInputField(required=False)
    instance_id = IdInputField(required=False)
    default = serializers.BooleanField(
        required=False, help_text="true: only the organisations' default rules."
    )


class AttemptSerializer(serializers.Serializer):
    attempted_at = EpochMillisField()
    http_status = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(help_text="Empty when the attempt succeeded.")
    duration_ms = serializers.IntegerField()


class AlertSerializer(serializers.Serializer):
    id = IdField(source="pk")
    organisation_id = IdField()
    kind = serializers.ChoiceField(choices=AlertKind.choices)
    channel_id = IdField()
    rule_id = IdField(allow_null=True)
    instance_id = IdField(allow_null=True)
    execution_id = IdField(allow_null=True)
    subject = serializers.CharField()
    message = serializers.CharField()
    failures = serializers.IntegerField(help_text="FAILURE: failed runs in the streak so far.")
    created_at = EpochMillisField()
    closed_at = EpochMillisField(allow_null=True, help_text="FAILURE: when a success ended it.")
    delivery_status = serializers.ChoiceField(source="status", choices=DeliveryStatus.choices)
    sent_at = EpochMillisField(allow_null=True)
    attempts = AttemptSerializer(source="delivery_attempts", many=True)


class AlertFilterSerializer(PageParameters):
    organisation_id = IdInputField(required=False)
    channel_id = IdInputField(required=False)
    instance_id = IdInputField(required=False)
    kind = serializers.ChoiceField(choices=AlertKind.choices, required=False)
    delivery_status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)
