"""Import and export jobs' throughput, each next to its ceiling in the same run: an export
of a 20-field dataset to CSV next to DuckDB's own COPY (SELECT …) TO of the same Parquet,
and an import of the same rows as CSV next to pyarrow's raw read of the file. Each runs
in a fresh forked process; its memory is the peak (VmHWM) above what it started with."""

import statistics
import tempfile
import time
from pathlib import Path

import duckdb
from django.core.files import File
from django.core.files.storage import default_storage

from apps.accounts.models import Organisation
from apps.ingestion import services as ingestion
from apps.transfers import services
from apps.transfers.models import TransferJob
from apps.transfers.worker import run_transfer
from bench.ingestion import SCHEMA, _in_child, _pyarrow_read, _write_files


def run(options) -> None:
    rows, repeat = options.rows, options.repeat
    organisation = Organisation.objects.create(name="Bench transfers")
    dataset = ingestion.dataset_create(organisation=organisation, name="wide", schema=SCHEMA)
    with tempfile.TemporaryDirectory() as folder:
        files = _write_files(Path(folder), rows, formats=("CSV", "Parquet"))
        with files["Parquet"].open("rb") as parquet:
            stored = default_storage.save("bench/wide.parquet", File(parquet))
        ingestion.dataset_replace_data(
            dataset=dataset,
            data=stored,
            records=rows,
            replacing=None,
            external_id="bench",
            reason="The benchmark's rows.",
        )
        print(f"{rows:,} rows, 20 fields; medians of {repeat} runs, each in a fresh fork")

        def export_job() -> str:
            job = services.export_submit(
                dataset=dataset, job_name="bench", content_type="text/plain", row_header=True
            )
            return str(job.pk)

        def import_job() -> str:
            with files["CSV"].open("rb") as csv_file:
                job = services.import_submit(
                    dataset=dataset,
                    upload=File(csv_file, name="rows.csv"),
                    job_name="bench",
                    content_type="text/csv",
                )
            return str(job.pk)

        out = Path(folder) / "copy.csv"
        _compare(
            "export to CSV",
            rows,
            repeat,
            lambda: _in_child(_run_job, export_job()),
            "DuckDB COPY",
            lambda: _in_child(_duckdb_copy, default_storage.path(stored), out),
        )
        _compare(
            "import of CSV",
            rows,
            repeat,
            lambda: _in_child(_run_job, import_job()),
            "pyarrow read",
            lambda: _in_child(_pyarrow_read, files["CSV"]),
        )


def _compare(name, rows, repeat, ours_once, ceiling_name, ceiling_once) -> None:
    """Ours and the ceiling taken in turns, `repeat` times each: their medians."""
    ours, ceiling = [], []
    for _ in range(repeat):
        ours.append(ours_once())
        ceiling.append(ceiling_once())
    ours_s = statistics.median(run["seconds"] for run in ours)
    ceiling_s = statistics.median(run["seconds"] for run in ceiling)
    print(
        f"{name}: ours {ours_s:.2f} s, {rows / ours_s:,.0f} rows/s, peak "
        f"{max(run['peak_mib'] for run in ours)} MiB; {ceiling_name} {ceiling_s:.2f} s, peak "
        f"{max(run['peak_mib'] for run in ceiling)} MiB; ratio {ceiling_s / ours_s:.2f} of the "
        "ceiling"
    )


def _run_job(job_id: str) -> float:
    started = time.perf_counter()
    outcome = run_transfer(job_id)
    seconds = time.perf_counter() - started
    assert outcome == "Completed", TransferJob.objects.get(pk=job_id).reason
    return seconds


def _duckdb_copy(parquet: str, out: Path) -> float:
    started = time.perf_counter()
    duckdb.connect().execute(
        f"COPY (SELECT * FROM read_parquet('{parquet}')) TO '{out}' (FORMAT csv, HEADER)"
    )
    return time.perf_counter() - started
