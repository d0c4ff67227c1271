"""The e-mail a job's notificationEmail gets when it ends, received over SMTP by a server
this test starts, from a worker process as deployed."""

import threading
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

from apps.transfers import services
from tests.processes import free_port, manage
from tests.transfers.conftest import imported, upload

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class Inbox:
    """aiosmtpd's handler: keeps each message, and says when one has arrived."""

    def __init__(self):
        self.messages = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's name
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.arrived.set()
        return "250 OK"


@pytest.fixture
def inbox():
    handler, port = Inbox(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.url = f"smtp://127.0.0.1:{port}"
    yield handler
    controller.stop()


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
    assert "Exported 3 record(s) to 1 file(s)" in body
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
