"""Exports run by a worker: every record, the filtered ones or an SQL query's, written as
CSV, JSON or a template's lines, split into files, and downloadable only once complete."""

import csv
import io
import json

import pytest

from apps.transfers.models import TransferFile
from tests.transfers.conftest import exported, imported, read_stored

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def loaded(attendees):
    assert imported(attendees).status == "Completed"
    return attendees


def files_of(job) -> list[bytes]:
    return [read_stored(file.stored) for file in job.files.order_by("name")]


def table_of(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode())))


def test_every_record_as_csv_with_a_header_in_the_fields_order(loaded):
    job = exported(loaded, row_header="True")
    assert job.status == "Completed", job.reason
    assert job.records_processed == 3
    (content,) = files_of(job)
    table = table_of(content)
    assert table[0] == ["email", "name", "age", "joined", "vip"]
    assert table[1] == ["ana@example.com", "Ana", "34", "2018-07-10T15:05:59.000Z", "true"]
    assert table[2] == ["bo@example.com", "Bo", "", "2018-07-10T23:05:59.000Z", "false"]
    assert job.files.get().name == "attendee-export.csv"
    assert job.links_expire_at is not None


def test_an_export_reads_back_as_the_same_import(loaded, attendees):
    job = exported(loaded, row_header=True)
    again = imported(attendees, files_of(job)[0])
    assert again.status == "Completed", again.reason
    assert again.records_processed == 3


def test_filters_as_the_docs_send_them_python_dict_text(loaded):
    job = exported(loaded, content_type="application/json", filters=str({"age": "34"}))
    assert job.status == "Completed", job.reason
    assert json.loads(files_of(job)[0]) == [
        {
            "email": "ana@example.com",
            "name": "Ana",
            "age": 34,
            "joined": "2018-07-10T15:05:59.000Z",
            "vip": True,
        }
    ]


def test_the_sql_query_wins_over_filters_and_the_reason_says_so(loaded):
    job = exported(
        loaded,
        sql_query='SELECT email, age FROM "Attendee" WHERE age > 40',
        filters='{"name": "Ana"}',
    )
    assert job.status == "Completed", job.reason
    assert table_of(files_of(job)[0]) == [["cy@example.com", "51"]]
    accepted = job.status_changes.get(to_status="Accepted")
    assert "filters are disregarded" in accepted.reason
    assert job.reason.endswith("The filters are disregarded: the SQL query wins over them.")


def test_a_template_renders_each_row(loaded):
    job = exported(loaded, template="{{ name|upper }} <{{ email }}>", row_header=True)
    assert job.status == "Completed", job.reason
    assert files_of(job) == [
        b"name,email\nANA <ana@example.com>\nBO <bo@example.com>\nCY <cy@example.com>\n"
    ]


def many_attendees(count: int) -> bytes:
    return ("email,age\n" + "".join(f"a{n}@example.com,{n}\n" for n in range(count))).encode()


@pytest.mark.parametrize("content_type", ["text/plain", "application/json"])
def test_the_result_is_split_into_files_each_complete_in_itself(attendees, settings, content_type):
    assert imported(attendees, many_attendees(2_500)).status == "Completed"
    settings.TRANSFER_EXPORT_FILE_BYTES = 1  # a new file after every slice of 1,000 rows
    job = exported(attendees, content_type=content_type, row_header=True)
    assert job.status == "Completed", job.reason
    assert [f.name for f in job.files.order_by("name")] == [
        f"attendee-export-00{n}.{'json' if content_type == 'application/json' else 'csv'}"
        for n in (1, 2, 3)
    ]
    if content_type == "application/json":
        parts = [json.loads(content) for content in files_of(job)]
        emails = [row["email"] for part in parts for row in part]
    else:
        parts = [table_of(content) for content in files_of(job)]
        assert all(part[0] == ["email", "name", "age", "joined", "vip"] for part in parts)
        emails = [row[0] for part in parts for row in part[1:]]
    assert [len(part) for part in parts][-1] in (500, 501)
    assert emails == [f"a{n}@example.com" for n in range(2_500)]


def test_a_refused_query_rejects_the_job_before_any_work(loaded):
    job = exported(loaded, sql_query="SELECT * FROM read_csv('/etc/passwd')")
    assert job.status == "Rejected"
    assert "file system operations are disabled" in job.reason
    assert [c.to_status for c in job.status_changes.all()] == ["Initialized", "Rejected"]
    assert not TransferFile.objects.exists()
