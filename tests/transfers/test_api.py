"""The batch import/export docs' endpoints, as their examples call them, and the same jobs
in /v1/transfer_jobs."""

import re
from datetime import timedelta

import pytest
import requests
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.services import api_token_create
from apps.ingestion.services import dataset_create
from apps.transfers.models import TransferJob
from apps.transfers.worker import run_transfer
from tests.transfers.conftest import CSV, SCHEMA, imported, upload

SUBMIT_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$")
STATUS_FIELDS = {
    "submitTime",
    "jobId",
    "notificationEmail",
    "jobName",
    "contentType",
    "itemType",
    "recordsProcessed",
    "runTime",
    "status",
    "reason",
}


def token_client(world, user=None, organisation=None) -> APIClient:
    _, raw = api_token_create(
        organisation=organisation or world.org_a, user=user or world.editor_a, name="docs"
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.mark.django_db(transaction=True)
def test_the_docs_python_examples_work_with_only_host_and_token_changed(
    world, attendees, live_server, tmp_path
):
    _, accessToken = api_token_create(organisation=world.org_a, user=world.editor_a, name="x")
    server = live_server.url
    (tmp_path / "data.json").write_bytes(b'[{"email": "ana@example.com", "name": "Ana"}]')

    # The import example, as printed (its missing comma and quote restored).
    files = {
        "file": (
            "data.json",
            open(tmp_path / "data.json", "rb"),  # noqa: SIM115  # as the docs write it
            "application/json",
            {"Expires": "0"},
        )
    }
    parameters = {
        "notificationEmail": "[email protected]",
        "jobName": "Attendee Import Job",
        "contentType": "application/json",
        "itemType": "Attendee",
        "merge": "False",
    }
    responce = requests.post(
        server + "/ls/api/batch/import",
        headers={"Authorization": "Bearer " + accessToken},
        files=files,
        data=parameters,
    )
    assert responce.status_code == 200, responce.text
    job = responce.json()
    assert set(job) == STATUS_FIELDS
    assert job["status"] == "Accepted"
    assert job["reason"] == "The file has been stored and the job is ready for processing"
    assert SUBMIT_TIME.match(job["submitTime"])
    assert (job["itemType"], job["recordsProcessed"], job["runTime"]) == ("Attendee", "0", "0")
    jobId = job["jobId"]

    run_transfer(jobId)
    payload = {"jobId": jobId}
    response = requests.post(
        server + "/ls/api/batch/status",
        headers={"Authorization": "Bearer " + accessToken},
        data=payload,
    )
    assert response.status_code == 200
    assert response.json()["status"] == "Completed"
    assert response.json()["recordsProcessed"] == "1"

    # The export example: filters as str() of a Python dict.
    filters = {"name": "Ana"}
    parameters = {
        "notificationEmail": "[email protected]",
        "jobName": "Attendee Export",
        "itemType": "Attendee",
        "sqlQuery": "",
        "contentType": "text/plain",
        "filters": str(filters),
        "template": "",
    }
    response = requests.post(
        server + "/ls/api/batch/export",
        headers={"Authorization": "Bearer " + accessToken},
        data=parameters,
    )
    assert response.status_code == 200, response.text
    run_transfer(response.json()["jobId"])
    status = requests.post(
        server + "/ls/api/batch/status",
        headers={"Authorization": "Bearer " + accessToken},
        json={"jobId": response.json()["jobId"]},
    ).json()
    assert status["status"] == "Completed", status["reason"]
    assert set(status) == STATUS_FIELDS | {"links"}
    (link,) = status["links"]
    assert link.startswith(server + "/ls/api/batch/download/")
    download = requests.get(link)  # the link is the permission: no token
    assert download.status_code == 200
    assert download.content == b'"ana@example.com","Ana",,,\n'
    assert "attendee-export.csv" in download.headers["Content-Disposition"]


@pytest.fixture
def client(world):
    return token_client(world)


def post_import(client, **fields):
    data = {
        "jobName": "Import",
        "itemType": "Attendee",
        "contentType": "plain/text",
        "file": CSV_FILE(),
        **fields,
    }
    return client.post("/ls/api/batch/import", {k: v for k, v in data.items() if v is not None})


def CSV_FILE():  # a fresh upload each time, as a form field
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("data.csv", CSV, content_type="text/csv")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"itemType": "Nope"}, "itemType", "No dataset is named 'Nope'."),
        ({"file": None}, "file", "Required: the file to import."),
        ({"jobName": None}, "jobName", "This field is required."),
        ({"contentType": "application/json"}, "contentType", "application/json says JSON"),
        ({"contentType": "image/png"}, "contentType", "One of application/json, plain/text"),
        ({"merge": "perhaps"}, "merge", "Must be a valid boolean."),
        ({"template": '{"Email": "emial"}'}, "template", "'emial': not a field of the dataset"),
        ({"notificationEmail": "x" * 255}, "notificationEmail", "no more than 254"),
        ({"surprise": "x"}, "surprise", "Unknown field."),
    ],
)
def test_bad_import_parameters_are_a_400_by_field_and_create_nothing(
    client, attendees, fields, field, reason
):
    response = post_import(client, **fields)
    assert response.status_code == 400, response.content
    assert response.json()["error_code"] == "VALIDATION_ERROR"
    assert any(reason in message for message in response.json()["fields"][field])
    assert not TransferJob.objects.exists()


