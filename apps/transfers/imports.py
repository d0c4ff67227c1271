"""An import's run: the stored file read a block at a time and converted by the one
conversion table batches use (the same values refused, with the same row and field
errors), written as the dataset's new Parquet data; for a merge, joined by key with the
data Active now (DuckDB, spilling to disk past its memory limit). Nothing the dataset
shows changes here: the services swap the new data in, in one step, once it is whole."""

from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pa_dataset
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

from apps.core.stored import open_stored
from apps.core.text import counted
from apps.ingestion.processing import BackgroundParquetWriter, ErrorLog, converted_tables
from apps.ingestion.schema import arrow_schema, key_fields
from apps.ingestion.selectors import dataset_active_data
from apps.ingestion.storage import unique_name
from apps.transfers import parameters, sql
from apps.transfers.models import TransferJob
from apps.transfers.progress import Rejected, Watch
from apps.transfers.services import Imported

BLOCK_ROWS = 10_000
REPEATED_KEYS_LISTED = 10


def convert(job: TransferJob, work: Path, watch: Watch) -> tuple[Path, int]:
    """The file's rows as the dataset's Parquet (a local file), and their count; Rejected
    with the first errors by row and field, and the count of all."""
    schema = job.dataset.schema
    renames, column_names = parameters.import_mapping(job.template, job.input_format, schema)
    errors = ErrorLog(settings.INGESTION_MAX_ERRORS_LISTED)
    converted, records = work / "incoming.parquet", 0
    with (
        open_stored(job.input_stored) as stream,
        BackgroundParquetWriter(converted, arrow_schema(schema)) as writer,
    ):
        for block, table in converted_tables(
            stream,
            job.input_name,
            job.input_format,
            schema,
            errors,
            renames=renames,
            column_names=column_names,
        ):
            records += block.rows
            if not errors.count:
                writer.write_table(table)
            watch.progress(records)
    if not records and not errors.count:
        errors.add(job.input_name, None, None, "The file holds no records.")
    if errors.count:
        raise Rejected(errors)
    return converted, records


def combine(job: TransferJob, converted: Path, records: int, work: Path) -> Imported:
    """The dataset's data after the import: the file's rows (an override), or the rows
    Active now whose key the file does not have, then the file's rows (a merge). Keys
    repeated within the file are refused: which of its rows would win is not for us to
    guess."""
    keys = key_fields(job.dataset.schema)
    if not keys:  # nothing to check; a merge without keys was rejected on submission
        return _override(job, converted, records)
    target = arrow_schema(job.dataset.schema)
    with sql.connection(work) as con:
        con.register("incoming", pa_dataset.dataset([str(converted)], schema=target))
        replacing, current = dataset_active_data(job.dataset) if job.merge else (None, [])
        con.register("current", sql.arrow_data(current, target))
        sql.lock(con)
        _refuse_repeated_keys(con, keys, job.input_name)
        if not job.merge:
            return _override(job, converted, records)
        using = ", ".join(sql.quoted(key) for key in keys)
        ((updated,),) = con.sql(
            f"SELECT count(*) FROM incoming SEMI JOIN current USING ({using})"
        ).fetchall()
        merged = con.sql(
            f"SELECT * FROM current ANTI JOIN incoming USING ({using}) "
            "UNION ALL SELECT * FROM incoming"
        )
        merged_path, total = work / "merged.parquet", 0
        with BackgroundParquetWriter(merged_path, target) as writer:
            for batch in merged.to_arrow_reader(BLOCK_ROWS):
                writer.write_table(pa.Table.from_batches([batch]).cast(target))
                total += batch.num_rows
    return Imported(
        data=_stored(job, merged_path),
        records=total,
        replacing=replacing,
        summary=f"Merged {counted(records, 'record')} into {job.dataset.name} by "
        f"{', '.join(keys)}: {updated:,} updated, {records - updated:,} added; it holds {total:,}.",
    )


def _override(job: TransferJob, converted: Path, records: int) -> Imported:
    return Imported(
        data=_stored(job, converted),
        records=records,
        replacing=None,
        summary=f"Imported {counted(records, 'record')} into {job.dataset.name}, "
        "replacing its data.",
    )


def _refuse_repeated_keys(con, keys: list[str], file_name: str) -> None:
    columns = ", ".join(sql.quoted(key) for key in keys)
    repeated = con.sql(
        f"SELECT {columns}, count(*) FROM incoming GROUP BY ALL HAVING count(*) > 1 "
        f"ORDER BY count(*) DESC LIMIT {REPEATED_KEYS_LISTED}"
    ).fetchall()
    if not repeated:
        return
    errors = ErrorLog(REPEATED_KEYS_LISTED)
    for *key, count in repeated:
        shown = ", ".join(f"{name}={value!r}" for name, value in zip(keys, key, strict=True))
        errors.add(file_name, None, ", ".join(keys), f"The key {shown} is on {count} rows.")
    raise Rejected(errors)


def _stored(job: TransferJob, path: Path) -> str:
    """The new data, in the dataset's storage, not yet Active."""
    with path.open("rb") as local:
        return default_storage.save(unique_name(job.data_folder, "data") + ".parquet", File(local))
