from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api.fields import EpochMillisField, IdField, IdInputField, StrictSerializer, echoes
from apps.core.api.responses import PageParameters
from apps.plugins.models import (
    PluginType,
    PropertyOrigin,
    coordinate_validator,
    semver_validator,
    technical_name_validator,
)
from apps.plugins.property_types import PropertyType, shown, value_schema


class PluginSerializer(serializers.Serializer):
    id = IdField(source="pk")
    organisation_id = IdField()
    plugin_type = serializers.ChoiceField(choices=PluginType.choices)
    group_id = serializers.CharField()
    artifact_id = serializers.CharField()
    name = serializers.CharField()
    current_version_id = IdField(allow_null=True, help_text="The latest version's id.")
    created_at = EpochMillisField()


class PluginCreateSerializer(StrictSerializer):
    organisation_id = IdInputField(
        required=False, help_text="By default, your token's organisation."
    )
    plugin_type = serializers.ChoiceField(choices=PluginType.choices)
    group_id = serializers.CharField(max_length=255, validators=[coordinate_validator])
    artifact_id = serializers.CharField(max_length=255, validators=[coordinate_validator])
    name = serializers.CharField(max_length=255, required=False, allow_blank=True)


@echoes(
    "id",
    "organisation_id",
    "plugin_type",
    "group_id",
    "artifact_id",
    "current_version_id",
    "created_at",
)
class PluginUpdateSerializer(StrictSerializer):
    """Only the name changes; the other fields may be sent back unchanged."""

    name = serializers.CharField(max_length=255, allow_blank=True)
    id = IdInputField(required=False)
    organisation_id = IdInputField(required=False)
    plugin_type = serializers.CharField(required=False)
    group_id = serializers.CharField(required=False)
    artifact_id = serializers.CharField(required=False)
    current_version_id = IdInputField(required=False, allow_null=True)
    created_at = serializers.IntegerField(required=False)


class PluginFilterSerializer(PageParameters):
    organisation_id = IdInputField(required=False)
    plugin_type = serializers.ChoiceField(choices=PluginType.choices, required=False)


class PropertySerializer(StrictSerializer):
    technical_name = serializers.CharField(max_length=255, validators=[technical_name_validator])
    property_type = serializers.ChoiceField(choices=PropertyType.choices)
    value = serializers.JSONField(
        default=dict, help_text='The value, shaped by type: {"value": …}, {"url": …}, …'
    )
    origin = serializers.ChoiceField(choices=PropertyOrigin.choices, default=PropertyOrigin.PLUGIN)
    writable = serializers.BooleanField(default=True)
    deletable = serializers.BooleanField(default=True)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["value"] = shown(data["property_type"], data["value"])  # a SECRET: only "set"
        return data


@echoes("technical_name", "property_type")
class PropertyUpdateSerializer(StrictSerializer):
    technical_name = serializers.CharField(required=False)
    property_type = serializers.CharField(required=False)
    value = serializers.JSONField(required=False, help_text="Shaped by the property's type.")
    origin = serializers.ChoiceField(choices=PropertyOrigin.choices, required=False)
    writable = serializers.BooleanField(required=False)
    deletable = serializers.BooleanField(required=False)


class CodeSerializer(serializers.Serializer):
    name = serializers.CharField(source="artifact_name")
    size = serializers.IntegerField(source="artifact_size")
    sha256 = serializers.CharField(source="artifact_sha256")
    entry_point = serializers.CharField()


class VersionSerializer(serializers.Serializer):
    id = IdField(source="pk")
    plugin_id = IdField()
    version_id = serializers.CharField()
    code = serializers.SerializerMethodField()
    plugin_properties = PropertySerializer(source="properties", many=True)
    created_at = EpochMillisField()

    @extend_schema_field(CodeSerializer(allow_null=True))
    def get_code(self, version):
        return CodeSerializer(version).data if version.has_code else None


class VersionCreateSerializer(StrictSerializer):
    version_id = serializers.CharField(max_length=64, validators=[semver_validator])
    plugin_properties = PropertySerializer(
        many=True, required=False, default=list, help_text="Each technical_name once."
    )


class CodeUploadSerializer(StrictSerializer):
    file = serializers.FileField(help_text="One .py file or one .zip package.")
    entry_point = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=255,
        help_text="module or module:ClassName; a .py file's module by default.",
    )


class BatchingConfigurationSerializer(serializers.Serializer):
    id = IdField(source="pk")
    plugin_version_id = IdField(source="version_id")
    enable_batching = serializers.BooleanField()
    batch_flush_max_size = serializers.IntegerField()


@echoes("id", "plugin_version_id")
class BatchingConfigurationWriteSerializer(StrictSerializer):
    id = IdInputField(required=False)
    plugin_version_id = IdInputField(required=False, help_text="The version in the URL, if sent.")
    enable_batching = serializers.BooleanField()
    batch_flush_max_size = serializers.IntegerField(min_value=1, max_value=1_000_000)


def describe_property_values(result, generator, request, public):
    """OpenAPI: a declared property's value takes the shape of its property_type."""
    component = result.get("components", {}).get("schemas", {}).get("PropertyRequest")
    if component is not None:
        component["oneOf"] = [
            {
                "properties": {
                    "property_type": {"enum": [property_type]},
                    "value": value_schema(property_type),
                }
            }
            for property_type in PropertyType.values
        ]
    return result
