"""The console's Jobs: the list, a job's page, and the import and export forms."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.transfers.models import TransferJob, TransferStatusChange
from tests.transfers.conftest import CSV, imported

pytestmark = pytest.mark.django_db


def import_form(dataset, **fields):
    return {
        "dataset": dataset.pk,
        "file": SimpleUploadedFile("people.csv", CSV),
        "job_name": "People",
        **fields,
    }


def test_an_import_from_the_form_is_accepted_and_shown(client, world, attendees):
    client.force_login(world.editor_a)
    response = client.post("/jobs/import", import_form(attendees))
    job = TransferJob.objects.get()
    assert response.url == f"/jobs/{job.pk}/"
    assert (job.status, job.content_type, job.created_by) == (
        "Accepted",
        "plain/text",
        world.editor_a,
    )
    page = client.get(response.url).text
    assert "The file has been stored and the job is ready for processing" in page
    assert "people.csv" in page and "Cancel" in page
    assert f'hx-get="/jobs/{job.pk}/"' in page  # it follows the job while it runs


def test_a_refused_import_shows_why_on_its_field_and_creates_nothing(client, world, attendees):
    client.force_login(world.editor_a)
    response = client.post("/jobs/import", import_form(attendees, template='{"Email": "mail"}'))
    assert response.status_code == 200
    assert "&#x27;mail&#x27;: not a field of the dataset" in response.text
    assert not TransferJob.objects.exists()


def test_readers_see_jobs_but_no_forms(client, world, attendees):
    client.force_login(world.reader_a)
    assert "Import a file" not in client.get("/jobs/").text
    assert client.get("/jobs/import").status_code == 403
    assert client.post("/jobs/import", import_form(attendees)).status_code == 403
    assert not TransferJob.objects.exists()


def test_cancel_from_the_job_page(client, world, attendees):
    client.force_login(world.editor_a)
    client.post("/jobs/import", import_form(attendees))
    job = TransferJob.objects.get()
    client.post(f"/jobs/{job.pk}/cancel")
    job.refresh_from_db()
    assert job.status == "Canceled"
    assert "Canceled by" in client.get(f"/jobs/{job.pk}/").text


def test_another_organisations_job_is_not_found(client, world, attendees):
    client.force_login(world.editor_a)
    client.post("/jobs/import", import_form(attendees))
    job = TransferJob.objects.get()
    client.force_login(world.admin_b)
    assert client.get(f"/jobs/{job.pk}/").status_code == 404
    assert client.post(f"/jobs/{job.pk}/cancel").status_code == 404
    assert client.get(f"/jobs/{job.pk}/row").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_export_preview_shows_the_first_rows_or_the_querys_error(client, world, attendees):
    imported(attendees)
    client.force_login(world.editor_a)
    form = {"dataset": attendees.pk, "job_name": "Out", "content_type": "text/plain"}
    shown = client.post(
        "/jobs/export/preview",
        {**form, "sql_query": 'SELECT email, age FROM "Attendee" ORDER BY age'},
    ).text
    assert "<th>email</th><th>age</th>" in shown
    assert shown.index("ana@example.com") < shown.index("cy@example.com")

    broken = client.post("/jobs/export/preview", {**form, "sql_query": "SELECT nope FROM Attendee"})
    assert "The SQL query cannot run" in broken.text and "nope" in broken.text
    filtered = client.post("/jobs/export/preview", {**form, "filters": '{"shoe": 42}'}).text
    assert "filters.shoe: Not a field of the dataset" in filtered
    exports = TransferJob.objects.filter(kind="export")
    assert not exports.exists()

    response = client.post(
        "/jobs/export", {**form, "filters": '{"name": "Bo"}', "row_header": "on"}
    )
    job = exports.get()
    assert response.url == f"/jobs/{job.pk}/"
    assert job.filters == {"name": "Bo"} and job.row_header


def test_the_jobs_list_runs_the_same_queries_for_few_or_many_jobs(client, world, attendees):
    client.force_login(world.editor_a)

    def add(count):
        jobs = TransferJob.objects.bulk_create(
            TransferJob(
                organisation=world.org_a, dataset=attendees, kind="import", job_name=f"j{n}"
            )
            for n in range(count)
        )
        TransferStatusChange.objects.bulk_create(
            TransferStatusChange(job=job, to_status="Initialized") for job in jobs
        )

    def queries(url):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    add(3)
    few = queries("/jobs/?kind=import")
    add(200)
    assert queries("/jobs/?kind=import") == few
    page = client.get("/jobs/?kind=import").text
    assert page.count('id="job-row-') == 50 and "Older »" in page
    assert client.get("/jobs/?status=Completed").text.count('id="job-row-') == 0
