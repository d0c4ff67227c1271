"""Reading a batch's files as blocks of rows, whatever their format, without loading a
file whole: each block is {field: values} (Arrow's arrays, or Python values) with the
inbound type of each column, as the format states it (Parquet) or as Arrow read it with
the field's type (CSV, JSON Lines), or None where each value says it (JSON read value by
value)."""

import io
import itertools
import json
import queue
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import PurePosixPath
from typing import cast

import ijson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from apps.core.text import human_bytes
from apps.ingestion import conversion
from apps.ingestion.schema import FieldType

BLOCK_ROWS = 10_000
# Parquet blocks come typed and need little converting: bigger ones cost less per row.
PARQUET_BLOCK_ROWS = 32_768
PARQUET_BUFFER_BYTES = 1 << 20
JSON_LINES_CHUNK_BYTES = 4 << 20
# CSV is read in pieces of whole rows, each parsed by Arrow on every core in blocks of
# CSV_BLOCK_BYTES (its streaming reader parses on one core only, 1.8 times slower); the
# types to read dates as are sniffed from the first rows of the file.
CSV_PIECE_BYTES = 4 << 20
CSV_BLOCK_BYTES = 1 << 20
CSV_SNIFFED_BYTES = 64 << 10
MAX_ROW_BYTES = 64 << 20  # a CSV row or a JSON line: longer ones make a file unreadable
JSON_BLOCK_BYTES = 16 << 20  # the JSON of a block's rows read value by value, at most
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


# Numbers and booleans read by Arrow with their field's type (CSV's text, JSON's values):
# (the Arrow type, the inbound type of what it gives).
NUMBERS_READ_TYPES: dict[str, tuple[pa.DataType, str]] = {
    FieldType.BYTE: (pa.int64(), FieldType.LONG),
    FieldType.SHORT: (pa.int64(), FieldType.LONG),
    FieldType.INTEGER: (pa.int64(), FieldType.LONG),
    FieldType.LONG: (pa.int64(), FieldType.LONG),
    FieldType.DOUBLE: (pa.float64(), FieldType.DOUBLE),
    FieldType.BOOLEAN: (pa.bool_(), FieldType.BOOLEAN),
}
_DONE = object()  # the end of read_ahead's items


class UnreadableFile(Exception):
    """The file is not what its format says (bad CSV, malformed JSON, not Parquet)."""


ARROW_COLUMNS = (pa.Array, pa.ChunkedArray)


@dataclass
class Block:
    columns: dict[str, list | pa.Array | pa.ChunkedArray]  # Arrow's as read, or values
    kinds: dict[str, str | None]
    rows: int
    # CSV read by the fields' types: the same rows read as text, for the conversion table
    # to convert value by value where Arrow's conversion of the typed values cannot.
    as_text: Callable[[], "Block"] | None = None


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
    except OSError as error:
        # Arrow reports bytes it cannot decode (corrupt compressed pages, a garbled
        # footer) as a bare OSError; the storage's own errors carry an errno or are of
        # a subclass (a connection's), and are worth retrying.
        if type(error) is not OSError or error.errno is not None:
            raise
        raise UnreadableFile(f"Not valid {file_format.upper()}: {error}") from None


# The Arrow types CSV columns are read as, by field type: those whose parsing gives what
# `convert` gives the text, or refuses it. Whole numbers as int64 (but as text in a piece
# holding an x, as Arrow reads "0x10" as 16), numbers, the words true and false, ISO 8601
# dates; date-times by the form of the first one (see _date_read_type). Other fields are
# read as text.
CSV_READ_TYPES: dict[str, tuple[pa.DataType, str]] = {
    **NUMBERS_READ_TYPES,
    FieldType.DATE: (pa.date32(), FieldType.DATE),
}
CSV_TEXT = (pa.string(), FieldType.STRING)
CSV_WITH_OFFSET = (pa.timestamp("ms", tz="UTC"), FieldType.DATE_TIME)  # Z or ±hh:mm given
CSV_NAIVE = (pa.timestamp("ms"), FieldType.DATE_TIME)  # UTC, as `convert` reads it
CSV_TRUE, CSV_FALSE = ["true", "True", "TRUE"], ["false", "False", "FALSE"]
HEXADECIMAL_MARKS = (b"x", b"X")  # looked for alone: "0x" is 8 times slower to find
OFFSET_AT_END = re.compile(r"[T ][0-9:.]+(Z|[+-][0-9:]+)\Z")


