"""The batch ingestion docs' conversion table, every cell of it."""

from datetime import UTC, date, datetime

import pytest

from apps.ingestion.conversion import ConversionError, convert
from apps.ingestion.schema import FieldType as T

TYPES = list(T)
# The docs' table, restated: inbound type -> the types it converts to.
DOCUMENTED = {
    T.STRING: {T.STRING, T.BYTE, T.SHORT, T.INTEGER, T.LONG, T.DOUBLE, T.DATE, T.DATE_TIME},
    T.BYTE: {T.STRING, T.BYTE, T.SHORT, T.INTEGER, T.LONG, T.DOUBLE},
    T.SHORT: {T.STRING, T.BYTE, T.SHORT, T.INTEGER, T.LONG, T.DOUBLE},
    T.INTEGER: {T.STRING, T.BYTE, T.SHORT, T.INTEGER, T.LONG, T.DOUBLE},
    T.LONG: {T.STRING, T.BYTE, T.SHORT, T.INTEGER, T.LONG, T.DOUBLE, T.DATE, T.DATE_TIME},
    T.DOUBLE: {T.STRING, T.BYTE, T.SHORT, T.INTEGER, T.LONG, T.DOUBLE},
    T.DATE: {T.DATE},
    T.DATE_TIME: {T.DATE_TIME},
    T.OBJECT: {T.OBJECT, T.MAP},
    T.MAP: {T.OBJECT, T.MAP},
    T.BOOLEAN: {T.BOOLEAN},  # "Booleans and arrays cannot be converted to other types."
    T.ARRAY: {T.ARRAY},
}
MOMENT = datetime(2018, 7, 10, 23, 5, 59, tzinfo=UTC)  # 2018-07-10T15:05:59-08:00
# A value of each inbound type that converts to each target it may, and what it gives.
STRING_FOR = {
    T.STRING: ("hello", "hello"),
    T.DATE: ("2018-07-10", date(2018, 7, 10)),
    T.DATE_TIME: ("2018-07-10T15:05:59.000-08:00", MOMENT),
}
NUMBER_RESULTS = {
    T.STRING: "42",
    T.BYTE: 42,
    T.SHORT: 42,
    T.INTEGER: 42,
    T.LONG: 42,
    T.DOUBLE: 42.0,
}
SAMPLES = {
    T.BYTE: 42,
    T.SHORT: 42,
    T.INTEGER: 42,
    T.LONG: 1531263959000,
    T.DOUBLE: 42.0,
    T.DATE: date(2018, 7, 10),
    T.DATE_TIME: MOMENT,
    T.OBJECT: {"a": 1},
    T.MAP: {"a": "1"},
    T.BOOLEAN: True,
    T.ARRAY: [1, "two"],
}


def sample(inbound: str, target: str):
    """(value, expected) for a documented conversion."""
    if inbound == T.STRING:
        return STRING_FOR.get(target, ("42", NUMBER_RESULTS.get(target)))
    if inbound == T.LONG:
        long_results = {T.DATE: date(2018, 7, 10), T.DATE_TIME: MOMENT}
        if target in long_results:
            return 1531263959000, long_results[target]
        return 42, NUMBER_RESULTS[target]
    if inbound in NUMBER_RESULTS:
        return SAMPLES[inbound], NUMBER_RESULTS[
            target
        ] if target != T.STRING or inbound != T.DOUBLE else "42.0"
    results = {
        T.OBJECT: '{"a": 1}' if inbound == T.OBJECT else '{"a": "1"}',
        T.MAP: {"a": "1"},
        T.ARRAY: '[1, "two"]',
    }
    return SAMPLES[inbound], results.get(target, SAMPLES[inbound])


CELLS = [(inbound, target) for inbound in TYPES for target in TYPES]


@pytest.mark.parametrize(("inbound", "target"), CELLS, ids=[f"{i}->{t}" for i, t in CELLS])
def test_every_cell_of_the_conversion_table(inbound, target):
    if target in DOCUMENTED[inbound]:
        value, expected = sample(inbound, target)
        assert convert(value, target, inbound) == expected
    else:
        with pytest.raises(
            ConversionError, match=f"{inbound} values cannot be converted to {target}"
        ):
            convert(SAMPLES.get(inbound, "x"), target, inbound)


