"""The two statements of nearly every run on PostgreSQL, written out once instead of built
by the ORM at each run: taking the next due run (with its instance and version), and
recording its success. Building and compiling those querysets cost a no-op run more of
the worker's CPU than everything else it does for it.

What they select still comes from the querysets that define it —
Execution.objects.claimable(), open failure streaks, pending runs — compiled once per
process. On
SQLite, and for every other change of state, the services use the ORM."""

import functools

from django.db import connection, transaction
from django.db.models import BooleanField, ExpressionWrapper
from django.db.models.functions import Now

from apps.alerts.selectors import open_streaks
from apps.core.models import insert_selected
from apps.plugins.models import PluginProperty, PluginVersion
from apps.scheduling.models import (
    MAY_HAVE_TO_YIELD,
    Execution,
    ExecutionStatus,
    ExecutionStatusChange,
    InstanceProperty,
    IntegrationBatchInstance,
)


def available() -> bool:
    return connection.vendor == "postgresql"


def claim_next(*, worker: str, now) -> tuple[int | None, Execution | None]:
    """Claim the earliest run due by the database's clock, one statement: picked with its
    row locked (rows other workers hold skipped), set RUNNING from `now` for `worker`, its
    history line written, and read back with its instance and version. Returns the id of
    the run picked (None: none is due) and the run claimed — None for a run that may have
    to yield, which is left PENDING."""
    entry = ExecutionStatusChange(
        from_status=ExecutionStatus.PENDING,
        to_status=ExecutionStatus.RUNNING,
        reason="Started.",
        created_at=now,
    )
    sql, candidate_params = _claim_next()
    _, insert_params = insert_selected(entry, "claimed", connection, CLAIMED_ENTRY)
    params = [*candidate_params, ExecutionStatus.RUNNING, now, worker, now, *insert_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None, None
    picked, values = row[0], list(row[1:])
    if values[0] is None:  # may have to yield: not claimed here
        return picked, None
    execution, instance, version = (_load(model, values) for model in LOADED)
    declared, own = values
    _prefetched(version, "properties", [_from_json(PluginProperty, row) for row in declared])
    _prefetched(instance, "property_overrides", [_from_json(InstanceProperty, row) for row in own])
    instance.version = version
    execution.instance = instance
    return picked, execution


def succeed_unless_streak(
    execution: Execution, *, reason: str, end_date, result
) -> tuple[bool, bool]:
    """RUNNING → SUCCEEDED at `end_date` with `result`, and its history line, one
    statement, unless the instance has a failure streak open. Returns whether it changed
    and, if so, whether runs wait for it."""
    entry = ExecutionStatusChange(
        execution=execution,
        from_status=ExecutionStatus.RUNNING,
        to_status=ExecutionStatus.SUCCEEDED,
        reason=reason,
    )
    sql, streaks_params, waiting_params = _succeed()
    _, insert_params = insert_selected(entry, "changed", connection)
    params = [
        ExecutionStatus.SUCCEEDED,
        *(
            field.get_db_prep_save(value, connection)
            for field, value in zip(_fields("end_date", "result"), (end_date, result), strict=True)
        ),
        execution.pk,
        ExecutionStatus.RUNNING,
        *streaks_params,
        *insert_params,
        *waiting_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row is not None, bool(row and row[0])


@functools.cache
def _succeed() -> tuple[str, tuple, tuple]:
    """succeed_unless_streak()'s SQL, and the parameters of its conditions: open failure
    streaks, and runs waiting (PENDING, waits_for set)."""
    streaks_sql, streaks_params = open_streaks().values("instance_id").query.sql_with_params()
    waiting_sql, waiting_params = (
        Execution.objects.pending().values("waits_for_id").query.sql_with_params()
    )
    insert_sql, _ = insert_selected(ExecutionStatusChange(execution_id=0), "changed", connection)
    sql = f"""
        WITH changed AS (
            UPDATE {_table(Execution)} AS run SET status = %s, end_date = %s, result = %s
            WHERE run.id = %s AND run.status = %s AND NOT EXISTS (
                SELECT 1 FROM ({streaks_sql}) AS streak WHERE streak.instance_id = run.instance_id
            )
            RETURNING run.id
        ),
        entry AS ({insert_sql})
        SELECT EXISTS (
            SELECT 1 FROM ({waiting_sql}) AS waiting WHERE waiting.waits_for_id = changed.id
        )
        FROM changed
    """
    return sql, streaks_params, waiting_params


LOADED = (Execution, IntegrationBatchInstance, PluginVersion)
CLAIMED_ENTRY = {"execution_id": "claimed.id"}  # the history line's columns from the claim's


@functools.cache
def _claim_next() -> tuple[str, tuple]:
    """claim_next()'s SQL, and the parameters of its candidate's conditions."""
    candidate_sql, candidate_params = _candidate()
    insert_sql, _ = insert_selected(ExecutionStatusChange(), "claimed", connection, CLAIMED_ENTRY)
    sql = f"""
        WITH next AS ({candidate_sql}),
        claimed AS (
            UPDATE {_table(Execution)} AS run
            SET status = %s, start_date = %s, worker = %s, heartbeat_at = %s
            FROM next WHERE run.id = next.pk AND NOT next.may_yield
            RETURNING {_columns(Execution, "run")}
        ),
        entry AS ({insert_sql})
        SELECT next.pk, {_columns(Execution, "claimed")},
            {_columns(IntegrationBatchInstance, "instance")}, {_columns(PluginVersion, "version")},
            {_rows_of(PluginProperty, "version_id = version.id")},
            {_rows_of(InstanceProperty, "instance_id = instance.id")}
        FROM next
        LEFT JOIN claimed ON claimed.id = next.pk
        LEFT JOIN {_table(IntegrationBatchInstance)} AS instance
            ON instance.id = claimed.instance_id
        LEFT JOIN {_table(PluginVersion)} AS version ON version.id = instance.version_id
    """
    return sql, candidate_params


@functools.cache
def _candidate() -> tuple[str, tuple]:
    """SELECT of the next claimable run's id, and whether it may have to yield, FOR UPDATE
    SKIP LOCKED: Execution.objects.claimable(), due by the database's clock."""
    picked = (
        Execution.objects.claimable(Now())
        .annotate(may_yield=ExpressionWrapper(MAY_HAVE_TO_YIELD, output_field=BooleanField()))
        .values_list("pk", "may_yield")
        .select_for_update(skip_locked=True, of=("self",))[:1]
    )
    with transaction.atomic():  # Django compiles FOR UPDATE only inside one
        return picked.query.get_compiler(connection=connection).as_sql()


@functools.cache
def _fields(*names: str) -> list:
    by_name = {field.name: field for field in Execution._meta.concrete_fields}
    return [by_name[name] for name in names]


def _table(model) -> str:
    return _name(model._meta.db_table)


def _name(name: str) -> str:
    return connection.ops.quote_name(name)


def _columns(model, alias: str) -> str:
    return ", ".join(f"{alias}.{_name(field.column)}" for field in model._meta.concrete_fields)


def _rows_of(model, condition: str) -> str:
    """A JSON array of `model`'s rows meeting `condition`, by id, each an array of its
    columns: the version's properties and the instance's values, as effective_properties()
    would read them prefetched."""
    table = _table(model)
    columns = _columns(model, table)
    return (
        f"(SELECT COALESCE(json_agg(json_build_array({columns}) ORDER BY {table}.id), '[]') "
        f"FROM {table} WHERE {table}.{condition})"
    )


def _from_json(model, row: list):
    """An instance of `model` from its columns as _rows_of() gives them: their texts,
    numbers, booleans and JSON values are what the fields hold."""
    fields = model._meta.concrete_fields
    return model.from_db(connection.alias, [field.attname for field in fields], row)


def _prefetched(instance, name: str, objects: list) -> None:
    """Hold `objects` as `instance.<name>.all()`, as prefetch_related() does."""
    queryset = getattr(instance, name).all()
    queryset._result_cache, queryset._prefetch_done = objects, True
    cache = instance.__dict__.setdefault("_prefetched_objects_cache", {})
    cache[name] = queryset


def _load(model, values: list):
    """An instance of `model` from the first of `values` (taken off the list), converted
    as the ORM converts what it reads."""
    attnames, converters = _converters(model)
    row, values[: len(attnames)] = values[: len(attnames)], []
    for index, column, convert in converters:
        row[index] = convert(row[index], column, connection)
    return model.from_db(connection.alias, attnames, row)


@functools.cache
def _converters(model) -> tuple[list[str], list[tuple]]:
    """`model`'s attribute names, and the converters of its columns that have any."""
    fields = model._meta.concrete_fields
    converters = []
    for index, field in enumerate(fields):
        column = field.get_col(model._meta.db_table)
        for convert in connection.ops.get_db_converters(column) + field.get_db_converters(
            connection
        ):
            converters.append((index, column, convert))
    return [field.attname for field in fields], converters
