"""The console with 100,000 executions (--executions-total 1000000 for a million): server
time (median, p95) and queries per page, the executions list also at a depth of half the
table, through its keyset cursor.

Pages are requested in-process through Django's test client, logged in as a member, after
one warm-up request each; the figure is the time to build the response."""

import random
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from apps.accounts.models import Membership, Organisation, Role
from apps.core.pagination import cursor_of
from apps.plugins.models import PluginType
from apps.plugins.services import plugin_create, plugin_version_create
from apps.scheduling.models import Execution, ExecutionStatus, IntegrationBatchInstance
from bench.engine import NO_OP
from bench.setup import counting_queries, median_and_p95

REQUESTS = 30
PAGE_BUDGET_MS = 50  # p50 of every page, whatever the number of executions


def run(options) -> None:
    call_command(
        "collectstatic", interactive=False, verbosity=0
    )  # pages link hashed assets, as deployed
    organisation, user = _world(options.executions_total)
    client = Client(SERVER_NAME="localhost")  # an allowed host, as in production
    client.force_login(user)
    depth = options.executions_total // 2
    deep = _cursor_at(organisation, depth=depth)
    pages = {
        "dashboard": "/",
        "executions, first page": "/executions/",
        "executions, filtered (FAILED)": "/executions/?status=FAILED",
        f"executions, at depth {depth:,} (keyset)": f"/executions/?before={deep}",
        "instances": "/instances/",
    }
    print(f"{options.executions_total:,} executions; {REQUESTS} requests per page")
    for name, url in pages.items():
        _measure(client, name, url)
    # The chart's past days are counted once a minute (the first request after pays).
    _measure(client, "dashboard, its past days counted again", "/", before=cache.clear)


def _measure(client, name: str, url: str, before=lambda: None) -> None:
    client.get(url)  # warm up
    timings = []
    for _ in range(REQUESTS):
        before()
        start = time.perf_counter()
        with counting_queries() as counted:
            response = client.get(url)
        timings.append(time.perf_counter() - start)
        assert response.status_code == 200, (url, response.status_code)
    median, p95 = median_and_p95(timings)
    milliseconds = f"median {median * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"
    budget = f"{median * 1000 / PAGE_BUDGET_MS:.2f} of the {PAGE_BUDGET_MS} ms budget"
    print(f"{name}: {milliseconds} ({budget}), {counted['queries']} queries")


def _world(total: int):
    organisation = Organisation.objects.create(name="Bench pages")
    user = get_user_model().objects.create_user("bench", password="bench")
    Membership.objects.create(user=user, organisation=organisation, role=Role.ADMIN)
    plugin = plugin_create(
        organisation=organisation,
        plugin_type=PluginType.INTEGRATION_BATCH,
        group_id="bench",
        artifact_id="pages",
    )
    version = plugin_version_create(
        plugin=plugin, version_id="1.0.0", artifact=ContentFile(NO_OP, name="no_op.py")
    )
    instances = IntegrationBatchInstance.objects.bulk_create(
        IntegrationBatchInstance(
            organisation=organisation,
            version=version,
            name=f"instance {i}",
            cron="0 * * * *",
            cron_status="ACTIVE",
        )
        for i in range(50)
    )
    now = timezone.now()
    rng = random.Random(7)
    statuses = [ExecutionStatus.SUCCEEDED] * 8 + [ExecutionStatus.FAILED, ExecutionStatus.CANCELED]
    rows = []
    for n in range(total):
        expected = now - timedelta(seconds=n * 30 + rng.random())  # ~35 days back
        status = statuses[n % len(statuses)]
        rows.append(
            Execution(
                organisation=organisation,
                instance=instances[n % len(instances)],
                execution_type="CRON",
                status=status,
                expected_start_date=expected,
                start_date=expected,
                end_date=expected + timedelta(seconds=40),
                error={"message": "Connection refused"}
                if status == ExecutionStatus.FAILED
                else None,
            )
        )
        if len(rows) == 10_000:
            Execution.objects.bulk_create(rows)
            rows = []
    Execution.objects.bulk_create(rows)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return organisation, user


def _cursor_at(organisation, depth: int) -> str:
    """The cursor a person reaches after paging through `depth` executions."""
    executions = Execution.objects.filter(organisation=organisation)
    return cursor_of(
        executions.order_by("-expected_start_date", "-pk")[depth], "expected_start_date"
    )
