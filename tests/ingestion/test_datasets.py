import pytest
from django.core.exceptions import ValidationError

from apps.core.errors import TransitionError
from apps.ingestion.services import batch_complete, dataset_create, dataset_delete, dataset_update
from apps.ingestion.worker import stage_batch
from tests.ingestion.conftest import CSV, SCHEMA

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ([], "non-empty list"),
        ([{"name": "1st", "type": "String", "required": False}], "schema[0].name"),
        (
            [{"name": "a", "type": "Text", "required": False}],
            "schema[0].type: 'Text' is not one of String, Byte",
        ),
        ([{"name": "a", "type": "Long", "required": "yes"}], "schema[0].required: true or false"),
        (
            [{"name": "a", "type": "Long"}, {"name": "a", "type": "Long"}],
            "schema[1].name: 'a' is already a field",
        ),
        ([{"name": "a", "type": "Long", "unit": "kg"}], "schema[0]: a field is an object"),
    ],
)
def test_a_bad_schema_is_refused_saying_where(world, schema, reason):
    with pytest.raises(ValidationError) as caught:
        dataset_create(organisation=world.org_a, name="orders", schema=schema)
    assert reason in caught.value.message_dict["schema"][0]


def test_dataset_names_are_unique_in_an_organisation(world):
    dataset_create(organisation=world.org_a, name="orders", schema=SCHEMA)
    dataset_create(organisation=world.org_b, name="orders", schema=SCHEMA)
    with pytest.raises(ValidationError) as caught:
        dataset_create(organisation=world.org_a, name="orders", schema=SCHEMA)
    assert list(caught.value.message_dict) == ["name"]


def with_field(schema, name, **changes):
    return [{**field, **changes} if field["name"] == name else field for field in schema]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda s: with_field(s, "amount", type="Integer"),
            "amount: stored Double values cannot become Integer.",
        ),
        (lambda s: with_field(s, "customer", required=True), "customer: stored rows may lack it"),
        (lambda s: [f for f in s if f["name"] != "paid"], "paid: stored data holds it"),
        (
            lambda s: [*s, {"name": "region", "type": "String", "required": True}],
            "region: stored rows lack it",
        ),
    ],
    ids=["narrower type", "now required", "removed", "new required"],
)
def test_a_schema_change_that_would_break_stored_data_is_refused(
    batch_with, dataset, change, reason
):
    batch = batch_with({"orders.csv": CSV})
    batch_complete(batch=batch)
    stage_batch(batch.pk)
    with pytest.raises(ValidationError) as caught:
        dataset_update(dataset=dataset, schema=change(SCHEMA))
    assert reason in " ".join(caught.value.message_dict["schema"])
    dataset.refresh_from_db()
    assert dataset.schema == SCHEMA


def test_changes_stored_data_survives_are_accepted(batch_with, dataset):
    batch = batch_with({"orders.csv": CSV})
    batch_complete(batch=batch)
    stage_batch(batch.pk)
    widened = with_field(SCHEMA, "order_id", required=False)
    widened = [*widened, {"name": "region", "type": "String", "required": False}]
    dataset_update(dataset=dataset, schema=widened, description="Orders of every shop")
    dataset.refresh_from_db()
    assert len(dataset.schema) == 6 and dataset.description == "Orders of every shop"


def test_without_stored_data_any_valid_schema_goes(dataset):
    dataset_update(dataset=dataset, schema=[{"name": "other", "type": "Map", "required": True}])


def test_a_dataset_with_batches_cannot_be_deleted(batch_with, dataset):
    batch_with({"orders.csv": CSV})
    with pytest.raises(TransitionError, match="still has batches"):
        dataset_delete(dataset=dataset)
