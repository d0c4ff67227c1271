"""The console's second pass, as a new user tripped on it (issue 15): each defect found in
Chromium, at a laptop's width and a phone's."""

import io
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.ingestion import services as ingestion
from apps.runner.services import (
    execution_claim,
    execution_create_manual,
    execution_log_append,
)
from apps.scheduling.models import ExecutionStatus
from apps.scheduling.services import instance_pause
from tests.browser.conftest import log_in, mark_page, same_document, screenshot
from tests.factories import PluginFactory, make_instance, make_version


@pytest.fixture
def instance(world):
    return make_instance(
        version=make_version(plugin=PluginFactory(organisation=world.org_a)),
        name="Paris morning",
        cron="0 9 * * *",
        cron_status="ACTIVE",
        cron_timezone="Europe/Paris",
    )


def console_requests(page, live_server) -> list[str]:
    """The paths of the requests the page sends to the console from now on."""
    sent: list[str] = []
    page.on(
        "request",
        lambda request: (
            request.url.startswith(live_server.url) and sent.append(urlsplit(request.url).path)
        ),
    )
    return sent


def test_the_executions_list_polls_once_per_page_and_not_while_hidden(
    page, world, instance, live_server, settings
):
    settings.CONSOLE_POLL_SECONDS = 0.3
    for days in range(1, 31):  # due in days: nothing to ask about
        execution_create_manual(
            instance=instance, expected_start_date=timezone.now() + timedelta(days=days)
        )
    log_in(page, world.reader_a.username)
    sent = console_requests(page, live_server)
    page.goto("/executions/")
    assert page.locator("#results").get_attribute("hx-trigger") is None  # nothing due soon

    execution_create_manual(instance=instance)  # due now: it changes soon
    page.reload()
    for _ in range(3):
        with page.expect_request(lambda request: "/executions/" in request.url):
            pass
    assert {path for path in sent if path != "/executions/"} <= {"/favicon.ico"} | {
        path for path in sent if path.startswith("/static/")
    }, "one request per page, never one per row"

    page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {value: 'hidden'});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    asked = len(sent)
    page.wait_for_timeout(1_500)  # five polling periods: a hidden tab asks nothing
    assert len(sent) == asked


def test_a_batch_page_opened_while_loading_follows_it(page, world):
    dataset = ingestion.dataset_create(
        organisation=world.org_a, name="orders", schema=[{"name": "id", "type": "Long"}]
    )
    batch = ingestion.batch_create(dataset=dataset, user=world.editor_a)
    log_in(page, world.reader_a.username)
    page.goto(f"/batches/{batch.pk}/")
    expect(page.get_by_text("No files yet.")).to_be_visible()
    ingestion.batch_file_put(batch=batch, name="orders.csv", body=io.BytesIO(b"id\n1\n2\n"))
    expect(page.get_by_text("orders.csv")).to_be_visible()
    ingestion.batch_complete(batch=batch)
    expect(page.locator("h1 .status")).to_have_text("LOADED")


def test_code_without_a_plugin_class_is_refused_at_upload(page, world, tmp_path):
    plugin = PluginFactory(organisation=world.org_a, artifact_id="helpers")
    code = tmp_path / "helpers.py"
    code.write_text("def run(context):\n    return 1\n")
    log_in(page, world.editor_a.username)
    page.goto(f"/plugins/{plugin.pk}/versions/new")
    page.get_by_label(re.compile(r"^Version")).fill("1.0.0")
    page.get_by_label("Code").set_input_files(code)
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_text("helpers defines 0 IntegrationBatchPlugin subclasses")).to_be_visible()
    assert not plugin.versions.exists(), "the version number is not used up"


def test_the_log_viewer_follows_filters_and_finds_the_first_error(page, world, instance, settings):
    settings.CONSOLE_POLL_SECONDS = 0.5
    execution = execution_claim(execution=execution_create_manual(instance=instance))
    lines = "".join(f"2026-12-03 10:00:00 INFO plugin: row {n}\n" for n in range(3_000))
    execution_log_append(execution_id=execution.pk, offset=0, text=lines)
    log_in(page, world.reader_a.username)
    page.goto(f"/executions/{execution.pk}/")
    log = page.locator("#log")
    expect(log).to_contain_text("row 2999")

    more = '2026-12-03 10:00:01 ERROR plugin: row 3000 is broken\nTraceback (most recent call last):\n  File "x.py", line 1\nValueError: broken\n'
    execution_log_append(execution_id=execution.pk, offset=len(lines), text=more)
    expect(log).to_contain_text("ValueError: broken", timeout=15_000)  # a busy machine
    following = "e => e.scrollHeight - e.scrollTop - e.clientHeight < 30"
    page.wait_for_function(f"({following})(document.getElementById('log'))")

    page.get_by_label("Levels shown").select_option(label="Errors only")
    expect(log.locator(".line:visible")).to_have_count(4)  # the error and its traceback
    page.get_by_label("Levels shown").select_option(label="Every line")
    page.get_by_label("Search the log").fill("row 1234")
    expect(log.locator(".line:visible")).to_have_count(1)
    page.get_by_label("Search the log").fill("")
    log.evaluate("e => { e.scrollTop = 0; e.dispatchEvent(new Event('scroll')); }")
    expect(page.get_by_label("Follow new lines")).not_to_be_checked()  # reading: paused
    page.get_by_role("button", name="First error").click()
    expect(log.locator(".line.flash")).to_contain_text("row 3000 is broken")
    page.get_by_label("Wrap").uncheck()
    expect(log).to_have_class(re.compile("nowrap"))

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the whole log").click()
    assert download.value.path().read_text() == lines + more
    screenshot(page, "log-viewer")


