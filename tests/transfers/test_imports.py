"""Imports run by a worker: the file converted by the batches' conversion table, the data
replaced or merged in one step, and a dataset left exactly as it was otherwise."""

import pytest

from apps.ingestion.models import BatchStatus
from apps.ingestion.selectors import dataset_preview
from tests.transfers.conftest import JSON_ARRAY, imported

pytestmark = pytest.mark.django_db(transaction=True)


def rows(dataset) -> list[list]:
    return sorted(dataset_preview(dataset, limit=1000)[1])


def test_an_override_import_replaces_the_data_in_one_step(attendees):
    first = imported(attendees)
    assert first.status == "Completed", first.reason
    assert first.records_processed == 3
    assert "Imported 3 records into Attendee" in first.reason
    assert rows(attendees)[0] == ["ana@example.com", "Ana", 34, "2018-07-10T15:05:59+00:00", "true"]

    second = imported(attendees, JSON_ARRAY, content_type="application/json", name="data.json")
    assert second.status == "Completed", second.reason
    assert [row[0] for row in rows(attendees)] == ["ana@example.com", "di@example.com"]
    statuses = attendees.batches.values_list("status", flat=True)
    assert sorted(statuses) == [BatchStatus.ACTIVE, BatchStatus.INACTIVE]
    assert [c.to_status for c in second.status_changes.order_by("created_at", "pk")] == [
        "Initialized",
        "Accepted",
        "Processing",
        "Completed",
    ]


def test_a_merge_updates_rows_by_key_and_adds_the_others(attendees):
    imported(attendees)
    merged = imported(
        attendees,
        b'{"email": "bo@example.com", "name": "Bob", "age": 40}\n{"email": "ed@example.com"}\n',
        content_type="application/json",
        name="update.jsonl",
        merge="True",
    )
    assert merged.status == "Completed", merged.reason
    assert "1 updated, 1 added; it holds 4" in merged.reason
    by_email = {row[0]: row for row in rows(attendees)}
    assert sorted(by_email) == [
        "ana@example.com",
        "bo@example.com",
        "cy@example.com",
        "ed@example.com",
    ]
    assert by_email["bo@example.com"][1:3] == ["Bob", 40]
    assert by_email["ana@example.com"][1] == "Ana"


def test_bad_rows_reject_the_job_by_row_and_field_and_change_nothing(attendees):
    imported(attendees)
    before = rows(attendees)
    job = imported(attendees, b"email,age\nzed@example.com,old\n,3\n")
    assert job.status == "Rejected"
    assert job.error_count == 2
    assert job.errors[0] == {
        "file": "data.csv",
        "row": 1,
        "field": "age",
        "message": "'old' is not a whole number.",
    }
    assert job.reason.startswith("2 errors; first: row 1, field age:")
    assert rows(attendees) == before
