"""Batch ingestion over HTTP: the docs' curl examples replayed, roles and organisations."""

import re
from pathlib import Path

import pyarrow as pa
import pytest
from django.core.files.storage import default_storage
from rest_framework.test import APIClient

from apps.ingestion.models import Batch
from apps.ingestion.worker import stage_batch
from tests.api.conftest import client_with_token
from tests.ingestion.conftest import CSV, SCHEMA, parquet_bytes

pytestmark = pytest.mark.django_db

DOCS = (Path(__file__).parents[1] / "api" / "seeds" / "batch_ingestion.txt").read_text()
CURL = re.compile(r'curl (?:-X )?(?P<method>[A-Z]+) "(?P<url>[^"]+)"')
# The docs' paths as printed (only the host changed), and the same under /v1.
AS_PRINTED = {"https://platform.adobe.io": ""}
UNDER_V1 = {
    "https://platform.adobe.io/data/foundation/import": "/v1",
    "https://platform.adobe.io/data/foundation/catalog": "/v1",
}
ORDERS = pa.table({"order_id": pa.array(list(range(100, 140)), pa.int64()), "customer": ["x"] * 40})


def documented_calls(hosts=UNDER_V1) -> list[tuple[str, str]]:
    calls = []
    for match in CURL.finditer(DOCS):
        url = match["url"]
        for host, ours in hosts.items():
            url = url.replace(host, ours)
        calls.append((match["method"], url))
    return calls


def filled(url: str, **values) -> str:
    for name, value in values.items():
        url = url.replace("{" + name + "}", str(value))
    return url


@pytest.fixture
def editor(world):
    return client_with_token(world.editor_a, world.org_a)


@pytest.fixture
def dataset_id(editor):
    created = editor.post("/v1/datasets", {"name": "orders", "schema": SCHEMA}, format="json")
    assert created.status_code == 201, created.content
    return created.json()["data"]["id"]


@pytest.mark.parametrize("hosts", [AS_PRINTED, UNDER_V1], ids=["docs' paths", "/v1 paths"])
def test_the_documented_flow_works_with_only_host_and_ids_filled_in(editor, dataset_id, hosts):
    create, small, initialize, chunk, complete, status = documented_calls(hosts)
    assert create[0] == "POST" and status[0] == "GET"

    created = editor.post(create[1], {"datasetId": dataset_id}, format="json")
    assert created.status_code == 201
    batch = created.json()
    assert batch["status"] == "loading"
    assert batch["relatedObjects"] == [{"type": "dataSet", "id": dataset_id}]
    # The fields the docs' answer shows.
    assert (batch["version"], batch["tags"], batch["createdClient"]) == ("1.0.0", {}, "api")
    assert (batch["externalId"], batch["availableDates"]) == (None, {})
    ids = {"BATCH_ID": batch["id"], "DATASET_ID": dataset_id, "FILE_NAME": "orders"}

    small_file = parquet_bytes(ORDERS.slice(0, 10))
    response = editor.generic(
        small[0], filled(small[1], **ids), small_file, content_type="application/octet-stream"
    )
    assert (response.status_code, response.content) == (200, b"")

    large = parquet_bytes(ORDERS.slice(10))
    response = editor.generic(initialize[0], filled(initialize[1], **ids))
    assert (response.status_code, response.content) == (201, b"")
    half = len(large) // 2
    for start, piece in ((0, large[:half]), (half, large[half:])):
        response = editor.generic(
            chunk[0],
            filled(chunk[1], **ids),
            piece,
            content_type="application/octet-stream",
            HTTP_CONTENT_RANGE=f"bytes {start}-{start + len(piece) - 1}/{len(large)}",
        )
        assert (response.status_code, response.content) == (200, b""), response.content
    file_url = filled(chunk[1], **ids)
    assert editor.post(f"{file_url}?action=COMPLETE").status_code == 200

    assert editor.generic(complete[0], filled(complete[1], **ids)).status_code == 200
    assert editor.get(filled(status[1], **ids)).json()[batch["id"]]["status"] == "loaded"
    stage_batch(int(batch["id"]))

    checked = editor.get(filled(status[1], **ids)).json()[batch["id"]]
    assert checked["status"] == "active"
    assert set(checked["availableDates"]) == {"startDate"}
    assert checked["metrics"] == {
        "files": 2,
        "bytes": len(small_file) + len(large),
        "recordsRead": 40,
        "recordsWritten": 40,
        "errors": 0,
    }
    assert {f["name"] for f in checked["files"]} == {
        "orders.parquet",
        "part1=a/part2=b/orders.parquet",
    }
    assert editor.get(f"/v1/datasets/{dataset_id}").json()["data"]["row_count"] == 40
    preview = editor.get(f"/v1/datasets/{dataset_id}/preview").json()["data"]
    assert preview["columns"][:2] == ["order_id", "customer"] and len(preview["rows"]) == 20