@pytest.mark.django_db
def test_another_organisations_dataset_and_job_are_not_found(world, client, attendees):
    theirs = dataset_create(organisation=world.org_b, name="Secret", schema=SCHEMA)
    for item_type in ("Secret", str(theirs.pk)):
        response = post_import(client, itemType=item_type)
        assert response.status_code == 404
        assert response.json()["fields"] == {"itemType": ["No such dataset in your organisations."]}
    assert not TransferJob.objects.exists()

    their_job = post_import(token_client(world, world.admin_b, world.org_b), itemType="Secret")
    assert their_job.status_code == 200
    job_id = their_job.json()["jobId"]
    assert client.post("/ls/api/batch/status", {"jobId": job_id}).status_code == 404
    assert client.get(f"/v1/transfer_jobs/{job_id}").status_code == 404
    assert client.post(f"/v1/transfer_jobs/{job_id}/cancel").status_code == 404
    assert TransferJob.objects.get().status == "Accepted"


@pytest.mark.django_db
@pytest.mark.parametrize("job_id", ["42", "not-a-uuid", "", "e25a5d4b-f9a5-4794-9ac2-4e026c0df40"])
def test_a_bad_job_id_is_a_400(client, job_id):
    response = client.post("/ls/api/batch/status", {"jobId": job_id}, format="json")
    assert response.status_code == 400
    assert "jobId" in response.json()["fields"]


@pytest.mark.django_db
def test_an_unknown_job_id_is_a_404(client):
    response = client.post(
        "/ls/api/batch/status", {"jobId": "e25a5d4b-f9a5-4794-9ac2-4e026c0df40d"}
    )
    assert response.status_code == 404


@pytest.mark.django_db
def test_readers_follow_jobs_but_submit_and_cancel_none(world, client, attendees):
    reader = token_client(world, world.reader_a)
    job_id = post_import(client).json()["jobId"]
    assert post_import(reader).status_code == 403
    assert reader.post("/ls/api/batch/status", {"jobId": job_id}).status_code == 200
    assert reader.post(f"/v1/transfer_jobs/{job_id}/cancel").status_code == 403
    assert TransferJob.objects.count() == 1


@pytest.mark.django_db
def test_v1_lists_filters_and_cancels_jobs(client, attendees):
    first = post_import(client).json()["jobId"]
    second = post_import(client, jobName="Second").json()["jobId"]
    listed = client.get("/v1/transfer_jobs", {"kind": "import"}).json()
    assert [job["id"] for job in listed["data"]] == [second, first]
    assert client.get("/v1/transfer_jobs", {"status": "Canceled"}).json()["data"] == []

    canceled = client.post(f"/v1/transfer_jobs/{first}/cancel").json()["data"]
    assert canceled["status"] == "Canceled"
    assert canceled["reason"].startswith("Canceled by")
    assert [step["to_status"] for step in canceled["history"]] == [
        "Initialized",
        "Accepted",
        "Canceled",
    ]
    again = client.post(f"/v1/transfer_jobs/{first}/cancel")
    assert again.status_code == 409
    assert client.get("/v1/transfer_jobs", {"status": "Nope"}).status_code == 400


