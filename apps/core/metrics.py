"""`/metrics`: the platform's own state in Prometheus's text format, for an operator to
graph and alert on — runs by status, the queue and how late its oldest due run is, the
scheduler's last tick, recent run durations, batches and what they ingested, alert
deliveries.

The figures are read from the database at each scrape, in a constant number of queries:
web processes, workers and the scheduler share nothing else, so any one web process
answers for the whole platform, and a process restart loses nothing. The endpoint is off
(404) until BATCHWORKS_METRICS_TOKEN is set; a scrape then sends it as a bearer token."""

import hmac
import statistics
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Min, Sum
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from apps.alerts.models import Alert, DeliveryStatus
from apps.ingestion.models import Batch, BatchStatus
from apps.scheduling.models import Execution, ExecutionStatus, SchedulerState

DURATION_WINDOW = timedelta(hours=1)
QUANTILES = (0.5, 0.95, 1.0)
MAX_DURATIONS_READ = 10_000


@never_cache
@require_safe
def metrics(request) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404("Metrics are off: set BATCHWORKS_METRICS_TOKEN.")
    sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if not hmac.compare_digest(sent.encode(), token.encode()):
        response = HttpResponse("A bearer token is required.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry()
    registry.register(PlatformCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


class PlatformCollector(Collector):
    def collect(self):
        now = timezone.now()
        yield from _executions(now)
        yield from _scheduler()
        yield _recent_durations(now)
        yield from _batches()
        yield _alerts()


def _executions(now):
    by_status = dict(Execution.objects.order_by().values_list("status").annotate(count=Count("pk")))
    executions = GaugeMetricFamily(
        "batchworks_executions", "Executions by status.", labels=["status"]
    )
    for status in ExecutionStatus.values:
        executions.add_metric([status], by_status.get(status, 0))
    yield executions
    due = (
        Execution.objects.pending()
        .filter(expected_start_date__lte=now)
        .aggregate(count=Count("pk"), oldest=Min("expected_start_date"))
    )
    yield GaugeMetricFamily(
        "batchworks_due_executions", "PENDING executions whose time has come.", value=due["count"]
    )
    late = (now - due["oldest"]).total_seconds() if due["oldest"] else 0
    yield GaugeMetricFamily(
        "batchworks_oldest_due_execution_age_seconds",
        "How long the oldest due PENDING execution has waited past its time (0: none waits).",
        value=late,
    )


def _scheduler():
    state = SchedulerState.current()
    for name, at, help_text in (
        ("last_tick", state.last_tick_at, "When the scheduler last ticked."),
        ("last_good_tick", state.last_good_tick_at, "When it last ticked without error."),
    ):
        yield GaugeMetricFamily(
            f"batchworks_scheduler_{name}_timestamp_seconds",
            f"{help_text} (Unix time; 0: never)",
            value=at.timestamp() if at else 0,
        )
    yield GaugeMetricFamily(
        "batchworks_scheduler_tick_duration_seconds",
        "How long the last tick took.",
        value=state.last_tick_seconds or 0,
    )


def _recent_durations(now) -> GaugeMetricFamily:
    """Quantiles of the run time of executions due in the last hour that have finished
    (read through the (status, expected start) index)."""
    finished = Execution.objects.filter(
        status__in=[ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED],
        expected_start_date__gte=now - DURATION_WINDOW,
        start_date__isnull=False,
    ).values_list("start_date", "end_date")[:MAX_DURATIONS_READ]
    seconds = sorted((end - start).total_seconds() for start, end in finished if start and end)
    family = GaugeMetricFamily(
        "batchworks_recent_execution_duration_seconds",
        "Run time of the executions due in the last hour that finished, by quantile.",
        labels=["quantile"],
    )
    for quantile in QUANTILES:
        family.add_metric([str(quantile)], _quantile(seconds, quantile))
    return family


def _quantile(ordered: list[float], quantile: float) -> float:
    if not ordered:
        return 0
    if quantile == 1.0:
        return ordered[-1]
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[round(quantile * 100) - 1]


def _batches():
    rows = {
        status: (count, size, records)
        for status, count, size, records in Batch.objects.order_by()
        .values_list("status")
        .annotate(Count("pk"), Sum("bytes"), Sum("records_written"))
    }
    families = [
        GaugeMetricFamily("batchworks_batches", "Batches by status.", labels=["status"]),
        GaugeMetricFamily(
            "batchworks_batch_bytes", "Bytes of the batches' files, by status.", labels=["status"]
        ),
        GaugeMetricFamily(
            "batchworks_batch_records",
            "Records the batches' staging wrote, by status (active: ingested).",
            labels=["status"],
        ),
    ]
    for status in BatchStatus.values:
        for family, value in zip(families, rows.get(status, (0, 0, 0)), strict=True):
            family.add_metric([status], value or 0)
    yield from families


def _alerts() -> GaugeMetricFamily:
    by_status = dict(Alert.objects.order_by().values_list("status").annotate(count=Count("pk")))
    family = GaugeMetricFamily("batchworks_alerts", "Alerts by delivery status.", labels=["status"])
    for status in DeliveryStatus.values:
        family.add_metric([status], by_status.get(status, 0))
    return family
