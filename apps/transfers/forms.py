from django import forms

from apps.core.console import show_refusal
from apps.core.forms import ByNameChoiceField, DayRangeFilterForm, day_field, filter_choice
from apps.ingestion.models import Dataset
from apps.transfers.models import TransferKind, TransferStatus

# The services' (the API's) names for the forms' fields.
FIELD_NAMES = {
    "jobName": "job_name",
    "contentType": "content_type",
    "notificationEmail": "notification_email",
    "sqlQuery": "sql_query",
    "rowHeader": "row_header",
}


class _DatasetChoice(forms.Form):
    def __init__(self, *args, organisation, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = Dataset.objects.filter(
            organisation=organisation
        ).order_by("name")


class ImportForm(_DatasetChoice):
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.none())
    file = forms.FileField(help_text="CSV, a JSON array, or JSON Lines.")
    job_name = forms.CharField(max_length=255, label="Job name")
    content_type = forms.ChoiceField(
        label="Format",
        choices=[
            ("", "From the file's name"),
            ("plain/text", "CSV (plain/text)"),
            ("application/json", "JSON (application/json)"),
        ],
        required=False,
    )
    template = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}),
        help_text='Columns → fields, {"Email": "email"}; or, for a CSV without a header '
        "row, its header line: email,name,age.",
    )
    merge = forms.BooleanField(
        required=False,
        help_text="Update rows whose key matches, add the others (the dataset needs key "
        "fields). Unticked: replace the dataset's data.",
    )
    notification_email = forms.CharField(
        max_length=254, required=False, label="E-mail when it ends"
    )

    def content_type_for(self, upload) -> str:
        """The chosen format, or the one the file's name says."""
        chosen = self.cleaned_data["content_type"]
        if chosen:
            return chosen
        json_names = (".json", ".jsonl", ".ndjson")
        return "application/json" if upload.name.lower().endswith(json_names) else "plain/text"


class ExportForm(_DatasetChoice):
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.none())
    job_name = forms.CharField(max_length=255, label="Job name")
    content_type = forms.ChoiceField(
        label="Format",
        choices=[("text/plain", "CSV (text/plain)"), ("application/json", "JSON array")],
    )
    row_header = forms.BooleanField(required=False, initial=True, label="Header row (CSV)")
    filters = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}),
        help_text='Field → exact value: {"country": "FR"}. Disregarded when there is a query.',
    )
    sql_query = forms.CharField(
        required=False,
        label="SQL query",
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4, "class": "mono"}),
        help_text="DuckDB SQL over your organisation's datasets, each a table named after "
        'it: SELECT * FROM "Attendee" WHERE age > 30.',
    )
    template = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}),
        help_text="Each row rendered by it (Jinja2): {{ email }};{{ name|upper }}. CSV only.",
    )
    notification_email = forms.CharField(
        max_length=254, required=False, label="E-mail when it ends"
    )


def show_service_errors(form, errors: dict[str, list[str]]) -> None:
    """A service's refusal, named as the API names fields, on the form's fields."""
    renamed: dict[str, list[str]] = {}
    for name, messages in errors.items():
        field = FIELD_NAMES.get(name, name.split(".")[0])
        renamed.setdefault(field, []).extend(
            f"{name.split('.', 1)[1]}: {m}" if "." in name else m for m in messages
        )
    show_refusal(form, renamed)


class JobFilterForm(_DatasetChoice, DayRangeFilterForm):
    status = filter_choice("Any status", TransferStatus.choices)
    kind = filter_choice("Imports and exports", TransferKind.choices, label="Type")
    dataset = ByNameChoiceField(
        queryset=Dataset.objects.none(), required=False, empty_label="Any dataset"
    )
    from_date = day_field("Submitted from")