def _csv_blocks(stream, fields, column_names=None) -> Iterator[Block]:
    """Pieces of whole rows, each parsed by Arrow on every core with the field's types (a
    piece Arrow refuses so is parsed as text, its values converted one by one), on a
    thread of their own while the previous piece is converted."""
    pieces = _pieces(stream, CSV_PIECE_BYTES, _csv_rows_end)
    first = next(pieces, memoryview(b""))
    reading = CsvReading.sniffed(first, fields, column_names)
    blocks = itertools.chain(
        [reading.block(first, header=column_names is None)],
        (reading.block(piece, header=False) for piece in pieces),
    )
    yield from (block for block in read_ahead(blocks) if block.rows)


@dataclass
class CsvReading:
    fields: dict[str, str]  # by column name
    column_names: list[str]
    read_types: dict[str, tuple[pa.DataType, str]]  # (read as, inbound kind) by column

    @classmethod
    def sniffed(cls, first: memoryview, fields: dict[str, str], column_names) -> "CsvReading":
        """The columns' names (the header's, unless given) and the types to read them as,
        dates by the form of the first one in the first rows."""
        head = first[: _csv_rows_end(first[:CSV_SNIFFED_BYTES].tobytes()) or len(first)]
        table = _read_csv(head, column_names, {name: pa.string() for name in fields})
        _check_unique(table.column_names)
        read_types = {name: CSV_READ_TYPES.get(kind, CSV_TEXT) for name, kind in fields.items()}
        for name in set(table.column_names) & set(fields):
            if fields[name] in (FieldType.DATE, FieldType.DATE_TIME):
                first_value = _first_value(table.column(name))
                read_types[name] = _date_read_type(fields[name], first_value)
        return cls(fields, column_names or table.column_names, read_types)

    def block(self, piece: memoryview, *, header: bool) -> Block:
        """The piece's rows by the read types, or as text where Arrow refuses them so."""
        names = None if header else self.column_names
        read_types = self._read_types(piece)
        try:
            table = _read_csv(piece, names, {name: kind[0] for name, kind in read_types.items()})
        except pa.ArrowInvalid:  # some value is not of its field's type: the table says why
            return self.text_block(piece, names)
        columns = {name: table.column(name) for name in table.column_names}
        kinds = {name: read_types[name][1] if name in read_types else None for name in columns}
        return Block(columns, kinds, table.num_rows, as_text=partial(self.text_block, piece, names))

    def text_block(self, piece: memoryview, names: list[str] | None) -> Block:
        table = _read_csv(piece, names, {name: pa.string() for name in self.fields})
        columns = {name: table.column(name) for name in table.column_names}
        kinds: dict[str, str | None] = {name: FieldType.STRING for name in columns}
        for name in columns:
            if self.fields.get(name) == FieldType.BOOLEAN:  # CSV's words for booleans
                columns[name], kinds[name] = _csv_booleans(columns[name])
        return Block(columns, kinds, table.num_rows)

    def _read_types(self, piece: memoryview) -> dict[str, tuple[pa.DataType, str]]:
        if not any(_find(piece, mark) >= 0 for mark in HEXADECIMAL_MARKS):
            return self.read_types
        return {
            name: CSV_TEXT if kind[0] == pa.int64() else kind
            for name, kind in self.read_types.items()
        }


def _date_read_type(field_type: str, first: str | None) -> tuple[pa.DataType, str]:
    """Dates given as epoch milliseconds are read as text (which converts them), as is
    text around which spaces are left; ISO 8601 dates by their type."""
    if first is None or first != first.strip() or conversion.WHOLE.match(first):
        return CSV_TEXT
    if field_type == FieldType.DATE:
        return CSV_READ_TYPES[FieldType.DATE]
    return CSV_WITH_OFFSET if OFFSET_AT_END.search(first) else CSV_NAIVE


def _first_value(column: pa.ChunkedArray) -> str | None:
    values = column.drop_null().slice(0, 1).to_pylist()
    return values[0] if values else None


def _read_csv(piece: memoryview, column_names: list[str] | None, column_types: dict) -> pa.Table:
    convert_options = pa_csv.ConvertOptions(
        column_types=column_types,
        strings_can_be_null=True,
        null_values=[""],
        true_values=CSV_TRUE,
        false_values=CSV_FALSE,
    )
    blocks = pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES, column_names=column_names)
    try:
        return pa_csv.read_csv(pa.py_buffer(piece), blocks, None, convert_options)
    except pa.ArrowInvalid:
        # Arrow cuts a piece into blocks at line breaks, quoted or not, and refuses a row
        # longer than a block: such a piece is read again whole, allowing for both.
        whole = pa_csv.ReadOptions(block_size=max(len(piece), 1), column_names=column_names)
        parse_options = pa_csv.ParseOptions(newlines_in_values=True)
        return pa_csv.read_csv(pa.py_buffer(piece), whole, parse_options, convert_options)


