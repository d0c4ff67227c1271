"""Staging a batch: every row of every file validated and converted against the dataset's
schema, the good data written as one Parquet file. Errors name the file, the row (the
n-th record of the file, from 1) and the field."""

import queue
import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

from apps.core.stored import open_stored
from apps.ingestion.conversion import RANGES, ConversionError, convert
from apps.ingestion.models import Batch
from apps.ingestion.readers import (
    ARROW_COLUMNS,
    Block,
    UnreadableFile,
    format_of,
    read_blocks,
)
from apps.ingestion.schema import ARROW_TYPES, FieldType, arrow_schema
from apps.ingestion.storage import copy_stored, unique_name

# Text Arrow reads as `convert` does: whole dates and times within datetime's years.
ISO_DATE = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
ISO_DATE_TIME = ISO_DATE + r"[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,3})?"
ISO_OFFSET = r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
EPOCH_MILLIS = r"^[+-]?[0-9]{1,15}$"
MIN_MILLIS, MAX_MILLIS = -62_135_596_800_000, 253_402_300_799_999  # years 1 to 9999
# Types whose values, read as this type, need no conversion: Arrow passes them through.
PASS_THROUGH = {
    FieldType.STRING,
    FieldType.BYTE,
    FieldType.SHORT,
    FieldType.INTEGER,
    FieldType.LONG,
    FieldType.BOOLEAN,
    FieldType.DATE,
}


@dataclass
class ErrorLog:
    limit: int
    listed: list[dict] = field(default_factory=list)
    count: int = 0

    def add(self, file: str, row: int | None, field_name: str | None, message: str) -> None:
        self.count += 1
        if len(self.listed) < self.limit:
            self.listed.append({"file": file, "row": row, "field": field_name, "message": message})

    def in_reading_order(self) -> list[dict]:
        """The listed errors by file, then row (file-wide errors first)."""
        return sorted(self.listed, key=lambda error: (error["file"], error["row"] or 0))


@dataclass
class Staged:
    data: str  # the stored Parquet file, or "" when the batch failed
    records_read: int
    records_written: int
    errors: ErrorLog


def stage_files(batch: Batch, *, alive: Callable[[], object]) -> Staged:
    """Convert the batch's files, by the dataset's schema, into one Parquet file (or keep
    its one Parquet file, when it is already in the dataset's shape). `alive` is called
    between blocks (the heartbeat)."""
    files = list(batch.files.filter(complete=True).order_by("name"))
    if len(files) == 1 and _in_the_datasets_shape(files[0], batch):
        return _stage_as_is(files[0], batch, alive)
    schema = batch.dataset.schema
    errors = ErrorLog(settings.INGESTION_MAX_ERRORS_LISTED)
    records_read = records_written = 0
    target = arrow_schema(schema)
    with (
        tempfile.NamedTemporaryFile(suffix=".parquet") as output,
        BackgroundParquetWriter(output.name, target) as writer,  # closed when reading fails
    ):
        for batch_file in files:
            for block, table in _tables(batch_file, batch.input_format, schema, errors):
                records_read += block.rows
                if not errors.count:
                    writer.write_table(table)
                    records_written += block.rows
                alive()
        writer.close()
        if refused := _refused(records_read, errors):
            return refused
        output.seek(0)
        stored = default_storage.save(_data_name(batch), LocalFile(output))
    return Staged(stored, records_read, records_written, errors)


def _refused(records_read: int, errors: ErrorLog) -> Staged | None:
    """A failed staging, when there were errors or no records at all."""
    if not errors.count and records_read:
        return None
    if not errors.count:
        errors.add("", None, None, "The batch holds no records.")
    return Staged("", records_read, 0, errors)


def _data_name(batch: Batch) -> str:
    return unique_name(f"{batch.storage_folder}/data", "part-0") + ".parquet"


