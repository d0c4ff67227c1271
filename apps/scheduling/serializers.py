from typing import cast

from django.db.models import Field
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api.fields import EpochMillisField, IdField, IdInputField, StrictSerializer, echoes
from apps.core.api.responses import PageParameters
from apps.plugins.models import PropertyOrigin
from apps.plugins.property_types import PropertyType, shown
from apps.scheduling.cron import time_zone_names
from apps.scheduling.models import (
    ConcurrencyPolicy,
    CronStatus,
    ExecutionStatus,
    ExecutionType,
    IntegrationBatchInstance,
    JobType,
    ResourceSize,
)
from apps.scheduling.selectors import BACKFILL_PROGRESS, effective_properties

# --- Instances -----------------------------------------------------------------------------


def limits_of(field: str) -> list:
    """The instance field's own bounds, so the API checks and documents what the model does."""
    return cast(Field, IntegrationBatchInstance._meta.get_field(field)).validators


@extend_schema_field({"type": "string", "format": "cron", "maxLength": 120})
class CronField(serializers.CharField):
    """Five cron fields, as the server reads them (format "cron": the schema cannot say
    more); empty or null for an instance that runs only when triggered."""


class InstancePropertySerializer(serializers.Serializer):
    technical_name = serializers.CharField()
    property_type = serializers.ChoiceField(choices=PropertyType.choices)
    value = serializers.JSONField()
    origin = serializers.ChoiceField(choices=PropertyOrigin.choices)
    writable = serializers.BooleanField()


@echoes("property_type", "origin", "writable")
class PropertyValueSerializer(StrictSerializer):
    technical_name = serializers.CharField()
    value = serializers.JSONField(
        allow_null=True, help_text="The instance's value; null removes it (the version's applies)."
    )
    property_type = serializers.CharField(required=False)
    origin = serializers.CharField(required=False)
    writable = serializers.BooleanField(required=False)


class InstanceSerializer(serializers.Serializer):
    id = IdField(source="pk")
    organisation_id = IdField()
    plugin_id = IdField(source="version.plugin_id")
    group_id = serializers.CharField(source="version.plugin.group_id")
    artifact_id = serializers.CharField(source="version.plugin.artifact_id")
    version_id = serializers.CharField(source="version.version_id")
    plugin_version_id = IdField(source="version_id")
    name = serializers.CharField()
    archived = serializers.BooleanField()
    cron = serializers.SerializerMethodField()
    cron_timezone = serializers.CharField()
    cron_status = serializers.ChoiceField(choices=CronStatus.choices, allow_null=True)
    ram_size = serializers.ChoiceField(choices=ResourceSize.choices)
    cpu_size = serializers.ChoiceField(choices=ResourceSize.choices)
    disk_size = serializers.ChoiceField(choices=ResourceSize.choices)
    concurrency_policy = serializers.ChoiceField(choices=ConcurrencyPolicy.choices)
    timeout_seconds = serializers.IntegerField()
    max_retries = serializers.IntegerField()
    retry_backoff_seconds = serializers.IntegerField()
    pause_after_failures = serializers.IntegerField(
        allow_null=True,
        help_text="The failure breaker: pause after this many failed runs in a row.",
    )
    paused_reason = serializers.CharField(
        help_text="Why the platform paused the instance (the failure breaker); empty otherwise."
    )
    keep_executions_days = serializers.IntegerField(
        allow_null=True, help_text="Retention; null: the organisation's default."
    )
    keep_last_runs = serializers.IntegerField(allow_null=True)
    keep_logs_days = serializers.IntegerField(allow_null=True)
    properties = serializers.SerializerMethodField()
    next_run_date = EpochMillisField(allow_null=True, help_text="When the coming CRON run starts.")
    created_at = EpochMillisField()
    updated_at = EpochMillisField()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_cron(self, instance):
        return instance.cron or None

    @extend_schema_field(InstancePropertySerializer(many=True))
    def get_properties(self, instance):
        """The version's properties, each with the instance's own value if it has one."""
        return [
            {
                "technical_name": effective.prop.technical_name,
                "property_type": effective.prop.property_type,
                "value": shown(effective.prop.property_type, effective.value),
                "origin": effective.origin,
                "writable": effective.prop.writable,
            }
            for effective in effective_properties(instance)
        ]


