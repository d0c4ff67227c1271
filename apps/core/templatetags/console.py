"""Tags every console page uses, built in Python: lists show several per row, and an
included template per value cost more than the rest of a page."""

from datetime import UTC, datetime
from html import escape
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import template
from django.utils.safestring import mark_safe

register = template.Library()


@register.simple_tag
def moment(value: datetime | None, zone: str = "", seconds: bool = False) -> str:
    """A time in UTC, after the same time in `zone` when it is another: what every page
    shows of a date, to the minute (or to the second)."""
    if not value:
        return mark_safe('<span class="muted">—</span>')
    shape = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    local = ""
    if zone and zone != "UTC":
        try:
            here = value.astimezone(ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):  # a zone the system stopped knowing
            here = None
        if here is not None:
            local = (
                f'<span class="nowrap">{here:{shape}} <span class="muted">{escape(zone)}</span>'
                '</span><span class="muted"> · </span>'
            )
    utc = value.astimezone(UTC)
    return mark_safe(
        f'<time datetime="{utc.isoformat()}">{local}<span class="nowrap">{utc:{shape}} '
        '<span class="muted">UTC</span></span></time>'
    )


@register.simple_tag
def status(value: str) -> str:
    """A status as its coloured badge."""
    word = escape(str(value))
    return mark_safe(f'<span class="status status-{word}">{word}</span>')
