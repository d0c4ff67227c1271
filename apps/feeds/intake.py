"""What a sender may post as unit updates, checked fast (a post carries up to
FEED_MAX_UPDATES_PER_REQUEST of them): the field and the reason for each bad one, and
nothing stored unless all are good."""

from django.conf import settings
from rest_framework.exceptions import ValidationError

from apps.feeds.models import Operation

FIELDS = {"user_identifiers", "operation", "ts", "session_id"}
MAX_IDENTIFIERS = 100
MAX_ERRORS = 20


def clean_updates(data) -> list[dict]:
    """The updates of a body that is one update or a list of them."""
    updates = [data] if isinstance(data, dict) else data
    if not isinstance(updates, list) or not updates:
        raise ValidationError({"request": ["Send an update object, or a non-empty list of them."]})
    if len(updates) > settings.FEED_MAX_UPDATES_PER_REQUEST:
        raise ValidationError(
            {
                "request": [
                    f"At most {settings.FEED_MAX_UPDATES_PER_REQUEST} updates per request; "
                    f"this one has {len(updates)}."
                ]
            }
        )
    errors: dict[str, list[str]] = {}
    for index, update in enumerate(updates):
        prefix = f"[{index}]." if isinstance(data, list) else ""
        for field, reason in _problems(update):
            errors[f"{prefix}{field}"] = [reason]
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        raise ValidationError(errors)
    return updates


def _problems(update) -> list[tuple[str, str]]:
    if not isinstance(update, dict):
        return [("request", "An update is an object.")]
    problems = [(name, "Unknown field.") for name in sorted(set(update) - FIELDS)]
    identifiers = update.get("user_identifiers")
    if not isinstance(identifiers, list) or not identifiers:
        problems.append(("user_identifiers", "A non-empty list of identifier objects."))
    elif len(identifiers) > MAX_IDENTIFIERS:
        problems.append(("user_identifiers", f"At most {MAX_IDENTIFIERS} identifiers."))
    elif not all(isinstance(identifier, dict) for identifier in identifiers):
        problems.append(("user_identifiers", "Each identifier is an object."))
    if update.get("operation") not in Operation.values:
        problems.append(("operation", "UPSERT or DELETE."))
    ts = update.get("ts")
    if ts is not None and (isinstance(ts, bool) or not isinstance(ts, int) or not 0 <= ts < 2**53):
        problems.append(("ts", "Epoch milliseconds, a whole number."))
    session = update.get("session_id")
    if session is not None and (not isinstance(session, str) or len(session) > 255):
        problems.append(("session_id", "A string of at most 255 characters."))
    return problems
