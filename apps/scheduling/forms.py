from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.core.console import show_refusal
from apps.core.forms import ByNameChoiceField, DayRangeFilterForm, filter_choice
from apps.core.text import parse_int
from apps.plugins.models import PluginProperty, PluginType, PluginVersion
from apps.plugins.property_types import is_secret, value_as_text, value_from_text
from apps.scheduling.models import (
    CronStatus,
    ExecutionStatus,
    ExecutionType,
    IntegrationBatchInstance,
)
from apps.scheduling.selectors import effective_properties
from apps.scheduling.services import EDITABLE_INSTANCE_FIELDS

PROPERTY_PREFIX = "property__"


class InstanceForm(forms.ModelForm):
    """An instance's settings, and a field for each writable property of its version (left
    empty, the version's value applies)."""

    class Meta:
        model = IntegrationBatchInstance
        fields = EDITABLE_INSTANCE_FIELDS
        widgets = {"cron": forms.TextInput(attrs={"placeholder": "0 2 * * *", "class": "mono"})}
        labels = {
            "cron_timezone": "Time zone",
            "cron_status": "Cron status",
            "ram_size": "Memory",
            "cpu_size": "CPUs",
            "disk_size": "Disk",
            "concurrency_policy": "When a run is still going",
            "timeout_seconds": "Timeout (seconds)",
            "max_retries": "Retries",
            "retry_backoff_seconds": "First retry after (seconds)",
            "pause_after_failures": "Pause after this many failures in a row",
            "keep_executions_days": "Keep finished runs (days)",
            "keep_last_runs": "Keep the last N runs",
            "keep_logs_days": "Keep logs (days)",
        }

    def __init__(self, *args, organisation, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.organisation = organisation
        self.versions = (
            PluginVersion.objects.filter(
                plugin__organisation=organisation,
                plugin__plugin_type=PluginType.INTEGRATION_BATCH,
            )
            .exclude(artifact_sha256="")
            .select_related("plugin")
            .order_by("plugin__artifact_id", "-created_at")
        )
        self.fields["version"].queryset = self.versions
        self.fields["version"].label_from_instance = lambda v: (
            f"{v.plugin.artifact_id} {v.version_id}"
        )
        self.fields["cron_status"].choices = [("", "— no cron: runs only when triggered")] + [
            choice for choice in self.fields["cron_status"].choices if choice[0]
        ]
        self._add_property_fields(self._chosen_version())

    def _chosen_version(self) -> PluginVersion | None:
        """The version whose properties the form offers: the one chosen, the instance's, or
        the only one there is (then it is chosen already)."""
        versions = self.versions
        if self.is_bound:
            chosen = parse_int(self.data.get("version", ""))
            return versions.filter(pk=chosen).first() if chosen is not None else None
        if self.instance.version_id:
            return self.instance.version
        only = list(versions[:2])
        if len(only) == 1:
            self.initial["version"] = only[0].pk
            return only[0]
        return None

    def _add_property_fields(self, version: PluginVersion | None) -> None:
        self.property_names: list[str] = []
        self.declared: dict[str, PluginProperty] = {}  # by field name
        self.secrets_kept: set[str] = set()
        if version is None:
            return
        own = {}
        if self.instance.pk and self.instance.version_id == version.pk:
            own = {
                effective.prop.technical_name: effective.value
                for effective in effective_properties(self.instance)
                if effective.own
            }
        for prop in version.properties.filter(writable=True):
            field = self._property_field(prop, own.get(prop.technical_name))
            self.declared[PROPERTY_PREFIX + prop.technical_name] = prop
            self.fields[PROPERTY_PREFIX + prop.technical_name] = field
            self.property_names.append(PROPERTY_PREFIX + prop.technical_name)

    def _property_field(self, prop: PluginProperty, own) -> forms.CharField:
        if is_secret(prop.property_type):  # write-only: never shown, empty keeps it
            state = "set for this instance" if own else "not set here"
            return forms.CharField(
                label=prop.technical_name,
                required=False,
                widget=forms.PasswordInput(render_value=False),
                help_text=f"SECRET, {state}; type a new one to replace it, or leave it empty.",
            )
        default = value_as_text(prop.property_type, prop.value) or "not set"
        return forms.CharField(
            label=prop.technical_name,
            required=False,
            help_text=f"{prop.property_type}; empty: {default} (the version's value)",
            initial=value_as_text(prop.property_type, own or {}),
        )

    def property_fields(self):
        return [self[name] for name in self.property_names]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("cron") and not cleaned.get("cron_status"):
            cleaned["cron_status"] = CronStatus.ACTIVE  # a cron typed is a cron meant to run
        values = {}
        for name in self.property_names:
            prop, text = self.declared[name], cleaned.get(name, "")
            if is_secret(prop.property_type) and not text:
                self.secrets_kept.add(name)  # empty: the secret stays as it is
                continue
            try:
                values[name] = value_from_text(prop.property_type, text) if text else None
            except ValidationError as error:
                self.add_error(name, error)
        cleaned["properties"] = values
        return cleaned

    def settings(self) -> dict:
        """The cleaned settings, as the services take them."""
        settings = {f: self.cleaned_data[f] for f in EDITABLE_INSTANCE_FIELDS}
        settings["cron_status"] = settings["cron_status"] or None
        settings["properties"] = self._properties(self.property_names)
        return settings

    def changed_settings(self) -> dict:
        """Only what the person changed: a pause, a new cron, a property value."""
        settings = self.settings()
        changed = {f: settings[f] for f in self.changed_data if f in settings}
        if properties := self._properties(
            [n for n in self.property_names if n in self.changed_data]
        ):
            changed["properties"] = properties
        return changed

    def _properties(self, names) -> dict:
        """{technical_name: value, or None to use the version's}."""
        return {
            name.removeprefix(PROPERTY_PREFIX): self.cleaned_data["properties"][name]
            for name in names
            if name not in self.secrets_kept
        }

    def add_service_errors(self, error: ValidationError) -> None:
        """Show a service's refusal on the field it names ("properties.x": x's field)."""
        show_refusal(
            self, {_form_field(field): messages for field, messages in error.message_dict.items()}
        )


def _form_field(service_field: str) -> str:
    if service_field.startswith("properties."):
        return PROPERTY_PREFIX + service_field.removeprefix("properties.")
    return service_field


def wall_time_field(label: str, **kwargs) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        **kwargs,
    )