def test_cancel_asks_with_named_actions(page, world, instance):
    execution = execution_create_manual(
        instance=instance, expected_start_date=timezone.now() + timedelta(hours=1)
    )
    log_in(page, world.editor_a.username)
    page.goto(f"/executions/{execution.pk}/")
    page.get_by_role("button", name="Cancel", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Cancel execution {execution.pk} of Paris morning?")
    dialog.get_by_role("button", name="Keep it").click()
    expect(dialog).to_be_hidden()
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.PENDING
    page.get_by_role("button", name="Cancel", exact=True).click()
    dialog.get_by_role("button", name=f"Cancel execution {execution.pk}").click()
    expect(page.locator("h1 .status")).to_have_text("CANCELED")


def test_a_refresh_arriving_while_a_confirmation_is_open_does_not_lose_the_answer(
    page, world, instance, settings
):
    settings.CONSOLE_POLL_SECONDS = 0.2
    execution = execution_create_manual(instance=instance)  # its page polls
    url = f"**/executions/{execution.pk}/"
    held = []

    def hold_the_first_refresh(route):
        if route.request.headers.get("hx-request") and not held:
            held.append(route)  # answered only once the question is open
        else:
            route.continue_()

    log_in(page, world.editor_a.username)
    page.goto(f"/executions/{execution.pk}/")
    page.route(url, hold_the_first_refresh)
    with page.expect_request(lambda request: bool(request.headers.get("hx-request"))):
        pass
    page.get_by_role("button", name="Cancel", exact=True).click()
    expect(page.get_by_role("dialog")).to_be_visible()
    with page.expect_response(lambda response: response.request.headers.get("hx-request")):
        held[0].continue_()  # the refresh lands under the open question
    page.unroute(url)
    page.get_by_role("dialog").get_by_role(
        "button", name=f"Cancel execution {execution.pk}"
    ).click()
    expect(page.locator("h1 .status")).to_have_text("CANCELED")


def test_archive_asks_first_and_restore_undoes_it(page, world, instance):
    log_in(page, world.editor_a.username)
    page.goto(f"/instances/{instance.pk}/")
    page.get_by_role("button", name="Archive").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Restore undoes it")
    dialog.get_by_role("button", name="Keep it").click()
    instance.refresh_from_db()
    assert not instance.archived
    page.get_by_role("button", name="Archive").click()
    dialog.get_by_role("button", name="Archive Paris morning").click()
    expect(page.locator("h1 .status")).to_have_text("ARCHIVED")
    page.get_by_role("button", name="Restore").click()
    expect(page.locator("h1 .status")).to_have_text("ACTIVE")
    expect(page.get_by_role("heading", name="History").locator("..")).to_contain_text("restored")
    instance.refresh_from_db()
    assert not instance.archived and instance.executions.filter(status="PENDING").exists()


def test_a_paris_cron_reads_in_paris_time_beside_utc(page, world, instance):
    log_in(page, world.editor_a.username)
    page.goto(f"/instances/{instance.pk}/edit")
    page.get_by_label("Find a time zone").fill("new_york")
    expect(page.get_by_label("Time zone", exact=True)).to_have_value("America/New_York")
    page.get_by_label("Find a time zone").fill("paris")
    expect(page.get_by_label("Time zone", exact=True)).to_have_value("Europe/Paris")
    preview = page.locator("#cron-preview li").first
    # December: Paris is UTC+1, so 09:00 there is 08:00 UTC
    expect(preview).to_contain_text(re.compile(r"09:00 Europe/Paris · \d{4}-\d\d-\d\d 08:00 UTC"))
    page.goto(f"/instances/{instance.pk}/")
    expect(page.locator("dl.facts")).to_contain_text("Europe/Paris")


def test_run_at_in_the_past_is_refused_beside_the_field_keeping_what_was_typed(
    page, world, instance
):
    log_in(page, world.editor_a.username)
    page.goto(f"/instances/{instance.pk}/")
    page.get_by_label("Run at").fill("2020-01-02T03:04")
    page.get_by_label("Parameters").fill('{"day": "2020-01-02"}')
    page.get_by_role("button", name="Run", exact=True).click()
    field = page.get_by_label("Run at").locator("..")
    expect(field.get_by_role("alert")).to_contain_text("is in the past")
    expect(page.get_by_label("Run at")).to_have_value("2020-01-02T03:04")
    expect(page.get_by_label("Parameters")).to_have_value('{"day": "2020-01-02"}')

    page.get_by_label("Run at").fill("")
    page.get_by_label("Parameters").fill("[1, 2]")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.get_by_label("Parameters").locator("..").get_by_role("alert")).to_contain_text(
        "JSON object"
    )
    page.get_by_label("Parameters").fill('{"day": "2026-12-01"}')
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_url(re.compile(r"/executions/\d+/$"))
    expect(page.locator("dl.facts")).to_contain_text(re.compile(r"\d\d:\d\d:\d\d UTC"))
    expect(page.get_by_text('"day": "2026-12-01"')).to_be_visible()
    page.goto(f"/instances/{instance.pk}/")  # the next run starts from the last one's
    expect(page.get_by_label("Parameters")).to_have_value(re.compile('"day": "2026-12-01"'))