def test_a_failed_batch_tells_which_file_row_and_field(editor, dataset_id):
    batch = editor.post("/v1/batches", {"datasetId": dataset_id}, format="json").json()
    url = f"/v1/batches/{batch['id']}/datasets/{dataset_id}/files/orders.csv"
    editor.put(url, b"order_id,amount\n1,ten\n", content_type="application/octet-stream")
    editor.post(f"/v1/batches/{batch['id']}?action=COMPLETE")
    stage_batch(int(batch["id"]))
    failed = editor.get(f"/v1/batches/{batch['id']}").json()
    assert failed["status"] == "failed"
    assert failed["errors"] == [
        {
            "code": "invalid-data",
            "file": "orders.csv",
            "row": 1,
            "field": "amount",
            "message": "'ten' is not a number.",
        }
    ]


@pytest.mark.parametrize(
    ("content_range", "reason"),
    [
        ("bytes 5-9/10", "Bytes 0-4 are missing"),
        ("items 0-9", "Expected 'bytes START-END/TOTAL'"),
        ("", "Expected"),
    ],
)
def test_bad_chunks_answer_400_naming_content_range(editor, dataset_id, content_range, reason):
    batch = editor.post("/v1/batches", {"datasetId": dataset_id}, format="json").json()
    url = f"/v1/batches/{batch['id']}/datasets/{dataset_id}/files/big.csv"
    editor.post(f"{url}?action=initialize")
    headers = {"HTTP_CONTENT_RANGE": content_range} if content_range else {}
    response = editor.patch(url, b"x" * 5, content_type="application/octet-stream", **headers)
    assert response.status_code == 400
    assert reason in response.json()["fields"]["Content-Range"][0]


def test_an_oversized_upload_answers_413_and_keeps_nothing(editor, dataset_id, settings):
    settings.INGESTION_MAX_SMALL_FILE_BYTES = 50
    batch = editor.post("/v1/batches", {"datasetId": dataset_id}, format="json").json()
    folder = Batch.objects.get(pk=batch["id"]).storage_folder + "/files"
    stored_before = default_storage.listdir(folder)[1] if default_storage.exists(folder) else []
    response = editor.put(
        f"/v1/batches/{batch['id']}/datasets/{dataset_id}/files/orders.csv",
        CSV,
        content_type="application/octet-stream",
    )
    assert response.status_code == 413
    assert response.json()["error_code"] == "PAYLOAD_TOO_LARGE"
    assert not Batch.objects.get(pk=batch["id"]).files.exists()
    assert default_storage.listdir(folder)[1] == stored_before  # the partial file is gone


def test_abort_once_loaded_is_refused_with_409(editor, dataset_id):
    batch = editor.post("/v1/batches", {"datasetId": dataset_id}, format="json").json()
    editor.put(
        f"/v1/batches/{batch['id']}/datasets/{dataset_id}/files/o.csv",
        CSV,
        content_type="application/octet-stream",
    )
    editor.post(f"/v1/batches/{batch['id']}?action=COMPLETE")
    response = editor.post(f"/v1/batches/{batch['id']}?action=ABORT")
    assert (response.status_code, response.json()["error_code"]) == (409, "INVALID_TRANSITION")
    assert editor.post(f"/v1/batches/{batch['id']}?action=DESTROY").status_code == 400


