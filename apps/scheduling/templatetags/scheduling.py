import json
from datetime import timedelta

from django import template

from apps.scheduling.cron import describe_cron

register = template.Library()


@register.filter
def cron_description(expression: str) -> str:
    """ "0 2 * * *" → "At 02:00, every day"."""
    try:
        return describe_cron(expression)
    except Exception:
        return ""


@register.filter
def json_pretty(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


@register.filter
def duration(value: timedelta | None) -> str:
    """2.2 s, 3 min 05 s, 2 h 03 min: as precise as a person needs."""
    if value is None:
        return ""
    seconds = value.total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