class ParametersField(forms.JSONField):
    """Run parameters as JSON; none yet shows an empty box (its placeholder, {}), not the
    word null Django's JSONField would write."""

    def prepare_value(self, value):
        return "" if value is None else super().prepare_value(value)


def parameters_field(help_text: str) -> forms.JSONField:
    return ParametersField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono", "placeholder": "{}"}),
        help_text=help_text,
    )


class InstanceTimeForm(forms.Form):
    """A form whose times are typed as wall times of the instance's time zone."""

    def __init__(self, *args, time_zone: str, **kwargs):
        super().__init__(*args, **kwargs)
        try:
            self.time_zone = ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):  # a zone the system stopped knowing
            self.time_zone, time_zone = ZoneInfo("UTC"), "UTC"
        self.zone_name = time_zone

    def in_zone(self, moment: datetime | None) -> datetime | None:
        """A time the form read (as UTC) read again as a wall time of the instance's zone."""
        if moment is None:
            return None
        return timezone.make_aware(timezone.make_naive(moment), self.time_zone)

    def wall_time(self, moment: datetime) -> str:
        """`moment` as the form's datetime-local inputs show it."""
        return moment.astimezone(self.time_zone).strftime("%Y-%m-%dT%H:%M:%S")


class RunAtForm(InstanceTimeForm):
    """A MANUAL run: now, or at a wall time of the instance's time zone."""

    expected_start_date = wall_time_field("Run at", required=False)
    parameters = parameters_field(
        "A JSON object the plugin reads as context.parameters, prefilled with the last run's."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["expected_start_date"].help_text = f"In {self.zone_name} time; empty: now."

    def clean_expected_start_date(self):
        return self.in_zone(self.cleaned_data["expected_start_date"])


class BackfillForm(InstanceTimeForm):
    """A backfill: the past fire times of the instance's cron from one wall time to
    another. `previewed` is the run count the user saw before asking to create them."""

    start_date = wall_time_field("From")
    end_date = wall_time_field("To")
    only_missing = forms.BooleanField(
        required=False,
        initial=True,
        label="Skip fire times that already have a successful run",
    )
    parameters = parameters_field("A JSON object each run reads as context.parameters.")
    previewed = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("start_date", "end_date"):
            self.fields[name].help_text = f"In {self.zone_name} time; fire times at it count."

    def clean_start_date(self):
        return self.in_zone(self.cleaned_data["start_date"])

    def clean_end_date(self):
        return self.in_zone(self.cleaned_data["end_date"])

    def asked(self) -> dict:
        """What the backfill services take."""
        return {
            name: self.cleaned_data[name]
            for name in ("start_date", "end_date", "only_missing", "parameters")
        }


class ExecutionFilterForm(DayRangeFilterForm):
    status = filter_choice("Any status", ExecutionStatus.choices)
    execution_type = filter_choice("Any type", ExecutionType.choices, label="Type")
    instance = ByNameChoiceField(
        queryset=IntegrationBatchInstance.objects.none(),
        required=False,
        empty_label="Any instance",
    )

    backfill = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, organisation, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["instance"].queryset = IntegrationBatchInstance.objects.filter(
            organisation=organisation
        ).order_by("name")
