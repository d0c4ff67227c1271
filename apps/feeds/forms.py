from django import forms

from apps.core.forms import filter_choice
from apps.core.models import SafeJSONFormField
from apps.feeds.models import BatchStatus, FeedStatus
from apps.plugins.models import PluginType, PluginVersion
from apps.scheduling.models import ResourceSize


class FeedForm(forms.Form):
    version = forms.ModelChoiceField(
        queryset=PluginVersion.objects.none(),
        label="Plugin version",
        help_text="An AUDIENCE_SEGMENT_EXTERNAL_FEED version with its code.",
    )
    segment_id = forms.CharField(
        max_length=255, label="Audience segment", help_text="As the partner knows it."
    )
    name = forms.CharField(max_length=255, required=False)
    properties = SafeJSONFormField(
        required=False,
        label="Property values",
        help_text='The feed\'s own values, by technical name: {"partner_url": {"url": "https://…"}}.',
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}),
    )
    ram_size = forms.ChoiceField(
        choices=ResourceSize.choices, initial=ResourceSize.LOW, label="Memory"
    )
    status = forms.ChoiceField(choices=FeedStatus.choices, initial=FeedStatus.ACTIVE)

    def __init__(self, *args, organisation, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].queryset = (
            PluginVersion.objects.filter(
                plugin__organisation=organisation,
                plugin__plugin_type=PluginType.AUDIENCE_SEGMENT_EXTERNAL_FEED,
            )
            .exclude(artifact_sha256="")
            .select_related("plugin")
            .order_by("plugin__group_id", "plugin__artifact_id", "-created_at")
        )

    def clean_properties(self):
        value = self.cleaned_data["properties"] or {}
        if not isinstance(value, dict):
            raise forms.ValidationError("An object of technical names to values.")
        return value


class BatchingForm(forms.Form):
    """The seed's "Batching configuration" tab of the feed's version."""

    enable_batching = forms.BooleanField(required=False, label="Batch the updates")
    batch_flush_max_size = forms.IntegerField(
        min_value=1,
        max_value=1_000_000,
        label="Lines per batch at most",
        help_text="A buffer is flushed at this size, and once its oldest line has waited the "
        "flush interval.",
    )


class BatchFilterForm(forms.Form):
    status = filter_choice("Any status", BatchStatus.choices)
