"""/v1/plugins, their versions, properties, code and batching configurations."""

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.views import APIView

from apps.accounts.models import Role
from apps.accounts.permissions import change_role
from apps.core.api.access import Access
from apps.core.api.errors import api_field_names
from apps.core.api.inputs import as_id, refuse_changes, valid
from apps.core.api.responses import PageParameters, envelope, ok, page
from apps.plugins import selectors
from apps.plugins.models import BatchingConfiguration, Plugin, PluginProperty, PluginVersion
from apps.plugins.serializers import (
    BatchingConfigurationSerializer,
    BatchingConfigurationWriteSerializer,
    CodeUploadSerializer,
    PluginCreateSerializer,
    PluginFilterSerializer,
    PluginSerializer,
    PluginUpdateSerializer,
    PropertySerializer,
    PropertyUpdateSerializer,
    VersionCreateSerializer,
    VersionSerializer,
)
from apps.plugins.services import (
    batching_configuration_create,
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
    plugin_version_upload_code,
)

# --- Plugins -------------------------------------------------------------------------------


class PluginListView(APIView):
    @extend_schema(
        operation_id="plugins_list",
        parameters=[PluginFilterSerializer],
        responses=envelope(PluginSerializer, many=True),
    )
    def get(self, request):
        """Plugins of your organisations, filtered by organisation_id and plugin_type."""
        access = Access.of(request)
        params = valid(PluginFilterSerializer, request.query_params)
        found = access.scoped(selectors.plugins_with_current_version())
        if "organisation_id" in params:
            found = found.filter(organisation_id=as_id(params["organisation_id"]))
        if "plugin_type" in params:
            found = found.filter(plugin_type=params["plugin_type"])
        return page(found, PluginSerializer, params)

    @extend_schema(request=PluginCreateSerializer, responses={201: envelope(PluginSerializer)})
    def post(self, request):
        """Declare a plugin (editors)."""
        access = Access.of(request)
        access.require_somewhere(change_role(Plugin))
        data = valid(PluginCreateSerializer, request.data)
        organisation = access.organisation_for_new(Plugin, data.pop("organisation_id", None))
        plugin = plugin_create(organisation=organisation, user=request.user, **data)
        return ok(
            PluginSerializer(selectors.plugins_with_current_version().get(pk=plugin.pk)).data,
            status=201,
        )


class PluginDetailView(APIView):
    @extend_schema(responses=envelope(PluginSerializer))
    def get(self, request, plugin_id):
        return ok(
            PluginSerializer(
                Access.of(request).get(selectors.plugins_with_current_version(), plugin_id)
            ).data
        )

    @extend_schema(request=PluginUpdateSerializer, responses=envelope(PluginSerializer))
    def put(self, request, plugin_id):
        """Rename a plugin (editors). Its type and coordinates are fixed once created."""
        plugin = Access.of(request).get(
            selectors.plugins_with_current_version(), plugin_id, change_role(Plugin)
        )
        data = valid(PluginUpdateSerializer, request.data)
        refuse_changes(
            data,
            PluginSerializer(plugin).data,
            ["organisation_id", "plugin_type", "group_id", "artifact_id"],
        )
        return ok(PluginSerializer(plugin_rename(plugin=plugin, name=data["name"])).data)

    @extend_schema(responses={200: envelope(PluginSerializer)})
    def delete(self, request, plugin_id):
        """Delete a plugin and its versions (editors), unless instances use them."""
        plugin = Access.of(request).get(
            selectors.plugins_with_current_version(), plugin_id, change_role(Plugin)
        )
        deleted = PluginSerializer(plugin).data
        plugin_delete(plugin=plugin)
        return ok(deleted)


# --- Versions ------------------------------------------------------------------------------


def get_version(request, plugin_id, version_id, minimum: Role = Role.READER) -> PluginVersion:
    """A version by its id, or by its semantic version_id ("1.0.0") within the plugin."""
    plugin = Access.of(request).get(Plugin.objects.all(), plugin_id, minimum)
    lookup = {"version_id": version_id} if "." in str(version_id) else {"pk": as_id(version_id)}
    version = selectors.versions_of(plugin).filter(**lookup).first()
    if version is None:
        raise NotFound()
    return version