def test_a_paused_instance_shows_its_waiting_manual_runs(page, world, instance):
    instance_pause(instance=instance)
    for _ in range(2):
        execution_create_manual(
            instance=instance, expected_start_date=timezone.now() + timedelta(hours=2)
        )
    log_in(page, world.reader_a.username)
    page.goto(f"/instances/{instance.pk}/")
    next_run = page.locator("dt", has_text="Next run").locator("+ dd")
    expect(next_run).to_contain_text("manual")
    expect(next_run).to_contain_text("2 runs waiting")
    page.goto("/instances/")
    expect(page.locator("tr", has_text="Paris morning")).to_contain_text("manual")


def test_at_390px_the_header_and_the_tables_fit(browser, live_server, world, instance):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        log_in(page, world.editor_a.username)
        for path in ("/instances/", "/executions/", "/"):
            page.goto(path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width} px wide"
        for link in ("Batches", "Log out"):
            box = (
                page.get_by_role("banner")
                .get_by_role("button" if link == "Log out" else "link", name=link)
                .bounding_box()
            )
            assert box and box["x"] + box["width"] <= 390, link
        page.goto("/instances/")
        row = page.locator("tr", has_text="Paris morning")
        for control in (row.locator(".status").first, row.get_by_role("button", name="Pause")):
            box = control.bounding_box()
            assert box and box["x"] + box["width"] <= 390
        screenshot(page, "instances-390px")
    finally:
        context.close()


def test_at_1300px_an_instance_row_with_its_30_runs_fits_actions_and_all(
    browser, live_server, world, instance
):
    from tests.console.test_pages import ran_by_hand

    now = timezone.now()
    ran_by_hand(instance, "SUCCEEDED", [now - timedelta(hours=n + 1) for n in range(30)])
    execution_create_manual(instance=instance, expected_start_date=now + timedelta(days=1))
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1300, "height": 900})
    page = context.new_page()
    try:
        log_in(page, world.editor_a.username)
        page.goto("/instances/")
        table, frame = page.locator("table").bounding_box(), page.locator(".overflow-auto")
        assert table and table["width"] <= frame.bounding_box()["width"], "it scrolls sideways"
        row = page.locator("tr", has_text="Paris morning")
        expect(row.locator(".runs a")).to_have_count(30)
        expect(row.get_by_role("button", name="Run now")).to_be_in_viewport()
        screenshot(page, "instances-1300px")
    finally:
        context.close()


def test_focus_stays_on_the_row_after_its_swap(page, world, instance):
    log_in(page, world.editor_a.username)
    page.goto("/instances/")
    row = page.locator("tr", has_text="Paris morning")
    row.get_by_role("button", name="Pause").focus()
    page.keyboard.press("Enter")
    expect(row.get_by_role("button", name="Resume")).to_be_focused()


def test_quick_search_on_slash_finds_instances_and_executions(page, world, instance):
    execution = execution_create_manual(instance=instance)
    log_in(page, world.reader_a.username)
    page.keyboard.press("/")
    expect(page.locator("#quick-search")).to_be_focused()
    page.keyboard.type("paris")
    results = page.locator("#quick-results")
    expect(results.get_by_role("link", name=re.compile("Paris morning"))).to_be_visible()
    page.locator("#quick-search").fill(f"#{execution.pk}")
    results.get_by_role("link", name=re.compile(f"#{execution.pk} of Paris morning")).click()
    page.wait_for_url(f"**/executions/{execution.pk}/")


