"""The console's alerts: the organisation's channels (add, send a test, renew the signing
secret, remove), its default rules, the recent alerts with their delivery attempts; and
an instance's own rules, added from its page."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.models import Role
from apps.accounts.permissions import change_role
from apps.alerts import selectors, services
from apps.alerts.forms import ChannelForm, RuleForm
from apps.alerts.models import AlertChannel, AlertRule
from apps.core.console import console_view, render_list, show_refusal
from apps.core.pagination import keyset_page
from apps.core.text import parse_int
from apps.scheduling.models import IntegrationBatchInstance


def _context(request, ws, channel_form=None, rule_form=None) -> dict:
    alerts = selectors.alerts_listed().filter(organisation=ws.organisation)
    return {
        "section": "alerts",
        "channels": AlertChannel.objects.filter(organisation=ws.organisation),
        "rules": selectors.rules_listed().filter(
            organisation=ws.organisation, instance__isnull=True
        ),
        "channel_form": channel_form or ChannelForm(),
        "rule_form": rule_form or RuleForm(organisation=ws.organisation),
        "page": keyset_page(alerts, "created_at", request.GET.get("before", "")),
        "can_admin": ws.role.includes(Role.ADMIN),
    }


def _refused(request, ws, **forms):
    return render(request, "alerts/alerts.html", _context(request, ws, **forms), status=400)


@require_GET
@console_view()
def alert_list(request, ws):
    return render_list(request, "alerts/alerts.html", _context(request, ws))


@require_POST
@console_view(change_role(AlertChannel))
def channel_new(request, ws):
    form = ChannelForm(request.POST)
    if form.is_valid():
        try:
            channel, secret = services.channel_create(
                organisation=ws.organisation, **form.cleaned_data
            )
        except ValidationError as refusal:
            show_refusal(form, refusal.message_dict)
        else:
            _show_secret(request, channel, secret)
            return redirect("alerts")
    return _refused(request, ws, channel_form=form)


def _channel_for(ws, pk) -> AlertChannel:
    channel = AlertChannel.objects.filter(organisation=ws.organisation, pk=pk).first()
    if channel is None:
        raise Http404("No such channel in this organisation.")
    return channel


@require_POST
@console_view(change_role(AlertChannel))
def channel_test(request, ws, pk):
    channel = _channel_for(ws, pk)
    services.channel_test(channel=channel, user=request.user)
    messages.success(
        request, f"A test alert to {channel.name} is on its way: see Recent alerts below."
    )
    return redirect("alerts")


@require_POST
@console_view(change_role(AlertChannel))
def channel_renew_secret(request, ws, pk):
    channel = _channel_for(ws, pk)
    _show_secret(request, channel, services.channel_renew_secret(channel=channel))
    return redirect("alerts")


@require_POST
@console_view(change_role(AlertChannel))
def channel_delete(request, ws, pk):
    channel = _channel_for(ws, pk)
    services.channel_delete(channel=channel)
    messages.success(request, f"Channel {channel.name} removed, with its rules.")
    return redirect("alerts")


def _show_secret(request, channel: AlertChannel, secret: str) -> None:
    messages.warning(
        request,
        f"Signing secret of {channel.name}: {secret} — copy it now, it is not shown again.",
    )


@require_http_methods(["POST"])
@console_view(change_role(AlertRule))
def rule_new(request, ws):
    """A default rule (from the Alerts page), or an instance's own (from its page)."""
    instance = None
    if request.POST.get("instance"):
        instance = IntegrationBatchInstance.objects.filter(
            organisation=ws.organisation, pk=parse_int(request.POST["instance"])
        ).first()
        if instance is None:
            raise Http404("No such instance in this organisation.")
    form = RuleForm(request.POST, organisation=ws.organisation)
    if form.is_valid():
        try:
            services.rule_create(
                organisation=ws.organisation, instance=instance, **form.cleaned_data
            )
        except ValidationError as refusal:
            show_refusal(form, refusal.message_dict)
        else:
            messages.success(request, "Alert rule added.")
            return redirect("instance", instance.pk) if instance else redirect("alerts")
    if instance is not None:
        errors = " ".join(" ".join(e) for e in form.errors.values())
        messages.error(request, f"Rule not added — {errors}")
        return redirect("instance", instance.pk)
    return _refused(request, ws, rule_form=form)


@require_POST
@console_view(change_role(AlertRule))
def rule_delete(request, ws, pk):
    rule = AlertRule.objects.filter(organisation=ws.organisation, pk=pk).first()
    if rule is None:
        raise Http404("No such rule in this organisation.")
    services.rule_delete(rule=rule)
    messages.success(request, "Alert rule removed.")
    return redirect("instance", rule.instance_id) if rule.instance_id else redirect("alerts")