@pytest.mark.django_db(transaction=True)
def test_download_links_are_signed_and_expire_after_a_week(client, attendees):
    imported(attendees)
    job_id = client.post(
        "/ls/api/batch/export",
        {"jobName": "Out", "itemType": "Attendee", "contentType": "application/json"},
        format="json",
    ).json()["jobId"]
    run_transfer(job_id)
    (link,) = client.post("/ls/api/batch/status", {"jobId": job_id}).json()["links"]
    path = link.removeprefix("http://testserver")
    anonymous = APIClient()
    assert anonymous.get(path).status_code == 200
    assert anonymous.get(path[:-3] + "abc").status_code == 404  # altered: not ours

    job = TransferJob.objects.get(pk=job_id)
    assert job.links_expire_at - job.finished_at == timedelta(days=7)
    with time_machine.travel(job.links_expire_at + timedelta(seconds=1)):
        gone = anonymous.get(path)
        assert gone.status_code == 410
        assert gone.json()["error_code"] == "GONE"
        from apps.transfers.jobs import remove_expired_files

        assert remove_expired_files() == 1
    assert not job.files.exists()
    assert anonymous.get(path).status_code == 404
    assert timezone.now() < job.links_expire_at


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "fields", "field"),
    [
        ("/ls/api/batch/export", {"filters": "{'name': '\\x00'}"}, "filters.name"),
        ("/ls/api/batch/export", {"filters": "{'name': 1e999}"}, "filters.name"),
        ("/ls/api/batch/export", {"filters": "[" * 5000}, "filters"),
        ("/ls/api/batch/export", {"filters": "{'name': {'nested': 1}}"}, "filters.name"),
        ("/ls/api/batch/export", {"filters": "__import__('os').system('true')"}, "filters"),
        ("/ls/api/batch/export", {"sqlQuery": "SELECT '\x00'"}, "sqlQuery"),
        ("/ls/api/batch/export", {"template": "{{ row.__class__ }}"}, None),
        ("/ls/api/batch/export", {"template": "{% for %}"}, "template"),
        ("/ls/api/batch/export", {"template": "{{ name|center(99999999) }}"}, "template"),
        ("/ls/api/batch/export", {"rowHeader": "maybe"}, "rowHeader"),
        (
            "/ls/api/batch/export",
            {"contentType": "application/json", "template": "{{ name }}"},
            "template",
        ),
        ("/ls/api/batch/import", {"jobName": "\x00"}, "jobName"),
        ("/ls/api/batch/import", {"itemType": "x" * 300}, "itemType"),
    ],
)
def test_hostile_parameters_are_a_400_never_a_500(client, attendees, path, fields, field):
    base = {"jobName": "x", "itemType": "Attendee", "contentType": "text/plain"}
    if path.endswith("import"):
        base["file"] = CSV_FILE()
    response = client.post(path, {**base, **fields})
    if field is None:  # accepted as text, and harmless: the sandbox refuses it at render
        assert response.status_code == 200
        return
    assert response.status_code == 400, response.content
    named = response.json()["fields"]
    assert field in named or field.split(".")[0] in named, named


@pytest.mark.django_db
def test_text_no_database_stores_is_refused_or_made_storable_by_the_services(attendees):
    from django.core.exceptions import ValidationError

    from apps.transfers import services

    # A file on disk whose name is not UTF-8 reaches import_file with a lone surrogate.
    job = services.import_submit(
        dataset=attendees,
        upload=upload(CSV, "bad\udcffname.csv"),
        job_name="x",
        content_type="text/csv",
    )
    assert job.input_name == "bad\ufffdname.csv"
    with pytest.raises(ValidationError) as refused:
        services.export_submit(
            dataset=attendees, job_name="\x00", content_type="text/plain", template="\ud800"
        )
    assert set(refused.value.message_dict) == {"jobName", "template"}


@pytest.mark.django_db
def test_filters_read_as_a_python_literal_refuse_what_no_database_stores(attendees):
    from django.core.exceptions import ValidationError

    from apps.transfers import parameters

    with pytest.raises(ValidationError) as refused:
        parameters.filters(parameters.filter_dict("{'name': 'a\\x00b'}"), attendees.schema)
    assert list(refused.value.message_dict) == ["filters.name"]
