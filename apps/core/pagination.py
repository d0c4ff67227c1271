"""Keyset pagination for the console's long lists: newest first by a date, then by id (or
in the order of a name, then by id), a page at a time from a cursor. A deep page costs
what the first does, and nothing counts the whole table. Lists are filtered by UTC days
(in_days)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Q

from apps.core.api.inputs import as_pk
from apps.core.text import parse_int

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Page:
    rows: list
    next_cursor: str | None  # where the following (older) page starts


def keyset_page(queryset, date_field: str, cursor: str = "", size: int = 50) -> Page:
    if position := _parse(cursor, queryset.model):
        moment, pk = position
        # The first bound is redundant but lets the index seek to the cursor: an OR alone
        # makes PostgreSQL read and discard every newer row.
        queryset = queryset.filter(
            Q(**{f"{date_field}__lte": moment}),
            Q(**{f"{date_field}__lt": moment}) | Q(**{date_field: moment, "pk__lt": pk}),
        )
    rows = list(queryset.order_by(f"-{date_field}", "-pk")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows=rows, next_cursor=cursor_of(rows[-1], date_field) if more else None)


def named_page(queryset, name_field: str, cursor: str = "", size: int = 50) -> Page:
    """Rows in the order of a name, then id, from the one after the cursor ("<id>.<name>")."""
    pk, _, name = cursor.partition(".")
    if (pk := as_pk(queryset.model, pk)) is not None:
        queryset = queryset.filter(
            Q(**{f"{name_field}__gte": name}),  # as in keyset_page: a bound an index can seek
            Q(**{f"{name_field}__gt": name}) | Q(**{name_field: name, "pk__gt": pk}),
        )
    rows = list(queryset.order_by(name_field, "pk")[: size + 1])
    last = rows[size - 1] if len(rows) > size else None
    return Page(
        rows=rows[:size], next_cursor=f"{last.pk}.{getattr(last, name_field)}" if last else None
    )


def cursor_of(row, date_field: str) -> str:
    """Exact to the microsecond (integers, not floats), so no row is skipped or repeated."""
    return f"{(getattr(row, date_field) - EPOCH) // MICROSECOND}.{row.pk}"


def _parse(cursor: str, model) -> tuple[datetime, object] | None:
    micros_text, _, pk_text = cursor.partition(".")
    micros, pk = parse_int(micros_text), as_pk(model, pk_text)
    if micros is None or pk is None:
        return None
    return EPOCH + micros * MICROSECOND, pk


def in_days(queryset, date_field: str, first_day=None, last_day=None):
    """Rows whose date falls on UTC days first_day to last_day, both included."""
    if first_day:
        queryset = queryset.filter(**{f"{date_field}__gte": _day_start(first_day)})
    if last_day:
        queryset = queryset.filter(
            **{f"{date_field}__lt": _day_start(last_day) + timedelta(days=1)}
        )
    return queryset


def _day_start(day) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
