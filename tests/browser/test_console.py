"""The console as people use it, in a real browser, against a live server."""

import re

import pytest
from playwright.sync_api import expect

from apps.accounts.models import Role
from apps.scheduling.models import Execution, ExecutionStatus, IntegrationBatchInstance
from tests.browser.conftest import go_to, log_in, mark_page, same_document, screenshot
from tests.factories import (
    MembershipFactory,
    OrganisationFactory,
    PluginFactory,
    make_instance,
    make_version,
)
from tests.processes import running

pytestmark = pytest.mark.django_db(transaction=True)

IMPORT_ORDERS = b"""import time

from batchworks_sdk import IntegrationBatchPlugin


class ImportOrders(IntegrationBatchPlugin):
    def run(self, context):
        region = context.properties.get("region")
        for batch in range(1, 4):
            context.logger.info("Importing the orders of %s, batch %d of 3", region, batch)
            context.progress(completed=batch, total=3)
            time.sleep(0.7)
        return {"orders": 42, "region": region}
"""


@pytest.mark.postgres
def test_a_new_user_publishes_schedules_pauses_and_runs_a_plugin(page, tmp_path):
    """Never saw Batchworks before: from an empty organisation to a run watched to its end."""
    ana = MembershipFactory(organisation=OrganisationFactory(name="Acme"), role=Role.ADMIN).user
    code = tmp_path / "import_orders.py"
    code.write_bytes(IMPORT_ORDERS)

    with running("run_worker"):
        log_in(page, ana.username)
        expect(page.get_by_role("heading", name="Acme")).to_be_visible()
        screenshot(page, "dashboard-empty")

        go_to(page, "Plugins")
        page.get_by_role("button", name="Declare the first plugin").click()
        page.get_by_label("Group id").fill("com.acme.integration_batch")
        page.get_by_label("Artifact id").fill("import-orders")
        page.get_by_role("button", name="Create plugin").click()

        expect(
            page.get_by_role("heading", name="Publish a version of import-orders")
        ).to_be_visible()
        page.get_by_label(re.compile(r"^Version")).fill("1.0.0")
        page.get_by_label("Code").set_input_files(code)
        page.get_by_label("Name").first.fill("region")
        page.get_by_label("Value").first.fill("eu")
        screenshot(page, "version-form")
        page.get_by_role("button", name="Publish").click()
        expect(page.get_by_text("import-orders 1.0.0 published.")).to_be_visible()
        expect(page.get_by_text("import_orders.py")).to_be_visible()
        screenshot(page, "plugin-detail")
        go_to(page, "Plugins")
        expect(page.get_by_role("link", name="import-orders")).to_be_visible()
        screenshot(page, "plugins")

        go_to(page, "Instances")
        page.get_by_role("button", name="Create the first one").click()
        page.get_by_label("Name").fill("Hourly orders")
        mark_page(page)
        page.get_by_label("Cron", exact=True).fill("0 * * * *")
        preview = page.locator("#cron-preview")
        expect(preview).to_contain_text("Every hour")
        expect(preview.locator("li")).to_have_count(5)
        page.get_by_label("Cron", exact=True).fill("0 * * *")
        expect(preview).to_contain_text("A cron has 5 fields")
        page.get_by_label("Cron", exact=True).fill("0 * * * *")
        expect(page.get_by_label("Cron status")).to_have_value("ACTIVE")  # typing a cron set it
        page.get_by_label("region").fill("us")
        assert same_document(page), "the preview must not reload the page"
        screenshot(page, "instance-form")
        page.get_by_role("button", name="Create instance").click()
        expect(page.get_by_role("heading", name=re.compile("Hourly orders"))).to_be_visible()
        expect(page.locator("dl.facts")).to_contain_text("0 * * * * — Every hour, UTC time")
        screenshot(page, "instance-detail")

        go_to(page, "Instances")
        row = page.locator("tr", has_text="Hourly orders")
        expect(row.locator(".status")).to_have_text("ACTIVE")
        expect(row).not_to_contain_text("—\n")
        mark_page(page)
        row.get_by_role("button", name="Pause").click()
        expect(row.locator(".status").first).to_have_text("PAUSED")
        expect(row.get_by_role("button", name="Resume")).to_be_visible()
        assert same_document(page), "pausing swaps the row, not the page"
        screenshot(page, "instances")

        row.get_by_role("button", name="Run now").click()
        page.wait_for_url(re.compile(r"/executions/\d+/$"))
        mark_page(page)
        expect(page.locator("h1 .status")).to_have_text("SUCCEEDED", timeout=60_000)
        log = page.locator("#log")
        expect(log).to_contain_text("Importing the orders of us, batch 3 of 3")
        expect(page.get_by_text('"orders": 42')).to_be_visible()
        assert same_document(page), "the run is followed live, without reloads"
        screenshot(page, "execution-detail")

        go_to(page, "Executions")
        page.get_by_label("Status").select_option("SUCCEEDED")
        expect(page).to_have_url(re.compile(r"status=SUCCEEDED"))
        expect(page.locator("#results tbody tr")).to_have_count(1)
        screenshot(page, "executions")
        page.reload()  # the filtered URL can be shared: it shows the same list
        expect(page.locator("#results tbody tr")).to_have_count(1)

        go_to(page, "Dashboard")
        expect(page.locator(".cards article", has_text="SUCCEEDED").locator(".count")).to_have_text(
            "1"
        )
        screenshot(page, "dashboard")


