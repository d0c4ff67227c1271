"""Organisation ownership, shared by every model that belongs to one organisation."""

import contextlib
from typing import cast

from django import forms
from django.conf import settings
from django.core.exceptions import EmptyResultSet, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from apps.core.text import MAX_JSON_DEPTH, validate_storable_json


class OrganisationScopedQuerySet(models.QuerySet):
    """Rows of the given organisations only; the model says how it reaches its owner."""

    def in_organisations(self, organisation_ids):
        return self.filter(**{f"{self.model.organisation_lookup}__in": organisation_ids})


class OrganisationOwned(models.Model):
    """A model owned by one organisation, directly or through its parents.

    `organisation_lookup` is the ORM path from the model to its Organisation, e.g.
    "plugin__organisation" for a plugin version."""

    organisation_lookup = "organisation"

    objects = OrganisationScopedQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def owner_organisation_id(self) -> int | None:
        *parents, last = self.organisation_lookup.split("__")
        obj: object = self
        for name in parents:
            obj = getattr(obj, name, None)
            if obj is None:
                return None
        return getattr(obj, f"{last}_id")


MAX_RETENTION_DAYS = 3650


def _days(help_text: str):
    return models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_RETENTION_DAYS)],
        help_text=help_text,
    )


class Retention(models.Model):
    """How long finished runs and their logs are kept (empty: for ever). An instance's own
    setting wins over its organisation's default."""

    keep_executions_days = _days("Finished executions older than this many days are deleted.")
    keep_last_runs = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(1_000_000)],
        help_text="Only this many of the latest finished executions are kept.",
    )
    keep_logs_days = _days("Logs of executions that ended this many days ago are dropped.")

    RETENTION_FIELDS = ("keep_executions_days", "keep_last_runs", "keep_logs_days")

    class Meta:
        abstract = True


class HistoryEntry(OrganisationOwned):
    """One line of an object's history: what happened is the subclass's; when, by whom
    and why are here."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True
        ordering = ["created_at", "pk"]

    def save_with_update(
        self, updated: models.QuerySet, changes: dict, *, report: models.QuerySet | None = None
    ) -> tuple[bool, bool]:
        """Apply `changes` to the row `updated` selects and, if it changed, save this entry
        of its history, atomically: one statement on PostgreSQL (a data-modifying WITH,
        no transaction to open and commit), a transaction elsewhere. Returns whether the
        row changed and, when it did, whether `report` selects any row (`report` must not
        depend on the change: PostgreSQL reads it as it stood before)."""
        connection = connections[updated.db]
        if connection.vendor != "postgresql":
            with transaction.atomic(using=updated.db, savepoint=False):
                if not updated.update(**changes):
                    return False, False
                self.save(using=updated.db)
                return True, report is not None and report.exists()
        try:
            update_sql, update_params = _update_returning_pk(updated, changes)
        except EmptyResultSet:  # selects no row, whatever the data
            return False, False
        insert_sql, insert_params = insert_selected(self, "changed", connection)
        select, select_params = _exists_in(report)
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH changed AS ({update_sql}), entry AS ({insert_sql}) {select}",
                (*update_params, *insert_params, *select_params),
            )
            row = cursor.fetchone()
        return row is not None, row is not None and row[0]


def _exists_in(report: models.QuerySet | None) -> tuple[str, tuple]:
    """SELECT, once for each changed row, whether `report` selects any row."""
    if report is not None:
        with contextlib.suppress(EmptyResultSet):  # else it selects none, whatever the data
            sql, params = report.order_by().values("pk")[:1].query.sql_with_params()
            return f"SELECT EXISTS ({sql}) FROM changed", params
    return "SELECT FALSE FROM changed", ()


def _update_returning_pk(updated: models.QuerySet, changes: dict) -> tuple[str, tuple]:
    """The SQL of `updated.update(**changes)` with RETURNING the rows' primary keys."""
    query = cast(UpdateQuery, updated.query.chain(UpdateQuery))  # as QuerySet.update() does
    query.add_update_values(changes)
    compiler = query.get_compiler(updated.db)
    compiler.returning_fields = [updated.model._meta.pk]
    return compiler.as_sql()