def test_run_history_cells_open_their_runs(page, world, instance):
    from apps.runner.supervisor import run

    runs = [execution_create_manual(instance=instance) for _ in range(3)]
    for execution in runs:
        run(execution.pk)
    log_in(page, world.reader_a.username)
    page.goto("/instances/")
    cells = page.locator("tr", has_text="Paris morning").locator(".runs a")
    expect(cells).to_have_count(3)
    expect(cells.first).to_have_attribute("aria-label", re.compile(r"SUCCEEDED in \d"))
    expect(page.locator("tr", has_text="Paris morning")).to_contain_text("median")
    cells.last.click()
    page.wait_for_url(f"**/executions/{runs[-1].pk}/")
    screenshot(page, "instances-history")


def test_dark_mode_follows_the_system(browser, live_server, world):
    context = browser.new_context(base_url=live_server.url, color_scheme="dark")
    page = context.new_page()
    try:
        log_in(page, world.reader_a.username)
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        red, green, blue = map(int, re.findall(r"\d+", background)[:3])
        assert red + green + blue < 150, background
        screenshot(page, "dashboard-dark")
    finally:
        context.close()


def test_the_api_reference_loads_nothing_from_elsewhere(page, live_server):
    elsewhere = []
    page.on(
        "request",
        lambda request: (
            not request.url.startswith((live_server.url, "data:", "blob:"))
            and elsewhere.append(request.url)
        ),
    )
    for path in ("/v1/redoc", "/v1/docs"):
        page.goto(path)
        # Rendered (the schema is built on request: slow on a busy machine), then settled.
        title = page.get_by_text("Batchworks API").first
        expect(title).to_be_visible(timeout=60_000)
        page.wait_for_load_state("networkidle", timeout=60_000)
    assert not elsewhere


def test_a_failed_run_is_retried_and_a_finished_one_re_run_with_its_parameters(
    page, world, instance
):
    from apps.runner.services import execution_fail

    failed = execution_claim(
        execution=execution_create_manual(instance=instance, parameters={"day": "2026-12-01"})
    )
    execution_fail(execution=failed, message="boom")
    log_in(page, world.editor_a.username)
    page.goto(f"/executions/{failed.pk}/")
    page.get_by_role("button", name="Retry").click()
    page.wait_for_url(re.compile(r"/executions/\d+/$"))
    again = instance.executions.get(repeats=failed)
    assert again.parameters == {"day": "2026-12-01"} and again.execution_type == "MANUAL"
    expect(page.get_by_role("link", name=f"#{failed.pk}")).to_be_visible()


def test_the_dashboard_lives_and_opens_the_lists_it_counts(page, world, instance):
    from apps.runner.services import execution_fail

    log_in(page, world.reader_a.username)
    expect(page.locator("svg text", has_text=re.compile(r"^0$"))).to_have_count(1)  # y-axis zero
    failed = execution_claim(execution=execution_create_manual(instance=instance))
    execution_fail(execution=failed, message="boom")
    strip = page.get_by_role("alert").filter(has_text="Failing now")
    expect(strip).to_be_visible(timeout=30_000)  # the page refreshed itself
    strip.get_by_role("link", name="Paris morning").click()
    page.wait_for_url(f"**/instances/{instance.pk}/")
    page.goto("/")
    page.get_by_role("link", name="1 FAILED: list them").click()
    expect(page).to_have_url(re.compile(r"status=FAILED"))
    expect(page.locator("#results tbody tr")).to_have_count(1)
    screenshot(page, "dashboard-links")


def test_a_backfill_is_previewed_then_created_from_the_instance_page(page, world, instance):
    log_in(page, world.editor_a.username)
    page.goto(f"/instances/{instance.pk}/")
    page.get_by_role("link", name="Backfill past fire times…").click()
    page.get_by_label("From").fill("2026-01-01T00:00")
    page.get_by_label("To").fill("2026-01-03T12:00")
    mark_page(page)
    page.get_by_role("button", name="Preview").click()
    plan = page.locator("#backfill-plan")
    expect(plan).to_contain_text("3 runs")
    expect(plan).to_contain_text("2026-01-01 09:00 Europe/Paris · 2026-01-01 08:00 UTC")
    assert same_document(page), "the preview swaps in place"
    page.get_by_role("button", name="Create 3 runs").click()
    expect(page).to_have_url(re.compile(rf"/instances/{instance.pk}/#backfills$"))
    backfills = page.locator("section[aria-labelledby=backfills]")
    expect(backfills).to_contain_text("0 of 3 succeeded")
    page.get_by_role("button", name="Cancel the rest").click()
    page.get_by_role("button", name="Cancel 3 runs").click()  # the named confirmation
    expect(page.locator("section[aria-labelledby=backfills]")).to_contain_text("3 canceled")
    screenshot(page, "backfill")