@pytest.mark.parametrize(
    ("value", "target", "reason"),
    [
        ("abc", T.INTEGER, "'abc' is not a whole number"),
        ("4.5", T.LONG, "'4.5' is not a whole number"),
        (4.5, T.INTEGER, "4.5 is not a whole number"),
        (300, T.BYTE, "300 is out of the Byte range [-128, 127]"),
        ("40000", T.SHORT, "40000 is out of the Short range [-32768, 32767]"),
        (2**31, T.INTEGER, "out of the Integer range"),
        ("NaN", T.DOUBLE, "'NaN' is not a finite number"),
        ("ten", T.DOUBLE, "'ten' is not a number"),
        ("10/07/2018", T.DATE, "is not an ISO 8601 date"),
        ("yesterday", T.DATE_TIME, "is not an ISO 8601 date-time"),
        ({"a": {"nested": 1}}, T.MAP, "map values are text or numbers; 'a' holds an Object"),
    ],
)
def test_values_that_do_not_fit_say_why(value, target, reason):
    with pytest.raises(ConversionError, match=reason.replace("[", r"\[").replace("(", r"\(")):
        convert(value, target)


def test_kinds_are_read_from_json_values():
    assert convert(" 42 ", T.INTEGER) == 42
    assert convert(7, T.DATE_TIME) == datetime(1970, 1, 1, 0, 0, 0, 7000, tzinfo=UTC)
    assert convert("1531263959000", T.DATE_TIME) == MOMENT  # CSV's epoch milliseconds
    assert convert("1531263959000", T.DATE) == date(2018, 7, 10)
    assert convert("2018-07-10T15:05:59", T.DATE_TIME) == datetime(
        2018, 7, 10, 15, 5, 59, tzinfo=UTC
    )
    assert convert(True, T.BOOLEAN) is True
    assert convert(None, T.INTEGER) is None
    with pytest.raises(ConversionError, match="Boolean values cannot be converted to Integer"):
        convert(True, T.INTEGER)


TRICKY_TEXT = [
    "1",
    "+2",
    "-3",
    " 4",
    "5 ",
    "007",
    "-0",
    "1e3",
    "0x10",
    "2.5",
    ".5",
    "5.",
    "1_000",
    "nan",
    "inf",
    "-inf",
    "9223372036854775808",
    "127",
    "128",
    "-129",
    "",
    None,
]


def scalar_column(values, kind, target):
    """The column as `convert` makes it, or None if any value fails."""
    try:
        return [convert(value, target, kind) for value in values]
    except ConversionError:
        return None


@pytest.mark.parametrize("target", [T.BYTE, T.SHORT, T.INTEGER, T.LONG, T.DOUBLE])
@pytest.mark.parametrize("text", TRICKY_TEXT)
def test_arrows_fast_path_converts_text_exactly_as_the_table_does(text, target):
    import pyarrow as pa

    from apps.ingestion.processing import arrow_conversion

    column = pa.array([text, "12", None], pa.string())
    fast = arrow_conversion(column, T.STRING, target)
    slow = scalar_column(column.to_pylist(), T.STRING, target)
    if fast is not None:  # used only where it agrees value for value
        assert slow is not None and fast.to_pylist() == slow


def test_plain_columns_take_the_fast_path():
    import pyarrow as pa

    from apps.ingestion.processing import arrow_conversion

    assert arrow_conversion(pa.array(["1", "-2", None]), T.STRING, T.INTEGER).to_pylist() == [
        1,
        -2,
        None,
    ]
    assert arrow_conversion(pa.array(["1.5", "2"]), T.STRING, T.DOUBLE).to_pylist() == [1.5, 2.0]
    assert arrow_conversion(pa.array(["a"]), T.STRING, T.DATE) is None  # left to the table


TRICKY_DATE_TIMES = [
    "2018-07-10T15:05:59Z",
    "2018-07-10T15:05:59.123Z",
    "2018-07-10T15:05:59.1+02:00",
    "2018-07-10 15:05:59-08:00",
    "2018-07-10T15:05:59",
    "2018-07-10T15:05:59.5",
    "2018-07-10T15:05",
    "2018-07-10T15:05:59.123456Z",
    "2018-02-30T00:00:00Z",
    "2018-02-29T00:00:00",
    "2020-02-29T23:59:59+23:59",
    "2018-07-10T24:00:00Z",
    "2018-07-10T23:59:60Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999Z",
    " 2018-07-10T15:05:59Z",
    "1531263959000",
    "-62135596800000",
    "253402300799999",
    "253402300800000",
    "2018-07-10",
    "20180710",
    "",
    None,
]


