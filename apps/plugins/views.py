"""The console's plugin pages: list, detail with versions, create, publish a version."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from apps.accounts.permissions import change_role
from apps.core.console import added_formset_row, console_view, show_refusal
from apps.plugins import selectors
from apps.plugins.artifacts import read_code
from apps.plugins.forms import PluginForm, PropertyFormSet, VersionForm, show_version_errors
from apps.plugins.models import Plugin, PluginVersion
from apps.plugins.property_types import value_as_display
from apps.plugins.services import plugin_create, plugin_version_create


def _plugin_for(ws, pk) -> Plugin:
    return get_object_or_404(Plugin, pk=pk, organisation=ws.organisation)


@require_GET
@console_view()
def plugin_list(request, ws):
    plugins = selectors.plugin_rows(ws.organisation)
    return render(request, "plugins/plugin_list.html", {"section": "plugins", "plugins": plugins})


def _version_for(ws, pk, version_pk) -> PluginVersion:
    return get_object_or_404(
        PluginVersion.objects.select_related("plugin").exclude(artifact=""),
        pk=version_pk,
        plugin__pk=pk,
        plugin__organisation=ws.organisation,
    )


@require_GET
@console_view()
def version_code(request, ws, pk, version_pk):
    """A version's code as published: a .py file's lines, or a package's file list."""
    version = _version_for(ws, pk, version_pk)
    return render(
        request,
        "plugins/version_code.html",
        {"section": "plugins", "version": version, "code": read_code(version)},
    )


@require_GET
@console_view()
def version_download(request, ws, pk, version_pk):
    version = _version_for(ws, pk, version_pk)
    return FileResponse(
        version.artifact.open("rb"), as_attachment=True, filename=version.artifact_name
    )


@require_http_methods(["GET", "POST"])
@console_view(change_role(Plugin))
def plugin_new(request, ws):
    form = PluginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            plugin = plugin_create(
                organisation=ws.organisation, user=request.user, **form.cleaned_data
            )
        except ValidationError as refusal:
            show_refusal(form, refusal.message_dict)
        else:
            messages.success(request, f"{plugin} created: publish its first version.")
            return redirect("version_new", plugin.pk)
    return render(request, "plugins/plugin_form.html", {"section": "plugins", "form": form})


@require_GET
@console_view()
def plugin_detail(request, ws, pk):
    plugin = _plugin_for(ws, pk)
    versions = selectors.versions_of(plugin)
    rows = [
        (
            version,
            [
                (prop, value_as_display(prop.property_type, prop.value))
                for prop in version.properties.all()
            ],
        )
        for version in versions
    ]
    return render(
        request,
        "plugins/plugin_detail.html",
        {"section": "plugins", "plugin": plugin, "versions": rows},
    )


@require_http_methods(["GET", "POST"])
@console_view(change_role(PluginVersion))
def version_new(request, ws, pk):
    """Publish a version: its code and the properties it declares."""
    plugin = _plugin_for(ws, pk)
    data = request.POST if request.method == "POST" else None
    version_form = VersionForm(data, request.FILES or None)
    properties = PropertyFormSet(data, prefix="properties")
    # Both validated, so that the errors of each show at once.
    if data is not None and all([version_form.is_valid(), properties.is_valid()]):
        declared = [form.declaration() for form in properties if form.has_changed()]
        try:
            version = plugin_version_create(
                plugin=plugin,
                version_id=version_form.cleaned_data["version_id"],
                artifact=version_form.cleaned_data["code"],
                entry_point=version_form.cleaned_data["entry_point"],
                properties=declared,
                user=request.user,
            )
        except ValidationError as refusal:
            show_version_errors(refusal, version_form, properties)
        else:
            messages.success(request, f"{plugin} {version.version_id} published.")
            return redirect("plugin", plugin.pk)
    return render(
        request,
        "plugins/version_form.html",
        {
            "section": "plugins",
            "plugin": plugin,
            "form": version_form,
            "properties": properties,
        },
    )


@require_GET
@console_view(change_role(PluginVersion))
def property_row(request, ws, pk):
    """One more property row for the version form (and the form's new row count)."""
    plugin = _plugin_for(ws, pk)
    form, next_index = added_formset_row(request, PropertyFormSet, "properties")
    return render(
        request,
        "plugins/version_form.html#property-row",
        {"plugin": plugin, "form": form, "next_index": next_index, "added": True},
    )
