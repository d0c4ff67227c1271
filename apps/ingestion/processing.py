"""Staging a batch: every row of every file validated and converted against the dataset's
schema, the good data written as one Parquet file. Errors name the file, the row (the
n-th record of the file, from 1) and the field."""

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

from apps.ingestion.conversion import RANGES, ConversionError, convert
from apps.ingestion.models import Batch
from apps.ingestion.readers import Block, UnreadableFile, format_of, read_blocks
from apps.ingestion.schema import ARROW_TYPES, FieldType, arrow_schema
from apps.ingestion.storage import unique_name

# Types whose values, read as this type, need no conversion: Arrow passes them through.
PASS_THROUGH = {
    FieldType.STRING,
    FieldType.BYTE,
    FieldType.SHORT,
    FieldType.INTEGER,
    FieldType.LONG,
    FieldType.DOUBLE,
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
    """Convert the batch's files, by the dataset's schema, into one Parquet file. `alive`
    is called between blocks (the heartbeat)."""
    schema = batch.dataset.schema
    errors = ErrorLog(settings.INGESTION_MAX_ERRORS_LISTED)
    records_read = records_written = 0
    target = arrow_schema(schema)
    with (
        tempfile.NamedTemporaryFile(suffix=".parquet") as output,
        pq.ParquetWriter(output.name, target) as writer,  # closed even when reading fails
    ):
        for batch_file in batch.files.filter(complete=True).order_by("name"):
            for block, table in _tables(batch_file, batch.input_format, schema, errors):
                records_read += block.rows
                if not errors.count:
                    writer.write_table(table)
                    records_written += block.rows
                alive()
        writer.close()
        if errors.count or not records_read:
            if not records_read and not errors.count:
                errors.add("", None, None, "The batch holds no records.")
            return Staged("", records_read, 0, errors)
        output.seek(0)
        stored = default_storage.save(
            unique_name(f"{batch.storage_folder}/data", "part-0") + ".parquet", File(output)
        )
    return Staged(stored, records_read, records_written, errors)


def _tables(batch_file, declared_format: str, schema: list[dict], errors: ErrorLog):
    """(block, its converted table) for each block of one file of the batch."""
    file_format = format_of(batch_file.name, declared_format)
    with default_storage.open(batch_file.stored, "rb") as stream:
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
            table = pa.table(
                {f["name"]: _convert_column(block, f, file_name, row_base, errors) for f in schema},
                schema=target,
            )
            yield block, table
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


def _convert_column(block: Block, schema_field: dict, file_name, row_base, errors) -> pa.Array:
    name, target, required = schema_field["name"], schema_field["type"], schema_field["required"]
    values, kind = block.columns.get(name), block.kinds.get(name)
    if values is None:
        converted = pa.nulls(block.rows, ARROW_TYPES[target])
    elif isinstance(values, pa.Array):
        converted = arrow_conversion(values, kind, target)
    else:
        converted = None
    if converted is not None:
        if required and converted.null_count:
            for index, missing in enumerate(converted.is_null().to_pylist()):
                if missing:
                    errors.add(file_name, row_base + index + 1, name, "Required, and missing.")
        return converted
    items = values.to_pylist() if isinstance(values, pa.Array) else (values or [])
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
    if kind == target and target in PASS_THROUGH:
        return values.cast(arrow_type)
    if kind == target == FieldType.DATE_TIME:
        return values.cast(arrow_type, safe=False)  # naive means UTC; kept to the millisecond
    if kind == FieldType.STRING and target in RANGES:
        return _whole_numbers(values, target)
    if kind == FieldType.STRING and target == FieldType.DOUBLE:
        return _finite_numbers(values)
    return None


def _whole_numbers(strings: pa.Array, target: str) -> pa.Array | None:
    # Arrow reads "0x10" as 16: only plain digits are left to it.
    if not pc.all(pc.match_substring_regex(strings, r"^[+-]?[0-9]+$")).as_py():
        return None
    try:
        numbers = strings.cast(pa.int64())
    except pa.ArrowInvalid:
        return None
    low, high = RANGES[target]
    bounds = pc.min_max(numbers).as_py()
    if bounds["min"] is not None and not (low <= bounds["min"] and bounds["max"] <= high):
        return None
    return numbers.cast(ARROW_TYPES[target])


def _finite_numbers(strings: pa.Array) -> pa.Array | None:
    try:
        numbers = strings.cast(pa.float64())
    except pa.ArrowInvalid:
        return None
    # Arrow reads "inf" and "nan"; the conversion table refuses them.
    return numbers if pc.all(pc.is_finite(numbers)).as_py() is not False else None