@pytest.mark.parametrize("target", [T.DATE_TIME, T.DATE])
@pytest.mark.parametrize("text", TRICKY_DATE_TIMES)
def test_arrows_fast_path_reads_dates_exactly_as_the_table_does(text, target):
    import pyarrow as pa

    from apps.ingestion.processing import arrow_conversion

    for companion in ("2018-07-10T15:05:59Z", "2018-07-10T15:05:59", "1531263959000", "2018-07-10"):
        column = pa.array([text, companion, None], pa.string())
        fast = arrow_conversion(column, T.STRING, target)
        slow = scalar_column(column.to_pylist(), T.STRING, target)
        if fast is not None:  # used only where it agrees value for value
            assert slow is not None and fast.to_pylist() == slow, (text, companion)


def test_iso_dates_and_times_take_the_fast_path():
    import pyarrow as pa

    from apps.ingestion.processing import arrow_conversion

    for column, target in [
        (["2018-07-10T15:05:59.000-08:00", "2018-07-10T15:05:59Z"], T.DATE_TIME),
        (["2018-07-10 15:05:59.000", "2018-07-10T00:00:00"], T.DATE_TIME),
        (["1531263959000", "-1"], T.DATE_TIME),
        (["2018-07-10", None], T.DATE),
    ]:
        assert arrow_conversion(pa.array(column), T.STRING, target) is not None, column


# JSON values of every JSON type, for fields of each type Arrow reads JSON Lines as.
TRICKY_JSON = [
    "1",
    "-5",
    "12.0",
    "1.5",
    '"12"',
    '"1.5"',
    "true",
    "null",
    "9223372036854775807",
    "2147483648",
    "9007199254740993",
    "1e308",
    "1531263959000",
    '"x"',
    '"é"',
    '"2018-07-10T15:05:59Z"',
    '"2018-07-10T15:05:59"',
    '"2018-07-10"',
    '"true"',
    '{"a": 1}',
    "[1, 2]",
]
JSON_FIELD_TYPES = [T.LONG, T.INTEGER, T.BYTE, T.DOUBLE, T.STRING, T.BOOLEAN, T.DATE_TIME, T.DATE]


def staged(file_format: str, text: str, schema: list[dict]):
    """What staging makes of one file: its converted rows and the errors it lists."""
    import io

    from apps.ingestion.processing import ErrorLog, converted_tables

    errors = ErrorLog(limit=100)
    stream = io.BytesIO(text.encode())
    rows = [
        row
        for _, table in converted_tables(stream, "file", file_format, schema, errors)
        for row in table.to_pylist()
    ]
    return rows, errors.in_reading_order()


@pytest.mark.parametrize("target", JSON_FIELD_TYPES)
@pytest.mark.parametrize("value", TRICKY_JSON)
def test_json_lines_read_by_arrow_stage_exactly_as_read_value_by_value(value, target):
    """JSON Lines go through Arrow's reader with the dataset's types; a JSON array goes
    value by value through the table. The same records must give the same rows and the
    same errors, on the same rows, whichever way they were read."""
    schema = [
        {"name": "tricky", "type": target, "required": True},
        {"name": "id", "type": T.LONG, "required": False},
    ]
    good = {T.LONG: "7", T.INTEGER: "7", T.BYTE: "7", T.DOUBLE: "0.5", T.STRING: '"ok"'}
    companion = good.get(
        target, {T.BOOLEAN: "false", T.DATE: '"2018-07-10"'}.get(target, '"2018-07-10T15:05:59Z"')
    )
    records = [
        f'{{"tricky": {companion}, "id": 1}}',
        f'{{"tricky": {value}, "id": 2}}',
        '{"id": 3}',
    ]
    lines = staged("jsonl", "\n".join(records) + "\n", schema)
    array = staged("json", "[" + ",".join(records) + "]", schema)
    assert lines == array


def test_a_json_lines_number_past_any_long_is_out_of_range_on_its_row():
    schema = [{"name": "n", "type": T.LONG, "required": False}]
    rows, errors = staged("jsonl", '{"n": 1}\n{"n": 9223372036854775808}\n', schema)
    assert rows == [{"n": 1}, {"n": None}]
    assert [(error["row"], error["field"]) for error in errors] == [(2, "n")]
    assert "out of the Long range" in errors[0]["message"]


