from django import forms
from django.core.exceptions import ValidationError

from apps.plugins.models import Plugin, PluginType, PropertyOrigin
from apps.plugins.property_types import PropertyType, value_from_text


class PluginForm(forms.ModelForm):
    class Meta:
        model = Plugin
        fields = ["plugin_type", "group_id", "artifact_id", "name"]
        widgets = {
            "group_id": forms.TextInput(attrs={"placeholder": "com.my-client.integration_batch"}),
            "artifact_id": forms.TextInput(attrs={"placeholder": "import-data-for-customer"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plugin_type"].choices = PluginType.choices
        self.fields["plugin_type"].initial = PluginType.INTEGRATION_BATCH


class VersionForm(forms.Form):
    version_id = forms.CharField(
        label="Version", max_length=64, widget=forms.TextInput(attrs={"placeholder": "1.0.0"})
    )
    code = forms.FileField(help_text="One .py file, or a .zip package.")
    entry_point = forms.CharField(
        required=False,
        max_length=255,
        help_text="module or module:ClassName. Empty: the module of a .py file.",
    )


class PropertyForm(forms.Form):
    technical_name = forms.CharField(max_length=255)
    property_type = forms.ChoiceField(
        choices=PropertyType.choices, initial=PropertyType.STRING, label="Type"
    )
    default = forms.CharField(
        required=False,
        label="Value",
        help_text="The value: 42, true, https://…; a JSON object for types such as DATA_FILE.",
    )
    origin = forms.ChoiceField(choices=PropertyOrigin.choices, initial=PropertyOrigin.PLUGIN)
    writable = forms.BooleanField(
        required=False, initial=True, help_text="Instances may set their own value."
    )
    deletable = forms.BooleanField(required=False, initial=True)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("property_type") and "default" in cleaned:
            try:
                cleaned["value"] = (
                    value_from_text(cleaned["property_type"], cleaned["default"])
                    if cleaned["default"]
                    else {}
                )
            except ValidationError as error:
                self.add_error("default", error)
        return cleaned

    def declaration(self) -> dict:
        fields = ("technical_name", "property_type", "value", "origin", "writable", "deletable")
        return {field: self.cleaned_data[field] for field in fields}


PropertyFormSet = forms.formset_factory(PropertyForm, extra=2)

# Where a service's error about a version's fields shows in these forms.
VERSION_FIELDS = {"version_id": "version_id", "artifact": "code", "entry_point": "entry_point"}
PROPERTY_FIELDS = {"value": "default"}


def show_version_errors(error: ValidationError, version_form: VersionForm, properties) -> None:
    for key, messages in error.message_dict.items():
        if key.startswith("plugin_properties["):
            index, _, field = key.removeprefix("plugin_properties[").partition("].")
            properties.forms[int(index)].add_error(PROPERTY_FIELDS.get(field, field), messages)
        else:
            version_form.add_error(VERSION_FIELDS.get(key), messages)
