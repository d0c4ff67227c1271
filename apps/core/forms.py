"""Form pieces the console's apps share."""

from django import forms


def day_field(label: str) -> forms.DateField:
    return forms.DateField(
        required=False, label=label, widget=forms.DateInput(attrs={"type": "date"})
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