class VersionListView(APIView):
    @extend_schema(
        operation_id="plugins_versions_list",
        parameters=[PageParameters],
        responses=envelope(VersionSerializer, many=True),
    )
    def get(self, request, plugin_id):
        """The plugin's versions, newest first, with their properties and code checksum."""
        plugin = Access.of(request).get(Plugin.objects.all(), plugin_id)
        return page(
            selectors.versions_of(plugin),
            VersionSerializer,
            valid(PageParameters, request.query_params),
        )

    @extend_schema(request=VersionCreateSerializer, responses={201: envelope(VersionSerializer)})
    def post(self, request, plugin_id):
        """Declare a version and its properties (editors); its code is uploaded to
        .../versions/{version_id}/code."""
        plugin = Access.of(request).get(Plugin.objects.all(), plugin_id, change_role(PluginVersion))
        data = valid(VersionCreateSerializer, request.data)
        version = plugin_version_create(
            plugin=plugin,
            version_id=data["version_id"],
            properties=data["plugin_properties"],
            user=request.user,
        )
        return ok(
            VersionSerializer(selectors.versions_of(plugin).get(pk=version.pk)).data, status=201
        )


class VersionDetailView(APIView):
    @extend_schema(responses=envelope(VersionSerializer))
    def get(self, request, plugin_id, version_id):
        return ok(VersionSerializer(get_version(request, plugin_id, version_id)).data)

    @extend_schema(responses={200: envelope(VersionSerializer)})
    def delete(self, request, plugin_id, version_id):
        """Delete a version no instance uses (editors)."""
        version = get_version(request, plugin_id, version_id, change_role(PluginVersion))
        deleted = VersionSerializer(version).data
        plugin_version_delete(version=version)
        return ok(deleted)


class VersionCodeView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, plugin_id, version_id):
        """Download the version's code, as uploaded."""
        version = get_version(request, plugin_id, version_id)
        if not version.has_code:
            raise NotFound("This version has no code yet.")
        return FileResponse(
            version.artifact.open("rb"),
            as_attachment=True,
            filename=version.artifact_name,
            content_type="application/octet-stream",  # what the schema says, .py or .zip
        )

    @extend_schema(
        request={"multipart/form-data": CodeUploadSerializer}, responses=envelope(VersionSerializer)
    )
    def put(self, request, plugin_id, version_id):
        """Upload the version's code, once (admins): multipart `file` (.py or .zip) and
        optionally `entry_point`. Code never changes after: publish a new version."""
        version = get_version(request, plugin_id, version_id, change_role(PluginVersion))
        declared_size = as_id(request.META.get("CONTENT_LENGTH", "")) or 0
        if declared_size > settings.PLUGIN_ARTIFACT_MAX_BYTES + 64 * 1024:  # + multipart framing
            raise ValidationError(
                {"file": [f"Plugin code is limited to {settings.PLUGIN_ARTIFACT_MAX_BYTES} bytes."]}
            )
        data = valid(CodeUploadSerializer, request.data)
        plugin_version_upload_code(
            version=version, artifact=data["file"], entry_point=data.get("entry_point", "")
        )
        return ok(VersionSerializer(get_version(request, plugin_id, version.pk)).data)


# --- Properties ----------------------------------------------------------------------------


def get_property(
    request, plugin_id, version_id, technical_name, minimum=Role.READER
) -> PluginProperty:
    version = get_version(request, plugin_id, version_id, minimum)
    prop = version.properties.filter(technical_name=technical_name).first()
    if prop is None:
        raise NotFound()
    return prop


class PropertyListView(APIView):
    @extend_schema(
        operation_id="plugins_versions_properties_list",
        parameters=[PageParameters],
        responses=envelope(PropertySerializer, many=True),
    )
    def get(self, request, plugin_id, version_id):
        """The properties the version declares, with their default values."""
        version = get_version(request, plugin_id, version_id)
        return page(
            version.properties.order_by("pk"),
            PropertySerializer,
            valid(PageParameters, request.query_params),
        )

    @extend_schema(request=PropertySerializer, responses={201: envelope(PropertySerializer)})
    def post(self, request, plugin_id, version_id):
        """Declare one more property (editors)."""
        version = get_version(request, plugin_id, version_id, change_role(PluginProperty))
        prop = plugin_property_add(version=version, **valid(PropertySerializer, request.data))
        return ok(PropertySerializer(prop).data, status=201)


