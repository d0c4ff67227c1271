"""Every error the API returns has one shape:

    {"status": "error", "error": "<what went wrong, in words>", "error_code": "<CODE>",
     "fields": {"<field>": ["<reason>", …]}}        # fields: only for invalid input

No request a user can send ends in a 500: bad input is a 400 naming the field, a state
that refuses the change a 409, an oversized body a 413."""

from contextlib import contextmanager

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.errors import TransitionError

# Errors whose request was fine but conflicts with what exists: a duplicate name, data
# stored under a schema a change would break. The API answers them 409.
CONFLICT_CODES = {"unique", "unique_together", "conflict"}
CODES = {
    exceptions.ParseError: "MALFORMED_REQUEST",
    exceptions.NotAuthenticated: "UNAUTHORIZED",
    exceptions.AuthenticationFailed: "UNAUTHORIZED",
    exceptions.PermissionDenied: "FORBIDDEN",
    exceptions.NotFound: "NOT_FOUND",
    exceptions.MethodNotAllowed: "METHOD_NOT_ALLOWED",
    exceptions.NotAcceptable: "NOT_ACCEPTABLE",
    exceptions.UnsupportedMediaType: "UNSUPPORTED_MEDIA_TYPE",
    exceptions.Throttled: "TOO_MANY_REQUESTS",
}


def error_body(message: str, code: str, fields: dict | None = None) -> dict:
    body: dict[str, object] = {"status": "error", "error": message, "error_code": code}
    if fields:
        body["fields"] = fields
    return body


def exception_handler(error, context):
    if isinstance(error, DjangoValidationError) and _is_conflict(error):
        fields = flatten(_django_errors(error))
        summary = "; ".join(f"{field}: {' '.join(reasons)}" for field, reasons in fields.items())
        return Response(
            error_body(f"Conflict — {summary}", "CONFLICT", fields),
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(error, DjangoValidationError):
        error = exceptions.ValidationError(_django_errors(error))
    if isinstance(error, exceptions.ValidationError):
        fields = flatten(error.detail)
        summary = "; ".join(f"{field}: {' '.join(reasons)}" for field, reasons in fields.items())
        return Response(
            error_body(f"Invalid request — {summary}", "VALIDATION_ERROR", fields),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(error, TransitionError):
        return Response(
            error_body(error.message, error.code.upper()), status=status.HTTP_409_CONFLICT
        )
    if isinstance(error, RequestDataTooBig | TooManyFieldsSent):
        return Response(
            error_body(f"The request body is too large: {error}", "PAYLOAD_TOO_LARGE"),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(error, Http404):
        error = exceptions.NotFound()
    response = drf_exception_handler(error, context)
    if response is not None:
        code = next((c for kind, c in CODES.items() if isinstance(error, kind)), "ERROR")
        message = str(error.detail) if isinstance(error, exceptions.APIException) else str(error)
        response.data = error_body(_explain(error, message), code, getattr(error, "fields", None))
    return response


class MissingReference(exceptions.NotFound):
    """A request names, in one of its fields, what is not in the caller's organisations:
    404 (as for a URL naming it), with the field it was named in."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.fields = {field: [message]}


@contextmanager
def api_field_names(**renames: str):
    """Report a service's field errors under the API's names (the model's `version` is the
    API's `plugin_version_id`)."""
    try:
        yield
    except DjangoValidationError as error:
        if not hasattr(error, "error_dict"):
            raise
        raise DjangoValidationError(
            {renames.get(field, field): errors for field, errors in error.error_dict.items()}
        ) from None


@csrf_exempt  # it changes nothing; without this a POST would get CSRF's HTML page instead
def not_found(request, *args, **kwargs):
    """Any /v1/ URL that names nothing."""
    return JsonResponse(error_body("No such endpoint.", "NOT_FOUND"), status=404)


def flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error details as {"plugin_properties[0].value": ["…"]}."""
    if isinstance(detail, dict):
        flat = {}
        for key, value in detail.items():
            name = "request" if key in ("non_field_errors", "__all__") and not prefix else key
            flat.update(flatten(value, f"{prefix}.{name}" if prefix else str(name)))
        return flat
    if isinstance(detail, list) and detail and not all(isinstance(d, str) for d in detail):
        flat = {}
        for index, item in enumerate(detail):
            flat.update(flatten(item, f"{prefix}[{index}]"))
        return flat
    if isinstance(detail, list):
        return {prefix or "request": [str(d) for d in detail]} if detail else {}
    return {prefix or "request": [str(detail)]}


def _is_conflict(error: DjangoValidationError) -> bool:
    found = error.error_dict.values() if hasattr(error, "error_dict") else [error.error_list]
    codes = {e.code for errors in found for e in errors}
    return bool(codes) and codes <= CONFLICT_CODES


def _django_errors(error: DjangoValidationError):
    if hasattr(error, "error_dict"):
        return {
            ("request" if field == "__all__" else field): messages
            for field, messages in error.message_dict.items()
        }
    return {"request": error.messages}


def _explain(error, message: str) -> str:
    if isinstance(error, exceptions.NotAuthenticated):
        return "Authentication required: send your API token as `Authorization: <token>`."
    if isinstance(error, exceptions.NotFound) and message == exceptions.NotFound.default_detail:
        return "Not found."
    return message
