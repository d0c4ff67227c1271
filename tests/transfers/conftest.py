import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.ingestion.services import dataset_create
from apps.transfers import services
from apps.transfers.models import TransferJob
from apps.transfers.worker import run_transfer

SCHEMA = [
    {"name": "email", "type": "String", "required": True, "key": True},
    {"name": "name", "type": "String", "required": False},
    {"name": "age", "type": "Integer", "required": False},
    {"name": "joined", "type": "Date-Time", "required": False},
    {"name": "vip", "type": "Boolean", "required": False},
]
CSV = b"""email,name,age,joined,vip
ana@example.com,Ana,34,2018-07-10T15:05:59Z,true
bo@example.com,Bo,,1531263959000,false
cy@example.com,Cy,51,,
"""
JSON_ARRAY = b"""[{"email": "ana@example.com", "name": "Ana", "age": 34},
 {"email": "di@example.com", "name": "Di", "vip": true}]"""


def upload(content: bytes, name: str = "data.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


@pytest.fixture
def attendees(world):
    return dataset_create(organisation=world.org_a, name="Attendee", schema=SCHEMA)


def imported(dataset, content: bytes = CSV, *, content_type="plain/text", **options):
    """An import job submitted and run to its end by a worker, in this process."""
    job = services.import_submit(
        dataset=dataset,
        upload=upload(content, options.pop("name", "data.csv")),
        job_name=options.pop("job_name", "Attendee Import Job"),
        content_type=content_type,
        **options,
    )
    return run(job)


def exported(dataset, *, content_type="text/plain", **options):
    job = services.export_submit(
        dataset=dataset,
        job_name=options.pop("job_name", "Attendee Export"),
        content_type=content_type,
        **options,
    )
    return run(job)


def run(job: TransferJob) -> TransferJob:
    if job.status == "Accepted":
        run_transfer(str(job.pk))
    job.refresh_from_db()
    return job


def read_stored(name: str) -> bytes:
    from django.core.files.storage import default_storage

    with default_storage.open(name, "rb") as stored:
        return stored.read()