@echoes(
    "id",
    "plugin_id",
    "next_run_date",
    "paused_reason",
    "created_at",
    "updated_at",
    on_update=("organisation_id",),
)
class InstanceWriteSerializer(StrictSerializer):
    """The seed's shape: the version by group_id + artifact_id + version_id ("1.0.0"), or
    by plugin_version_id (its id). Read-only fields of an instance may be sent back."""

    organisation_id = IdInputField(required=False)
    group_id = serializers.CharField(required=False)
    artifact_id = serializers.CharField(required=False)
    version_id = serializers.CharField(required=False)
    plugin_version_id = IdInputField(required=False)
    name = serializers.CharField(max_length=255)
    archived = serializers.BooleanField(required=False)
    cron = CronField(required=False, allow_null=True, allow_blank=True, max_length=120)
    cron_timezone = serializers.ChoiceField(choices=time_zone_names(), required=False)
    cron_status = serializers.ChoiceField(
        choices=CronStatus.choices,
        required=False,
        allow_null=True,
        help_text="With a cron only (its own, or one sent with it).",
    )
    ram_size = serializers.ChoiceField(choices=ResourceSize.choices, required=False)
    cpu_size = serializers.ChoiceField(choices=ResourceSize.choices, required=False)
    disk_size = serializers.ChoiceField(choices=ResourceSize.choices, required=False)
    concurrency_policy = serializers.ChoiceField(choices=ConcurrencyPolicy.choices, required=False)
    timeout_seconds = serializers.IntegerField(
        required=False, min_value=0, validators=limits_of("timeout_seconds")
    )
    max_retries = serializers.IntegerField(
        required=False, min_value=0, validators=limits_of("max_retries")
    )
    retry_backoff_seconds = serializers.IntegerField(
        required=False, min_value=0, validators=limits_of("retry_backoff_seconds")
    )
    pause_after_failures = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=1000,
        help_text="Pause the schedule after this many failed runs in a row; null: never.",
    )
    keep_executions_days = serializers.IntegerField(
        required=False,
        allow_null=True,
        validators=limits_of("keep_executions_days"),
        help_text="Delete finished executions after this many days; null: the organisation's.",
    )
    keep_last_runs = serializers.IntegerField(
        required=False,
        allow_null=True,
        validators=limits_of("keep_last_runs"),
        help_text="Keep only this many latest finished executions; null: the organisation's.",
    )
    keep_logs_days = serializers.IntegerField(
        required=False,
        allow_null=True,
        validators=limits_of("keep_logs_days"),
        help_text="Drop logs this many days after their run ended; null: the organisation's.",
    )
    properties = PropertyValueSerializer(
        many=True,
        required=False,
        help_text="Values of the version's writable properties, each shaped by its type.",
    )
    id = IdInputField(required=False)
    plugin_id = IdInputField(required=False)
    next_run_date = serializers.IntegerField(required=False, allow_null=True)
    paused_reason = serializers.CharField(required=False, allow_blank=True)
    created_at = serializers.IntegerField(required=False)
    updated_at = serializers.IntegerField(required=False)


class InstanceFilterSerializer(PageParameters):
    organisation_id = IdInputField(required=False)
    plugin_version_id = IdInputField(required=False)
    version_id = serializers.CharField(required=False, help_text="A semantic version, e.g. 1.0.0.")
    cron_status = serializers.ChoiceField(choices=CronStatus.choices, required=False)
    archived = serializers.BooleanField(required=False)


# --- Executions ----------------------------------------------------------------------------


class ExecutionSerializer(serializers.Serializer):
    id = IdField(source="pk")
    organisation_id = IdField()
    external_model_id = serializers.CharField()
    external_model_name = serializers.CharField()
    instance_name = serializers.CharField(source="instance.name")
    user_id = IdField(allow_null=True)
    execution_type = serializers.ChoiceField(choices=ExecutionType.choices)
    job_type = serializers.ChoiceField(choices=JobType.choices)
    status = serializers.ChoiceField(choices=ExecutionStatus.choices)
    expected_start_date = EpochMillisField()
    start_date = EpochMillisField(allow_null=True)
    end_date = EpochMillisField(allow_null=True)
    duration = serializers.SerializerMethodField(help_text="Milliseconds from start to end.")
    parameters = serializers.JSONField()
    error = serializers.JSONField(allow_null=True)
    result = serializers.JSONField(allow_null=True)
    num_tasks = serializers.IntegerField(allow_null=True)
    completed_tasks = serializers.IntegerField()
    erroneous_tasks = serializers.IntegerField()
    attempt = serializers.IntegerField()
    retry_of_id = IdField(allow_null=True)
    repeats_id = IdField(allow_null=True, help_text="The finished run this one runs again.")
    fire_time = EpochMillisField(
        source="stands_for",
        allow_null=True,
        help_text="The cron fire time the run stands for (CRON and backfill runs).",
    )
    backfill_id = IdField(allow_null=True)
    waits_for_id = IdField(allow_null=True, help_text="Starts once this run has ended.")
    cancel_requested_at = EpochMillisField(allow_null=True)
    worker = serializers.CharField(help_text="host:pid of the worker that ran it; empty before.")
    creation_date = EpochMillisField(source="created_at")

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_duration(self, execution):
        duration = execution.duration
        return None if duration is None else round(duration.total_seconds() * 1000)