def _in_the_datasets_shape(batch_file, batch: Batch) -> bool:
    """A Parquet file whose columns are the dataset's fields, in order, each of the type
    the staged file gives it: converting it would write it again as it is."""
    if format_of(batch_file.name, batch.input_format) != "parquet":
        return False
    try:
        with open_stored(batch_file.stored) as stream:
            columns = pq.read_schema(stream)
    except (pa.ArrowInvalid, OSError):
        return False  # not Parquet after all: the reading says so, by the usual way
    target = arrow_schema(batch.dataset.schema)
    return [(c.name, c.type) for c in columns] == [(f.name, f.type) for f in target]


def _stage_as_is(batch_file, batch: Batch, alive: Callable[[], object]) -> Staged:
    """Stage a file already in the dataset's shape: every value is read and checked as
    any file's (a required field's missing values, an unreadable page), and the staged
    data is the file itself rather than a copy written anew."""
    errors = ErrorLog(settings.INGESTION_MAX_ERRORS_LISTED)
    records = 0
    for block, _ in _tables(batch_file, batch.input_format, batch.dataset.schema, errors):
        records += block.rows
        alive()
    if refused := _refused(records, errors):
        return refused
    stored = copy_stored(batch_file.stored, _data_name(batch))
    return Staged(stored, records, records, errors)


class LocalFile(File):
    """A file on local disk that local storage may move into place rather than copy
    (Django's FileSystemStorage moves what has a temporary_file_path); object storage
    uploads it as any file."""

    def temporary_file_path(self) -> str:
        return str(self.name)


class BackgroundParquetWriter:
    """A ParquetWriter on a thread of its own, so that a block is compressed and written
    while the next one is read and converted. At most two blocks wait for it; an error it
    meets is raised by the next write, or by close.

    Only text columns are dictionary-encoded: for numbers, dates and booleans Parquet's
    own encodings do as well, and building their dictionaries took 60 % of the writing."""

    QUEUED_BLOCKS = 2

    def __init__(self, path, schema: pa.Schema):
        text = [field.name for field in schema if pa.types.is_string(field.type)]
        self._writer = pq.ParquetWriter(path, schema, use_dictionary=text)
        self._queue: queue.Queue = queue.Queue(maxsize=self.QUEUED_BLOCKS)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write_queued, daemon=True)
        self._thread.start()

    def __enter__(self) -> "BackgroundParquetWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close(raise_error=exc[0] is None)

    def write_table(self, table: pa.Table) -> None:
        self._raise_error()
        self._queue.put(table)

    def close(self, *, raise_error: bool = True) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if raise_error:
            self._raise_error()

    def _write_queued(self) -> None:
        try:
            while (table := self._queue.get()) is not None:
                self._writer.write_table(table)
        except BaseException as error:  # raised in the caller's thread instead
            self._error = error
            while self._queue.get() is not None:  # let the caller's puts through
                pass
        finally:
            self._writer.close()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error


def _tables(batch_file, declared_format: str, schema: list[dict], errors: ErrorLog):
    """(block, its converted table) for each block of one file of the batch."""
    file_format = format_of(batch_file.name, declared_format)
    with open_stored(batch_file.stored) as stream:
        yield from converted_tables(stream, batch_file.name, file_format, schema, errors)


def converted_tables(
    stream,
    file_name: str,
    file_format: str,
    schema: list[dict],
    errors: ErrorLog,
    *,
    renames: dict[str, str] | None = None,
    column_names: list[str] | None = None,
):
    """(block, its table of the dataset's Arrow schema) for each block of one file read
    from `stream`, every value converted by the table; what does not convert goes to
    `errors`, by row and field. `renames` maps the file's columns to the fields, and
    `column_names` names a CSV's columns when it has no header (an import's template)."""
    fields = {f["name"]: f["type"] for f in schema}
    target = arrow_schema(schema)
    row_base = 0
    unknown_reported: set[str] = set()
    try:
        for block in read_blocks(
            stream, file_format, fields, renames=renames, column_names=column_names
        ):
            _check_columns(block, fields, file_name, row_base, errors, unknown_reported)
            yield _converted(block, schema, target, errors, file_name, row_base)
            row_base += block.rows
    except UnreadableFile as error:
        errors.add(file_name, None, None, str(error))


