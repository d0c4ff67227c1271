"""Reading a batch's files as blocks of rows, whatever their format, without loading a
file whole: each block is {field: [values…]} with the inbound type of each column when
the format states it (Parquet), or None when each value says it (CSV, JSON)."""

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

import ijson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from apps.ingestion.schema import FieldType

BLOCK_ROWS = 10_000
# Parquet blocks come typed and need little converting: bigger ones cost less per row.
PARQUET_BLOCK_ROWS = 32_768
CSV_BLOCK_BYTES = JSON_LINES_CHUNK_BYTES = 4 << 20
FORMATS = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}
# Parquet column types and the inbound types of the conversion table.
ARROW_KINDS = [
    (pa.types.is_int8, FieldType.BYTE),
    (pa.types.is_int16, FieldType.SHORT),
    (pa.types.is_int32, FieldType.INTEGER),
    (pa.types.is_integer, FieldType.LONG),
    (pa.types.is_floating, FieldType.DOUBLE),
    (pa.types.is_boolean, FieldType.BOOLEAN),
    (pa.types.is_string, FieldType.STRING),
    (pa.types.is_large_string, FieldType.STRING),
    (pa.types.is_date, FieldType.DATE),
    (pa.types.is_timestamp, FieldType.DATE_TIME),
    (pa.types.is_struct, FieldType.OBJECT),
    (pa.types.is_map, FieldType.MAP),
    (pa.types.is_list, FieldType.ARRAY),
    (pa.types.is_large_list, FieldType.ARRAY),
]


class UnreadableFile(Exception):
    """The file is not what its format says (bad CSV, malformed JSON, not Parquet)."""


@dataclass
class Block:
    columns: dict[str, list | pa.Array]  # Arrow arrays as read (CSV, Parquet), or values
    kinds: dict[str, str | None]
    rows: int


def format_of(name: str, declared: str = "") -> str:
    """The file's format: the batch's declared one (json covers JSON Lines), or its name's."""
    suffix = FORMATS.get(PurePosixPath(name).suffix.lower(), "")
    if declared == "json" and suffix in ("json", "jsonl"):
        return suffix
    return declared or suffix


def read_blocks(
    stream,
    file_format: str,
    fields: dict[str, str],
    *,
    renames: dict[str, str] | None = None,
    column_names: list[str] | None = None,
) -> Iterator[Block]:
    """Blocks of rows from an open binary stream. `fields` maps field names to their
    types (CSV's text becomes a boolean only where a Boolean is wanted). `renames` maps
    the file's column names to field names; `column_names` names a CSV's columns when the
    file has no header row."""
    renames = renames or {}
    for block in _blocks(stream, file_format, fields, renames, column_names):
        if renames:
            block.columns = {renames.get(n, n): values for n, values in block.columns.items()}
            block.kinds = {renames.get(n, n): kind for n, kind in block.kinds.items()}
        yield block


def _blocks(stream, file_format, fields, renames, column_names) -> Iterator[Block]:
    readers = {
        "csv": _csv_blocks,
        "json": _json_array_blocks,
        "jsonl": _json_lines_blocks,
        "parquet": _parquet_blocks,
    }
    if file_format not in readers:
        raise UnreadableFile(
            f"Unknown format {file_format!r}: name files .csv, .json, .jsonl or .parquet."
        )
    if file_format == "csv":  # its columns are read by the names they have in the file
        inverse = {field: column for column, field in renames.items()}
        fields = {inverse.get(name, name): kind for name, kind in fields.items()}
    try:
        yield from readers[file_format](stream, fields, column_names)
    except (pa.ArrowInvalid, ijson.JSONError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UnreadableFile(f"Not valid {file_format.upper()}: {error}") from None


def _csv_blocks(stream, fields, column_names=None) -> Iterator[Block]:
    reader = pa_csv.open_csv(
        stream,
        read_options=pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES, column_names=column_names),
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in fields},
            strings_can_be_null=True,
            null_values=[""],
        ),
    )
    booleans = {name for name, kind in fields.items() if kind == FieldType.BOOLEAN}
    for batch in reader:
        columns = {name: batch.column(name) for name in batch.schema.names}
        kinds: dict[str, str | None] = {name: FieldType.STRING for name in columns}
        for name in booleans & set(columns):  # CSV has no booleans, but words for them
            columns[name], kinds[name] = _csv_booleans(columns[name])
        yield Block(columns, kinds, batch.num_rows)


def _csv_booleans(texts: pa.Array):
    """true and false (any case) as booleans; in a column with other words too, those are
    left as text, for the conversion to refuse one by one."""
    words = pc.utf8_lower(pc.utf8_trim_whitespace(texts))
    known = pc.or_kleene(pc.is_null(words), pc.is_in(words, value_set=pa.array(["true", "false"])))
    if pc.all(known).as_py():
        return pc.equal(words, "true"), FieldType.BOOLEAN
    return [_csv_boolean(text) for text in texts.to_pylist()], None


def _csv_boolean(text: str | None):
    if text is None:
        return None
    return {"true": True, "false": False}.get(text.strip().lower(), text)


def _json_array_blocks(stream, fields, column_names=None) -> Iterator[Block]:
    yield from _blocks_of(ijson.items(stream, "item", use_float=True))


