"""Reads of plugins and versions, the same for the console and the API: each a fixed
number of queries, whatever the row count."""

from django.db.models import Count, OuterRef, Subquery

from apps.plugins.models import Plugin, PluginVersion


def plugins_with_current_version():
    """Plugins with `current_version_id`, their latest version's id, as the API shows."""
    latest = PluginVersion.objects.filter(plugin=OuterRef("pk")).order_by("-created_at", "-pk")
    return Plugin.objects.annotate(current_version_id=Subquery(latest.values("pk")[:1])).order_by(
        "pk"
    )


def plugin_rows(organisation):
    """The console's list: with how many versions and instances each plugin has."""
    return (
        Plugin.objects.filter(organisation=organisation)
        .annotate(
            version_count=Count("versions", distinct=True),
            instance_count=Count("versions__instances", distinct=True),
        )
        .order_by("group_id", "artifact_id")
    )


def versions_of(plugin: Plugin):
    """The plugin's versions, newest first, with their properties (and instance counts)."""
    return (
        plugin.versions.annotate(instance_count=Count("instances"))
        .prefetch_related("properties")
        .order_by("-created_at", "-pk")
    )
