"""Organisation ownership, shared by every model that belongs to one organisation."""

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import DEFAULT_DB_ALIAS, models
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
