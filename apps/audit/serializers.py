from rest_framework import serializers

from apps.audit.models import Surface
from apps.core.api.fields import EpochMillisField, IdField
from apps.core.api.responses import PageParameters


class AuditEventSerializer(serializers.Serializer):
    id = IdField(source="pk")
    organisation_id = IdField()
    created_at = EpochMillisField()
    actor_id = IdField(allow_null=True, help_text="null: the platform, or a deleted user.")
    actor = serializers.CharField(source="actor_name")
    surface = serializers.ChoiceField(choices=Surface.choices)
    action = serializers.CharField(help_text="instance.paused, member.role_changed, …")
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    target_name = serializers.CharField()
    changes = serializers.JSONField(help_text="{field: [before, after]}; secrets say only set.")


class AuditFilterSerializer(PageParameters):
    action = serializers.CharField(
        max_length=64,
        required=False,
        help_text="An action (instance.paused), or its start (instance.).",
    )
    target_type = serializers.CharField(max_length=32, required=False)
    target_id = serializers.CharField(max_length=64, required=False)
    actor = serializers.CharField(max_length=150, required=False, help_text="A username.")
    surface = serializers.ChoiceField(choices=Surface.choices, required=False)
    from_date = EpochMillisField(required=False, help_text="At or after.")
    to_date = EpochMillisField(required=False, help_text="Before.")

    def validate(self, data):
        if "from_date" in data and "to_date" in data and data["from_date"] > data["to_date"]:
            raise serializers.ValidationError({"to_date": "Before from_date: nothing can match."})
        return data
