"""Form pieces the console's apps share."""

from html import escape

from django import forms
from django.forms.models import ModelChoiceIterator
from django.forms.utils import flatatt
from django.utils.safestring import mark_safe


def day_field(label: str) -> forms.DateField:
    return forms.DateField(
        required=False, label=label, widget=forms.DateInput(attrs={"type": "date"})
    )


def filter_choice(anything: str, choices, **kwargs) -> forms.ChoiceField:
    """A list's filter by one of `choices`, or by none: the first option, `anything`."""
    return forms.ChoiceField(
        choices=[("", anything), *choices], required=False, widget=QuickSelect, **kwargs
    )


RANGE = ["from_date", "to_date"]


class DayRangeFilterForm(forms.Form):
    """A list's filters with a range of UTC days, both ends included: a range that ends
    before it starts is an error on its end, not an empty list that looks like an answer."""

    from_date = day_field("From")
    to_date = day_field("To (included)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)  # the range comes after the list's own filters
        self.order_fields([name for name in self.fields if name not in RANGE] + RANGE)

    def clean(self):
        cleaned = super().clean()
        first, last = cleaned.get("from_date"), cleaned.get("to_date")
        if first and last and last < first:
            self.add_error("to_date", f"Ends before it starts: pick {first:%Y-%m-%d} or later.")
        return cleaned


class QuickSelect(forms.Select):
    """A select of plain (value, label) choices written out here rather than by Django's
    templates, which render each option through one of its own."""

    def render(self, name, value, attrs=None, renderer=None):
        chosen = set(self.format_value(value))
        options = "".join(
            f'<option value="{escape(str(choice))}"{" selected" if str(choice) in chosen else ""}>'
            f"{escape(str(label))}</option>"
            for choice, label in self.choices
        )
        return mark_safe(
            f'<select name="{escape(name)}"{flatatt(self.build_attrs(self.attrs, attrs))}>'
            f"{options}</select>"
        )


class ByNameIterator(ModelChoiceIterator):
    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        yield from self.queryset.values_list("pk", "name")


class ByNameChoiceField(forms.ModelChoiceField):
    """One of the organisation's objects, for a list's filter: offered as (id, name) pairs
    by QuickSelect. Django's own read each as a model through a server-side cursor and
    wrote each option through a template: 8 ms of the executions page (50 instances, on a
    slow machine), where this takes 1."""

    widget = QuickSelect
    iterator = ByNameIterator
