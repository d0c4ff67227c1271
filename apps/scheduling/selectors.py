"""Reads for the console pages: each a fixed number of queries, whatever the row count."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncDate

from apps.scheduling.models import Execution, ExecutionStatus, IntegrationBatchInstance

PAGE_SIZE = 50
CHART_DAYS = 14


def instance_rows(organisation, *, archived: bool = False):
    return (
        IntegrationBatchInstance.objects.filter(organisation=organisation, archived=archived)
        .select_related("version__plugin")
        .with_next_run()
        .with_last_run()
        .order_by("name", "pk")
    )


@dataclass(frozen=True)
class ExecutionsPage:
    rows: list[Execution]
    next_cursor: str | None  # where the following (older) page starts


def executions_page(
    organisation, filters: dict, cursor: str = "", size: int = PAGE_SIZE
) -> ExecutionsPage:
    """Newest first, a page at a time by keyset (expected_start_date, id): a deep page costs
    what the first does, and nothing counts the whole table."""
    executions = Execution.objects.filter(organisation=organisation).select_related("instance")
    if filters.get("status"):
        executions = executions.filter(status=filters["status"])
    if filters.get("execution_type"):
        executions = executions.filter(execution_type=filters["execution_type"])
    if filters.get("instance"):
        executions = executions.filter(instance=filters["instance"])
    if filters.get("from_date"):
        executions = executions.filter(expected_start_date__gte=_day_start(filters["from_date"]))
    if filters.get("to_date"):
        executions = executions.filter(
            expected_start_date__lt=_day_start(filters["to_date"]) + timedelta(days=1)
        )
    if position := _parse_cursor(cursor):
        moment, pk = position
        executions = executions.filter(
            Q(expected_start_date__lt=moment) | Q(expected_start_date=moment, pk__lt=pk)
        )
    rows = list(executions.order_by("-expected_start_date", "-pk")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return ExecutionsPage(rows=rows, next_cursor=cursor_of(rows[-1]) if more else None)


def _day_start(day) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def cursor_of(execution: Execution) -> str:
    """Exact to the microsecond (integers, not floats), so no row is skipped or repeated."""
    return f"{(execution.expected_start_date - EPOCH) // MICROSECOND}.{execution.pk}"


def _parse_cursor(cursor: str) -> tuple[datetime, int] | None:
    micros, _, pk = cursor.partition(".")
    if not (micros.isdigit() and pk.isdigit() and len(micros) < 20 and len(pk) < 19):
        return None
    return EPOCH + int(micros) * MICROSECOND, int(pk)


@dataclass(frozen=True)
class Dashboard:
    last_day: dict[str, int]
    coming: list[Execution]
    failures: list[Execution]
    days: list[datetime]
    per_day: dict[tuple, int]  # (day, status) -> count


def dashboard(organisation, now: datetime) -> Dashboard:
    executions = Execution.objects.filter(organisation=organisation)
    last_day = dict(
        executions.filter(
            expected_start_date__gt=now - timedelta(hours=24), expected_start_date__lte=now
        )
        .values_list("status")
        .annotate(count=Count("pk"))
        .values_list("status", "count")
    )
    first_day = (now - timedelta(days=CHART_DAYS - 1)).date()
    per_day = {
        (day, status): count
        for day, status, count in executions.filter(
            expected_start_date__date__gte=first_day, expected_start_date__lte=now
        )
        .annotate(day=TruncDate("expected_start_date"))
        .values_list("day", "status")
        .annotate(count=Count("pk"))
        .values_list("day", "status", "count")
    }
    return Dashboard(
        last_day={status: last_day.get(status, 0) for status in ExecutionStatus.values},
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
    )
