"""An upload still streaming while its batch is aborted or completed, against a real server
on PostgreSQL: a batch's status and its files change together or not at all."""

import http.client
import json
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from apps.accounts.services import api_token_create
from apps.ingestion import services
from apps.ingestion.models import Batch, BatchStatus, BatchUpload
from tests.ingestion.conftest import SCHEMA
from tests.processes import serving
from tests.runner.conftest import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
HEAD = b"order_id,customer\n"
BODY = HEAD + b"".join(f"{n},customer {n}\n".encode() for n in range(20_000))


class SlowUpload:
    """A PUT or PATCH whose body is sent in two parts, the second only when asked."""

    def __init__(self, base_url: str, token: str, method: str, path: str, headers=None):
        host = urlsplit(base_url)
        self.connection = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
        self.connection.putrequest(method, path)
        for name, value in {
            "Authorization": token,
            "Content-Type": "application/octet-stream",
            "Content-Length": str(len(BODY)),
            **(headers or {}),
        }.items():
            self.connection.putheader(name, value)
        self.connection.endheaders()
        self.connection.send(BODY[:1000])

    def finish(self) -> tuple[int, dict | None]:
        self.connection.send(BODY[1000:])
        response = self.connection.getresponse()
        content = response.read()
        self.connection.close()
        return response.status, json.loads(content) if content else None


def call(base_url: str, token: str, method: str, path: str) -> tuple[int, dict | None]:
    host = urlsplit(base_url)
    connection = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
    connection.request(method, path, headers={"Authorization": token})
    response = connection.getresponse()
    content = response.read()
    connection.close()
    return response.status, json.loads(content) if content else None


@pytest.fixture
def loading(world):
    dataset = services.dataset_create(organisation=world.org_a, name="orders", schema=SCHEMA)
    batch = services.batch_create(dataset=dataset)
    _, token = api_token_create(organisation=world.org_a, user=world.editor_a, name="upload")
    return batch, token


def stored_files(batch) -> list[str]:
    folder = settings.MEDIA_ROOT / batch.storage_folder
    return [p.name for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def in_flight(batch):
    return wait_for(
        lambda: BatchUpload.objects.filter(batch=batch).exists(),
        message="the upload to be in flight",
    )


def test_an_upload_that_ends_after_an_abort_is_refused_and_nothing_is_kept(loading):
    batch, token = loading
    files = f"/v1/batches/{batch.pk}/datasets/{batch.dataset_id}/files"
    with serving(workers=2) as (base_url, _):
        upload = SlowUpload(base_url, token, "PUT", f"{files}/orders.csv")
        in_flight(batch)
        assert call(base_url, token, "POST", f"/v1/batches/{batch.pk}?action=ABORT")[0] == 200
        status, body = upload.finish()
    assert status == 409 and body["error_code"] == "NOT_LOADING"
    batch.refresh_from_db()
    assert batch.status == BatchStatus.ABORTED
    assert not batch.files.exists() and batch.file_count == 0
    assert stored_files(batch) == []
    assert not BatchUpload.objects.exists()


def test_complete_is_refused_while_a_chunk_streams_and_works_once_it_has_landed(loading):
    batch, token = loading
    path = f"/v1/batches/{batch.pk}/datasets/{batch.dataset_id}/files/big.csv"
    with serving(workers=2) as (base_url, _):
        assert call(base_url, token, "POST", f"{path}?action=initialize")[0] == 201
        whole = {"Content-Range": f"bytes 0-{len(BODY) - 1}/{len(BODY)}"}
        chunk = SlowUpload(base_url, token, "PATCH", path, whole)
        in_flight(batch)
        status, body = call(base_url, token, "POST", f"/v1/batches/{batch.pk}?action=COMPLETE")
        assert status == 409 and body["error_code"] == "UPLOADS_IN_FLIGHT"
        assert "big.csv" in body["error"]
        assert chunk.finish()[0] == 200
        assert call(base_url, token, "POST", f"{path}?action=COMPLETE")[0] == 200
        assert call(base_url, token, "POST", f"/v1/batches/{batch.pk}?action=COMPLETE")[0] == 200
    batch = Batch.objects.get(pk=batch.pk)
    assert batch.status == BatchStatus.LOADED
    assert batch.files.get().size == len(BODY)