def test_plain_json_lines_are_read_by_arrow_whole_columns():
    import io

    import pyarrow as pa

    from apps.ingestion.readers import read_blocks

    text = '{"n": 1, "at": 1531263959000, "on": "2018-07-10", "x": 0.5}\n' * 3
    fields = {"n": T.LONG, "at": T.DATE_TIME, "on": T.DATE, "x": T.DOUBLE}
    (block,) = read_blocks(io.BytesIO(text.encode()), "jsonl", fields)
    assert all(isinstance(column, pa.Array) for column in block.columns.values())
    assert block.kinds == {"n": T.LONG, "at": T.LONG, "on": T.STRING, "x": T.DOUBLE}


# CSV cells (as they stand between commas) for fields of every type CSV is read as.
TRICKY_CSV = [
    *[text for text in TRICKY_TEXT if text],
    *[text for text in TRICKY_DATE_TIMES if text],
    "true",
    "False",
    "TRUE",
    " true",
    "tRuE",
    "yes",
    "1",
    "x",
    '"12"',
    '""',
    '"a, b"',
    '"two\nlines"',
    "é",
]
CSV_FIELD_TYPES = [T.LONG, T.BYTE, T.DOUBLE, T.STRING, T.BOOLEAN, T.DATE_TIME, T.DATE]
CSV_COMPANIONS = {
    T.LONG: "7",
    T.BYTE: "7",
    T.DOUBLE: "0.5",
    T.STRING: "ok",
    T.BOOLEAN: "false",
    T.DATE: "2018-07-10",
}


def staged_as_text(monkeypatch, text: str, schema: list[dict]):
    """What staging makes of a CSV file when every piece is read as text, each value
    converted by the table: the reference the reading by types must agree with."""
    from apps.ingestion.readers import CsvReading

    with monkeypatch.context() as patch:
        patch.setattr(
            CsvReading,
            "block",
            lambda self, piece, *, header: self.text_block(
                piece, None if header else self.column_names
            ),
        )
        return staged("csv", text, schema)


@pytest.mark.parametrize("target", CSV_FIELD_TYPES)
@pytest.mark.parametrize("cell", TRICKY_CSV)
def test_csv_read_with_the_fields_types_stages_exactly_as_text_read_value_by_value(
    monkeypatch, cell, target
):
    """CSV goes through Arrow's reader with the fields' types where its parsing agrees
    with the table; a piece it refuses is read again as text. The same file must give
    the same rows and the same errors, on the same rows, as reading it all as text."""
    schema = [
        {"name": "tricky", "type": target, "required": True},
        {"name": "id", "type": T.LONG, "required": False},
    ]
    companion = CSV_COMPANIONS.get(target, "2018-07-10T15:05:59Z")
    text = f"tricky,id\n{companion},1\n{cell},2\n,3\n"
    assert staged("csv", text, schema) == staged_as_text(monkeypatch, text, schema)


@pytest.mark.parametrize(
    ("first", "later", "expected"),
    [
        ("2018-07-10T15:05:59Z", "2018-07-10 16:05:59+01:00", "2018-07-10T15:05:59Z"),
        ("2018-07-10T15:05:59", "2018-07-10 15:05", "2018-07-10T15:05:00Z"),
        ("1531263959000", "1531263959000", "2018-07-10T23:05:59Z"),
        # a column whose form changes half-way: the later pieces are read as text
        ("2018-07-10T15:05:59", "2018-07-10T15:05:59-08:00", "2018-07-10T23:05:59Z"),
        ("2018-07-10T15:05:59Z", "1531263959000", "2018-07-10T23:05:59Z"),
    ],
)
def test_csv_date_times_are_read_by_the_form_of_the_first(monkeypatch, first, later, expected):
    from apps.ingestion import readers

    monkeypatch.setattr(readers, "CSV_PIECE_BYTES", 64)  # many pieces, the first one alone
    schema = [{"name": "at", "type": T.DATE_TIME, "required": True}]
    text = "at\n" + f"{first}\n" * 4 + f"{later}\n" * 40
    rows, errors = staged("csv", text, schema)
    assert errors == []
    assert rows[-1]["at"] == datetime.fromisoformat(expected)
    assert rows == staged_as_text(monkeypatch, text, schema)[0]


