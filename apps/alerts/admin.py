from django.contrib import admin, messages

from apps.alerts import services
from apps.alerts.models import Alert, AlertChannel, AlertRule, DeliveryAttempt
from apps.core.admin import ActedOnAdmin, OrganisationScopedAdmin, ReadOnlyInline, adopt_saved


@admin.register(AlertChannel)
class AlertChannelAdmin(OrganisationScopedAdmin):
    list_display = ["name", "kind", "destination", "body_format", "organisation", "created_at"]
    list_filter = ["kind", "organisation"]
    list_select_related = ["organisation"]
    search_fields = ["name", "recipients", "url"]
    fields = ["organisation", "name", "kind", "recipients", "url", "body_format"]
    actions = ["send_test", "renew_secret"]

    def get_readonly_fields(self, request, obj=None):
        return ["organisation"] if obj else []

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in services.CHANNEL_FIELDS}
        if change:
            services.channel_update(channel=obj, **fields)
            return
        channel, secret = services.channel_create(
            organisation=form.cleaned_data["organisation"], **fields
        )
        adopt_saved(obj, channel)
        _show_secret(request, secret)

    def delete_with_service(self, request, obj):
        services.channel_delete(channel=obj)

    @admin.action(description="Send the selected channels a test alert")
    def send_test(self, request, queryset):
        self.apply_service(
            request,
            queryset,
            lambda channel: services.channel_test(channel=channel, user=request.user),
            "Test alerts queued",
        )

    @admin.action(description="Renew the selected channels' signing secrets")
    def renew_secret(self, request, queryset):
        def renew(channel):
            _show_secret(request, services.channel_renew_secret(channel=channel), channel)

        self.apply_service(request, queryset, renew, "Renewed")


def _show_secret(request, secret: str, channel=None) -> None:
    whose = f" of {channel}" if channel else ""
    messages.warning(
        request, f"The signing secret{whose} is {secret} — copy it now: it is not shown again."
    )


@admin.register(AlertRule)
class AlertRuleAdmin(OrganisationScopedAdmin):
    list_display = ["__str__", "channel", "triggers", "organisation"]
    list_filter = ["organisation"]
    list_select_related = ["organisation", "instance", "channel"]
    raw_id_fields = ["instance"]
    fields = ["organisation", "instance", *services.RULE_FIELDS]

    @admin.display(description="Alerts on")
    def triggers(self, rule):
        return ", ".join(rule.triggers())

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in services.RULE_FIELDS}
        if change:
            services.rule_update(rule=obj, **fields)
            return
        adopt_saved(
            obj,
            services.rule_create(
                organisation=form.cleaned_data["organisation"],
                instance=form.cleaned_data["instance"],
                **fields,
            ),
        )

    def delete_with_service(self, request, obj):
        services.rule_delete(rule=obj)


class DeliveryAttemptInline(ReadOnlyInline):
    model = DeliveryAttempt
    fields = readonly_fields = ("attempted_at", "http_status", "error", "duration_ms")


@admin.register(Alert)
class AlertAdmin(ActedOnAdmin):
    list_display = ["subject", "kind", "channel", "status", "attempts", "created_at", "closed_at"]
    list_filter = ["kind", "status", "organisation"]
    list_select_related = ["channel", "organisation"]
    search_fields = ["subject"]
    readonly_fields = [field.name for field in Alert._meta.fields]
    inlines = [DeliveryAttemptInline]

    def has_add_permission(self, request):
        return False  # the runs, the watcher and the test action make them
