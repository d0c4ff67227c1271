from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from apps.core.admin import (
    ActedOnAdmin,
    OrganisationScopedAdmin,
    OrganisationScopedInline,
    ReadOnlyInline,
    adopt_saved,
    saved_through_services,
)
from apps.plugins.property_types import is_secret, shown
from apps.runner.logs import read_log
from apps.runner.services import (
    backfill_cancel,
    execution_cancel,
    execution_create_manual,
    validate_manual_execution,
)
from apps.scheduling.models import (
    Backfill,
    Execution,
    ExecutionStatusChange,
    InstanceEvent,
    InstanceProperty,
    IntegrationBatchInstance,
)
from apps.scheduling.services import (
    EDITABLE_INSTANCE_FIELDS,
    instance_archive,
    instance_create,
    instance_pause,
    instance_restore,
    instance_resume,
    instance_update,
)


class InstancePropertyForm(forms.ModelForm):
    """A SECRET override shows only {"set": true}; sent back unchanged, it stays as it
    was; {"value": "…"} replaces it."""

    class Meta:
        model = InstanceProperty
        fields = ["property", "value"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self._stored_secret():
            self.initial["value"] = shown(self.instance.property.property_type, True)

    def clean_value(self):
        value = self.cleaned_data["value"]
        if self._stored_secret() and value == self.initial["value"]:
            return self.instance.value  # left as shown: the stored secret stays
        return value

    def _stored_secret(self) -> bool:
        return bool(self.instance.pk) and is_secret(self.instance.property.property_type)


class InstancePropertyInline(OrganisationScopedInline, admin.TabularInline):
    model = InstanceProperty
    form = InstancePropertyForm
    extra = 0
    verbose_name = "property override"

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        # Only the version's writable properties can be overridden.
        formset.form.base_fields["property"].queryset = obj.version.properties.filter(writable=True)
        return formset


class InstanceEventInline(ReadOnlyInline):
    model = InstanceEvent
    fields = readonly_fields = ("created_at", "action", "user", "reason")


@admin.register(IntegrationBatchInstance)
class IntegrationBatchInstanceAdmin(OrganisationScopedAdmin):
    list_display = [
        "name",
        "organisation",
        "version",
        "cron",
        "cron_timezone",
        "cron_status",
        "archived",
        "ram_size",
        "cpu_size",
        "disk_size",
    ]
    list_filter = ["cron_status", "archived", "organisation", "ram_size", "cpu_size", "disk_size"]
    list_select_related = ["organisation", "version__plugin"]
    search_fields = ["name", "version__plugin__artifact_id", "version__plugin__group_id"]
    readonly_fields = ["archived", "paused_reason", "created_at", "updated_at", "created_by"]
    actions = ["pause", "resume", "run_now", "archive", "restore"]

    def get_readonly_fields(self, request, obj=None):
        return ["organisation", *self.readonly_fields] if obj else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        # An archived instance is history: it is read, not edited.
        return super().has_change_permission(request, obj) and not (obj and obj.archived)

    def get_inlines(self, request, obj):
        return [InstancePropertyInline, InstanceEventInline] if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            changes = {
                f: form.cleaned_data[f] for f in form.changed_data if f in EDITABLE_INSTANCE_FIELDS
            }
            obj.refresh_from_db()  # the service applies the changes, from the saved state
            instance_update(instance=obj, user=request.user, **changes)
            return
        fields = {
            f: form.cleaned_data[f] for f in EDITABLE_INSTANCE_FIELDS if f in form.cleaned_data
        }
        adopt_saved(
            obj, instance_create(organisation=obj.organisation, user=request.user, **fields)
        )

    def save_formset(self, request, form, formset, change):
        """The instance's property overrides, set and removed through instance_update."""
        saved_through_services(formset)
        values = {
            row.cleaned_data["property"].technical_name: None
            if row in formset.deleted_forms
            else row.cleaned_data["value"]
            for row in formset.forms
            if row.has_changed() or row in formset.deleted_forms
            if row.cleaned_data.get("property")
        }
        if values:
            instance_update(instance=form.instance, user=request.user, properties=values)

    @admin.action(description="Pause the selected instances")
    def pause(self, request, queryset):
        self.apply_service(
            request, queryset, lambda i: instance_pause(instance=i, user=request.user), "Paused"
        )

    @admin.action(description="Resume the selected instances")
    def resume(self, request, queryset):
        self.apply_service(
            request, queryset, lambda i: instance_resume(instance=i, user=request.user), "Resumed"
        )

    @admin.action(description="Run the selected instances now")
    def run_now(self, request, queryset):
        self.apply_service(
            request,
            queryset,
            lambda i: execution_create_manual(instance=i, user=request.user),
            "Runs requested",
        )

    @admin.action(description="Archive the selected instances")
    def archive(self, request, queryset):
        self.apply_service(
            request, queryset, lambda i: instance_archive(instance=i, user=request.user), "Archived"
        )

    @admin.action(description="Restore the selected archived instances")
    def restore(self, request, queryset):
        self.apply_service(
            request, queryset, lambda i: instance_restore(instance=i, user=request.user), "Restored"
        )


class ExecutionStatusChangeInline(ReadOnlyInline):
    model = ExecutionStatusChange
    fields = readonly_fields = ("created_at", "from_status", "to_status", "user", "reason")


class ExecutionAddForm(forms.ModelForm):
    """A MANUAL execution: now, or at a later expected start date."""

    class Meta:
        model = Execution
        fields = ["instance", "expected_start_date", "parameters"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["expected_start_date"].required = False
        self.fields["expected_start_date"].help_text = "Leave empty to run now."

    def clean(self):
        cleaned = super().clean()
        try:
            validate_manual_execution(
                expected_start_date=cleaned.get("expected_start_date"),
                parameters=cleaned.get("parameters"),
            )
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                self.add_error(field, messages)
        return cleaned

    def _post_clean(self):
        pass  # the service builds and validates the execution itself


@admin.register(Execution)
class ExecutionAdmin(ActedOnAdmin):
    list_display = [
        "pk",
        "instance",
        "organisation",
        "execution_type",
        "status",
        "expected_start_date",
        "start_date",
        "end_date",
        "duration",
    ]
    list_filter = ["status", "execution_type", "organisation"]
    list_select_related = ["instance", "organisation"]
    date_hierarchy = "expected_start_date"
    search_fields = ["instance__name"]
    search_help_text = "Search by instance name."
    readonly_fields = [
        "instance",
        "organisation",
        "execution_type",
        "job_type",
        "status",
        "expected_start_date",
        "start_date",
        "end_date",
        "duration",
        "error",
        "parameters",
        "result",
        "user",
        "num_tasks",
        "completed_tasks",
        "erroneous_tasks",
        "attempt",
        "retry_of",
        "repeats",
        "backfill",
        "fire_time",
        "waits_for",
        "worker",
        "heartbeat_at",
        "cancel_requested_at",
        "cancel_requested_by",
        "created_at",
        "log",
    ]
    inlines = [ExecutionStatusChangeInline]
    actions = ["cancel"]

    @admin.display(description="log (first 64 KiB)")
    def log(self, execution):
        return format_html(
            "<pre style='white-space: pre-wrap'>{}</pre>", read_log(execution.pk).text
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "instance":
            field.queryset = field.queryset.filter(archived=False)
        return field

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ExecutionAddForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request, obj=None):
        return self.readonly_fields if obj else ExecutionAddForm.Meta.fields

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def get_inlines(self, request, obj):
        return self.inlines if obj else []

    def save_model(self, request, obj, form, change):
        adopt_saved(
            obj,
            execution_create_manual(
                instance=form.cleaned_data["instance"],
                user=request.user,
                expected_start_date=form.cleaned_data.get("expected_start_date"),
                parameters=form.cleaned_data.get("parameters"),
            ),
        )

    @admin.action(description="Cancel the selected executions")
    def cancel(self, request, queryset):
        self.apply_service(
            request,
            queryset,
            lambda e: execution_cancel(execution=e, user=request.user),
            "Canceled",
        )


@admin.register(Backfill)
class BackfillAdmin(ActedOnAdmin):
    """Backfills are asked for on an instance's page or by the API (they need a preview);
    here they are read, and their waiting runs canceled."""

    list_display = ["pk", "instance", "organisation", "start_date", "end_date", "run_count"]
    list_select_related = ["instance", "organisation"]
    list_filter = ["organisation"]
    search_fields = ["instance__name"]
    search_help_text = "Search by instance name."
    readonly_fields = [
        "instance",
        "organisation",
        "start_date",
        "end_date",
        "run_count",
        "skipped_count",
        "one_at_a_time",
        "parameters",
        "user",
        "created_at",
    ]
    actions = ["cancel"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Cancel the waiting runs of the selected backfills")
    def cancel(self, request, queryset):
        self.apply_service(
            request,
            queryset,
            lambda backfill: backfill_cancel(backfill=backfill, user=request.user),
            "Waiting runs canceled, backfills",
        )


@admin.register(InstanceProperty)
class InstancePropertyAdmin(OrganisationScopedAdmin):
    list_display = ["property", "instance", "shown_value"]
    list_select_related = ["property", "instance"]

    @admin.display(description="value")
    def shown_value(self, obj):
        return shown(obj.property.property_type, obj.value)  # a SECRET only as set

    search_fields = ["property__technical_name", "instance__name"]
    autocomplete_fields = ["instance", "property"]

    def get_readonly_fields(self, request, obj=None):
        return ["instance", "property"] if obj else []

    def save_model(self, request, obj, form, change):
        instance_update(
            instance=obj.instance,
            user=request.user,
            properties={obj.property.technical_name: form.cleaned_data["value"]},
        )
        adopt_saved(obj, obj.instance.property_overrides.get(property=obj.property))

    def delete_with_service(self, request, obj):
        instance_update(
            instance=obj.instance,
            user=request.user,
            properties={obj.property.technical_name: None},
        )
