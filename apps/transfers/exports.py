"""An export's run: its query (the SQL sent, or the dataset filtered) read from DuckDB a
block at a time, written as CSV, JSON or a template's lines into files of about
TRANSFER_EXPORT_FILE_BYTES each, then streamed to storage. Nothing holds the result whole
in memory; nothing is downloadable until the job completes."""

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.utils.text import slugify

from apps.ingestion.models import Dataset
from apps.transfers import parameters, scratch, sql
from apps.transfers.models import TransferJob
from apps.transfers.progress import Rejected, Stopped, Watch
from apps.transfers.row_templates import ExportTemplate, RenderError
from apps.transfers.services import Exported

BLOCK_ROWS = 10_000
SLICE_ROWS = 1_000  # a file is split between slices, so it ends near its size
PREVIEW_ROWS = 20


def export_query(job: TransferJob) -> tuple[str, list]:
    """The query the export runs, and its parameters: the SQL sent, or the dataset's
    records that match every filter exactly."""
    if job.sql_query:
        return job.sql_query, []
    conditions, values = [], []
    for name, value in parameters.filters(job.filters, job.dataset.schema).items():
        if value is None:
            conditions.append(f"{sql.quoted(name)} IS NULL")
        else:
            conditions.append(f"{sql.quoted(name)} = ?")
            values.append(value)
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT * FROM {sql.quoted(job.dataset.name)}{where}", values


def query_problem(job: TransferJob) -> str:
    """Why the export's query may not run (DuckDB's words), or "": checked before any work
    is queued. A template must name only columns the query gives."""
    try:
        with scratch.check_folder() as work, _query(job, work) as (_, relation):
            if job.template:
                ExportTemplate.compile(job.template).check_columns(relation.columns)
    except sql.QueryRefused as refusal:
        return f"The SQL query cannot run: {refusal}"
    except ValidationError as error:
        return " ".join(error.messages)
    return ""


def preview(dataset: Dataset, sql_query: str, filters) -> tuple[list[str], list[list]]:
    """The first rows an export of these parameters would write, as the console shows
    them before submitting; QueryRefused or ValidationError (by field) if it cannot run."""
    job = TransferJob(
        organisation_id=dataset.organisation_id,
        dataset=dataset,
        sql_query=sql_query.strip(),
        filters=parameters.filter_dict(filters) if not sql_query.strip() else {},
    )
    with scratch.check_folder() as work, _query(job, work) as (con, relation), _time_limit(con):
        shaped = sql.as_text(relation.limit(PREVIEW_ROWS), nested=True)
        try:
            return shaped.columns, [list(row) for row in shaped.fetchall()]
        except duckdb.Error as error:
            raise sql.QueryRefused(str(error)) from None


def run(job: TransferJob, work: Path, watch: Watch) -> tuple[list[Exported], int]:
    """Write the export's files and store them: (the files, the records written). A query
    that cannot run, or runs out of time or memory, rejects the job."""
    try:
        paths, records = _write(job, work, watch)
    except sql.QueryRefused as refusal:
        raise Rejected.saying(f"The SQL query cannot run: {refusal}") from None
    return _store(job, paths), records


def _write(job: TransferJob, work: Path, watch: Watch) -> tuple[list[Path], int]:
    records = 0
    with (
        _query(job, work) as (con, relation),
        _time_limit(con),
        watch.interrupting(con.interrupt),
    ):
        pieces, encode = _output(job, relation, work)
        try:
            for batch in _blocks(_shaped(job, relation)):
                for offset in range(0, batch.num_rows, SLICE_ROWS):
                    part = batch.slice(offset, SLICE_ROWS)
                    pieces.write(encode(part, records + 1))
                    records += part.num_rows
                watch.progress(records)
        except duckdb.InterruptException:
            if watch.stopped.is_set():
                raise Stopped() from None
            raise
        except (duckdb.IOException, duckdb.InternalException):
            raise  # the machine's fault, not the query's: retried
        except duckdb.Error as error:
            raise Rejected.saying(f"The SQL query failed: {error}") from None
        return pieces.close(), records


@contextmanager
def _query(job: TransferJob, work: Path):
    """The sandbox's connection and the job's query bound in it (QueryRefused if it
    cannot be)."""
    datasets = (
        list(Dataset.objects.filter(organisation_id=job.organisation_id))
        if job.sql_query
        else [job.dataset]
    )
    with sql.connection(work, datasets) as con:
        sql.lock(con)
        query, values = export_query(job)
        yield con, sql.checked_select(con, query, values)