def _pieces(stream, size: int, rows_end: Callable[[bytes], int]) -> Iterator[memoryview]:
    """The stream in pieces of about `size` bytes, each of whole rows, and each a view of
    the start of the bytes read rather than a copy: `rows_end(data)` says where the last
    whole row of `data` ends (0 when none does). What follows that row is read again as
    the start of the next piece, so `stream` must be seekable, and a read shorter than
    asked for must mean the end of the stream (as with files)."""
    wanted = size
    while data := stream.read(wanted):
        end = rows_end(data) if len(data) == wanted else len(data)
        if end:
            yield memoryview(data)[:end]
            wanted = size
        elif wanted > MAX_ROW_BYTES:  # held whole until it ends: a worker's memory
            raise UnreadableFile(f"A row is longer than {human_bytes(MAX_ROW_BYTES)}.")
        else:  # a row longer than a piece: read it no further than just past the limit
            wanted = min(wanted * 2, MAX_ROW_BYTES + 1)
        stream.seek(end - len(data), io.SEEK_CUR)


def _find(piece: memoryview, sought: bytes, start: int = 0) -> int:
    """Where `sought` first is in the piece from `start`, or -1: found by the bytes the
    piece is a view of (a memoryview has no find of its own)."""
    return cast(bytes, piece.obj).find(sought, start, len(piece))


def _csv_rows_end(data: bytes) -> int:
    """Where the last whole row of `data` (which starts a row) ends: after its last line
    break outside quotes, which follows an even number of them (a quoted value may hold
    line breaks; its doubled quotes keep the count even). 0 when no row ends in it."""
    end = _lines_end(data)
    if data.count(b'"', 0, end) % 2 == 0:
        return end
    # That line break is in a quoted value: look between the quote closing the value
    # before it and the one opening it, then between the two before those, and so on.
    opening = data.rfind(b'"', 0, end)
    while opening >= 0:
        closing = data.rfind(b'"', 0, opening)
        if end := _lines_end(data, opening, after=closing + 1):
            return end
        opening = data.rfind(b'"', 0, closing) if closing >= 0 else -1
    return 0


def _lines_end(data: bytes, before: int | None = None, *, after: int = 0) -> int:
    """Just after the last line break in `data[after:before]`, or 0."""
    return max(data.rfind(b"\n", after, before), data.rfind(b"\r", after, before)) + 1


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
    counted = _CountedRows(stream)
    rows = counted.rows(ijson.items(counted, "item", use_float=True))
    yield from _blocks_of(rows, block_full=counted.block_full)


class _CountedRows:
    """A stream read by a parser that builds one row at a time (ijson's), and how much
    of it the rows took: reading more than MAX_ROW_BYTES with no row ended makes the
    file unreadable, as a row is held whole until it ends, and a block is full once its
    rows took JSON_BLOCK_BYTES, however few they are."""

    def __init__(self, stream):
        self._stream = stream
        self._read = self._row_start = self._block_start = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._read += len(data)
        if self._read - self._row_start > MAX_ROW_BYTES:
            raise UnreadableFile(f"A row is longer than {human_bytes(MAX_ROW_BYTES)}.")
        return data

    def rows(self, rows: Iterator) -> Iterator:
        for row in rows:
            self._row_start = self._read
            yield row

    def block_full(self) -> bool:
        if self._read - self._block_start <= JSON_BLOCK_BYTES:
            return False
        self._block_start = self._read
        return True


# How JSON Lines values are read by Arrow for each field type: the JSON type a value
# must have to need no conversion but one Arrow's kernels do exactly as `convert` does.
# Dates may be text or epoch milliseconds (numbers): see _json_read_types.
JSON_READ_TYPES: dict[str, tuple[pa.DataType, str]] = {
    FieldType.STRING: (pa.string(), FieldType.STRING),
    FieldType.DATE: (pa.string(), FieldType.STRING),
    FieldType.DATE_TIME: (pa.string(), FieldType.STRING),
    **NUMBERS_READ_TYPES,
}
EPOCH_MILLIS_READ = (pa.int64(), FieldType.LONG)
SNIFFED_LINES = 100