def test_plain_csv_is_read_by_arrow_with_the_fields_types():
    import io

    from apps.ingestion.readers import read_blocks

    text = (
        "n,d,ok,on,at,naive,label\n1,0.5,true,2018-07-10,2018-07-10T15:05:59Z,2018-07-10 15:05,a\n"
    )
    fields = {
        "n": T.INTEGER,
        "d": T.DOUBLE,
        "ok": T.BOOLEAN,
        "on": T.DATE,
        "at": T.DATE_TIME,
        "naive": T.DATE_TIME,
        "label": T.STRING,
    }
    (block,) = read_blocks(io.BytesIO(text.encode()), "csv", fields)
    assert block.kinds == {**fields, "n": T.LONG}  # read as Arrow's types, an Integer as int64
    # An x anywhere in a piece, and whole numbers are read as text: Arrow reads 0x10 as 16.
    (block,) = read_blocks(io.BytesIO(text.replace(",a\n", ",x\n").encode()), "csv", fields)
    assert block.kinds["n"] == T.STRING


def test_hexadecimal_is_not_a_whole_number_in_csv():
    schema = [{"name": "n", "type": T.LONG, "required": False}]
    rows, errors = staged("csv", "n\n1\n0x10\n", schema)
    assert rows == [{"n": 1}, {"n": None}]
    assert [(error["row"], error["message"]) for error in errors] == [
        (2, "'0x10' is not a whole number.")
    ]


@pytest.mark.parametrize("line_break", ["\n", "\r\n", "\r"])
def test_csv_values_holding_line_breaks_survive_every_cut_into_pieces(monkeypatch, line_break):
    """The file is cut into pieces of whole rows: never inside a quoted value, whatever
    line breaks and doubled quotes it holds, wherever the cut falls."""
    import csv
    import io

    from apps.ingestion import readers

    rows = [
        {"id": n, "note": f'line {n}{line_break}said ""hi""{line_break * (n % 3)}', "x": n / 2}
        for n in range(60)
    ]
    text = "id,note,x" + line_break
    text += "".join(f'{row["id"]},"{row["note"]}",{row["x"]}{line_break}' for row in rows)
    expected = [
        {"id": int(row["id"]), "note": row["note"], "x": float(row["x"])}
        for row in csv.DictReader(io.StringIO(text, newline=""))
    ]
    schema = [
        {"name": "id", "type": T.LONG, "required": True},
        {"name": "note", "type": T.STRING, "required": True},
        {"name": "x", "type": T.DOUBLE, "required": True},
    ]
    for piece_bytes in (7, 64, 100, 333, 1 << 20):
        monkeypatch.setattr(readers, "CSV_PIECE_BYTES", piece_bytes)
        monkeypatch.setattr(readers, "CSV_BLOCK_BYTES", max(piece_bytes // 3, 16))
        assert staged("csv", text, schema) == (expected, []), piece_bytes


def test_a_double_that_is_not_finite_is_refused_from_parquet_too():
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from apps.ingestion.processing import ErrorLog, converted_tables

    data = io.BytesIO()
    pq.write_table(pa.table({"x": pa.array([1.5, float("nan"), float("inf")])}), data)
    data.seek(0)
    errors = ErrorLog(limit=10)
    schema = [{"name": "x", "type": T.DOUBLE, "required": False}]
    ((_, table),) = converted_tables(data, "f.parquet", "parquet", schema, errors)
    assert table.column("x").to_pylist() == [1.5, None, None]
    assert [(error["row"], error["message"]) for error in errors.in_reading_order()] == [
        (2, "nan is not a finite number."),
        (3, "inf is not a finite number."),
    ]


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_a_file_naming_a_column_twice_is_refused_whole(file_format):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from apps.ingestion.processing import ErrorLog, converted_tables

    if file_format == "csv":
        data = io.BytesIO(b"n,label,n\n1,a,2\n")
    else:
        data = io.BytesIO()
        pq.write_table(pa.table([[1], ["a"], [2]], names=["n", "label", "n"]), data)
        data.seek(0)
    errors = ErrorLog(limit=10)
    schema = [{"name": "n", "type": T.LONG, "required": False}]
    assert list(converted_tables(data, "f", file_format, schema, errors)) == []
    assert [error["message"] for error in errors.listed] == ["Columns are named twice: n."]


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:100] + b"\0" * 2000 + data[2100:],  # a compressed page
        lambda data: data[:-200] + b"\xff" * 192 + data[-8:],  # the footer
        lambda data: data[: len(data) // 2],  # truncated
    ],
)
def test_a_damaged_parquet_file_is_unreadable_not_a_storage_error_to_retry(damage):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from apps.ingestion.processing import ErrorLog, converted_tables

    data = io.BytesIO()
    pq.write_table(pa.table({"n": list(range(100_000))}), data)
    errors = ErrorLog(limit=10)
    schema = [{"name": "n", "type": T.LONG, "required": False}]
    damaged = io.BytesIO(damage(data.getvalue()))
    for _ in converted_tables(damaged, "f.parquet", "parquet", schema, errors):
        pass
    assert [error["message"][:19] for error in errors.listed] == ["Not valid PARQUET: "]


