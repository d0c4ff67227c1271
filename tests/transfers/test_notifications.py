"""The e-mail a job's notificationEmail gets when it ends, received over SMTP by a server
this test starts, from a worker process as deployed."""

import pytest
from django.template.loader import render_to_string

from apps.transfers import services
from tests.processes import manage
from tests.receivers import smtp_server
from tests.transfers.conftest import imported, upload

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def inbox():
    with smtp_server() as server:
        yield server


def work(inbox) -> None:
    """A worker runs what is queued (the job, then its e-mail) and exits."""
    done = manage("run_worker", "--burst", BATCHWORKS_EMAIL_URL=inbox.url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert inbox.arrived.wait(30), "no e-mail arrived"


def test_a_completed_export_mails_its_links(attendees, inbox):
    imported(attendees)
    job = services.export_submit(
        dataset=attendees,
        job_name="Attendee Export",
        content_type="text/plain",
        notification_email="ana@example.com",
    )
    work(inbox)
    (message,) = inbox.messages
    assert message["To"] == "ana@example.com"
    assert message["Subject"] == "[Batchworks] Export job 'Attendee Export': Completed"
    body = message.get_content()
    assert "Exported 3 records to 1 file" in body
    assert "attendee-export.csv" in body
    assert "/ls/api/batch/download/" in body
    job.refresh_from_db()
    assert job.notified_at is not None and job.notification_error == ""


def test_a_rejected_import_mails_its_first_errors(attendees, inbox):
    job = services.import_submit(
        dataset=attendees,
        upload=upload(b"email,age\nana@example.com,old\n"),
        job_name="Bad import",
        content_type="text/csv",
        notification_email="ana@example.com",
    )
    work(inbox)
    (message,) = inbox.messages
    assert message["Subject"].endswith(": Rejected")
    assert "row 1, field age: 'old' is not a whole number." in message.get_content()
    job.refresh_from_db()
    assert job.status == "Rejected"


def test_the_message_writes_large_counts_as_people_read_them(attendees):
    job = imported(attendees)
    job.records_processed, job.error_count = 1_234_567, 2_500
    body = render_to_string("transfers/notification.txt", {"job": job, "links": []})
    assert "Records:      1,234,567" in body and "Errors (2,500 in all;" in body
