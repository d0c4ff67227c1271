"""The console's pages and actions, through Django's test client."""

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import Membership, Role
from apps.runner.services import backfill_create, execution_create_manual
from apps.scheduling.models import Execution, IntegrationBatchInstance
from tests.factories import ExecutionFactory, PluginFactory, make_instance, make_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def instance(world):
    version = make_version(
        plugin=PluginFactory(organisation=world.org_a),
        properties=[
            {"technical_name": "region", "property_type": "STRING", "value": {"value": "eu"}},
        ],
    )
    return make_instance(
        version=version, name="Nightly import", cron="0 2 * * *", cron_status="ACTIVE"
    )


def as_user(client, user):
    client.force_login(user)
    return client


def ran_by_hand(instance, status: str, starts, took=timedelta(seconds=5)) -> None:
    """Finished MANUAL runs of the instance, one starting at each of `starts`."""
    for start in starts:
        ExecutionFactory(
            instance=instance,
            execution_type="MANUAL",
            status=status,
            expected_start_date=start,
            start_date=start,
            end_date=start + took,
        )


def test_pages_need_a_login(client):
    response = client.get("/instances/")
    assert response.status_code == 302 and response.url.startswith("/login")


def test_a_user_without_organisation_is_told_so(client, world):
    from tests.factories import UserFactory

    response = as_user(client, UserFactory()).get("/")
    assert response.status_code == 403
    assert "You are not in an organisation yet" in response.text


@pytest.mark.parametrize(
    "url",
    [
        "/instances/{instance}/",
        "/instances/{instance}/edit",
        "/executions/{execution}/",
        "/plugins/{plugin}/",
        "/executions/{execution}/log",
        "/executions/{execution}/row",
    ],
)
def test_another_organisations_pages_are_not_found(client, world, instance, url):
    execution = instance.executions.get()
    response = as_user(client, world.admin_b).get(
        url.format(instance=instance.pk, execution=execution.pk, plugin=instance.version.plugin_id)
    )
    assert response.status_code == 404


@pytest.mark.parametrize("action", ["pause", "run", "archive"])
def test_another_organisation_cannot_act_on_an_instance(client, world, instance, action):
    response = as_user(client, world.admin_b).post(f"/instances/{instance.pk}/{action}")
    assert response.status_code == 404
    instance.refresh_from_db()
    assert (
        instance.cron_status,
        instance.archived,
        Execution.objects.filter(execution_type="MANUAL").count(),
    ) == ("ACTIVE", False, 0)


@pytest.mark.parametrize(
    "url",
    [
        "/instances/{instance}/pause",
        "/instances/{instance}/run",
        "/instances/{instance}/archive",
        "/executions/{execution}/cancel",
        "/instances/new",
        "/plugins/new",
    ],
)
def test_a_reader_is_refused_every_change(client, world, instance, url):
    execution = instance.executions.get()
    response = as_user(client, world.reader_a).post(
        url.format(instance=instance.pk, execution=execution.pk)
    )
    assert response.status_code == 403
    assert "Your role in this organisation does not allow it" in response.text
    execution.refresh_from_db()
    instance.refresh_from_db()
    assert (instance.cron_status, instance.archived, execution.status) == (
        "ACTIVE",
        False,
        "PENDING",
    )


