"""Plugin code loading data through the SDK, against a live server, as a real run does."""

import pytest

from apps.ingestion.models import Batch, BatchStatus
from apps.ingestion.services import dataset_create
from apps.ingestion.worker import stage_batch
from apps.runner.services import execution_create_manual
from apps.runner.supervisor import run
from apps.scheduling.models import ExecutionStatus
from tests.factories import PluginFactory, make_instance, make_version
from tests.ingestion.conftest import SCHEMA
from tests.runner.plugins import plugin

LOADS_ORDERS = plugin("""
import batchworks_sdk.ingestion as ingestion
ingestion.SMALL_FILE_BYTES, ingestion.CHUNK_BYTES = 40, 32  # force the chunked path too
path = context.scratch_dir / "orders.csv"
path.write_text("order_id,customer\\n" + "".join(f"{n},c{n}\\n" for n in range(1, 21)))
batch = context.ingestion.create_batch(context.parameters["dataset"])
batch.upload(path)
batch.upload(b'{"order_id": 21, "customer": "web"}\\n', name="web.jsonl")
batch.complete()
context.logger.info("loaded batch %s", batch.id)
return {"batch": batch.id, "status": batch.status()["status"]}
""")


@pytest.mark.django_db(transaction=True)
def test_a_plugin_loads_a_batch_through_the_sdk(world, live_server, settings):
    settings.BATCHWORKS_API_URL = live_server.url
    dataset = dataset_create(organisation=world.org_a, name="orders", schema=SCHEMA)
    instance = make_instance(
        version=make_version(plugin=PluginFactory(organisation=world.org_a), code=LOADS_ORDERS)
    )
    execution = execution_create_manual(instance=instance, parameters={"dataset": dataset.pk})

    assert run(execution.pk) == "SUCCEEDED"
    execution.refresh_from_db()
    assert execution.result["status"] == "loaded", execution.error
    batch = Batch.objects.get(pk=execution.result["batch"])
    assert batch.execution == execution and batch.created_by is None
    assert sorted(batch.files.values_list("name", "complete")) == [
        ("orders.csv", True),
        ("web.jsonl", True),
    ]

    assert stage_batch(batch.pk) == BatchStatus.ACTIVE
    batch.refresh_from_db()
    assert batch.records_written == 21
    assert execution.status == ExecutionStatus.SUCCEEDED and list(execution.batches.all()) == [
        batch
    ]
