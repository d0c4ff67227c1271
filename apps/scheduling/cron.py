"""Cron expressions as users write them: five fields, read in the instance's time zone."""

import zoneinfo
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache

from cron_descriptor import Options, get_description
from croniter import CroniterBadDateError, croniter
from django.core.exceptions import ValidationError

CRON_FIELDS = "minute hour day-of-month month day-of-week"


@cache
def time_zone_names() -> list[str]:
    return sorted(zoneinfo.available_timezones())


@cache
def time_zones_by_region() -> list[tuple[str, list[str]]]:
    """The zones grouped by their region (Europe/Paris under Europe), UTC first, for a
    list to pick from; zones of no region (EST, GMT…) are listed as "Other"."""
    regions: dict[str, list[str]] = {"": ["UTC"]}
    for name in time_zone_names():
        region = name.split("/", 1)[0] if "/" in name else "Other"
        if name != "UTC":
            regions.setdefault(region, []).append(name)
    return list(regions.items())


@cache
def _time_zone_set() -> frozenset[str]:
    return frozenset(time_zone_names())


def validate_time_zone(name: str) -> None:
    if name not in _time_zone_set():
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


def next_fire_time(expression: str, time_zone: str, after: datetime) -> datetime:
    """The first fire time strictly after `after`, as an aware UTC datetime."""
    return next(fire_times(expression, time_zone, after))


def next_fire_times(expression: str, time_zone: str, after: datetime, count: int) -> list[datetime]:
    times = fire_times(expression, time_zone, after)
    return [next(times) for _ in range(count)]


def fire_times(expression: str, time_zone: str, after: datetime):
    """Fire times strictly after `after`, in order, as aware UTC datetimes.

    The cron is matched against wall-clock time in `time_zone`, then each wall time is
    placed on the timeline: a time that daylight saving skips (02:30 on the spring-forward
    night) fires at the same moment shifted forward by the gap (03:30), so a daily job
    never loses a day; a time that happens twice (02:30 on the fall-back night) fires at
    its first occurrence only, so it never runs twice."""
    zone = zoneinfo.ZoneInfo(time_zone)
    wall_times = croniter(expression, after.astimezone(zone).replace(tzinfo=None))
    last = after
    while True:
        moment = wall_times.get_next(datetime).replace(tzinfo=zone).astimezone(UTC)
        if moment > last:
            last = moment
            yield moment


def previous_fire_time(expression: str, time_zone: str, at_or_before: datetime) -> datetime:
    """The last fire time at or before `at_or_before`, as an aware UTC datetime."""
    zone = zoneinfo.ZoneInfo(time_zone)
    start = (at_or_before + timedelta(microseconds=1)).astimezone(zone).replace(tzinfo=None)
    wall_times = croniter(expression, start)
    while True:
        moment = wall_times.get_prev(datetime).replace(tzinfo=zone).astimezone(UTC)
        if moment <= at_or_before:
            return moment


@lru_cache(maxsize=1024)  # a list describes every instance's cron; most are alike
def describe_cron(expression: str) -> str:
    """In words: "At 02:00, every day", "Every 15 minutes, Monday through Friday"."""
    options = Options()
    options.use_24hour_time_format = True
    description = get_description(expression, options)
    hour, *days = expression.split()[1:]
    if days == ["*", "*", "*"] and "*" not in hour and "/" not in hour:
        description += ", every day"
    return description
