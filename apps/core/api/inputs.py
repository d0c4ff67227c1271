"""Reading what a request sends: validated through a serializer, ids as the API writes them."""

import uuid

from django.db import models
from django.http import QueryDict
from rest_framework.exceptions import ValidationError

from apps.core.text import parse_int


def valid(serializer_class, data, *, partial: bool = False, **context) -> dict:
    """The validated data, or a 400 naming each invalid field.

    Query parameters are read as a plain dict: DRF would quietly skip an empty optional
    one (`?status=`), where the caller should hear that it is not a status."""
    from_json = not isinstance(data, QueryDict)  # a JSON body: its types must be right
    if not from_json:
        data = data.dict()
    serializer = serializer_class(
        data=data, partial=partial, context={"json": from_json, **context}
    )
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def refuse_changes(data: dict, current: dict, fixed: list[str]) -> None:
    """A PUT may send fixed fields back as they are (a GET's answer, say), not change them."""
    errors = {
        name: ["Fixed once created."]
        for name in fixed
        if name in data and str(data[name]) != str(current[name])
    }
    if errors:
        raise ValidationError(errors)


def by_id(queryset, value, field: str = "pk"):
    """The rows of `queryset` whose `field` is the id `value` names; none if it names none."""
    pk = as_id(value)
    return queryset.none() if pk is None else queryset.filter(**{field: pk})


def as_id(value) -> int | None:
    """An id from a URL or a body ("42" or 42); None if it cannot be one ("¹", "٣", "-1")."""
    return parse_int(value)


def as_uuid(value) -> uuid.UUID | None:
    """A UUID id (a job's), in its usual 36-character form; None if it is not one."""
    try:
        return uuid.UUID(str(value)) if len(str(value)) == 36 else None
    except ValueError:
        return None


def as_pk(model: type[models.Model], value):
    """`value` as an id of `model`: a UUID for models keyed by one, else a number."""
    return as_uuid(value) if isinstance(model._meta.pk, models.UUIDField) else as_id(value)