def insert_selected(
    template: models.Model, source: str, connection, selected: dict[str, str] | None = None
) -> tuple[str, list]:
    """INSERT … SELECT of rows like `template`, one for each row of `source` (a table, or
    any FROM item), each field as `template` has it but those `selected` names (by
    attribute name): they take that SQL expression over `source`. Returns the SQL and the
    template's values, its parameters."""
    selected = selected or {}
    quote = connection.ops.quote_name
    fields = [field for field in template._meta.concrete_fields if not field.primary_key]
    expressions, values = [], []
    for field in fields:
        if field.attname in selected:
            expressions.append(selected[field.attname])
        else:
            expressions.append("%s")
            values.append(field.get_db_prep_save(field.pre_save(template, True), connection))
    columns = ", ".join(quote(str(field.column)) for field in fields)
    sql = f"INSERT INTO {quote(template._meta.db_table)} ({columns}) "
    return sql + f"SELECT {', '.join(expressions)} FROM {source}", values


def insert_rows(template: models.Model, varying: dict[str, list]) -> None:
    """Rows of `template`'s model that differ from it only in the `varying` fields (by
    attribute name, each a list of values, one per row), leaving out rows that a unique
    constraint refuses. On PostgreSQL one INSERT … SELECT FROM unnest(…): bulk_create
    prepares every field of every row in Python, four times slower for a tick's
    thousands of runs."""
    model = type(template)
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        same = {
            field.attname: getattr(template, field.attname)
            for field in model._meta.concrete_fields
            if not field.primary_key
        }
        model._default_manager.bulk_create(
            [
                model(**(same | dict(zip(varying, row, strict=True))))
                for row in zip(*varying.values(), strict=True)
            ],
            ignore_conflicts=True,
        )
        return
    fields = [field for field in model._meta.concrete_fields if field.attname in varying]
    aliases = [connection.ops.quote_name(str(field.column)) for field in fields]
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields)
    source = f"unnest({arrays}) AS v({', '.join(aliases)})"
    selected = {field.attname: f"v.{alias}" for field, alias in zip(fields, aliases, strict=True)}
    sql, constants = insert_selected(template, source, connection, selected)
    unnested = [
        [field.get_db_prep_save(value, connection) for value in varying[field.attname]]
        for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql + " ON CONFLICT DO NOTHING", [*constants, *unnested])


class SafeJSONFormField(forms.JSONField):
    """Django's JSON form field, with a clear error rather than a crash for JSON nested so
    deep that the parser gives up."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except RecursionError:
            raise ValidationError(
                f"Nested deeper than {MAX_JSON_DEPTH} levels.", code="invalid"
            ) from None

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return forms.fields.InvalidJSONInput(data)


class StorableJSONField(models.JSONField):
    """A JSONField whose values PostgreSQL can store: no NUL character or lone surrogate,
    no absurd nesting (checked by full_clean and every form, the admin's included)."""

    default_validators = [validate_storable_json]

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": SafeJSONFormField, **kwargs})


class FieldUniqueConstraint(models.UniqueConstraint):
    """A unique constraint over several fields whose violation is reported on its last
    field: the one a user chose (a version_id within its plugin), so that forms and the
    API point at it rather than at the whole object. Its code is "unique", which the API
    answers with 409 Conflict."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("violation_error_code", "unique")
        super().__init__(*args, **kwargs)

    def validate(self, model, instance, exclude=None, using=DEFAULT_DB_ALIAS):
        try:
            super().validate(model, instance, exclude=exclude, using=using)
        except ValidationError as error:
            raise ValidationError({self.fields[-1]: error.error_list}) from error
