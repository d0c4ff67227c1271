from django import forms

from apps.core.forms import ByNameChoiceField, DayRangeFilterForm, day_field, filter_choice
from apps.core.text import parse_int
from apps.ingestion.models import BatchStatus, Dataset
from apps.ingestion.schema import FieldType


class DatasetForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class SchemaFieldForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    type = forms.ChoiceField(choices=FieldType.choices, initial=FieldType.STRING)
    required = forms.BooleanField(required=False)
    key = forms.BooleanField(required=False, help_text="Merging imports match rows by it.")


SchemaFormSet = forms.formset_factory(SchemaFieldForm, extra=2, max_num=500)


def schema_of(fields) -> list[dict]:
    """The schema the formset describes (rows without a name are left out)."""
    return [
        {name: value for name, value in form.cleaned_data.items() if name != "key" or value}
        for form in fields
        if form.cleaned_data.get("name")
    ]


def show_schema_errors(messages: list[str], form: DatasetForm, fields) -> None:
    """A service's schema errors ("schema[2].name: …") on the rows they name."""
    for message in messages:
        if message.startswith("schema[") and "]" in message:
            index, rest = message[len("schema[") :].split("]", 1)
            row = parse_int(index)
            if row is not None and row < len(fields.forms):
                field = rest.lstrip(".").split(":", 1)[0] or None
                fields.forms[row].add_error(
                    field if field in ("name", "type", "required") else None,
                    rest.split(":", 1)[-1].strip(),
                )
                continue
        form.add_error(None, message)


class BatchFilterForm(DayRangeFilterForm):
    status = filter_choice("Any status", BatchStatus.choices)
    dataset = ByNameChoiceField(
        queryset=Dataset.objects.none(), required=False, empty_label="Any dataset"
    )
    execution = forms.IntegerField(required=False, min_value=1, label="Execution #")
    from_date = day_field("Created from")

    def __init__(self, *args, organisation, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = Dataset.objects.filter(
            organisation=organisation
        ).order_by("name")
