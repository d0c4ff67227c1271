"""OpenAPI: every operation documents the error answers it can give, and every request
body what the server takes."""

from apps.core.api.fields import ECHOED

ERROR_SCHEMA = {
    "type": "object",
    "required": ["status", "error", "error_code"],
    "properties": {
        "status": {"type": "string", "enum": ["error"]},
        "error": {"type": "string", "description": "What went wrong, in words."},
        "error_code": {"type": "string", "example": "VALIDATION_ERROR"},
        "fields": {
            "type": "object",
            "description": "For invalid input: the reasons, by field.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
}
ERRORS = {
    "400": "Invalid input (VALIDATION_ERROR, with `fields`) or malformed JSON (MALFORMED_REQUEST).",
    "401": "No API token, or one that is not valid (UNAUTHORIZED).",
    "403": "Your role in the organisation does not allow this (FORBIDDEN).",
    "404": "No such object in your organisations (NOT_FOUND).",
    "405": "This method is not allowed here (METHOD_NOT_ALLOWED).",
    "406": "The Accept header asks for a format the API does not give (NOT_ACCEPTABLE).",
    "409": "The object's state refuses the change (e.g. INVALID_TRANSITION, ARCHIVED), or one "
    "with the same name or coordinates exists (CONFLICT, with `fields`).",
    "413": "The request body is too large (PAYLOAD_TOO_LARGE).",
    "415": "The Content-Type is not one this endpoint reads (UNSUPPORTED_MEDIA_TYPE).",
    "429": "Too many requests from this caller (TOO_MANY_REQUESTS): the limit in words, and "
    "a Retry-After header in seconds.",
}


# Request bodies the server takes when they name one of these sets of fields, and refuses
# otherwise: an instance names its version by id, or by its plugin's coordinates.
REQUIRED_ANY_OF = {
    "InstanceWriteRequest": (
        ("plugin_version_id",),
        ("group_id", "artifact_id", "version_id"),
        ("version_id",),
    ),
}


# DRF trims text (what str.strip() removes) before it checks that a required text is not
# blank: the schema says "not only those characters" in the same terms.
NOT_BLANK = (
    "[^" + "".join(f"\\u{ord(c):04x}" for c in map(chr, range(0x10000)) if c.isspace()) + "]"
)


def only_v1(endpoints):
    """The schema documents /v1: the batch ingestion docs' own paths are the same views."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/v1/")]


def describe_request_bodies(result, generator, request, public):
    """Every request body is a StrictSerializer's: unknown fields are refused, so the
    schema says additionalProperties false; text that must not be blank says so; and
    what one field alone cannot say is added."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if not name.endswith("Request"):
            continue
        if component.get("type") == "object":
            component["additionalProperties"] = False
        for field in component.get("properties", {}).values():
            if _is_text_that_must_not_be_blank(field):
                field["pattern"] = NOT_BLANK
        for echoed in ECHOED.get(name, ()):
            component["properties"][echoed]["readOnly"] = True
            if echoed in component.get("required", []):
                component["required"].remove(echoed)
        if name in REQUIRED_ANY_OF:
            component["anyOf"] = [{"required": list(fields)} for fields in REQUIRED_ANY_OF[name]]
    return result


def _is_text_that_must_not_be_blank(field: dict) -> bool:
    return (
        field.get("type") == "string"
        and field.get("minLength", 0) >= 1
        and not {"pattern", "format", "enum"} & set(field)
    )


def add_error_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/Error"}
    for path in result.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            for code, description in ERRORS.items():
                responses.setdefault(
                    code,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": reference}},
                    },
                )
    return result
