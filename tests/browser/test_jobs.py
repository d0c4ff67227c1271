"""Import and export jobs in the console, in a real browser, with a real worker."""

import re

import pytest
from playwright.sync_api import expect

from apps.ingestion.services import dataset_create
from tests.browser.conftest import go_to, log_in, mark_page, same_document, screenshot
from tests.processes import running
from tests.transfers.conftest import CSV, SCHEMA

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_file_is_imported_then_exported_with_a_previewed_query(page, world, tmp_path):
    dataset_create(organisation=world.org_a, name="Attendee", schema=SCHEMA)
    (tmp_path / "people.csv").write_bytes(CSV)

    with running("run_worker"):
        log_in(page, world.editor_a.username)
        go_to(page, "Datasets")
        page.get_by_role("link", name="Attendee").click()
        page.get_by_role("button", name="Import").click()
        expect(page.get_by_label("Dataset")).to_have_value(re.compile(r"\d+"))
        page.get_by_label("File").set_input_files(tmp_path / "people.csv")
        page.get_by_label("Job name").fill("People")
        screenshot(page, "job-import-form")
        page.get_by_role("button", name="Import").click()

        page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
        mark_page(page)
        expect(page.locator("h1 .status")).to_have_text("COMPLETED", timeout=60_000)
        expect(page.locator(".reason")).to_contain_text("Imported 3 records into Attendee")
        assert same_document(page), "the job is followed live, without reloads"
        screenshot(page, "job-import-completed")

        go_to(page, "Datasets")
        page.get_by_role("link", name="Attendee").click()
        page.get_by_role("button", name="Export").click()
        page.get_by_label("Job name").fill("Over forties")
        page.get_by_label("SQL query").fill('SELECT email, age FROM "Attendee" WHERE agee > 40')
        mark_page(page)
        page.get_by_role("button", name="Preview").click()
        expect(page.locator("#preview")).to_contain_text("The SQL query cannot run")
        expect(page.locator("#preview")).to_contain_text("agee")
        page.get_by_label("SQL query").fill('SELECT email, age FROM "Attendee" WHERE age > 40')
        page.get_by_role("button", name="Preview").click()
        expect(page.locator("#preview tbody tr")).to_have_count(1)
        expect(page.locator("#preview")).to_contain_text("cy@example.com")
        assert same_document(page), "the preview does not reload the form"
        screenshot(page, "job-export-preview")
        page.get_by_role("button", name="Export").click()

        page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
        expect(page.locator("h1 .status")).to_have_text("COMPLETED", timeout=60_000)
        screenshot(page, "job-export-completed")
        with page.expect_download() as download:
            page.get_by_role("link", name="over-forties.csv").click()
        assert download.value.suggested_filename == "over-forties.csv"
        assert download.value.path().read_bytes() == b'email,age\n"cy@example.com",51\n'

    go_to(page, "Jobs")
    expect(page.locator("#results tbody tr")).to_have_count(2)
    page.get_by_label("Type").select_option("export")
    expect(page).to_have_url(re.compile("kind=export"))
    expect(page.locator("#results tbody tr")).to_have_count(1)
    expect(page.locator("#results tbody tr .status")).to_have_text("COMPLETED")
    screenshot(page, "jobs")
