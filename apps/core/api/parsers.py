"""The API's JSON parser: DRF's, refusing what no view could store or handle."""

from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser

from apps.core.text import MAX_JSON_DEPTH, json_problem


class StrictJSONParser(JSONParser):
    """JSON whose every key and string PostgreSQL can store (no NUL, no lone surrogate),
    nested at most MAX_JSON_DEPTH levels: anything else is a 400 naming where, before any
    view sees it."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(
                f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels."
            ) from None
        if problem := json_problem(data):
            path, reason = problem
            raise ValidationError({path: [reason]})
        return data