def _time_limit(con):
    return sql.time_limit(con, settings.TRANSFER_QUERY_SECONDS)


def _shaped(job: TransferJob, relation):
    """What is written per row: JSON text for a JSON export, CSV-ready columns otherwise."""
    if _format(job) == "json":
        return (
            sql.as_text(relation, nested=False)
            .set_alias("row")
            .select("CAST(to_json(row) AS VARCHAR) AS line")
        )
    return sql.as_text(relation, nested=True)


def _blocks(relation) -> Iterator[pa.RecordBatch]:
    yield from relation.to_arrow_reader(BLOCK_ROWS)


def _format(job: TransferJob) -> str:
    return parameters.content_format(job.content_type, parameters.EXPORT_CONTENT_TYPES)


def _output(job: TransferJob, relation, work: Path):
    """The files to write, and how a slice of rows becomes their bytes."""
    folder = work / "out"
    folder.mkdir()
    if _format(job) == "json":
        return Pieces(folder, ".json", b"[\n", b"\n]\n", b",\n"), _json_lines
    template = ExportTemplate.compile(job.template) if job.template else None
    if template is not None:
        names = template.header() if job.row_header else ""
        return Pieces(folder, ".csv", names.encode()), _rendered(template)
    header = _csv_line(relation.columns) if job.row_header else b""
    return Pieces(folder, ".csv", header), _csv_rows


def _json_lines(part: pa.RecordBatch, first_row: int) -> list[bytes]:
    return [line.encode() for line in part.column(0).to_pylist()]


def _csv_rows(part: pa.RecordBatch, first_row: int) -> list[bytes]:
    out = io.BytesIO()
    pa_csv.write_csv(part, out, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
    return [out.getvalue()]


def _rendered(template: ExportTemplate):
    render = template.renderer()

    def encode(part: pa.RecordBatch, first_row: int) -> list[bytes]:
        lines = []
        for index, row in enumerate(part.to_pylist()):
            try:
                lines.append(render(row))
            except RenderError as error:
                failed = f"The template fails: {error}"
                raise Rejected.saying(failed, row=first_row + index) from None
        return ["".join(lines).encode()]

    return encode


def _csv_line(names: list[str]) -> bytes:
    line = io.StringIO()
    csv.writer(line, lineterminator="\n").writerow(names)
    return line.getvalue().encode()


class Pieces:
    """The export's files, each complete in itself (its header, then records, then its
    footer), a new one started once the current reaches TRANSFER_EXPORT_FILE_BYTES."""

    def __init__(
        self,
        folder: Path,
        suffix: str,
        header: bytes = b"",
        footer: bytes = b"",
        separator: bytes = b"",
    ):
        self.folder, self.suffix = folder, suffix
        self.header, self.footer, self.separator = header, footer, separator
        self.paths: list[Path] = []
        self.current: BinaryIO | None = None
        self.written = 0

    def write(self, records: list[bytes]) -> None:
        """Records (or chunks of whole records) in order."""
        if not records:
            return
        if self.current is None or self.written >= settings.TRANSFER_EXPORT_FILE_BYTES:
            self._next()
        elif self.separator:
            self._put(self.separator)
        self._put(self.separator.join(records))

    def close(self) -> list[Path]:
        if self.current is None:
            self._next()  # no records: still one file, with its header
        self._finish()
        return self.paths

    def _next(self) -> None:
        self._finish()
        path = self.folder / f"part-{len(self.paths):05d}{self.suffix}"
        self.paths.append(path)
        self.current, self.written = path.open("wb"), 0
        self._put(self.header)

    def _put(self, data: bytes) -> None:
        assert self.current is not None
        self.current.write(data)
        self.written += len(data)

    def _finish(self) -> None:
        if self.current is not None:
            self._put(self.footer)
            self.current.close()
            self.current = None


def _store(job: TransferJob, paths: list[Path]) -> list[Exported]:
    """Stream the files to storage, named after the job: attendees.csv, or
    attendees-001.csv, attendees-002.csv… when it is split."""
    stem = slugify(job.job_name)[:80] or "export"
    stored = []
    for number, path in enumerate(paths, start=1):
        name = f"{stem}{f'-{number:03d}' if len(paths) > 1 else ''}{path.suffix}"
        with path.open("rb") as local:
            where = default_storage.save(
                f"{job.storage_folder}/{job.attempts}/{name}", File(local, name=name)
            )
        stored.append(Exported(name=name, stored=where, size=path.stat().st_size))
    return stored