def _json_lines_blocks(stream, fields, column_names=None) -> Iterator[Block]:
    """Each chunk of lines read by Arrow with the dataset's types, which refuses any value
    of another JSON type (a number in a String field, a string in a Long one); a chunk it
    refuses, or any chunk of a schema with objects or arrays, is read value by value."""
    for chunk in _pieces(stream, JSON_LINES_CHUNK_BYTES, _lines_end):
        read_types = _json_read_types(chunk, fields)
        block = _arrow_json_block(chunk, read_types) if read_types else None
        if block is not None:
            yield block
        else:
            lines = io.StringIO(str(chunk, "utf-8"), newline=None)
            yield from _blocks_of(json.loads(line) for line in lines if line.strip())


def _json_read_types(chunk: memoryview, fields: dict[str, str]) -> dict | None:
    """The Arrow type to read each field's values as, or None when some field's values
    are objects or arrays. A date field whose first values are numbers is read as epoch
    milliseconds, else as text (a chunk that mixes both is read value by value)."""
    read_types = {name: JSON_READ_TYPES.get(kind) for name, kind in fields.items()}
    if not all(read_types.values()):
        return None
    dates = {name for name, kind in fields.items() if kind in (FieldType.DATE, FieldType.DATE_TIME)}
    for line in _first_lines(chunk, SNIFFED_LINES):
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


def read_ahead(items: Iterator, depth: int = 1) -> Iterator:
    """`items`, produced on a thread of their own up to `depth` ahead of the consumer
    (for work that releases the GIL, such as Arrow's parsing). An error producing them
    is raised to the consumer, in its turn; a consumer that stops early stops it, and
    waits for the item under way, so that nothing is read from a stream once closed."""
    handed: queue.Queue = queue.Queue(maxsize=depth)
    stopped = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                handed.put((item, None))
                if stopped.is_set():
                    return
            handed.put((_DONE, None))
        except BaseException as error:  # raised in the consumer's thread instead
            handed.put((_DONE, error))

    producer = threading.Thread(target=produce, name="read-ahead", daemon=True)
    producer.start()
    try:
        while (handed_over := handed.get())[0] is not _DONE:
            yield handed_over[0]
        if handed_over[1] is not None:
            raise handed_over[1]
    finally:
        stopped.set()
        while not handed.empty():  # room for the producer's last put
            handed.get_nowait()
        producer.join()


def _first_lines(chunk: memoryview, count: int) -> list[bytes]:
    """The chunk's first lines, up to `count`, found without splitting all of it."""
    lines: list[bytes] = []
    start = 0
    while len(lines) < count and start < len(chunk):
        end = _find(chunk, b"\n", start) + 1 or len(chunk)
        lines.append(chunk[start:end].tobytes())
        start = end
    return lines


def _arrow_json_block(chunk: memoryview, read_types: dict) -> Block | None:
    schema = pa.schema([(name, arrow_type) for name, (arrow_type, _) in read_types.items()])
    try:
        table = pa_json.read_json(
            pa.BufferReader(chunk),
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


def _blocks_of(rows, block_full: Callable[[], bool] = lambda: False) -> Iterator[Block]:
    """JSON rows gathered into blocks of columns, of BLOCK_ROWS or until `block_full()`."""
    buffer = []
    for row in rows:
        buffer.append(row)
        if len(buffer) == BLOCK_ROWS or block_full():
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


def open_parquet(stream) -> pq.ParquetFile:
    """A Parquet file read a buffer at a time. By default Arrow loads all of a row group's
    column chunks before its first row, and a writer may put a whole file in one."""
    return pq.ParquetFile(stream, buffer_size=PARQUET_BUFFER_BYTES, pre_buffer=False)


def _parquet_blocks(stream, fields, column_names=None) -> Iterator[Block]:
    parquet = open_parquet(stream)
    _check_unique(parquet.schema_arrow.names)
    kinds = {field.name: _kind_of_arrow(field.type) for field in parquet.schema_arrow}
    for batch in parquet.iter_batches(batch_size=PARQUET_BLOCK_ROWS):
        columns = {name: batch.column(name) for name in batch.schema.names}
        yield Block(columns, {name: kinds[name] for name in columns}, batch.num_rows)


def _check_unique(column_names: list[str]) -> None:
    """A file's columns are its fields by name: no name may stand for two of them."""
    repeated = sorted(name for name, count in Counter(column_names).items() if count > 1)
    if repeated:
        raise UnreadableFile(f"Columns are named twice: {', '.join(repeated)}.")


def _kind_of_arrow(arrow_type) -> str:
    for matches, kind in ARROW_KINDS:
        if matches(arrow_type):
            return kind
    raise UnreadableFile(f"Parquet columns of type {arrow_type} are not supported.")
