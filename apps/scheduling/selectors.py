"""Reads for the console pages: each a fixed number of queries, whatever the row count."""

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Window
from django.db.models.functions import RowNumber, TruncDate

from apps.core.models import StorableJSONField
from apps.core.pagination import Page, in_days, keyset_page, named_page
from apps.plugins.models import PluginProperty, PropertyOrigin
from apps.scheduling.models import (
    Backfill,
    Execution,
    ExecutionStatus,
    InstanceProperty,
    IntegrationBatchInstance,
    SchedulerState,
)

PAGE_SIZE = 50
FAILING_SHOWN = 10
CHART_DAYS = 14
# The chart counts today's runs on every request and the 13 days before at most this
# often: those are 40,000 runs at 1,000,000 executions, 25 ms of a 50 ms page each time.
PAST_DAYS_FRESH_FOR = timedelta(minutes=1)
# Ticks come every few seconds (run_scheduler) or every minute (cron): this long without
# one means the scheduler has stopped.
SCHEDULER_SILENT_AFTER = timedelta(seconds=150)


INSTANCES_PER_PAGE = 25  # each row draws 30 runs: a page of them weighs what 50 runs do


def instance_rows(organisation, *, archived: bool = False):
    return (
        IntegrationBatchInstance.objects.filter(organisation=organisation, archived=archived)
        .select_related("version__plugin")
        .with_next_waiting()
        .with_last_run()
        .order_by("name", "pk")
    )


def instances_page(organisation, *, archived: bool, cursor: str) -> Page:
    """By name, a page at a time (see named_page)."""
    return named_page(
        instance_rows(organisation, archived=archived), "name", cursor, INSTANCES_PER_PAGE
    )


HISTORY_RUNS = 30  # cells in an instance's run history


class Run(NamedTuple):
    """A run of a history: what a cell shows (a tuple, not an Execution: 30 per instance)."""

    pk: int
    instance_id: int
    status: str
    expected_start_date: datetime
    duration: timedelta | None  # from its start to its end, once it has both


@dataclass(frozen=True)
class RunHistory:
    """An instance's latest runs (oldest first) and how long its successful ones took."""

    runs: list[Run]
    median: timedelta | None
    p95: timedelta | None

    def slower_than_usual(self, execution: Execution, now: datetime) -> bool:
        """A run going for longer than 95 % of the recent successful ones did."""
        return bool(
            self.p95
            and execution.start_date
            and not execution.end_date
            and now - execution.start_date > self.p95
        )


def run_histories(instance_ids, size: int = HISTORY_RUNS) -> dict[int, RunHistory]:
    """The latest `size` runs that started or ended (not those still waiting) of each
    instance, in one query whatever the number of instances."""
    ids = list(instance_ids)
    by_instance: dict[int, list[Run]] = {pk: [] for pk in ids}
    for run in _latest_runs(ids, size):  # by instance, oldest first
        by_instance[run.instance_id].append(run)
    return {pk: _history(rows) for pk, rows in by_instance.items()}


def _latest_runs(ids: list[int], size: int) -> list[Run]:
    if not ids:
        return []
    if connection.vendor == "postgresql":
        # One short index walk per instance (a LATERAL join), where a window over their
        # runs would read every instance's whole history; written out, for the ORM would
        # compile a subquery per instance.
        with connection.cursor() as cursor:
            cursor.execute(LATEST_RUNS_SQL, [ids, ExecutionStatus.PENDING.value, size])
            return [Run(*row) for row in cursor.fetchall()]
    rank = Window(
        RowNumber(), partition_by=F("instance_id"), order_by=[F("expected_start_date").desc()]
    )
    ranked = Execution.objects.filter(instance_id__in=ids).exclude(status=ExecutionStatus.PENDING)
    rows = (
        ranked.annotate(rank=rank, took=F("end_date") - F("start_date"))
        .filter(rank__lte=size)
        .order_by("instance_id", "expected_start_date")
        .values_list("pk", "instance_id", "status", "expected_start_date", "took")
    )
    return [Run(*row) for row in rows]


