"""The envelope of every answer, `{"status": "ok", "data": …}`, and list pagination."""

from django.conf import settings
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from apps.core.api.fields import StrictSerializer

MAX_RESULTS_DEFAULT = 50


def ok(data, status: int = 200) -> Response:
    return Response({"status": "ok", "data": data}, status=status)


class PageParameters(StrictSerializer):
    first_result = serializers.IntegerField(
        min_value=0,
        max_value=settings.API_MAX_FIRST_RESULT,
        default=0,
        error_messages={
            "max_value": "Pages start at most at {max_value}: narrow the list with filters instead."
        },
    )
    max_results = serializers.IntegerField(
        min_value=1,
        max_value=settings.API_MAX_RESULTS,
        default=MAX_RESULTS_DEFAULT,
        error_messages={"max_value": "At most {max_value} per page."},
    )


def page(queryset, serializer_class, params: dict, context=None) -> Response:
    """One page of `queryset`. `count` counts matching rows up to API_COUNT_LIMIT (past it,
    it stays there: a huge table is not counted on every request); `has_more` says
    whether another page follows."""
    first, size = params["first_result"], params["max_results"]
    rows = list(queryset[first : first + size + 1])
    has_more = len(rows) > size
    rows = rows[:size]
    count = queryset.order_by()[: settings.API_COUNT_LIMIT].count()
    return Response(
        {
            "status": "ok",
            "data": serializer_class(rows, many=True, context=context).data,
            "count": count,
            "first_result": first,
            "max_results": size,
            "has_more": has_more,
        }
    )


_envelopes: dict[str, serializers.Serializer] = {}


def envelope(serializer_class, *, many: bool = False):
    """The documented shape of an answer carrying `serializer_class` (OpenAPI)."""
    name = serializer_class.__name__.removesuffix("Serializer") + ("Page" if many else "Response")
    if name not in _envelopes:
        fields = {
            "status": serializers.ChoiceField(choices=["ok"]),
            "data": serializer_class(many=many),
        }
        if many:
            fields |= {
                "count": serializers.IntegerField(),
                "first_result": serializers.IntegerField(),
                "max_results": serializers.IntegerField(),
                "has_more": serializers.BooleanField(),
            }
        _envelopes[name] = inline_serializer(name=name, fields=fields)
    return _envelopes[name]