def _check_columns(block: Block, fields, file_name, row_base, errors, unknown_reported) -> None:
    if len(block.columns) > settings.INGESTION_MAX_FIELDS_PER_ROW:
        errors.add(
            file_name,
            row_base + 1,
            None,
            f"Rows have {len(block.columns)} fields; "
            f"the limit is {settings.INGESTION_MAX_FIELDS_PER_ROW}.",
        )
    for name in sorted(set(block.columns) - set(fields) - unknown_reported):
        unknown_reported.add(name)
        errors.add(file_name, None, name, "Not a field of the dataset's schema.")


def _converted(block: Block, schema: list[dict], target: pa.Schema, errors, file_name, row_base):
    """(the block, its table of the dataset's schema): its columns converted whole by
    Arrow where that gives what the table gives, else value by value, failures reported.
    A CSV block read by the fields' types where Arrow cannot is converted as text: only
    its text says how the table converts some value, and why one fails."""
    by_arrow = _arrow_columns(block, schema)
    if block.as_text is not None and None in by_arrow.values():
        block = block.as_text()
        by_arrow = _arrow_columns(block, schema)
    columns = {
        f["name"]: _checked_column(block, f, by_arrow[f["name"]], file_name, row_base, errors)
        for f in schema
    }
    return block, pa.table(columns, schema=target)


def _arrow_columns(block: Block, schema: list[dict]) -> dict[str, pa.Array | None]:
    """Each field's column converted whole by Arrow, or None where only the conversion
    value by value gives what the table says (a field the block lacks is all nulls)."""
    converted = {}
    for schema_field in schema:
        name, target = schema_field["name"], schema_field["type"]
        values = block.columns.get(name)
        if values is None:
            converted[name] = pa.nulls(block.rows, ARROW_TYPES[target])
        elif isinstance(values, ARROW_COLUMNS):
            converted[name] = arrow_conversion(values, block.kinds.get(name), target)
        else:
            converted[name] = None
    return converted


def _checked_column(
    block: Block, schema_field: dict, converted, file_name, row_base, errors
) -> pa.Array:
    """The column Arrow converted with its required values' absence reported, or the
    block's values converted one by one, each failure reported."""
    name, target, required = schema_field["name"], schema_field["type"], schema_field["required"]
    if converted is not None:
        if required and converted.null_count:
            for index, missing in enumerate(converted.is_null().to_pylist()):
                if missing:
                    errors.add(file_name, row_base + index + 1, name, "Required, and missing.")
        return converted
    values, kind = block.columns[name], block.kinds.get(name)
    items = values.to_pylist() if isinstance(values, ARROW_COLUMNS) else values
    converted_items = []
    for index, value in enumerate(items):
        try:
            if value is None and required:
                raise ConversionError("Required, and missing")
            converted_items.append(convert(value, target, kind))
        except ConversionError as error:
            errors.add(file_name, row_base + index + 1, name, f"{error}.")
            converted_items.append(None)
    return pa.array(converted_items, type=ARROW_TYPES[target])


def arrow_conversion(values: pa.Array, kind: str | None, target: str) -> pa.Array | None:
    """A whole column converted by Arrow, where that gives exactly what `convert` gives
    value by value; None where it might not (then every value goes through `convert`,
    which also says which ones fail and why)."""
    arrow_type = ARROW_TYPES[target]
    if kind == target == FieldType.DOUBLE:
        return _finite_numbers(values)
    if kind == target and target in PASS_THROUGH:
        return values.cast(arrow_type)
    if kind == target == FieldType.DATE_TIME:
        return values.cast(arrow_type, safe=False)  # naive means UTC; kept to the millisecond
    if kind == FieldType.STRING and target in RANGES:
        return _whole_numbers(values, target)
    if kind == FieldType.LONG and target in RANGES:
        return _in_range(values, target)
    if kind == FieldType.LONG and target == FieldType.DATE_TIME:
        return _epoch_millis(values)
    if kind == FieldType.STRING and target == FieldType.DOUBLE:
        return _finite_numbers(values)
    if kind == FieldType.STRING and target == FieldType.DATE_TIME:
        return _iso_date_times(values)
    if kind == FieldType.STRING and target == FieldType.DATE:
        return _iso_dates(values)
    return None