# Durations come as intervals: two timestamps a run, each made a datetime in Python,
# cost more than the rest of the history (750 runs on an instances page).
LATEST_RUNS_SQL = f"""
SELECT run.id, run.instance_id, run.status, run.expected_start_date,
       run.end_date - run.start_date
FROM unnest(%s::bigint[]) AS instance(id)
CROSS JOIN LATERAL (
    SELECT id, instance_id, status, expected_start_date, start_date, end_date
    FROM {Execution._meta.db_table}
    WHERE instance_id = instance.id AND status <> %s
    ORDER BY expected_start_date DESC
    LIMIT %s
) AS run
ORDER BY run.instance_id, run.expected_start_date
"""


def _history(runs: list[Run]) -> RunHistory:
    spans = sorted(
        run.duration for run in runs if run.status == ExecutionStatus.SUCCEEDED and run.duration
    )
    return RunHistory(
        runs=runs,
        median=percentile(spans, 0.5) if spans else None,
        p95=percentile(spans, 0.95) if spans else None,
    )


def percentile(ordered: list, fraction: float):
    """Nearest rank: the smallest value with `fraction` of them at or below it."""
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def executions_page(organisation, filters: dict, cursor: str = "", size: int = PAGE_SIZE) -> Page:
    """Newest first by expected start, a page at a time (see keyset_page)."""
    executions = Execution.objects.filter(organisation=organisation).select_related("instance")
    if filters.get("status"):
        executions = executions.filter(status=filters["status"])
    if filters.get("execution_type"):
        executions = executions.filter(execution_type=filters["execution_type"])
    if filters.get("instance"):
        executions = executions.filter(instance=filters["instance"])
    if filters.get("backfill"):
        executions = executions.filter(backfill=filters["backfill"])
    executions = in_days(
        executions, "expected_start_date", filters.get("from_date"), filters.get("to_date")
    )
    return keyset_page(executions, "expected_start_date", cursor, size)


@dataclass(frozen=True)
class Dashboard:
    last_day: dict[str, int]
    coming: list[Execution]
    failures: list[Execution]
    days: list[date]
    per_day: dict[tuple, int]  # (day, status) -> count
    failing: list[IntegrationBatchInstance]  # whose latest run failed


def dashboard(organisation, now: datetime) -> Dashboard:
    executions = Execution.objects.filter(organisation=organisation)
    first_day = (now - timedelta(days=CHART_DAYS - 1)).date()
    per_day, last_day = _runs_counted(organisation, executions, first_day, now)
    return Dashboard(
        last_day=last_day,
        coming=list(
            executions.pending()
            .filter(expected_start_date__gt=now)
            .select_related("instance")
            .order_by("expected_start_date")[:8]
        ),
        failures=list(
            executions.filter(status=ExecutionStatus.FAILED)
            .select_related("instance")
            .order_by("-end_date")[:8]
        ),
        days=[first_day + timedelta(days=offset) for offset in range(CHART_DAYS)],
        per_day=per_day,
        failing=list(
            IntegrationBatchInstance.objects.filter(organisation=organisation, archived=False)
            .with_last_run()
            .filter(last_run_status=ExecutionStatus.FAILED)
            .order_by("name")[:FAILING_SHOWN]
        ),
    )


def _runs_counted(organisation, executions, first_day: date, now: datetime):
    """The chart's (UTC day, status) -> runs due that day, from first_day until now, and
    the runs of the last 24 hours by status, by one query. The days before today are
    counted at most once every PAST_DAYS_FRESH_FOR (the cache keeps them), today's and
    the last 24 hours' on every request."""
    day_ago, today = now - timedelta(hours=24), now.date()
    key = f"runs-per-day:{organisation.pk}:{organisation.created_at.timestamp()}:{first_day}"
    before_today = cache.get(key)
    since = datetime.combine(first_day, time.min, tzinfo=UTC) if before_today is None else day_ago
    rows = (  # a range on the column itself, which its index serves (a __date filter is not)
        executions.filter(expected_start_date__gte=since, expected_start_date__lte=now)
        .annotate(day=TruncDate("expected_start_date"))
        .values_list("day", "status")
        .annotate(runs=Count("pk"), recent=Count("pk", filter=Q(expected_start_date__gt=day_ago)))
        .values_list("day", "status", "runs", "recent")
    )
    per_day, last_day = {}, dict.fromkeys(ExecutionStatus.values, 0)
    for day, status, runs, recent in rows:
        per_day[day, status] = runs
        last_day[status] += recent
    if before_today is None:
        before_today = {
            (day, status): runs for (day, status), runs in per_day.items() if day < today
        }
        cache.set(key, before_today, PAST_DAYS_FRESH_FOR.total_seconds())
    today_so_far = {(day, status): runs for (day, status), runs in per_day.items() if day == today}
    return before_today | today_so_far, last_day