class ExecutionCreateSerializer(StrictSerializer):
    """A MANUAL execution, now or at expected_start_date. As in the public docs,
    execution_type and expected_start_date may also come inside `parameters`; the server
    sets the rest (status, dates, ids), which may be sent and are then ignored."""

    execution_type = serializers.ChoiceField(choices=ExecutionType.choices, required=False)
    expected_start_date = EpochMillisField(required=False, help_text="Now (default) or later.")
    parameters = serializers.DictField(required=False, default=dict)
    organisation_id = IdInputField(required=False, allow_null=True)
    user_id = IdInputField(required=False, allow_null=True)
    error = serializers.JSONField(required=False, allow_null=True)
    status = serializers.CharField(required=False, allow_null=True)
    external_model_id = serializers.CharField(required=False, allow_null=True)
    external_model_name = serializers.CharField(required=False, allow_null=True)
    start_date = serializers.IntegerField(required=False, allow_null=True)
    job_type = serializers.CharField(required=False, allow_null=True)

    def validate(self, data):
        parameters = dict(data["parameters"])
        for key in ("execution_type", "expected_start_date"):
            if key in parameters and key not in data:
                field = self.fields[key]
                try:
                    data[key] = field.run_validation(parameters.pop(key))
                except serializers.ValidationError as error:
                    raise serializers.ValidationError({f"parameters.{key}": error.detail}) from None
        if data.get("execution_type", ExecutionType.MANUAL) != ExecutionType.MANUAL:
            raise serializers.ValidationError(
                {
                    "execution_type": [
                        "Only MANUAL executions are created by hand; "
                        "the scheduler creates CRON ones."
                    ]
                }
            )
        data["parameters"] = parameters
        return data


class ExecutionUpdateSerializer(StrictSerializer):
    status = serializers.ChoiceField(
        choices=[ExecutionStatus.CANCELED], help_text="CANCELED: cancel the execution."
    )


class ExecutionFilterSerializer(PageParameters):
    ORDERINGS = [
        "expected_start_date",
        "-expected_start_date",
        "start_date",
        "-start_date",
        "creation_date",
        "-creation_date",
    ]

    organisation_id = IdInputField(required=False)
    instance_id = IdInputField(required=False)
    status = serializers.ChoiceField(choices=ExecutionStatus.choices, required=False)
    execution_type = serializers.ChoiceField(choices=ExecutionType.choices, required=False)
    backfill_id = IdInputField(required=False)
    from_date = EpochMillisField(required=False, help_text="expected_start_date at or after.")
    to_date = EpochMillisField(required=False, help_text="expected_start_date before.")
    order_by = serializers.ChoiceField(choices=ORDERINGS, default="-expected_start_date")


# --- Backfills -----------------------------------------------------------------------------


class BackfillCreateSerializer(StrictSerializer):
    start_date = EpochMillisField(help_text="The first fire time to cover (included).")
    end_date = EpochMillisField(help_text="The last fire time to cover (included), in the past.")
    only_missing = serializers.BooleanField(
        default=True, help_text="Leave out fire times that already have a successful run."
    )
    parameters = serializers.DictField(default=dict, help_text="Each run's parameters.")
    dry_run = serializers.BooleanField(
        default=False, help_text="Only tell what it would create: count, first and last."
    )


class BackfillPlanSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Runs it would create, one per fire time.")
    first_fire_time = EpochMillisField(source="first")
    last_fire_time = EpochMillisField(source="last")
    skipped_count = serializers.IntegerField(
        source="skipped", help_text="Fire times left out: they already have a successful run."
    )


class BackfillSerializer(serializers.Serializer):
    id = IdField(source="pk")
    organisation_id = IdField()
    instance_id = IdField()
    start_date = EpochMillisField()
    end_date = EpochMillisField()
    run_count = serializers.IntegerField()
    skipped_count = serializers.IntegerField()
    one_at_a_time = serializers.BooleanField()
    parameters = serializers.JSONField()
    user_id = IdField(allow_null=True)
    runs = serializers.SerializerMethodField(help_text="Its runs by status (last attempts).")
    creation_date = EpochMillisField(source="created_at")

    @extend_schema_field(
        {"type": "object", "properties": {s: {"type": "integer"} for s in BACKFILL_PROGRESS}}
    )
    def get_runs(self, backfill):
        return {status: getattr(backfill, f"runs_{status.lower()}") for status in BACKFILL_PROGRESS}


class LogSerializer(serializers.Serializer):
    text = serializers.CharField()
    offset = serializers.IntegerField()
    next_offset = serializers.IntegerField()
    complete = serializers.BooleanField(help_text="The run has ended and nothing follows.")


class LogParametersSerializer(StrictSerializer):
    offset = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=1_048_576, default=65_536)
