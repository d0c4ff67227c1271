"""Refusing, before any view, what no view could store: a NUL character or a lone
surrogate in a URL's parts or its query (PostgreSQL stores neither)."""

from django.http import HttpResponseBadRequest, JsonResponse

from apps.core.api.errors import error_body
from apps.core.paths import API_PATHS
from apps.core.text import storable, unstorable_reason


class RefuseUnstorableText:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        fields = {
            name: [reason]
            for name, value in view_kwargs.items()
            if isinstance(value, str) and (reason := unstorable_reason(value))
        }
        for name, values in request.GET.lists():
            for text in (name, *values):
                if reason := unstorable_reason(text):
                    fields[storable(name)] = [reason]
        if not fields:
            return None
        summary = "; ".join(f"{field}: {reason[0]}" for field, reason in fields.items())
        if request.path.startswith(API_PATHS):
            body = error_body(f"Invalid request — {summary}", "VALIDATION_ERROR", fields)
            return JsonResponse(body, status=400)
        return HttpResponseBadRequest(f"Invalid request — {summary}", content_type="text/plain")