def test_readers_read_and_cannot_load(world, dataset_id, editor):
    batch = editor.post("/v1/batches", {"datasetId": dataset_id}, format="json").json()
    reader = client_with_token(world.reader_a, world.org_a)
    assert reader.get(f"/v1/batches/{batch['id']}").status_code == 200
    refused = reader.post("/v1/batches", {"datasetId": dataset_id}, format="json")
    assert refused.status_code == 403, refused.json()
    assert reader.post(f"/v1/batches/{batch['id']}?action=ABORT").status_code == 403
    url = f"/v1/batches/{batch['id']}/datasets/{dataset_id}/files/o.csv"
    assert reader.put(url, CSV, content_type="application/octet-stream").status_code == 403


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/v1/datasets/{dataset}"),
        ("put", "/v1/datasets/{dataset}"),
        ("delete", "/v1/datasets/{dataset}"),
        ("get", "/v1/datasets/{dataset}/preview"),
        ("get", "/v1/batches/{batch}"),
        ("get", "/v1/batch/{batch}"),
        ("post", "/v1/batches/{batch}?action=ABORT"),
        ("delete", "/v1/batches/{batch}"),
        ("put", "/v1/batches/{batch}/datasets/{dataset}/files/x.csv"),
        ("post", "/v1/batches/{batch}/datasets/{dataset}/files/x.csv?action=initialize"),
    ],
)
def test_another_organisation_finds_nothing(world, editor, dataset_id, method, url):
    batch = editor.post("/v1/batches", {"datasetId": dataset_id}, format="json").json()
    intruder = client_with_token(world.admin_b, world.org_b)
    response = getattr(intruder, method)(
        url.format(dataset=dataset_id, batch=batch["id"]),
        b"",
        content_type="application/octet-stream",
    )
    assert response.status_code == 404
    assert Batch.objects.get(pk=batch["id"]).status == "loading"
    created = intruder.post("/v1/batches", {"datasetId": dataset_id}, format="json")
    assert created.status_code == 404 and Batch.objects.count() == 1
    assert created.json()["fields"] == {"datasetId": ["No such dataset in your organisations."]}


def test_lists_are_scoped_and_filtered(world, editor, dataset_id):
    editor.post("/v1/batches", {"datasetId": dataset_id}, format="json")
    mine = editor.get("/v1/batches?status=loading").json()
    assert mine["count"] == 1 and mine["data"][0]["status"] == "loading"
    theirs = client_with_token(world.admin_b, world.org_b)
    assert theirs.get("/v1/batches").json()["count"] == 0
    assert theirs.get("/v1/datasets").json()["count"] == 0


def test_an_execution_credential_reaches_ingestion_only(world, dataset_id):
    from apps.runner.credentials import execution_credential
    from apps.runner.services import execution_claim, execution_create_manual
    from tests.factories import PluginFactory, make_instance, make_version

    instance = make_instance(version=make_version(plugin=PluginFactory(organisation=world.org_a)))
    execution = execution_claim(execution=execution_create_manual(instance=instance))
    plugin_code = APIClient()
    plugin_code.credentials(HTTP_AUTHORIZATION=f"Execution {execution_credential(execution)}")
    created = plugin_code.post("/v1/batches", {"datasetId": dataset_id}, format="json")
    assert created.status_code == 201
    assert {"type": "execution", "id": str(execution.pk)} in created.json()["relatedObjects"]
    assert Batch.objects.get().execution == execution
    assert plugin_code.get("/v1/plugins").status_code == 401
    from apps.runner.services import execution_succeed

    execution_succeed(execution=execution)
    assert (
        plugin_code.post("/v1/batches", {"datasetId": dataset_id}, format="json").status_code == 401
    )


def test_a_schema_change_that_breaks_stored_data_answers_409(editor, dataset_id):
    batch = editor.post("/v1/batches", {"datasetId": dataset_id}, format="json").json()
    editor.put(
        f"/v1/batches/{batch['id']}/datasets/{dataset_id}/files/o.csv",
        CSV,
        content_type="application/octet-stream",
    )
    editor.post(f"/v1/batches/{batch['id']}?action=COMPLETE")
    stage_batch(int(batch["id"]))
    narrowed = [{**f, "type": "Integer"} if f["name"] == "amount" else f for f in SCHEMA]
    response = editor.put(f"/v1/datasets/{dataset_id}", {"schema": narrowed}, format="json")
    assert (response.status_code, response.json()["error_code"]) == (409, "CONFLICT")
    assert response.json()["fields"]["schema"] == [
        "amount: stored Double values cannot become Integer."
    ]


def test_a_batch_keeps_the_uploaders_external_id_and_tags(editor, dataset_id):
    tags = {"foo_bar": ["stuff"], "foo/bar/foo-bar": ["weehaw", "wee:haw"]}
    created = editor.post(
        "/data/foundation/import/batches",
        {"datasetId": dataset_id, "externalId": "nightly-2026-12-01", "tags": tags},
        format="json",
    ).json()
    shown = editor.get(f"/data/foundation/catalog/batch/{created['id']}").json()[created["id"]]
    assert (shown["externalId"], shown["tags"]) == ("nightly-2026-12-01", tags)


def test_the_docs_paths_answer_json_for_what_they_do_not_know(editor):
    response = editor.get("/data/foundation/import/nothing/here")
    assert response.status_code == 404 and response.json()["error_code"] == "NOT_FOUND"
