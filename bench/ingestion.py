"""Batch ingestion throughput: a 20-field schema, the same rows as CSV, JSON Lines and
Parquet (once in the dataset's very shape, once with date-times in microseconds, which
must be converted); our staging (read, convert every value, write Parquet, or keep a file
already in shape) next to pyarrow's own read of the same file, the ceiling. Each run
happens in a fresh forked process; its memory is the peak (VmHWM) above what it started
with."""

import json
import multiprocessing
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq
from django.db import connections

from apps.accounts.models import Organisation
from apps.ingestion import services
from apps.ingestion.worker import stage_batch

SCHEMA = (
    [{"name": f"id_{i}", "type": "Long", "required": i == 0} for i in range(5)]
    + [{"name": f"amount_{i}", "type": "Double", "required": False} for i in range(5)]
    + [{"name": f"label_{i}", "type": "String", "required": False} for i in range(5)]
    + [{"name": f"flag_{i}", "type": "Boolean", "required": False} for i in range(2)]
    + [{"name": f"at_{i}", "type": "Date-Time", "required": False} for i in range(2)]
    + [{"name": "day", "type": "Date", "required": False}]
)


def run(options) -> None:
    rows = options.rows
    organisation = Organisation.objects.create(name="Bench ingestion")
    dataset = services.dataset_create(organisation=organisation, name="wide", schema=SCHEMA)
    with tempfile.TemporaryDirectory() as folder:
        formats = [FORMAT_OPTIONS[name] for name in options.formats or FORMAT_OPTIONS]
        files = _write_files(Path(folder), rows, formats)
        print(f"{rows:,} rows, 20 fields; medians of {options.repeat} runs taken in turns")
        for name, path in files.items():
            rounds = [
                (_in_child(_stage, dataset.pk, path), _in_child(_pyarrow_read, path))
                for _ in range(options.repeat)
            ]
            ours, ceiling = (_median_round([run[side] for run in rounds]) for side in (0, 1))
            spread = ", ".join(f"{b['seconds'] / a['seconds']:.2f}" for a, b in rounds)

            size_mb = path.stat().st_size / 1e6
            print(
                f"{name}: {size_mb:.0f} MB; ours {size_mb / ours['seconds']:.1f} MB/s, "
                f"{rows / ours['seconds']:,.0f} rows/s, peak {ours['peak_mib']} MiB; "
                f"pyarrow read {size_mb / ceiling['seconds']:.1f} MB/s, "
                f"peak {ceiling['peak_mib']} MiB; "
                f"ratio {ceiling['seconds'] / ours['seconds']:.2f} of the ceiling "
                f"(rounds: {spread})"
            )


def _median_round(runs: list[dict]) -> dict:
    """The run of median time (with its own peak memory)."""
    return sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]


FORMATS = ("CSV", "JSON Lines", "Parquet", "Parquet, to convert")
FORMAT_OPTIONS = dict(zip(("csv", "jsonl", "parquet", "parquet-to-convert"), FORMATS, strict=True))


def _write_files(folder: Path, rows: int, formats=FORMATS) -> dict[str, Path]:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    columns = {}
    for field in SCHEMA:
        name, kind = field["name"], field["type"]
        if kind == "Long":
            columns[name] = pa.array(range(rows), pa.int64())
        elif kind == "Double":
            columns[name] = pa.array([n * 0.25 for n in range(rows)])
        elif kind == "String":
            columns[name] = pa.array([f"customer {n % 1000}" for n in range(rows)])
        elif kind == "Boolean":
            columns[name] = pa.array([n % 2 == 0 for n in range(rows)])
        elif kind == "Date-Time":
            columns[name] = pa.array(
                [start + timedelta(seconds=n) for n in range(rows)], pa.timestamp("ms", tz="UTC")
            )
        else:
            columns[name] = pa.array(
                [(start + timedelta(days=n % 365)).date() for n in range(rows)]
            )
    table = pa.table(columns)
    paths = {
        "CSV": folder / "rows.csv",
        "JSON Lines": folder / "rows.jsonl",
        "Parquet": folder / "rows.parquet",  # in the dataset's shape: staged as it is
        "Parquet, to convert": folder / "microseconds.parquet",
    }
    text_table = table.set_column(
        table.schema.get_field_index("at_0"),
        "at_0",
        pa.array([(start + timedelta(seconds=n)).isoformat() for n in range(rows)]),
    )
    paths = {name: path for name, path in paths.items() if name in formats}
    if "CSV" in paths:
        pa_csv.write_csv(text_table, paths["CSV"])
    if "JSON Lines" in paths:
        with paths["JSON Lines"].open("w") as out:
            for row in text_table.to_pylist():
                out.write(json.dumps(row, default=_json_value) + "\n")
    if "Parquet" in paths:
        pq.write_table(table, paths["Parquet"])
    if "Parquet, to convert" in paths:  # date-times in microseconds, as pandas writes them
        microseconds = pa.timestamp("us", tz="UTC")
        pq.write_table(
            table.cast(
                pa.schema(
                    [
                        field.with_type(microseconds) if field.name.startswith("at_") else field
                        for field in table.schema
                    ]
                )
            ),
            paths["Parquet, to convert"],
        )
    return paths


def _json_value(value):
    if isinstance(value, datetime):
        return round(value.timestamp() * 1000)
    return value.isoformat()


def _stage(dataset_id: int, path: Path) -> None:
    from apps.ingestion.models import Dataset

    dataset = Dataset.objects.get(pk=dataset_id)
    batch = services.batch_create(dataset=dataset)
    with path.open("rb") as body:
        services.batch_file_put(batch=batch, name=path.name, body=body)
    services.batch_complete(batch=batch)
    started = time.perf_counter()
    outcome = stage_batch(batch.pk)
    seconds = time.perf_counter() - started
    assert outcome == "active", services.Batch.objects.get(pk=batch.pk).errors[:3]
    return seconds


def _pyarrow_read(path: Path) -> None:
    started = time.perf_counter()
    if path.suffix == ".csv":
        pa_csv.read_csv(path)
    elif path.suffix == ".jsonl":
        pa_json.read_json(path)
    else:
        pq.read_table(path)
    return time.perf_counter() - started


def _in_child(function, *args) -> dict:
    """`function(*args)` in a fresh fork: its seconds and its peak memory."""
    connections.close_all()
    receive, send = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=_child, args=(send, function, args))
    child.start()
    result = receive.recv()
    child.join()
    return result


def _child(send, function, args) -> None:
    # A fork inherits its parent's high-water mark: start its own from here.
    Path(f"/proc/{os.getpid()}/clear_refs").write_text("5")
    at_start = _memory("VmRSS")  # what the fork inherited
    seconds = function(*args)
    connections.close_all()
    send.send({"seconds": seconds, "peak_mib": _memory("VmHWM") - at_start})


def _memory(line_name: str) -> int:
    status = Path(f"/proc/{os.getpid()}/status").read_text()
    return (
        int(next(line.split()[1] for line in status.splitlines() if line.startswith(line_name)))
        // 1024
    )