# How JSON Lines values are read by Arrow for each field type: the JSON type a value
# must have to need no conversion but one Arrow's kernels do exactly as `convert` does.
# Dates may be text or epoch milliseconds (numbers): see _json_read_types.
JSON_READ_TYPES: dict[str, tuple[pa.DataType, str]] = {
    FieldType.STRING: (pa.string(), FieldType.STRING),
    FieldType.DATE: (pa.string(), FieldType.STRING),
    FieldType.DATE_TIME: (pa.string(), FieldType.STRING),
    FieldType.BYTE: (pa.int64(), FieldType.LONG),
    FieldType.SHORT: (pa.int64(), FieldType.LONG),
    FieldType.INTEGER: (pa.int64(), FieldType.LONG),
    FieldType.LONG: (pa.int64(), FieldType.LONG),
    FieldType.DOUBLE: (pa.float64(), FieldType.DOUBLE),
    FieldType.BOOLEAN: (pa.bool_(), FieldType.BOOLEAN),
}
EPOCH_MILLIS_READ = (pa.int64(), FieldType.LONG)
SNIFFED_LINES = 100


def _json_lines_blocks(stream, fields, column_names=None) -> Iterator[Block]:
    """Each chunk of lines read by Arrow with the dataset's types, which refuses any value
    of another JSON type (a number in a String field, a string in a Long one); a chunk it
    refuses, or any chunk of a schema with objects or arrays, is read value by value."""
    for chunk in _line_chunks(stream):
        read_types = _json_read_types(chunk, fields)
        block = _arrow_json_block(chunk, read_types) if read_types else None
        if block is not None:
            yield block
        else:
            lines = io.StringIO(chunk.decode("utf-8"), newline=None)
            yield from _blocks_of(json.loads(line) for line in lines if line.strip())


def _json_read_types(chunk: bytes, fields: dict[str, str]) -> dict | None:
    """The Arrow type to read each field's values as, or None when some field's values
    are objects or arrays. A date field whose first values are numbers is read as epoch
    milliseconds, else as text (a chunk that mixes both is read value by value)."""
    read_types = {name: JSON_READ_TYPES.get(kind) for name, kind in fields.items()}
    if not all(read_types.values()):
        return None
    dates = {name for name, kind in fields.items() if kind in (FieldType.DATE, FieldType.DATE_TIME)}
    for line in chunk.splitlines()[:SNIFFED_LINES]:
        if not dates:
            break
        try:
            row = json.loads(line)
        except ValueError:
            return read_types  # Arrow refuses the chunk, and the slow path says why
        if not isinstance(row, dict):
            return read_types
        for name in [name for name in dates if row.get(name) is not None]:
            if isinstance(row[name], int) and not isinstance(row[name], bool):
                read_types[name] = EPOCH_MILLIS_READ
            dates.discard(name)
    return read_types


def _line_chunks(stream) -> Iterator[bytes]:
    """The stream in pieces of about JSON_LINES_CHUNK_BYTES, each of whole lines."""
    rest = b""
    while piece := stream.read(JSON_LINES_CHUNK_BYTES):
        rest += piece
        end = max(rest.rfind(b"\n"), rest.rfind(b"\r")) + 1
        if end:
            yield rest[:end]
            rest = rest[end:]
    if rest:
        yield rest


def _arrow_json_block(chunk: bytes, read_types: dict) -> Block | None:
    schema = pa.schema([(name, arrow_type) for name, (arrow_type, _) in read_types.items()])
    try:
        table = pa_json.read_json(
            io.BytesIO(chunk),
            read_options=pa_json.ReadOptions(block_size=max(len(chunk), 1 << 20)),
            parse_options=pa_json.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="infer"
            ),
        )
    except pa.ArrowInvalid:
        return None
    columns = {name: table.column(name).combine_chunks() for name in table.column_names}
    kinds = {name: read_types[name][1] if name in read_types else None for name in columns}
    return Block(columns, kinds, table.num_rows)


def _blocks_of(rows) -> Iterator[Block]:
    """JSON rows gathered into blocks of columns."""
    buffer = []
    for row in rows:
        buffer.append(row)
        if len(buffer) == BLOCK_ROWS:
            yield _columns_of(buffer)
            buffer = []
    if buffer:
        yield _columns_of(buffer)


def _columns_of(rows: list) -> Block:
    names = {}
    for row in rows:
        if not isinstance(row, dict):
            raise UnreadableFile(
                f"Each JSON record is an object of fields; found {type(row).__name__}."
            )
        names.update(dict.fromkeys(row))
    columns = {name: [row.get(name) for row in rows] for name in names}
    return Block(columns, dict.fromkeys(columns), len(rows))


def _parquet_blocks(stream, fields, column_names=None) -> Iterator[Block]:
    parquet = pq.ParquetFile(stream)
    kinds = {field.name: _kind_of_arrow(field.type) for field in parquet.schema_arrow}
    for batch in parquet.iter_batches(batch_size=PARQUET_BLOCK_ROWS):
        columns = {name: batch.column(name) for name in batch.schema.names}
        yield Block(columns, {name: kinds[name] for name in columns}, batch.num_rows)


def _kind_of_arrow(arrow_type) -> str:
    for matches, kind in ARROW_KINDS:
        if matches(arrow_type):
            return kind
    raise UnreadableFile(f"Parquet columns of type {arrow_type} are not supported.")
