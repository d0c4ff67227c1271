from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api.fields import EpochMillisField, IdField, StrictSerializer
from apps.core.api.responses import PageParameters
from apps.plugins.models import PluginType, PropertyOrigin
from apps.plugins.property_types import PropertyType


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
    organisation_id = serializers.CharField(
        required=False, help_text="By default, your token's organisation."
    )
    plugin_type = serializers.ChoiceField(choices=PluginType.choices)
    group_id = serializers.CharField(max_length=255)
    artifact_id = serializers.CharField(max_length=255)
    name = serializers.CharField(max_length=255, required=False, allow_blank=True)


class PluginUpdateSerializer(StrictSerializer):
    """Only the name changes; the other fields may be sent back unchanged."""

    name = serializers.CharField(max_length=255, allow_blank=True)
    id = serializers.CharField(required=False)
    organisation_id = serializers.CharField(required=False)
    plugin_type = serializers.CharField(required=False)
    group_id = serializers.CharField(required=False)
    artifact_id = serializers.CharField(required=False)
    current_version_id = serializers.CharField(required=False, allow_null=True)
    created_at = serializers.IntegerField(required=False)


class PluginFilterSerializer(PageParameters):
    organisation_id = serializers.CharField(required=False)
    plugin_type = serializers.ChoiceField(choices=PluginType.choices, required=False)


class PropertySerializer(StrictSerializer):
    technical_name = serializers.CharField(max_length=255)
    property_type = serializers.ChoiceField(choices=PropertyType.choices)
    value = serializers.JSONField(
        default=dict, help_text='The value, shaped by type: {"value": …}, {"url": …}, …'
    )
    origin = serializers.ChoiceField(choices=PropertyOrigin.choices, default=PropertyOrigin.PLUGIN)
    writable = serializers.BooleanField(default=True)
    deletable = serializers.BooleanField(default=True)


class PropertyUpdateSerializer(StrictSerializer):
    technical_name = serializers.CharField(required=False)
    property_type = serializers.CharField(required=False)
    value = serializers.JSONField(required=False)
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
    version_id = serializers.CharField(max_length=64)
    plugin_properties = PropertySerializer(many=True, required=False, default=list)


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


class BatchingConfigurationWriteSerializer(StrictSerializer):
    id = serializers.CharField(required=False)
    plugin_version_id = serializers.CharField()
    enable_batching = serializers.BooleanField()
    batch_flush_max_size = serializers.IntegerField()