def test_pause_from_the_list_answers_the_row_for_htmx(client, world, instance):
    response = as_user(client, world.editor_a).post(
        f"/instances/{instance.pk}/pause", HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert response.text.strip().startswith(f'<tr id="instance-{instance.pk}">')
    assert "PAUSED" in response.text and "Resume" in response.text
    again = client.post(f"/instances/{instance.pk}/pause", HTTP_HX_REQUEST="true")
    assert "Only an ACTIVE scheduled instance can be paused" in again.text


def test_pause_without_javascript_redirects_and_says_so(client, world, instance):
    response = as_user(client, world.editor_a).post(
        f"/instances/{instance.pk}/pause", {"next": "/instances/"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/instances/"
    assert "Nightly import: paused, its coming runs canceled." in response.text


@pytest.mark.parametrize("elsewhere", ["https://evil.example/", "//evil.example/", "\\\\evil"])
def test_pause_never_redirects_to_another_site(client, world, instance, elsewhere):
    response = as_user(client, world.editor_a).post(
        f"/instances/{instance.pk}/pause", {"next": elsewhere}
    )
    assert response.url == f"/instances/{instance.pk}/"


def test_run_at_reads_the_time_in_the_instances_time_zone(client, world):
    paris = make_instance(
        version=make_version(plugin=PluginFactory(organisation=world.org_a)),
        name="Paris",
        cron_timezone="Europe/Paris",
    )
    response = as_user(client, world.editor_a).post(
        f"/instances/{paris.pk}/run", {"expected_start_date": "2099-06-01T09:30"}
    )
    execution = paris.executions.get()
    assert response.url == f"/executions/{execution.pk}/"
    assert execution.expected_start_date == datetime(2099, 6, 1, 7, 30, tzinfo=UTC)


def test_run_at_in_the_past_is_refused_with_the_reason(client, world, instance):
    response = as_user(client, world.editor_a).post(
        f"/instances/{instance.pk}/run", {"expected_start_date": "2001-01-01T10:00"}, follow=True
    )
    assert "is in the past; choose now or a later time." in response.text
    assert not instance.executions.filter(execution_type="MANUAL").exists()


def test_the_cron_preview_explains_the_cron_or_what_is_wrong(client, world):
    client = as_user(client, world.reader_a)
    good = client.get(
        "/instances/cron-preview", {"cron": "30 4 * * 1-5", "cron_timezone": "Europe/Paris"}
    )
    assert "At 04:30, Monday through Friday" in good.text and good.text.count("<li>") == 5
    bad = client.get("/instances/cron-preview", {"cron": "61 * * * *", "cron_timezone": "UTC"})
    assert "is not a valid cron expression" in bad.text
    zone = client.get(
        "/instances/cron-preview", {"cron": "0 2 * * *", "cron_timezone": "Mars/Base"}
    )
    assert "Unknown time zone" in zone.text


def test_creating_an_instance_shows_errors_inline_and_saves_nothing(client, world, instance):
    response = as_user(client, world.editor_a).post(
        "/instances/new",
        {
            "name": "Bad",
            "version": instance.version_id,
            "cron": "0 2 * * *",
            "cron_status": "ACTIVE",
            "cron_timezone": "UTC",
            "ram_size": "LOW",
            "cpu_size": "LOW",
            "disk_size": "LOW",
            "concurrency_policy": "ALLOW",
            "timeout_seconds": 0,
            "max_retries": 0,
            "retry_backoff_seconds": 60,
            "property__region": "",
        },
    )
    assert response.status_code == 200
    assert "Ensure this value is greater than or equal to" in response.text
    assert not IntegrationBatchInstance.objects.filter(name="Bad").exists()


def test_a_cron_typed_without_a_status_is_a_cron_that_runs(client, world, instance):
    """ "Required with a cron" stood in the way of the obvious: a cron given is meant to run."""
    response = as_user(client, world.editor_a).post(
        "/instances/new",
        {
            "name": "Typed",
            "version": instance.version_id,
            "cron": "0 9 * * *",
            "cron_status": "",
            "cron_timezone": "Europe/Paris",
            "ram_size": "LOW",
            "cpu_size": "LOW",
            "disk_size": "LOW",
            "concurrency_policy": "ALLOW",
            "timeout_seconds": 60,
            "max_retries": 0,
            "retry_backoff_seconds": 60,
            "property__region": "",
        },
    )
    assert response.status_code == 302
    created = IntegrationBatchInstance.objects.get(name="Typed")
    assert created.cron_status == "ACTIVE"
    assert created.executions.filter(status="PENDING").exists()


def test_editing_an_instance_changes_its_values_through_the_service(client, world, instance):
    data = {
        "name": "Nightly import (EU)",
        "version": instance.version_id,
        "cron": "30 3 * * *",
        "cron_status": "ACTIVE",
        "cron_timezone": "Europe/Paris",
        "ram_size": "MEDIUM",
        "cpu_size": "LOW",
        "disk_size": "LOW",
        "concurrency_policy": "FORBID",
        "timeout_seconds": 600,
        "max_retries": 2,
        "retry_backoff_seconds": 30,
        "property__region": "us",
    }
    old_run = instance.executions.get()
    response = as_user(client, world.editor_a).post(f"/instances/{instance.pk}/edit", data)
    assert response.status_code == 302
    instance.refresh_from_db()
    old_run.refresh_from_db()
    assert (instance.name, instance.cron, instance.concurrency_policy, instance.max_retries) == (
        "Nightly import (EU)",
        "30 3 * * *",
        "FORBID",
        2,
    )
    assert instance.property_overrides.get().value == {"value": "us"}
    assert old_run.status == "CANCELED"  # the old schedule's run
    assert instance.events.last().user == world.editor_a


def test_publishing_a_version_with_a_bad_property_value_shows_it_on_the_row(client, world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.factories import PLUGIN_CODE

    plugin = PluginFactory(organisation=world.org_a)
    response = as_user(client, world.editor_a).post(
        f"/plugins/{plugin.pk}/versions/new",
        {
            "version_id": "1.0.0",
            "code": SimpleUploadedFile("job.py", PLUGIN_CODE),
            "entry_point": "",
            "properties-TOTAL_FORMS": "1",
            "properties-INITIAL_FORMS": "0",
            "properties-0-technical_name": "rows",
            "properties-0-property_type": "INT",
            "properties-0-default": "many",
            "properties-0-origin": "PLUGIN",
            "properties-0-writable": "on",
        },
    )
    assert "Type INT takes a number, got &#x27;many&#x27;." in response.text
    assert not plugin.versions.exists()


def test_the_executions_list_pages_by_keyset_without_gaps_or_repeats(client, world, instance):
    start = timezone.now()
    for i in range(120):  # same start date for some, to test the tie-breaker
        ExecutionFactory(
            instance=instance,
            execution_type="MANUAL",
            expected_start_date=start - timedelta(minutes=i // 3),
        )
    client = as_user(client, world.reader_a)
    seen, url = [], "/executions/"
    while url:
        page = client.get(url).context["page"]
        seen += [e.pk for e in page.rows]
        url = f"/executions/?before={page.next_cursor}" if page.next_cursor else None
    assert len(seen) == len(set(seen)) == Execution.objects.count()


def test_add_a_property_answers_the_next_row_and_the_new_count(client, world, instance):
    plugin = instance.version.plugin
    url = f"/plugins/{plugin.pk}/versions/property-row"
    html = as_user(client, world.editor_a).get(url, {"index": "2"}).text
    assert 'name="properties-2-technical_name"' in html
    assert 'name="properties-TOTAL_FORMS" value="3"' in html
    assert as_user(client, world.admin_b).get(url, {"index": "2"}).status_code == 404


def test_the_pager_links_keep_the_filters(client, world, instance):
    for _ in range(51):
        execution_create_manual(instance=instance)
    client = as_user(client, world.reader_a)
    first = client.get("/executions/", {"execution_type": "MANUAL"})
    older = f"/executions/?execution_type=MANUAL&amp;before={first.context['page'].next_cursor}"
    assert f'hx-get="{older}"' in first.text and "« Newest" not in first.text
    second = client.get(older.replace("&amp;", "&"))
    assert 'hx-get="/executions/?execution_type=MANUAL"' in second.text  # « Newest
    assert len(second.context["page"].rows) == 1


def test_filters_narrow_the_list_and_htmx_gets_only_the_results(client, world, instance):
    manual = execution_create_manual(instance=instance)
    response = as_user(client, world.reader_a).get(
        "/executions/",
        {"execution_type": "MANUAL"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="results",
    )
    assert response.text.strip().startswith('<div id="results"')
    assert [e.pk for e in response.context["page"].rows] == [manual.pk]


def test_a_finished_executions_summary_and_log_stop_the_polling(client, world, instance):
    from apps.runner.supervisor import run

    execution = execution_create_manual(instance=instance)
    client = as_user(client, world.reader_a)
    summary = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": f"summary-{execution.pk}"}
    assert client.get(f"/executions/{execution.pk}/", **summary).status_code == 200
    run(execution.pk)
    assert client.get(f"/executions/{execution.pk}/", **summary).status_code == 286
    assert client.get(f"/executions/{execution.pk}/log?offset=0").status_code == 286


def test_the_executions_list_polls_once_and_only_for_runs_that_change_soon(client, world, instance):
    """A run due in days changes nothing for days: the page asks again only while a run
    is due soon or running, and then once for all its rows."""
    client = as_user(client, world.reader_a)
    later = execution_create_manual(
        instance=instance, expected_start_date=timezone.now() + timedelta(days=3)
    )
    page = client.get("/executions/").text
    assert f"execution-{later.pk}" in page and "hx-trigger" not in page.split('id="results"')[1]
    execution_create_manual(instance=instance)  # due now
    results = client.get("/executions/").text.split('id="results"')[1]
    assert results.count("hx-trigger") == 1
    assert "[mayRefresh()]" in results  # not while the tab is hidden or a question is open


def test_the_dashboard_charts_each_days_runs_by_status_and_links_them(client, world, instance):
    """The chart's table has the counts; each bar opens that day's runs of its status and
    says so; other organisations' runs and runs older than 14 days count nowhere."""
    now = timezone.now().replace(hour=12)
    two_days_ago = (now - timedelta(days=2)).date()

    def ran(instance, when, status, count):
        ran_by_hand(instance, status, [when - timedelta(minutes=n) for n in range(count)])

    ran(instance, now - timedelta(days=2), "SUCCEEDED", 3)
    ran(instance, now - timedelta(days=2), "FAILED", 1)
    ran(instance, now - timedelta(days=20), "FAILED", 4)
    theirs = make_instance(version=make_version(plugin=PluginFactory(organisation=world.org_b)))
    ran(theirs, now - timedelta(days=2), "FAILED", 5)

    page = as_user(client, world.reader_a).get("/").text
    table = page.split("<summary>The numbers</summary>")[1].split("</table>")[0]
    # Day, SUCCEEDED, FAILED, CANCELED, RUNNING, PENDING, total
    assert (
        f"<tr><td>{two_days_ago}</td><td>3</td><td>1</td><td>0</td><td>0</td><td>0</td><td>4</td></tr>"
        in table
    )
    assert table.count("<tr><td>") == 14 and "<td>5</td>" not in table
    link = f"/executions/?status=FAILED&amp;from_date={two_days_ago}&amp;to_date={two_days_ago}"
    assert f'<a href="{link}"><rect ' in page
    assert f"<title>{two_days_ago:%b %d}: 1 FAILED</title>" in page
    listed = client.get(link.replace("&amp;", "&")).context["page"].rows
    assert [execution.status for execution in listed] == ["FAILED"]


def test_the_chart_counts_today_at_each_refresh_and_the_days_before_once_a_minute(
    client, world, instance
):
    """A run finishing today shows at the next refresh; a run added to a day before (a
    backfill's, say) shows once that day's count, kept a minute, is made again, by as many
    queries as a refresh."""
    client = as_user(client, world.reader_a)
    now = timezone.now()
    today, yesterday = now.date(), (now - timedelta(days=1)).date()

    def total(day) -> int:  # the last cell of the day's row in the chart's table
        row = re.search(rf"<tr><td>{day}</td>(.*?)</tr>", client.get("/").text)
        return int(re.findall(r"<td>(\d+)</td>", row[1])[-1])

    assert total(today) == total(yesterday) == 0
    ran_by_hand(instance, "FAILED", [now - timedelta(days=1)])
    ran_by_hand(instance, "SUCCEEDED", [now])
    assert (total(today), total(yesterday)) == (1, 0)
    kept = page_queries(client, "/")
    cache.clear()  # as a minute passing does
    assert page_queries(client, "/") == kept  # counting them all again is still one query
    assert total(yesterday) == 1


def test_the_dashboard_says_in_words_what_is_kept_by_default(client, world):
    def sentence() -> str:
        words = " ".join(re.sub(r"<[^>]+>", "", client.get("/").text).split())
        return words[words.index("Kept by default:") :].split(" Instances may")[0]

    client = as_user(client, world.reader_a)
    assert sentence() == "Kept by default: everything is kept."
    world.org_a.keep_executions_days, world.org_a.keep_logs_days = 30, 1
    world.org_a.save()
    assert sentence() == "Kept by default: runs 30 days, logs 1 day."


def test_switching_organisation_changes_what_pages_show(client, world, instance):
    Membership.objects.create(user=world.editor_a, organisation=world.org_b, role=Role.READER)
    client = as_user(client, world.editor_a)
    assert "Nightly import" in client.get("/instances/").text
    client.post("/organisation", {"organisation_id": world.org_b.pk})
    assert "Nightly import" not in client.get("/instances/").text
    client.post("/organisation", {"organisation_id": 999999})  # not theirs: ignored
    assert client.get("/").context["ws"].organisation == world.org_b


def page_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/instances/",
        "/executions/",
        "/plugins/",
        "/executions/?status=PENDING",
        "/search/?q=i",
        "/search/?q=1",
    ],
)
def test_list_pages_run_the_same_queries_for_few_or_many_rows(client, world, url):
    client = as_user(client, world.admin_a)

    def add(count):
        version = make_version(plugin=PluginFactory(organisation=world.org_a))
        instances = IntegrationBatchInstance.objects.bulk_create(
            IntegrationBatchInstance(
                organisation=world.org_a,
                version=version,
                name=f"i{n}",
                cron="0 2 * * *",
                cron_status="ACTIVE",
            )
            for n in range(count)
        )
        now = timezone.now()
        Execution.objects.bulk_create(
            Execution(
                organisation=world.org_a,
                instance=instances[n % count],
                execution_type="MANUAL",
                status=status,
                expected_start_date=now - timedelta(hours=n),
                start_date=now - timedelta(hours=n) if status != "PENDING" else None,
                end_date=now - timedelta(hours=n) if status in ("SUCCEEDED", "FAILED") else None,
                error={"message": "boom"} if status == "FAILED" else None,
            )
            for n in range(count * 4)
            for status in ["PENDING", "SUCCEEDED", "FAILED", "RUNNING"][n % 4 : n % 4 + 1]
        )

    add(3)
    few = page_queries(client, url)
    add(120)
    assert page_queries(client, url) == few


def test_the_instances_list_comes_a_page_at_a_time_by_name(client, world):
    """Each row draws its last 30 runs: the list pages by name, every instance on exactly
    one page, the archived ones apart; a cursor no one could have followed is page one."""
    from apps.scheduling.selectors import INSTANCES_PER_PAGE

    version = make_version(plugin=PluginFactory(organisation=world.org_a))
    names = [f"Import {n:03}" for n in range(INSTANCES_PER_PAGE * 2 + 3)]
    names[INSTANCES_PER_PAGE] = names[INSTANCES_PER_PAGE - 1]  # a name twice, across pages
    for name in reversed(names):
        make_instance(version=version, name=name)
    archived = make_instance(version=version, name="Import 001")
    IntegrationBatchInstance.objects.filter(pk=archived.pk).update(archived=True)
    client = as_user(client, world.reader_a)

    listed, url, pages = [], "/instances/", 0
    while url:
        page = client.get(url)
        pages += 1
        listed += [instance.name for instance in page.context["instances"]]
        after = page.context["page"].next_cursor
        url = f"/instances/?after={quote(after)}" if after else ""
        assert ("« First" in page.text, "Next »" in page.text) == (pages > 1, bool(after))
    assert listed == names and pages == 3

    archived_list = client.get("/instances/?archived=1").text
    assert "Import 001" in archived_list and "Next »" not in archived_list
    for nonsense in ["x", "999999999999999999999.a", ".", "12"]:
        assert client.get(f"/instances/?after={nonsense}").status_code == 200
    beyond = client.get(f"/instances/?after=1.{'z' * 20}")
    assert "No more instances." in beyond.text


def test_the_executions_instance_filter_lists_the_organisations_instances_escaped(
    client, world, instance
):
    other = make_instance(version=instance.version, name="<b>Bold</b> & co")
    make_instance(version=make_version(plugin=PluginFactory(organisation=world.org_b)), name="B's")
    page = as_user(client, world.reader_a).get(f"/executions/?instance={other.pk}&status=FAILED")
    page = page.text
    assert '<option value="FAILED" selected>Failed</option>' in page
    select = page[
        page.index('<select name="instance"') : page.index(
            "</select>", page.index('<select name="instance"')
        )
    ]
    assert select == (
        '<select name="instance" id="id_instance"><option value="">Any instance</option>'
        f'<option value="{other.pk}" selected>&lt;b&gt;Bold&lt;/b&gt; &amp; co</option>'
        f'<option value="{instance.pk}">Nightly import</option>'
    )


def test_each_run_history_cell_opens_its_run_and_says_how_it_went(client, world, instance):
    instance = make_instance(version=instance.version, name="Aardvark")  # no runs but these
    start = datetime(2026, 3, 1, 6, 30, tzinfo=UTC)
    ran_by_hand(instance, "SUCCEEDED", [start], took=timedelta(seconds=2.5))
    ran_by_hand(instance, "FAILED", [start + timedelta(hours=1)], took=timedelta(minutes=3))
    succeeded, failed = Execution.objects.filter(instance=instance).order_by("expected_start_date")
    client = as_user(client, world.reader_a)
    for page in (client.get("/instances/").text, client.get(f"/instances/{instance.pk}/").text):
        assert (
            '<span class="runs" role="list" aria-label="Its last 2 runs, oldest first">'
            f'<a role="listitem" href="/executions/{succeeded.pk}/" class="status-SUCCEEDED" '
            f'title="#{succeeded.pk} SUCCEEDED in 2.5 s · 2026-03-01 06:30:00 UTC" '
            f'aria-label="Execution {succeeded.pk} SUCCEEDED in 2.5 s"></a>'
            f'<a role="listitem" href="/executions/{failed.pk}/" class="status-FAILED" '
            f'title="#{failed.pk} FAILED in 3 min 00 s · 2026-03-01 07:30:00 UTC" '
            f'aria-label="Execution {failed.pk} FAILED in 3 min 00 s"></a></span>'
        ) in page


def test_an_instance_page_runs_the_same_queries_for_a_short_or_long_history(
    client, world, instance
):
    client = as_user(client, world.reader_a)
    url = f"/instances/{instance.pk}/"
    now = timezone.now()

    def ran(count, status):
        starts = [now - timedelta(minutes=n + 1, seconds=count) for n in range(count)]
        ran_by_hand(instance, status, starts)

    ran(2, "SUCCEEDED")
    few = page_queries(client, url)
    ran(40, "FAILED")
    for days in (3, 6):
        backfill_create(instance=instance, start_date=now - timedelta(days=days), end_date=now)
    assert page_queries(client, url) == few
    history = client.get(url).context["instance"].history
    assert len(history.runs) == 30 and history.median is not None


@pytest.mark.parametrize(
    ("url", "wrong", "message"),
    [
        ("/executions/", {"status": "NOPE"}, "Select a valid choice"),
        (
            "/executions/",
            {"from_date": "2026-03-02", "to_date": "2026-03-01"},
            "Ends before it starts",
        ),
        (
            "/batches/",
            {"from_date": "2026-03-02", "to_date": "2026-03-01"},
            "Ends before it starts",
        ),
        ("/executions/", {"instance": "999999"}, "Select a valid choice"),
        ("/batches/", {"dataset": "999999"}, "Select a valid choice"),
        ("/jobs/", {"status": "NOPE"}, "Select a valid choice"),
        ("/jobs/", {"dataset": "one"}, "Select a valid choice"),
        ("/audit/", {"surface": "NOPE"}, "Select a valid choice"),
    ],
)
def test_a_wrong_filter_lists_nothing_and_says_why(client, world, instance, url, wrong, message):
    execution_create_manual(instance=instance, user=world.admin_a)
    client = as_user(client, world.admin_a)
    if url in ("/executions/", "/audit/"):
        assert client.get(url).context["page"].rows  # something to list, unfiltered
    response = client.get(url, wrong)
    assert response.status_code == 200
    assert response.context["page"].rows == []
    assert (
        message in response.text
        and "Nothing is listed until the filters are fixed" in response.text
    )
    results = client.get(url, wrong, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results").text
    assert message in results  # the swapped part says it too


def test_only_a_finished_execution_runs_again_and_only_for_editors(client, world, instance):
    from apps.runner.supervisor import run

    pending = execution_create_manual(instance=instance, parameters={"day": "d1"})
    reader = as_user(client, world.reader_a)
    assert reader.post(f"/executions/{pending.pk}/repeat").status_code == 403
    editor = as_user(client, world.editor_a)
    refused = editor.post(f"/executions/{pending.pk}/repeat", follow=True)
    assert "only a finished one can be run again" in refused.text
    assert not Execution.objects.filter(repeats=pending).exists()
    run(pending.pk)
    editor.post(f"/executions/{pending.pk}/repeat")
    again = Execution.objects.get(repeats=pending)
    assert (again.parameters, again.user) == ({"day": "d1"}, world.editor_a)


def test_the_quick_search_stays_in_the_organisation(client, world, instance):
    foreign = make_instance(version=make_version(plugin=PluginFactory(organisation=world.org_b)))
    execution = execution_create_manual(instance=foreign)
    client = as_user(client, world.reader_a)
    for text in ("Nightly", f"#{execution.pk}", str(execution.pk)):
        found = client.get("/search/", {"q": text}, HTTP_HX_REQUEST="true").context["found"]
        assert foreign not in found.instances and execution not in found.executions
    assert "Nothing matches" in client.get("/search/", {"q": "x" * 300}).text


def test_a_versions_code_is_shown_numbered_and_downloaded_in_its_organisation_only(
    client, world, instance
):
    import io
    import zipfile

    from django.core.files.base import ContentFile

    from apps.plugins.services import plugin_version_create
    from tests.factories import PLUGIN_CODE

    version = instance.version
    url = f"/plugins/{version.plugin_id}/versions/{version.pk}"
    reader = as_user(client, world.reader_a)
    page = reader.get(f"{url}/code")
    assert page.context["code"].lines == PLUGIN_CODE.decode().splitlines()
    assert "<li>class Plugin(IntegrationBatchPlugin):</li>" in page.text
    download = reader.get(f"{url}/download")
    assert b"".join(download.streaming_content) == PLUGIN_CODE
    assert 'filename="plugin.py"' in download["Content-Disposition"]

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("job/__init__.py", PLUGIN_CODE)
        archive.writestr("job/data.csv", b"a\n")
    package = plugin_version_create(
        plugin=version.plugin,
        version_id="2.0.0",
        artifact=ContentFile(buffer.getvalue(), name="job.zip"),
        entry_point="job",
    )
    listing = reader.get(f"/plugins/{version.plugin_id}/versions/{package.pk}/code")
    assert listing.context["code"].files == [
        ("job/__init__.py", len(PLUGIN_CODE)),
        ("job/data.csv", 2),
    ]

    outsider = as_user(client, world.admin_b)
    assert outsider.get(f"{url}/code").status_code == 404
    assert outsider.get(f"{url}/download").status_code == 404


def test_run_by_hand_shows_an_empty_parameters_box_before_any_run_and_the_last_ones_after(
    client, world, instance
):
    as_user(client, world.editor_a)
    page = client.get(f"/instances/{instance.pk}/").text
    box = page[page.index('name="parameters"') :].split("</textarea>")[0]
    assert box.endswith(">\n") and "null" not in box  # empty: the {} placeholder shows
    execution_create_manual(instance=instance, parameters={"day": "d1"})
    page = client.get(f"/instances/{instance.pk}/").text
    box = page[page.index('name="parameters"') :].split("</textarea>")[0]
    assert "&quot;day&quot;: &quot;d1&quot;" in box
