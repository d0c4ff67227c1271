import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.ingestion import services
from apps.ingestion.models import Batch, Dataset
from apps.ingestion.worker import stage_batch
from tests.ingestion.conftest import CSV, SCHEMA

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(world):
    return services.dataset_create(organisation=world.org_a, name="orders", schema=SCHEMA)


def loaded(dataset, content=CSV, name="orders.csv"):
    batch = services.batch_create(dataset=dataset)
    services.batch_file_put(batch=batch, name=name, body=io.BytesIO(content))
    services.batch_complete(batch=batch)
    stage_batch(batch.pk)
    batch.refresh_from_db()
    return batch


def fields_post(rows):
    data = {"fields-TOTAL_FORMS": str(len(rows)), "fields-INITIAL_FORMS": "0"}
    for index, (name, kind, required) in enumerate(rows):
        data |= {f"fields-{index}-name": name, f"fields-{index}-type": kind}
        if required:
            data[f"fields-{index}-required"] = "on"
    return data


def test_a_dataset_is_created_with_its_schema(client, world):
    client.force_login(world.editor_a)
    response = client.post(
        "/datasets/new",
        {
            "name": "customers",
            **fields_post(
                [("id", "Long", True), ("email", "String", False), ("", "String", False)]
            ),
        },
    )
    dataset = Dataset.objects.get(name="customers")
    assert response.url == f"/datasets/{dataset.pk}/"
    assert dataset.schema == [
        {"name": "id", "type": "Long", "required": True},
        {"name": "email", "type": "String", "required": False},
    ]


@pytest.mark.parametrize(("index", "row"), [("3", 3), ("x", 0), ("9999", 500)])
def test_add_a_field_answers_the_next_row_and_the_new_count(client, world, index, row):
    client.force_login(world.editor_a)
    html = client.get("/datasets/schema-row", {"index": index}).text
    assert f'name="fields-{row}-name"' in html
    assert f'name="fields-TOTAL_FORMS" value="{row + 1}"' in html


def test_a_bad_schema_row_shows_its_error_on_the_row(client, world):
    client.force_login(world.editor_a)
    response = client.post(
        "/datasets/new",
        {"name": "bad", **fields_post([("ok", "Long", True), ("1st", "String", False)])},
    )
    assert "letters, digits and underscores" in response.text
    assert not Dataset.objects.filter(name="bad").exists()


def test_a_schema_change_that_breaks_stored_data_is_refused_on_screen(client, world, dataset):
    loaded(dataset)
    client.force_login(world.editor_a)
    rows = [
        (f["name"], "Integer" if f["name"] == "amount" else f["type"], f["required"])
        for f in SCHEMA
    ]
    response = client.post(f"/datasets/{dataset.pk}/edit", {"name": "orders", **fields_post(rows)})
    assert "amount: stored Double values cannot become Integer." in response.text
    dataset.refresh_from_db()
    assert dataset.schema == SCHEMA


def test_the_dataset_page_shows_rows_and_a_preview(client, world, dataset):
    loaded(dataset)
    client.force_login(world.reader_a)
    page = client.get(f"/datasets/{dataset.pk}/").text
    assert "3 rows in 1 batch" in page and "<code>order_id</code>" in page and ">ana<" in page


def test_row_counts_are_written_with_thousands_separators_and_the_right_plural(
    client, world, dataset
):
    single = loaded(dataset, b"order_id,amount\n1,2.5\n")
    Batch.objects.filter(pk=single.pk).update(records_written=1_234_567)
    client.force_login(world.reader_a)
    assert "1 record read, 1,234,567 written" in client.get(f"/batches/{single.pk}/").text
    assert "1,234,567 rows" in client.get(f"/datasets/{dataset.pk}/").text
    assert "<td>1,234,567</td>" in client.get("/batches/").text
    assert "<td>1,234,567</td>" in client.get("/datasets/").text


def test_a_failed_batch_page_lists_its_errors(client, world, dataset):
    batch = loaded(dataset, b"order_id,amount\n1,ten\n")
    client.force_login(world.reader_a)
    page = client.get(f"/batches/{batch.pk}/")
    assert page.status_code == 200
    assert "&#x27;ten&#x27; is not a number." in page.text and "FAILED" in page.text


def test_revert_and_delete_from_the_batch_page(client, world, dataset):
    batch = loaded(dataset)
    client.force_login(world.editor_a)
    client.post(f"/batches/{batch.pk}/revert")
    batch.refresh_from_db()
    assert batch.status == "inactive"
    response = client.post(f"/batches/{batch.pk}/revert", follow=True)
    assert "only an active batch can become inactive" in response.text
    client.post(f"/batches/{batch.pk}/delete")
    batch.refresh_from_db()
    assert batch.status == "deleted"


def test_readers_cannot_act_and_others_cannot_see(client, world, dataset):
    batch = loaded(dataset)
    client.force_login(world.reader_a)
    assert client.post(f"/batches/{batch.pk}/revert").status_code == 403
    assert client.get("/datasets/new").status_code == 403
    client.force_login(world.admin_b)
    assert client.get(f"/batches/{batch.pk}/").status_code == 404
    assert client.get(f"/datasets/{dataset.pk}/").status_code == 404
    assert client.post(f"/batches/{batch.pk}/delete").status_code == 404
    batch.refresh_from_db()
    assert batch.status == "active"


def test_the_batch_browser_filters_by_status_and_dataset(client, world, dataset):
    good, bad = loaded(dataset), loaded(dataset, b"order_id\nx\n")
    client.force_login(world.reader_a)
    failed = (
        client.get("/batches/", {"status": "failed", "dataset": dataset.pk}).context["page"].rows
    )
    assert failed == [bad]
    assert client.get("/batches/?execution=999").context["page"].rows == []
    assert {b.pk for b in client.get("/batches/").context["page"].rows} == {good.pk, bad.pk}


@pytest.mark.parametrize("url", ["/datasets/", "/batches/"])
def test_ingestion_lists_run_the_same_queries_for_few_or_many(client, world, dataset, url):
    client.force_login(world.admin_a)

    def add(count):
        for _ in range(count):
            Batch.objects.create(organisation=world.org_a, dataset=dataset)
            Dataset.objects.create(
                organisation=world.org_a, name=f"d{Dataset.objects.count()}", schema=SCHEMA
            )

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    add(2)
    few = queries()
    add(40)
    assert queries() == few
