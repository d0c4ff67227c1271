import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from apps.ingestion.services import batch_create, batch_file_put, dataset_create

SCHEMA = [
    {"name": "order_id", "type": "Long", "required": True},
    {"name": "customer", "type": "String", "required": False},
    {"name": "amount", "type": "Double", "required": False},
    {"name": "paid", "type": "Boolean", "required": False},
    {"name": "ordered_at", "type": "Date-Time", "required": False},
]
CSV = b"""order_id,customer,amount,paid,ordered_at
1,ana,10.5,true,2018-07-10T15:05:59.000-08:00
2,bo,7,false,1531263959000
3,,,,
"""
JSON_LINES = b"""{"order_id": 4, "customer": "cy", "amount": 1.25, "paid": true, "ordered_at": 1531263959000}
{"order_id": "5", "amount": "3"}
"""
JSON_ARRAY = b"""[{"order_id": 6, "customer": "di", "ordered_at": "2018-07-10T15:05:59Z"},
 {"order_id": 7, "paid": false}]"""


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


PARQUET = parquet_bytes(
    pa.table(
        {
            "order_id": pa.array([8, 9], pa.int64()),
            "customer": pa.array(["ed", None]),
            "amount": pa.array([2.5, 4.0]),
        }
    )
)


@pytest.fixture
def dataset(world):
    return dataset_create(organisation=world.org_a, name="orders", schema=SCHEMA)


@pytest.fixture
def batch_with(dataset, world):
    """A loading batch holding the given files ({name: bytes})."""

    def make(files: dict[str, bytes], **kwargs):
        batch = batch_create(dataset=dataset, user=world.editor_a, **kwargs)
        for name, content in files.items():
            batch_file_put(batch=batch, name=name, body=io.BytesIO(content))
        return batch

    return make