def _iso_date_times(strings: pa.Array) -> pa.Array | None:
    """ISO 8601 text all with an offset (or Z), or all without (UTC, as `convert` reads
    them), or all epoch milliseconds. Only forms whose every reading Arrow shares with
    datetime.fromisoformat are left to it (seconds given, at most milliseconds, no
    surrounding spaces); other text goes value by value."""
    target = ARROW_TYPES[FieldType.DATE_TIME]
    # Only the form the first value has can be the whole column's: one pass, not three.
    first = next((text for text in _first_values(strings) if text is not None), None)
    try:
        if first is None or re.match(EPOCH_MILLIS, first):
            if _all_match(strings, EPOCH_MILLIS):
                return _epoch_millis(strings.cast(pa.int64()))
        elif re.match(ISO_DATE_TIME + ISO_OFFSET, first):
            if _all_match(strings, ISO_DATE_TIME + ISO_OFFSET):
                return strings.cast(target)
        elif re.match(ISO_DATE_TIME + "$", first) and _all_match(strings, ISO_DATE_TIME + "$"):
            return strings.cast(pa.timestamp("ms")).cast(target)  # naive means UTC
    except pa.ArrowInvalid:  # a 30th of February, say: `convert` says which
        return None
    return None


def _first_values(strings: pa.Array, count: int = 16) -> list[str | None]:
    return strings.slice(0, count).to_pylist()


def _epoch_millis(millis: pa.Array) -> pa.Array | None:
    """Epoch milliseconds as date-times, where all are within datetime's years."""
    bounds = pc.min_max(millis).as_py()
    if bounds["min"] is not None and not (
        bounds["min"] >= MIN_MILLIS and bounds["max"] <= MAX_MILLIS
    ):
        return None
    return millis.cast(ARROW_TYPES[FieldType.DATE_TIME])


def _iso_dates(strings: pa.Array) -> pa.Array | None:
    """ISO 8601 dates (2018-07-10), as date.fromisoformat reads them."""
    if not _all_match(strings, ISO_DATE + "$"):
        return None
    try:
        return strings.cast(pa.date32())
    except pa.ArrowInvalid:
        return None


def _all_match(strings: pa.Array, pattern: str) -> bool:
    return pc.all(pc.match_substring_regex(strings, pattern)).as_py() is not False


def _whole_numbers(strings: pa.Array, target: str) -> pa.Array | None:
    # Arrow reads "0x10" as 16: only plain digits are left to it (checked without a
    # regular expression where no value has a sign).
    if pc.all(pc.ascii_is_decimal(strings)).as_py() is False and not _all_match(
        strings, r"^[+-]?[0-9]+$"
    ):
        return None
    try:
        numbers = strings.cast(pa.int64())
    except pa.ArrowInvalid:
        return None
    return _in_range(numbers, target)


def _in_range(numbers: pa.Array, target: str) -> pa.Array | None:
    low, high = RANGES[target]
    bounds = pc.min_max(numbers).as_py()
    if bounds["min"] is not None and not (low <= bounds["min"] and bounds["max"] <= high):
        return None
    return numbers.cast(ARROW_TYPES[target])


def _finite_numbers(values: pa.Array) -> pa.Array | None:
    try:
        numbers = values.cast(pa.float64())
    except pa.ArrowInvalid:
        return None
    # Arrow reads "inf" and "nan", and floats hold them; the conversion table refuses them.
    return numbers if pc.all(pc.is_finite(numbers)).as_py() is not False else None