ROWS_OF = {
    "csv": lambda notes: "note\n" + "".join(f'"{note}"\n' for note in notes),
    "jsonl": lambda notes: "".join(f'{{"note": "{note}"}}\n' for note in notes),
    "json": lambda notes: "[" + ",".join(f'{{"note": "{note}"}}' for note in notes) + "]",
}


@pytest.mark.parametrize("file_format", ROWS_OF)
def test_a_row_past_the_limit_makes_its_file_unreadable_without_holding_it_all(
    monkeypatch, file_format
):
    """A file whose rows never end (one line of gigabytes) would otherwise be held whole
    in a worker's memory while it waits for the end of the row."""
    from apps.ingestion import readers

    monkeypatch.setattr(readers, "MAX_ROW_BYTES", 256 << 10)
    monkeypatch.setattr(readers, "CSV_PIECE_BYTES", 16 << 10)
    monkeypatch.setattr(readers, "JSON_LINES_CHUNK_BYTES", 16 << 10)
    schema = [{"name": "note", "type": T.STRING, "required": False}]
    many_short_rows = ROWS_OF[file_format](["short\\nrow"] * 100_000)  # 1.5 MB or more
    rows, errors = staged(file_format, many_short_rows, schema)
    assert (len(rows), errors) == (100_000, [])
    # A row longer than a piece, but within the limit, is read whole.
    rows, errors = staged(file_format, ROWS_OF[file_format](["a", "x" * (200 << 10), "b"]), schema)
    assert ([len(row["note"]) for row in rows], errors) == ([1, 200 << 10, 1], [])
    # Ending just past the limit (for a JSON array, past it by more than ijson reads at a
    # time, 64 KiB: it is counted from the read after the row before it ended), and far.
    just_past = (256 + (80 if file_format == "json" else 8)) << 10
    for length in (just_past, 512 << 10):
        one_long_row = ROWS_OF[file_format](["short", "x" * length, "short"])
        _, errors = staged(file_format, one_long_row, schema)
        assert [error["message"] for error in errors] == ["A row is longer than 256 KiB."]


def test_a_json_array_of_big_rows_comes_in_blocks_of_bounded_size(monkeypatch):
    import io

    from apps.ingestion import readers

    monkeypatch.setattr(readers, "JSON_BLOCK_BYTES", 1 << 20)
    text = ROWS_OF["json"](["x" * (100 << 10)] * 40)  # 4 MB in 40 rows
    blocks = list(readers.read_blocks(io.BytesIO(text.encode()), "json", {"note": T.STRING}))
    assert sum(block.rows for block in blocks) == 40
    assert max(block.rows for block in blocks) <= 12  # 1 MiB, and the reader's buffer


def test_a_parquet_file_of_one_huge_row_group_is_read_a_buffer_at_a_time(tmp_path):
    """Arrow would otherwise load all of a row group's column chunks before its first
    row: a file written as one row group would be held whole in a worker's memory. The
    growth of the peak is measured in a process of its own, which has read nothing else."""
    import subprocess
    import sys

    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.processes import ROOT

    one_group = tmp_path / "one-group.parquet"
    sevens = pa.table({"n": pa.repeat(7, 8_000_000)})
    pq.write_table(
        sevens, one_group, row_group_size=8_000_000, compression="none", use_dictionary=False
    )
    assert one_group.stat().st_size > 60 << 20

    rows, growth = subprocess.run(
        [sys.executable, "-c", READ_AND_TELL_PEAK, str(one_group)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert int(rows) == 8_000_000
    assert int(growth) < 40  # MiB: the file's one row group is 61 MiB


READ_AND_TELL_PEAK = """
import os, sys
from apps.ingestion.readers import read_blocks
from tests.processes import peak_memory_mib
at_rest = peak_memory_mib(os.getpid())
with open(sys.argv[1], "rb") as stream:
    rows = sum(block.rows for block in read_blocks(stream, "parquet", {"n": "Long"}))
print(rows, peak_memory_mib(os.getpid()) - at_rest)
"""