class PropertyDetailView(APIView):
    @extend_schema(responses=envelope(PropertySerializer))
    def get(self, request, plugin_id, version_id, technical_name):
        return ok(
            PropertySerializer(get_property(request, plugin_id, version_id, technical_name)).data
        )

    @extend_schema(request=PropertyUpdateSerializer, responses=envelope(PropertySerializer))
    def put(self, request, plugin_id, version_id, technical_name):
        """Change a property's value, origin or flags (editors); its name and type are fixed."""
        prop = get_property(
            request, plugin_id, version_id, technical_name, change_role(PluginProperty)
        )
        data = valid(PropertyUpdateSerializer, request.data)
        refuse_changes(data, PropertySerializer(prop).data, ["technical_name", "property_type"])
        return ok(PropertySerializer(plugin_property_update(prop=prop, **data)).data)

    @extend_schema(responses={200: envelope(PropertySerializer)})
    def delete(self, request, plugin_id, version_id, technical_name):
        """Remove a property declared deletable (editors)."""
        prop = get_property(
            request, plugin_id, version_id, technical_name, change_role(PluginProperty)
        )
        deleted = PropertySerializer(prop).data
        plugin_property_delete(prop=prop)
        return ok(deleted)


# --- Batching configurations ---------------------------------------------------------------


class BatchingConfigurationListView(APIView):
    @extend_schema(
        operation_id="plugins_versions_batching_configurations_list",
        parameters=[PageParameters],
        responses=envelope(BatchingConfigurationSerializer, many=True),
    )
    def get(self, request, plugin_id, version_id):
        """The version's batching configuration (a list of at most one)."""
        version = get_version(request, plugin_id, version_id)
        return page(
            BatchingConfiguration.objects.filter(version=version),
            BatchingConfigurationSerializer,
            valid(PageParameters, request.query_params),
        )

    @extend_schema(
        request=BatchingConfigurationWriteSerializer,
        responses={201: envelope(BatchingConfigurationSerializer)},
    )
    def post(self, request, plugin_id, version_id):
        """Configure batching for an AUDIENCE_SEGMENT_EXTERNAL_FEED version (editors)."""
        version = get_version(request, plugin_id, version_id, change_role(BatchingConfiguration))
        data = batching_input(request, version)
        return ok(
            BatchingConfigurationSerializer(
                configure_batching(batching_configuration_create, version, data)
            ).data,
            status=201,
        )


class BatchingConfigurationDetailView(APIView):
    def configuration(self, request, plugin_id, version_id, configuration_id, minimum=Role.READER):
        version = get_version(request, plugin_id, version_id, minimum)
        configuration = BatchingConfiguration.objects.filter(
            version=version, pk=as_id(configuration_id)
        ).first()
        if configuration is None:
            raise NotFound()
        return version, configuration

    @extend_schema(responses=envelope(BatchingConfigurationSerializer))
    def get(self, request, plugin_id, version_id, configuration_id):
        _, configuration = self.configuration(request, plugin_id, version_id, configuration_id)
        return ok(BatchingConfigurationSerializer(configuration).data)

    @extend_schema(
        request=BatchingConfigurationWriteSerializer,
        responses=envelope(BatchingConfigurationSerializer),
    )
    def put(self, request, plugin_id, version_id, configuration_id):
        version, _ = self.configuration(
            request, plugin_id, version_id, configuration_id, change_role(BatchingConfiguration)
        )
        data = batching_input(request, version)
        return ok(
            BatchingConfigurationSerializer(
                configure_batching(batching_configuration_set, version, data)
            ).data
        )

    @extend_schema(responses={200: envelope(BatchingConfigurationSerializer)})
    def delete(self, request, plugin_id, version_id, configuration_id):
        _, configuration = self.configuration(
            request, plugin_id, version_id, configuration_id, change_role(BatchingConfiguration)
        )
        deleted = BatchingConfigurationSerializer(configuration).data
        batching_configuration_delete(configuration=configuration)
        return ok(deleted)


def configure_batching(service, version: PluginVersion, data: dict):
    with api_field_names(version="plugin_version_id"):
        return service(version=version, **data)


def batching_input(request, version: PluginVersion) -> dict:
    data = valid(BatchingConfigurationWriteSerializer, request.data)
    if as_id(data.pop("plugin_version_id", version.pk)) != version.pk:
        raise ValidationError({"plugin_version_id": ["Must be the id of the version in the URL."]})
    data.pop("id", None)
    return data
