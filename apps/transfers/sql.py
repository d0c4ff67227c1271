"""DuckDB over one organisation's datasets, for exports' SQL queries and imports' merges.

Each dataset is a view named after it, over its Active Parquet data, typed by its schema
(Object and Array fields as JSON). The data is handed to DuckDB as Arrow datasets, read
by pyarrow: DuckDB itself opens no file, so file access is switched off altogether
(read_csv('/etc/passwd'), COPY, ATTACH, INSTALL/LOAD all refused), extensions never load,
Python variables are not tables, and the configuration is locked before any query runs
(no SET, no PRAGMA that changes it). Only one SELECT statement is run, under a time limit
and a memory limit. Other organisations' datasets are never registered: they do not exist
for the query."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa
from django.conf import settings

from apps.core.stored import parquet_dataset
from apps.ingestion.schema import FieldType, arrow_schema
from apps.ingestion.selectors import active_data_by_dataset

# A view's columns in DuckDB: Object and Array fields hold JSON text.
JSON_FIELDS = (FieldType.OBJECT, FieldType.ARRAY)
ISO_TIMESTAMP = "%Y-%m-%dT%H:%M:%S.%gZ"


class QueryRefused(Exception):
    """The query may not run, or does not run: DuckDB's own message, or ours."""


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def connection(work_dir: Path, datasets: list | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A locked-down DuckDB (see above) with a view for each of `datasets`; extra tables
    registered by the caller must be before its first query (see `lock`)."""
    spill = work_dir / "duckdb"
    spill.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        config={
            "autoload_known_extensions": False,
            "autoinstall_known_extensions": False,
            "python_enable_replacements": False,
            "memory_limit": f"{settings.TRANSFER_QUERY_MEMORY_BYTES // 2**20}MB",
            "threads": settings.TRANSFER_QUERY_THREADS,
            "temp_directory": str(spill),
        }
    )
    try:
        con.execute("SET TimeZone = 'UTC'")  # ICU's setting, known once it has loaded
        if datasets:
            data = active_data_by_dataset([dataset.pk for dataset in datasets])
            for index, dataset in enumerate(datasets):
                register_view(
                    con, dataset.name, dataset.schema, data.get(dataset.pk, []), f"__data_{index}"
                )
        yield con
    finally:
        con.close()


def lock(con: duckdb.DuckDBPyConnection) -> None:
    """No file access and no configuration change from here on."""
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def register_view(con, name: str, schema: list[dict], stored: list[str], hidden: str) -> None:
    """`name` as a view over the stored Parquet files, each read as `schema` says (files
    written under an older schema lack its newer optional fields, or have narrower
    numbers: pyarrow fills and widens them). The Arrow data is registered as `hidden`."""
    con.register(hidden, arrow_data(stored, arrow_schema(schema)))
    columns = ", ".join(
        f"CAST({quoted(f['name'])} AS JSON) AS {quoted(f['name'])}"
        if f["type"] in JSON_FIELDS
        else quoted(f["name"])
        for f in schema
    )
    con.execute(f"CREATE VIEW {quoted(name)} AS SELECT {columns} FROM {hidden}")


def arrow_data(stored: list[str], target: pa.Schema):
    """Stored Parquet files as one Arrow dataset of the `target` schema, read lazily."""
    if not stored:
        return pa.table({field.name: pa.array([], field.type) for field in target})
    return parquet_dataset(stored, target)


def checked_select(con, query: str, params: list | None = None) -> duckdb.DuckDBPyRelation:
    """The query as a relation, bound but not run: exactly one SELECT statement."""
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as error:
        raise QueryRefused(str(error)) from None
    if len(statements) != 1:
        raise QueryRefused(f"One SELECT statement, not {len(statements)}.")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise QueryRefused(
            f"Only a SELECT is run; this is {statements[0].type.name}: exports read, and "
            "change nothing."
        )
    try:
        return con.sql(query, params=params or None)
    except duckdb.Error as error:
        raise QueryRefused(str(error)) from None


@contextmanager
def time_limit(con, seconds: float):
    """Interrupt whatever `con` runs once `seconds` have passed."""
    timer = threading.Timer(seconds, con.interrupt)
    timer.daemon = True
    timer.start()
    try:
        yield
    except duckdb.InterruptException:
        if timer.finished.is_set():
            raise QueryRefused(f"The query ran past its time limit of {seconds:g} s.") from None
        raise
    finally:
        timer.cancel()


def as_text(relation: duckdb.DuckDBPyRelation, *, nested: bool) -> duckdb.DuckDBPyRelation:
    """The relation with its dates-and-times in ISO 8601 UTC (as imports read them back),
    and, when `nested`, its maps, lists, structs and JSON as JSON text (what CSV holds)."""
    expressions = []
    for column, kind in zip(relation.columns, relation.types, strict=True):
        name, kind_name = quoted(column), str(kind)
        if kind_name.startswith("TIMESTAMP"):
            expressions.append(f"strftime({name}, '{ISO_TIMESTAMP}') AS {name}")
        elif nested and (
            kind_name == "JSON"
            or kind_name.startswith(("MAP", "STRUCT"))
            or kind_name.endswith("]")
        ):
            expressions.append(f"CAST(to_json({name}) AS VARCHAR) AS {name}")
        else:
            expressions.append(name)
    return relation.select(", ".join(expressions))
