"""OpenAPI: every operation documents the error answers it can give."""

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
    "409": "The object's state refuses the change (e.g. INVALID_TRANSITION, ARCHIVED).",
    "413": "The request body is too large (PAYLOAD_TOO_LARGE).",
    "415": "The Content-Type is not one this endpoint reads (UNSUPPORTED_MEDIA_TYPE).",
}


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
