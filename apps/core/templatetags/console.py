"""Tags every console page uses, built in Python: lists show several per row, and an
included template per value cost more than the rest of a page."""

from datetime import UTC, datetime
from functools import cache
from html import escape
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import template
from django.urls import get_script_prefix, reverse
from django.utils.safestring import mark_safe

register = template.Library()


@register.simple_tag
def moment(value: datetime | None, zone: str = "", seconds: bool = False) -> str:
    """A time in UTC, after the same time in `zone` when it is another: what every page
    shows of a date, to the minute (or to the second). A narrow column may wrap it
    between the day, the time and the zone, never inside the day."""
    if not value:
        return mark_safe('<span class="muted">—</span>')
    clock = "%H:%M:%S" if seconds else "%H:%M"
    local = ""
    if zone and zone != "UTC":
        try:
            here = value.astimezone(ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):  # a zone the system stopped knowing
            here = None
        if here is not None:
            local = f'{_stamp(here, clock, escape(zone))}<span class="muted"> · </span>'
    utc = value.astimezone(UTC)
    return mark_safe(
        f'<time datetime="{utc.isoformat()}">{local}{_stamp(utc, clock, "UTC")}</time>'
    )


def _stamp(value: datetime, clock: str, zone: str) -> str:
    """Its day, time and zone (given escaped), never wrapped inside the day."""
    day = f'<span class="nowrap">{value:%Y-%m-%d}</span>'
    return f'{day} {value:{clock}} <span class="muted">{zone}</span>'


@register.simple_tag
def status(value: str) -> str:
    """A status as its coloured badge."""
    word = escape(str(value))
    return mark_safe(f'<span class="status status-{word}">{word}</span>')


@register.simple_tag
def route(view_name: str, pk: int | None = None) -> str:
    """What {% url view_name %} gives, or {% url view_name pk %} for a route whose one
    argument is an id, reversed once per process rather than per link: for the links on
    every page and in every row (Django's reverse() took 75 µs a link on a slow machine,
    7.5 ms of a list of 50 rows with two links each)."""
    if pk is None:
        return _reversed(view_name, get_script_prefix())
    head, tail = around_the_id(view_name)
    return f"{head}{int(pk)}{tail}"


def around_the_id(view_name: str) -> tuple[str, str]:
    """The route's URL before and after its id."""
    return _around_the_id(view_name, get_script_prefix())


PLACEHOLDER_ID = 2**31 - 1


@cache
def _reversed(view_name: str, script_prefix: str) -> str:
    """Keyed by the script prefix too, which reverse() puts in front (as below)."""
    return reverse(view_name)


@cache
def _around_the_id(view_name: str, script_prefix: str) -> tuple[str, str]:
    head, _, tail = reverse(view_name, args=[PLACEHOLDER_ID]).partition(str(PLACEHOLDER_ID))
    return head, tail
