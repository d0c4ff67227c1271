from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import FileResponse, Http404
from django.urls import path, reverse
from django.utils.html import format_html

from apps.core.admin import (
    OrganisationScopedAdmin,
    OrganisationScopedInline,
    adopt_saved,
    saved_through_services,
)
from apps.plugins.artifacts import inspect_artifact
from apps.plugins.models import (
    BatchingConfiguration,
    Plugin,
    PluginProperty,
    PluginType,
    PluginVersion,
)
from apps.plugins.services import (
    batching_configuration_delete,
    batching_configuration_set,
    plugin_create,
    plugin_delete,
    plugin_property_add,
    plugin_property_delete,
    plugin_property_update,
    plugin_rename,
    plugin_version_create,
    plugin_version_delete,
)


@admin.register(Plugin)
class PluginAdmin(OrganisationScopedAdmin):
    list_display = [
        "group_id",
        "artifact_id",
        "plugin_type",
        "organisation",
        "version_count",
        "created_at",
    ]
    list_filter = ["plugin_type", "organisation"]
    list_select_related = ["organisation"]
    search_fields = ["group_id", "artifact_id", "name"]
    readonly_fields = ["created_at", "created_by"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(version_count=Count("versions"))

    @admin.display(description="versions", ordering="version_count")
    def version_count(self, plugin):
        return plugin.version_count

    def get_readonly_fields(self, request, obj=None):
        # The coordinates and type identify the plugin: fixed once created.
        fixed = ["organisation", "plugin_type", "group_id", "artifact_id"] if obj else []
        return [*fixed, *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        if change:
            plugin_rename(plugin=obj, name=form.cleaned_data["name"])
            return
        adopt_saved(
            obj,
            plugin_create(
                organisation=obj.organisation,
                plugin_type=obj.plugin_type,
                group_id=obj.group_id,
                artifact_id=obj.artifact_id,
                name=obj.name,
                user=request.user,
            ),
        )

    def delete_with_service(self, request, obj):
        plugin_delete(plugin=obj)


class PropertyFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        for form in self.deleted_forms:
            if form.instance.pk:
                try:
                    form.instance.check_deletable()
                except ValidationError as error:
                    raise ValidationError(error.message_dict["technical_name"]) from None


class PluginPropertyInline(OrganisationScopedInline, admin.TabularInline):
    model = PluginProperty
    formset = PropertyFormSet
    extra = 0
    fields = ["technical_name", "property_type", "value", "origin", "writable", "deletable"]


class BatchingConfigurationInline(OrganisationScopedInline, admin.StackedInline):
    model = BatchingConfiguration
    max_num = 1
    can_delete = True


class PluginVersionAddForm(forms.ModelForm):
    class Meta:
        model = PluginVersion
        fields = ["plugin", "version_id", "artifact", "entry_point"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["artifact"].required = True  # the admin publishes a version with its code

    def _post_clean(self):
        # The artifact's checks run in the service; here they become form errors.
        super()._post_clean()
        artifact, plugin = self.cleaned_data.get("artifact"), self.cleaned_data.get("plugin")
        if artifact and plugin:
            try:
                inspect_artifact(
                    artifact, self.cleaned_data.get("entry_point", ""), plugin.plugin_type
                )
            except ValidationError as error:
                self._update_errors(error)


@admin.register(PluginVersion)
class PluginVersionAdmin(OrganisationScopedAdmin):
    list_display = [
        "plugin",
        "version_id",
        "artifact_name",
        "artifact_size",
        "short_sha256",
        "created_at",
    ]
    list_filter = ["plugin__plugin_type", "plugin__organisation"]
    list_select_related = ["plugin"]
    search_fields = ["version_id", "plugin__group_id", "plugin__artifact_id"]
    readonly_fields = [
        "plugin",
        "version_id",
        "download",
        "artifact_name",
        "artifact_size",
        "artifact_sha256",
        "entry_point",
        "created_at",
        "created_by",
    ]

    @admin.display(description="sha256")
    def short_sha256(self, version):
        return version.artifact_sha256[:12]

    @admin.display(description="code")
    def download(self, version):
        url = reverse("admin:plugins_pluginversion_artifact", args=[version.pk])
        return format_html('<a href="{}">{}</a>', url, version.artifact_name)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = PluginVersionAddForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request, obj=None):
        return self.readonly_fields if obj else PluginVersionAddForm.Meta.fields

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def get_inlines(self, request, obj):
        if obj is None:
            return [PluginPropertyInline]
        if obj.plugin.plugin_type == PluginType.AUDIENCE_SEGMENT_EXTERNAL_FEED:
            return [PluginPropertyInline, BatchingConfigurationInline]
        return [PluginPropertyInline]

    def save_model(self, request, obj, form, change):
        if change:
            return  # a published version never changes; only its inlines are saved
        adopt_saved(
            obj,
            plugin_version_create(
                plugin=form.cleaned_data["plugin"],
                version_id=form.cleaned_data["version_id"],
                artifact=form.cleaned_data["artifact"],
                entry_point=form.cleaned_data.get("entry_point", ""),
                user=request.user,
            ),
        )

    def delete_with_service(self, request, obj):
        plugin_version_delete(version=obj)

    def save_formset(self, request, form, formset, change):
        """The version's properties and batching configuration, through their services."""
        version = form.instance
        saved_through_services(formset)
        for row in formset.deleted_forms:
            if row.instance.pk:
                delete_inline_row(row.instance)
        for row in formset.forms:
            if row in formset.deleted_forms or not row.has_changed():
                continue
            fields = {name: row.cleaned_data[name] for name in row.changed_data}
            if isinstance(row.instance, PluginProperty):
                if row.instance.pk:  # the service applies the changes to the stored row
                    stored = PluginProperty.objects.get(pk=row.instance.pk)
                    plugin_property_update(prop=stored, **fields)
                else:
                    plugin_property_add(version=version, **_declared(row))
            else:
                batching_configuration_set(
                    version=version,
                    enable_batching=row.cleaned_data["enable_batching"],
                    batch_flush_max_size=row.cleaned_data["batch_flush_max_size"],
                )

    def get_urls(self):
        return [
            path(
                "<int:pk>/artifact/",
                self.admin_site.admin_view(self.artifact_view),
                name="plugins_pluginversion_artifact",
            ),
            *super().get_urls(),
        ]

    def artifact_view(self, request, pk):
        version = self.get_queryset(request).filter(pk=pk).first()
        if version is None or not self.has_view_permission(request, version):
            raise Http404
        return FileResponse(
            version.artifact.open("rb"), as_attachment=True, filename=version.artifact_name
        )


def _declared(row) -> dict:
    fields = ("technical_name", "property_type", "value", "origin", "writable", "deletable")
    return {name: row.cleaned_data[name] for name in fields if name in row.cleaned_data}


def delete_inline_row(obj) -> None:
    if isinstance(obj, PluginProperty):
        plugin_property_delete(prop=obj)
    else:
        batching_configuration_delete(configuration=obj)


@admin.register(PluginProperty)
class PluginPropertyAdmin(OrganisationScopedAdmin):
    list_display = ["technical_name", "property_type", "origin", "writable", "deletable", "version"]
    list_filter = ["property_type", "origin", "writable"]
    list_select_related = ["version__plugin"]
    search_fields = ["technical_name", "version__plugin__artifact_id"]
    autocomplete_fields = ["version"]
    actions = None  # bulk deletion would skip the per-property "deletable" rule

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or obj.deletable)

    def get_readonly_fields(self, request, obj=None):
        # A property's version, name and type are fixed once declared.
        return ["version", "technical_name", "property_type"] if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data}
            obj.refresh_from_db()
            plugin_property_update(prop=obj, **changes)
        else:
            adopt_saved(
                obj, plugin_property_add(version=form.cleaned_data["version"], **_declared(form))
            )

    def delete_with_service(self, request, obj):
        plugin_property_delete(prop=obj)


@admin.register(BatchingConfiguration)
class BatchingConfigurationAdmin(OrganisationScopedAdmin):
    list_display = ["version", "enable_batching", "batch_flush_max_size"]
    list_filter = ["enable_batching"]
    list_select_related = ["version__plugin"]
    search_fields = ["version__plugin__artifact_id"]
    autocomplete_fields = ["version"]

    def get_readonly_fields(self, request, obj=None):
        return ["version"] if obj else []

    def save_model(self, request, obj, form, change):
        adopt_saved(
            obj,
            batching_configuration_set(
                version=obj.version,
                enable_batching=form.cleaned_data["enable_batching"],
                batch_flush_max_size=form.cleaned_data["batch_flush_max_size"],
            ),
        )

    def delete_with_service(self, request, obj):
        batching_configuration_delete(configuration=obj)
