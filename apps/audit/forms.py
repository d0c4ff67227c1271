from django import forms

from apps.audit.models import Surface


class AuditFilterForm(forms.Form):
    action = forms.CharField(
        max_length=64,
        required=False,
        help_text="instance.paused, or instance. for every instance action.",
    )
    actor = forms.CharField(max_length=150, required=False, help_text="A username.")
    surface = forms.ChoiceField(choices=[("", "Any surface"), *Surface.choices], required=False)
    target_type = forms.CharField(
        max_length=32,
        required=False,
        label="Object type",
        help_text="integrationbatchinstance, plugin…",
    )
