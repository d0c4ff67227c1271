"""Cron expressions as users write them: five fields, read in the instance's time zone."""

import zoneinfo
from datetime import datetime
from functools import cache

from croniter import CroniterBadDateError, croniter
from django.core.exceptions import ValidationError

CRON_FIELDS = "minute hour day-of-month month day-of-week"


@cache
def _time_zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(name: str) -> None:
    if name not in _time_zone_names():
        raise ValidationError(
            f"Unknown time zone {name!r}; use an IANA name such as UTC or Europe/Paris.",
            code="invalid_time_zone",
        )


def validate_cron(expression: str) -> None:
    fields = expression.split()
    if len(fields) != 5:
        raise ValidationError(
            f"A cron has 5 fields ({CRON_FIELDS}); this one has {len(fields)}.",
            code="invalid_cron",
        )
    if not croniter.is_valid(expression):
        raise ValidationError(
            f"{expression!r} is not a valid cron expression ({CRON_FIELDS}).", code="invalid_cron"
        )
    try:
        croniter(expression, datetime(2000, 1, 1)).get_next(datetime)
    except CroniterBadDateError:
        raise ValidationError(f"{expression!r} never fires.", code="invalid_cron") from None
