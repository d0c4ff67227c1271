from django import forms

from apps.alerts.models import MAX_MINUTES, AlertChannel, BodyFormat, ChannelKind


class ChannelForm(forms.Form):
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=ChannelKind.choices, label="Sends")
    recipients = forms.CharField(
        max_length=2000,
        required=False,
        label="E-mail addresses",
        help_text="E-mail: separated by commas.",
    )
    url = forms.CharField(
        max_length=2000,
        required=False,
        label="Webhook URL",
        help_text="Webhook: an http(s) URL; each POST is signed (X-Batchworks-Signature).",
        widget=forms.URLInput,
    )
    body_format = forms.ChoiceField(
        choices=BodyFormat.choices, initial=BodyFormat.JSON, label="Webhook body"
    )


class RuleForm(forms.Form):
    channel = forms.ModelChoiceField(queryset=AlertChannel.objects.none(), label="Send to")
    on_failure = forms.BooleanField(
        required=False, initial=True, label="A run fails (once per streak)"
    )
    on_recovery = forms.BooleanField(
        required=False, initial=True, label="A run succeeds after failures"
    )
    not_started_minutes = forms.IntegerField(
        min_value=1,
        max_value=MAX_MINUTES,
        required=False,
        label="Not started after (minutes)",
        help_text="A run still waiting this long after its expected start.",
    )
    running_longer_than_minutes = forms.IntegerField(
        min_value=1,
        max_value=MAX_MINUTES,
        required=False,
        label="Running longer than (minutes)",
    )
    running_longer_than_p95 = forms.FloatField(
        min_value=1.0,
        max_value=100.0,
        required=False,
        label="…or longer than N times its recent p95",
        help_text="Instead of a fixed duration: a multiple of its recent p95 duration.",
    )

    def __init__(self, *args, organisation, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = AlertChannel.objects.filter(organisation=organisation)
