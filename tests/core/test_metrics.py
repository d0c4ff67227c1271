"""/metrics as Prometheus scrapes it: off until a token is set, refused without it, and
what it says matches the platform's rows, in the same few queries however many rows."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from apps.ingestion.services import batch_create, dataset_create
from apps.scheduling.models import ExecutionStatus
from apps.scheduling.services import scheduler_record_tick
from tests.factories import ExecutionFactory, make_instance

pytestmark = pytest.mark.django_db
TOKEN = "scrape-me-0123456789"


@pytest.fixture
def scrape(client, settings):
    settings.METRICS_TOKEN = TOKEN

    def get() -> dict[tuple[str, tuple], float]:
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200
        assert answer["Content-Type"].startswith("text/plain; version=")
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.text)
            for sample in family.samples
        }

    return get


def test_metrics_are_off_until_a_token_is_set(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404


@pytest.mark.parametrize("sent", ["", "Bearer wrong", f"Basic {TOKEN}", TOKEN + "x"])
def test_a_scrape_without_the_token_is_refused(client, settings, sent):
    settings.METRICS_TOKEN = TOKEN
    answer = client.get("/metrics", headers={"Authorization": sent} if sent else {})
    assert answer.status_code == 401
    assert answer["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert "batchworks_" not in answer.text


def test_the_figures_are_the_platforms(scrape):
    now = timezone.now()
    instance = make_instance()
    for minutes, status in enumerate([ExecutionStatus.SUCCEEDED] * 3 + [ExecutionStatus.FAILED]):
        start = now - timedelta(minutes=10 + minutes)
        ExecutionFactory(
            instance=instance,
            status=status,
            expected_start_date=start,
            start_date=start,
            end_date=start + timedelta(seconds=30),
        )
    ExecutionFactory(instance=instance, expected_start_date=now - timedelta(minutes=5))
    ExecutionFactory(instance=instance, expected_start_date=now + timedelta(hours=1))
    scheduler_record_tick(at=now, seconds=0.25)
    dataset = dataset_create(
        organisation=instance.organisation,
        name="People",
        schema=[{"name": "email", "type": "String", "required": True}],
    )
    batch_create(dataset=dataset)

    figures = scrape()
    assert figures[("batchworks_executions", (("status", "SUCCEEDED"),))] == 3
    assert figures[("batchworks_executions", (("status", "FAILED"),))] == 1
    assert figures[("batchworks_executions", (("status", "PENDING"),))] == 2
    assert figures[("batchworks_executions", (("status", "RUNNING"),))] == 0
    assert figures[("batchworks_due_executions", ())] == 1
    assert 300 <= figures[("batchworks_oldest_due_execution_age_seconds", ())] < 400
    assert figures[("batchworks_scheduler_last_tick_timestamp_seconds", ())] == now.timestamp()
    assert figures[("batchworks_scheduler_tick_duration_seconds", ())] == 0.25
    assert figures[("batchworks_recent_execution_duration_seconds", (("quantile", "0.5"),))] == 30
    assert figures[("batchworks_batches", (("status", "loading"),))] == 1
    assert figures[("batchworks_batches", (("status", "active"),))] == 0
    assert figures[("batchworks_alerts", (("status", "PENDING"),))] == 0


def test_a_scrape_costs_the_same_queries_for_few_or_many_rows(scrape, django_assert_num_queries):
    instance = make_instance()
    ExecutionFactory(instance=instance)
    scrape()  # settles what the first request alone does (the session)
    with django_assert_num_queries(6):
        scrape()
    now = timezone.now()
    for minutes in range(30):
        ExecutionFactory(
            instance=instance,
            status=ExecutionStatus.SUCCEEDED,
            expected_start_date=now - timedelta(minutes=minutes + 1),
            start_date=now,
            end_date=now,
        )
    with django_assert_num_queries(6):
        scrape()
