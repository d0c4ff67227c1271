"""An export's SQL query sees its organisation's datasets and nothing else: each way out
is refused, and the job that tried it read nothing."""

import pytest

from apps.ingestion.services import dataset_create
from apps.transfers.models import TransferFile
from tests.transfers.conftest import SCHEMA, exported, imported

pytestmark = pytest.mark.django_db(transaction=True)
MARKER = "secret-7f3a"


@pytest.fixture
def secrets(world, tmp_path, attendees):
    """A file on the server and another organisation's dataset, each holding MARKER."""
    (tmp_path / "secret.csv").write_text(f"email\n{MARKER}@example.com\n")
    theirs = dataset_create(organisation=world.org_b, name="Theirs", schema=SCHEMA)
    assert imported(theirs, f"email\n{MARKER}@example.com\n".encode()).status == "Completed"
    assert imported(attendees).status == "Completed"
    return tmp_path / "secret.csv"


ESCAPES = {
    "a file function": "SELECT * FROM read_csv('{secret}')",
    "a file as a table": "SELECT * FROM '{secret}'",
    "the file's text": "SELECT * FROM read_text('{secret}')",
    "a folder listing": "SELECT * FROM glob('{folder}/*')",
    "another organisation's dataset": 'SELECT * FROM "Theirs"',
    "another organisation's data files": "SELECT * FROM read_parquet('{media}/**/*.parquet')",
    "a Python variable": "SELECT * FROM MARKER",
    "COPY": "COPY (SELECT * FROM \"Attendee\") TO '{folder}/out.csv'",
    "ATTACH": "ATTACH '{folder}/other.duckdb' AS other",
    "INSTALL": "INSTALL httpfs",
    "LOAD": "LOAD httpfs",
    "SET": "SET enable_external_access = true",
    "PRAGMA": "PRAGMA enable_profiling",
    "two statements": "SELECT 1; SELECT * FROM read_csv('{secret}')",
    "a query inside a query": "SELECT * FROM query('SELECT * FROM read_csv(''{secret}'')')",
    "a change": 'CREATE TABLE copied AS SELECT * FROM "Attendee"',
}


@pytest.mark.parametrize("query", ESCAPES.values(), ids=ESCAPES.keys())
def test_each_way_out_is_refused_and_nothing_is_read(secrets, attendees, settings, query):
    query = query.format(secret=secrets, folder=secrets.parent, media=settings.MEDIA_ROOT)
    job = exported(attendees, sql_query=query, row_header=True)
    assert job.status == "Rejected"
    assert job.reason.startswith("The SQL query cannot run:")
    assert MARKER not in job.reason
    assert not TransferFile.objects.exists()
    assert not (secrets.parent / "out.csv").exists()
    assert not (secrets.parent / "other.duckdb").exists()
    assert [change.to_status for change in job.status_changes.all()] == [
        "Initialized",
        "Rejected",
    ]


def test_a_query_past_its_time_limit_is_stopped_and_rejects_the_job(attendees, settings):
    settings.TRANSFER_QUERY_SECONDS = 1
    job = exported(attendees, sql_query="SELECT count(*) FROM range(100000000000) a, range(10) b")
    assert job.status == "Rejected"
    assert "ran past its time limit of 1 s" in job.reason


def test_a_query_past_its_memory_limit_rejects_the_job(attendees, settings):
    settings.TRANSFER_QUERY_MEMORY_BYTES = 32 * 2**20
    job = exported(
        attendees, sql_query="SELECT string_agg(x::VARCHAR, ',') FROM range(200000000) t(x)"
    )
    assert job.status == "Rejected"
    assert "Out of Memory" in job.reason or "memory" in job.reason.lower(), job.reason


def test_the_query_sees_every_dataset_of_its_organisation(world, attendees):
    imported(attendees)
    tickets = dataset_create(
        organisation=world.org_a,
        name="Ticket",
        schema=[
            {"name": "email", "type": "String", "required": True},
            {"name": "seat", "type": "Integer", "required": False},
        ],
    )
    imported(tickets, b"email,seat\nana@example.com,12\n")
    job = exported(
        attendees,
        sql_query='SELECT a.name, t.seat FROM "Attendee" a JOIN "Ticket" t USING (email)',
    )
    assert job.status == "Completed", job.reason
    assert job.records_processed == 1
