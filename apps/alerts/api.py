"""/v1/alert_channels, /v1/alert_rules and /v1/alerts."""

from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from apps.accounts.models import Role
from apps.accounts.permissions import change_role
from apps.alerts import selectors, services
from apps.alerts.models import AlertChannel, AlertRule
from apps.alerts.serializers import (
    AlertFilterSerializer,
    AlertSerializer,
    ChannelFilterSerializer,
    ChannelSerializer,
    ChannelUpdateSerializer,
    ChannelWriteSerializer,
    NewSecretChannelSerializer,
    RuleFilterSerializer,
    RuleSerializer,
    RuleUpdateSerializer,
    RuleWriteSerializer,
)
from apps.core.api.access import Access
from apps.core.api.errors import MissingReference
from apps.core.api.inputs import as_id, by_id, valid
from apps.core.api.responses import envelope, ok, page
from apps.scheduling.models import IntegrationBatchInstance


def _channel(request, channel_id, minimum: Role = Role.READER) -> AlertChannel:
    return Access.of(request).get(AlertChannel.objects.all(), channel_id, minimum)


def _channel_changes(data: dict) -> dict:
    changes = {name: data[name] for name in ("name", "kind", "url", "body_format") if name in data}
    if "recipients" in data:
        changes["recipients"] = ", ".join(data["recipients"])
    return changes


def _with_secret(channel: AlertChannel, secret: str, status: int = 200):
    """The channel as NewSecretChannelSerializer documents it: with its secret in clear."""
    return ok({**ChannelSerializer(channel).data, "signing_secret": secret}, status=status)


class ChannelListView(APIView):
    @extend_schema(
        operation_id="alert_channels_list",
        parameters=[ChannelFilterSerializer],
        responses=envelope(ChannelSerializer, many=True),
    )
    def get(self, request):
        """Where your organisations' alerts go."""
        params = valid(ChannelFilterSerializer, request.query_params)
        found = Access.of(request).scoped(AlertChannel.objects.all())
        if "organisation_id" in params:
            found = found.filter(organisation_id=as_id(params["organisation_id"]))
        return page(found, ChannelSerializer, params, context={"access": Access.of(request)})

    @extend_schema(
        request=ChannelWriteSerializer, responses={201: envelope(NewSecretChannelSerializer)}
    )
    def post(self, request):
        """Add a channel (admins): EMAIL with recipients, or WEBHOOK with a url. The answer
        holds the webhook signing secret, this once."""
        access = Access.of(request)
        access.require_somewhere(change_role(AlertChannel))
        data = valid(ChannelWriteSerializer, request.data)
        organisation = access.organisation_for_new(AlertChannel, data.get("organisation_id"))
        channel, secret = services.channel_create(
            organisation=organisation, **_channel_changes(data)
        )
        return _with_secret(channel, secret, status=201)


class ChannelDetailView(APIView):
    @extend_schema(responses=envelope(ChannelSerializer))
    def get(self, request, channel_id):
        channel = _channel(request, channel_id)
        return ok(ChannelSerializer(channel, context={"access": Access.of(request)}).data)

    @extend_schema(request=ChannelUpdateSerializer, responses=envelope(ChannelSerializer))
    def put(self, request, channel_id):
        """Change a channel (admins): the fields sent change. renew_signing_secret: true
        answers with a new secret, this once."""
        channel = _channel(request, channel_id, change_role(AlertChannel))
        data = valid(ChannelUpdateSerializer, request.data, partial=True)
        if changes := _channel_changes(data):
            services.channel_update(channel=channel, **changes)
        if data.get("renew_signing_secret"):
            return _with_secret(channel, services.channel_renew_secret(channel=channel))
        return ok(ChannelSerializer(channel).data)

    patch = put

    @extend_schema(responses={200: envelope(ChannelSerializer)})
    def delete(self, request, channel_id):
        """Remove a channel (admins), with the rules that send to it and its alerts."""
        channel = _channel(request, channel_id, change_role(AlertChannel))
        deleted = ChannelSerializer(channel).data
        services.channel_delete(channel=channel)
        return ok(deleted)


class ChannelTestView(APIView):
    @extend_schema(request=None, responses={202: envelope(AlertSerializer)})
    def post(self, request, channel_id):
        """Send the channel a test alert (admins). A worker sends it; the alert's attempts
        say how it went."""
        channel = _channel(request, channel_id, change_role(AlertChannel))
        alert = services.channel_test(channel=channel, user=request.user)
        return ok(AlertSerializer(selectors.alerts_listed().get(pk=alert.pk)).data, status=202)