def test_pausing_cancels_the_coming_run_on_screen(page, world):
    instance = make_instance(
        version=make_version(plugin=PluginFactory(organisation=world.org_a)),
        name="Nightly import",
        cron="0 2 * * *",
        cron_status="ACTIVE",
    )
    log_in(page, world.editor_a.username)
    page.goto(f"/executions/?instance={instance.pk}")
    coming = page.locator("#results tbody tr")
    expect(coming).to_have_count(1)
    expect(coming.locator(".status")).to_have_text("PENDING")

    page.goto("/instances/")
    page.locator("tr", has_text="Nightly import").get_by_role("button", name="Pause").click()
    expect(page.locator("tr", has_text="Nightly import").locator(".status").first).to_have_text(
        "PAUSED"
    )

    page.goto(f"/executions/?instance={instance.pk}")
    expect(coming.locator(".status")).to_have_text("CANCELED")
    assert instance.executions.get().status == ExecutionStatus.CANCELED


def test_a_reader_sees_everything_and_can_change_nothing(page, world):
    instance = make_instance(
        version=make_version(plugin=PluginFactory(organisation=world.org_a)),
        name="Nightly import",
        cron="0 2 * * *",
        cron_status="ACTIVE",
    )
    execution = instance.executions.get()
    log_in(page, world.reader_a.username)
    for url in (
        "/",
        "/plugins/",
        f"/plugins/{instance.version.plugin_id}/",
        "/instances/",
        f"/instances/{instance.pk}/",
        "/executions/",
        f"/executions/{execution.pk}/",
    ):
        page.goto(url)
        for action in (
            "Pause",
            "Run now",
            "Run",
            "Cancel",
            "Edit",
            "Archive",
            "New instance",
            "New plugin",
            "Publish a version",
        ):
            expect(page.get_by_role("button", name=action, exact=True)).to_have_count(0)
            expect(page.get_by_role("link", name=action, exact=True)).to_have_count(0)
    screenshot(page, "reader-execution")

    token = page.locator("body").get_attribute("hx-headers")
    for url in (
        f"/instances/{instance.pk}/pause",
        f"/instances/{instance.pk}/run",
        f"/executions/{execution.pk}/cancel",
    ):
        response = page.request.post(
            url, headers={"X-CSRFToken": re.search(r'"X-CSRFToken": "([^"]+)"', token).group(1)}
        )
        assert response.status == 403
    assert page.goto("/instances/new").status == 403
    instance.refresh_from_db()
    execution.refresh_from_db()
    assert (instance.cron_status, execution.status) == ("ACTIVE", "PENDING")
    assert not Execution.objects.filter(execution_type="MANUAL").exists()
    assert IntegrationBatchInstance.objects.count() == 1


def test_a_dataset_is_defined_and_its_batches_browsed(page, world):
    import io

    from apps.ingestion import services
    from apps.ingestion.models import Dataset
    from apps.ingestion.worker import stage_batch

    log_in(page, world.editor_a.username)
    go_to(page, "Datasets")
    page.get_by_role("button", name="Create the first one").click()
    page.get_by_label("Name", exact=False).first.fill("orders")
    page.get_by_label("Field name").nth(0).fill("order_id")
    page.get_by_label("Type").nth(0).select_option("Long")
    page.get_by_label("Required").nth(0).check()
    page.get_by_label("Field name").nth(1).fill("amount")
    page.get_by_label("Type").nth(1).select_option("Double")
    page.get_by_role("button", name="Add a field").click()
    expect(page.get_by_label("Field name")).to_have_count(3)
    page.get_by_label("Field name").nth(2).fill("paid")
    page.get_by_label("Type").nth(2).select_option("Boolean")
    screenshot(page, "dataset-form")
    page.get_by_role("button", name="Create dataset").click()
    expect(page.get_by_text("Dataset orders saved.")).to_be_visible()

    dataset = Dataset.objects.get(name="orders")
    assert [f["name"] for f in dataset.schema] == ["order_id", "amount", "paid"]
    for content in (
        b"order_id,amount,paid\n1,10.5,true\n2,7,false\n",
        b"order_id,amount\n3,ten\n,4\n",
    ):
        batch = services.batch_create(dataset=dataset, user=world.editor_a)
        services.batch_file_put(batch=batch, name="orders.csv", body=io.BytesIO(content))
        services.batch_complete(batch=batch)
        stage_batch(batch.pk)

    page.reload()
    expect(page.get_by_text("2 rows in 2 batches")).to_be_visible()
    expect(page.locator("section", has_text="First rows").locator("tbody tr")).to_have_count(2)
    screenshot(page, "dataset-detail")

    go_to(page, "Batches")
    page.get_by_label("Status").select_option("failed")
    expect(page).to_have_url(re.compile("status=failed"))
    expect(page.locator("#results tbody tr")).to_have_count(1)
    screenshot(page, "batches")
    page.locator("#results tbody tr a").first.click()
    errors = page.locator("section", has_text="errors")
    expect(errors).to_contain_text("'ten' is not a number.")
    expect(errors).to_contain_text("Required, and missing.")
    screenshot(page, "batch-failed")

    page.goto("/batches/?status=active")
    page.locator("#results tbody tr a").first.click()
    page.get_by_role("button", name="Revert").click()
    expect(page.locator("h1 .status")).to_have_text("INACTIVE")
    screenshot(page, "batch-reverted")