@dataclass(frozen=True)
class SchedulerHealth:
    healthy: bool
    message: str
    last_good_tick_at: datetime | None
    unschedulable: list[IntegrationBatchInstance]  # the organisation's, with schedule_error


def scheduler_health(organisation, now: datetime) -> SchedulerHealth:
    """Whether the scheduler runs and ticks without error, in words for the dashboard."""
    state = SchedulerState.current()
    unschedulable = list(
        IntegrationBatchInstance.objects.scheduled()
        .filter(organisation=organisation)
        .exclude(schedule_error="")
        .order_by("name")[:5]
    )
    good = state.last_good_tick_at
    if state.last_tick_at is None:
        message = (
            "The scheduler has never run: start `manage.py run_scheduler`, or install its "
            "cron jobs with `manage.py crontab add`."
        )
    elif state.last_tick_at < now - SCHEDULER_SILENT_AFTER:
        message = (
            f"The scheduler has not ticked since {state.last_tick_at:%Y-%m-%d %H:%M:%S} UTC: "
            "nothing is scheduled or handed to the workers until it runs again."
        )
    elif good is None or good < state.last_tick_at:
        message = (
            f"The scheduler's last tick failed ({state.last_error_at:%H:%M:%S} UTC): "
            f"{state.last_error}"
        )
    else:
        message = ""
    return SchedulerHealth(
        healthy=not message,
        message=message,
        last_good_tick_at=good,
        unschedulable=unschedulable,
    )


@dataclass(frozen=True)
class EffectiveProperty:
    """One of an instance's properties as its runs see it: the version's declaration, and
    the instance's own value if it has one, else the version's."""

    prop: PluginProperty
    value: dict
    own: bool  # the instance's value, not the version's

    @property
    def origin(self) -> str:
        return PropertyOrigin.INSTANCE if self.own else self.prop.origin


def effective_properties(instance: IntegrationBatchInstance) -> list[EffectiveProperty]:
    """Every property of the instance's version, in declared order, each with the value
    that applies. Uses the instance's prefetched properties and overrides when it has them
    (see instances_with_properties), else reads both in one query."""
    if "property_overrides" in getattr(instance, "_prefetched_objects_cache", {}):
        own = {
            override.property_id: override.value for override in instance.property_overrides.all()
        }
        return [
            EffectiveProperty(prop=prop, value=own.get(prop.pk, prop.value), own=prop.pk in own)
            for prop in instance.version.properties.all()
        ]
    override = InstanceProperty.objects.filter(instance=instance, property=OuterRef("pk"))
    declared = instance.version.properties.annotate(
        own=Exists(override),
        own_value=Subquery(override.values("value"), output_field=StorableJSONField()),
    )
    return [
        EffectiveProperty(prop=prop, value=prop.own_value if prop.own else prop.value, own=prop.own)
        for prop in declared
    ]


def instances_with_properties():
    """Instances with what the API shows of them (their plugin, properties, coming run)
    in a fixed number of queries."""
    return (
        IntegrationBatchInstance.objects.select_related("version__plugin")
        .prefetch_related("version__properties", "property_overrides")
        .with_next_run()
        .order_by("pk")
    )


def executions_with_instance():
    return Execution.objects.select_related("instance")


# A backfill's runs by how they stand: its last attempts only (a retried run counts once).
BACKFILL_PROGRESS = tuple(ExecutionStatus.values)


def backfills_with_progress():
    """Backfills with `runs_<status>` counts of their runs (last attempts), in one query."""
    last_attempts = Q(executions__retry__isnull=True)
    return Backfill.objects.select_related("instance").annotate(
        **{
            f"runs_{status.lower()}": Count(
                "executions", filter=last_attempts & Q(executions__status=status)
            )
            for status in BACKFILL_PROGRESS
        }
    )
