"""import_file and export_dataset: the same jobs as the API's, from the command line."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from apps.transfers.models import TransferJob
from apps.transfers.worker import run_transfer
from tests.processes import running
from tests.transfers.conftest import CSV


def command(*args) -> dict:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.django_db(transaction=True)
def test_import_then_export_from_the_command_line(world, attendees, tmp_path):
    (tmp_path / "people.csv").write_bytes(CSV)
    job = command(
        "import_file",
        str(tmp_path / "people.csv"),
        "--organisation",
        "Org A",
        "--dataset",
        "Attendee",
    )
    assert (job["status"], job["jobName"], job["contentType"]) == (
        "Accepted",
        "Import of people.csv",
        "plain/text",
    )
    run_transfer(job["jobId"])
    assert TransferJob.objects.get(pk=job["jobId"]).status == "Completed"

    job = command(
        "export_dataset",
        "--organisation",
        "Org A",
        "--dataset",
        "Attendee",
        "--filters",
        "{'age': 34}",
    )
    assert job["status"] == "Accepted"
    assert TransferJob.objects.get(pk=job["jobId"]).filters == {"age": 34}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--organisation", "Nope", "--dataset", "Attendee"], "No organisation is named 'Nope'."),
        (["--organisation", "Org A", "--dataset", "Nope"], "Org A has no dataset named 'Nope'."),
        (
            ["--organisation", "Org A", "--dataset", "Attendee", "--filters", "{'shoe': 1}"],
            "filters.shoe: Not a field of the dataset",
        ),
    ],
)
def test_bad_arguments_say_what_is_wrong_and_create_nothing(attendees, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("export_dataset", *args, stdout=io.StringIO())
    assert not TransferJob.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_wait_prints_the_job_once_a_worker_has_ended_it(attendees, tmp_path):
    (tmp_path / "people.csv").write_bytes(CSV)
    with running("run_worker"):
        imported = command(
            "import_file",
            str(tmp_path / "people.csv"),
            "--organisation",
            "Org A",
            "--dataset",
            "Attendee",
            "--wait",
        )
        assert (imported["status"], imported["recordsProcessed"]) == ("Completed", "3")
        exported = command(
            "export_dataset", "--organisation", "Org A", "--dataset", "Attendee", "--wait"
        )
    assert exported["status"] == "Completed"
    assert len(exported["links"]) == 1
    assert exported["links"][0].startswith("http://127.0.0.1:8000/ls/api/batch/download/")
