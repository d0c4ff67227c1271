from django import forms

from apps.audit.models import Surface
from apps.core.forms import filter_choice


def _text(max_length: int, placeholder: str, **kwargs):
    return forms.CharField(
        max_length=max_length,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": placeholder}),
        **kwargs,
    )


class AuditFilterForm(forms.Form):
    action = _text(64, "instance. or instance.paused")
    actor = _text(150, "username")
    surface = filter_choice("Any surface", Surface.choices)
    target_type = _text(32, "plugin, integrationbatchinstance…", label="Object type")