def _rule(request, rule_id, minimum: Role = Role.READER) -> AlertRule:
    return Access.of(request).get(selectors.rules_listed(), rule_id, minimum)


def _rule_fields(data: dict, organisation_id: int) -> dict:
    fields = {name: data[name] for name in services.RULE_FIELDS[1:] if name in data}
    if "channel_id" in data:
        channel = by_id(
            AlertChannel.objects.filter(organisation_id=organisation_id), data["channel_id"]
        ).first()
        if channel is None:
            raise MissingReference("channel_id", "No such channel in this organisation.")
        fields["channel"] = channel
    return fields


class RuleListView(APIView):
    @extend_schema(
        operation_id="alert_rules_list",
        parameters=[RuleFilterSerializer],
        responses=envelope(RuleSerializer, many=True),
    )
    def get(self, request):
        """Alert rules: instances' own, and the organisations' defaults (instance_id null),
        which apply to every instance without rules of its own."""
        params = valid(RuleFilterSerializer, request.query_params)
        found = Access.of(request).scoped(selectors.rules_listed())
        if "organisation_id" in params:
            found = found.filter(organisation_id=as_id(params["organisation_id"]))
        if "instance_id" in params:
            found = found.filter(instance_id=as_id(params["instance_id"]))
        if "default" in params:
            found = found.filter(instance__isnull=params["default"])
        return page(found, RuleSerializer, params)

    @extend_schema(request=RuleWriteSerializer, responses={201: envelope(RuleSerializer)})
    def post(self, request):
        """Add a rule (editors): for an instance, or the organisation's default."""
        access = Access.of(request)
        access.require_somewhere(change_role(AlertRule))
        data = valid(RuleWriteSerializer, request.data)
        instance = None
        if data.get("instance_id") is not None:
            instance = access.get(
                IntegrationBatchInstance.objects.all(), data["instance_id"], change_role(AlertRule)
            )
        organisation_id = instance.organisation_id if instance else data.get("organisation_id")
        organisation = access.organisation_for_new(AlertRule, organisation_id)
        rule = services.rule_create(
            organisation=organisation,
            instance=instance,
            **_rule_fields(data, organisation.pk),
        )
        return ok(RuleSerializer(rule).data, status=201)


class RuleDetailView(APIView):
    @extend_schema(responses=envelope(RuleSerializer))
    def get(self, request, rule_id):
        return ok(RuleSerializer(_rule(request, rule_id)).data)

    @extend_schema(request=RuleUpdateSerializer, responses=envelope(RuleSerializer))
    def put(self, request, rule_id):
        """Change a rule (editors): the fields sent change."""
        rule = _rule(request, rule_id, change_role(AlertRule))
        data = valid(RuleUpdateSerializer, request.data, partial=True)
        if changes := _rule_fields(data, rule.organisation_id):
            services.rule_update(rule=rule, **changes)
        return ok(RuleSerializer(rule).data)

    patch = put

    @extend_schema(responses={200: envelope(RuleSerializer)})
    def delete(self, request, rule_id):
        """Remove a rule (editors)."""
        rule = _rule(request, rule_id, change_role(AlertRule))
        deleted = RuleSerializer(rule).data
        services.rule_delete(rule=rule)
        return ok(deleted)


class AlertListView(APIView):
    @extend_schema(
        operation_id="alerts_list",
        parameters=[AlertFilterSerializer],
        responses=envelope(AlertSerializer, many=True),
    )
    def get(self, request):
        """Alerts sent and being sent, newest first, each with its delivery attempts."""
        params = valid(AlertFilterSerializer, request.query_params)
        found = Access.of(request).scoped(selectors.alerts_listed())
        for name in ("organisation_id", "channel_id", "instance_id"):
            if name in params:
                found = found.filter(**{name: as_id(params[name])})
        if "kind" in params:
            found = found.filter(kind=params["kind"])
        if "delivery_status" in params:
            found = found.filter(status=params["delivery_status"])
        return page(found, AlertSerializer, params)


class AlertDetailView(APIView):
    @extend_schema(responses=envelope(AlertSerializer))
    def get(self, request, alert_id):
        return ok(AlertSerializer(Access.of(request).get(selectors.alerts_listed(), alert_id)).data)
