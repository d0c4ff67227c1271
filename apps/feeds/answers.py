"""What a feed plugin's answers mean, read strictly: an answer of the wrong shape is a
failure of that one call, with a reason naming what was wrong."""

from dataclasses import dataclass, field

from apps.core.text import json_problem, storable

MAX_GROUPING_KEY = 1000
MAX_MESSAGE = 2000


class WrongShape(Exception):
    """The plugin answered something its handler must not."""


@dataclass
class UpdateOutcome:
    status: str  # ok | error | retry | no_eligible_identifier
    message: str = ""
    delay_ms: int | None = None
    lines: list[tuple[str, object]] = field(default_factory=list)  # (grouping_key, data)


@dataclass
class BatchOutcome:
    status: str  # OK | ERROR | RETRY
    message: str = ""
    delay_ms: int | None = None
    in_success: int | None = None
    in_error: int | None = None


def _object(answer, handler: str, *, checked: bool = False) -> dict:
    """The answer as an object the database can store. `checked`: the plugin process
    already found no unstorable text in it (apps.feeds.handlers), so only its type is."""
    if not isinstance(answer, dict):
        raise WrongShape(f"{handler} answered {type(answer).__name__}, not an object.")
    if checked:
        return answer
    if (problem := json_problem(answer)) and problem[1].startswith("Nested"):
        raise WrongShape(f"{handler}'s answer is {problem[1].lower()}")
    return storable(answer)


def _message(answer: dict) -> str:
    message = answer.get("message")
    return "" if message is None else str(message)[:MAX_MESSAGE]


def _delay(answer: dict) -> int | None:
    delay = answer.get("next_msg_delay_in_ms")
    if delay is None:
        return None
    if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= 86_400_000:
        raise WrongShape("next_msg_delay_in_ms must be a whole number of ms, 0 to 86400000.")
    return delay


def _count(answer: dict, name: str) -> int | None:
    value = answer.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise WrongShape(f"{name} must be a whole number of items.")
    return value


def setup(answer, handler: str) -> tuple[str, str]:
    """(status, message) of a creation or connection handler's answer."""
    answer = _object(answer, handler)
    status = answer.get("status")
    if status not in ("ok", "error", "external_segment_not_ready_yet"):
        raise WrongShape(
            f"{handler} answered status {status!r}; it answers ok, error or "
            "external_segment_not_ready_yet."
        )
    return status, _message(answer)


def troubleshoot(answer) -> dict:
    answer = _object(answer, "on_troubleshoot")
    if answer.get("status") not in ("ok", "error", "not_implemented"):
        raise WrongShape(
            f"on_troubleshoot answered status {answer.get('status')!r}; it answers ok, "
            "error or not_implemented."
        )
    return answer


def update(answer, *, batched: bool, checked: bool = False) -> UpdateOutcome:
    answer = _object(answer, "on_user_segment_update", checked=checked)
    status = answer.get("status")
    allowed = ("ok", "error", "retry", "no_eligible_identifier")
    if status not in allowed:
        raise WrongShape(
            f"on_user_segment_update answered status {status!r}; it answers {', '.join(allowed)}."
        )
    outcome = UpdateOutcome(status, _message(answer), _delay(answer))
    if status == "ok" and batched:
        outcome.lines = _lines(answer.get("data"))
    return outcome


def _lines(data) -> list[tuple[str, object]]:
    if not isinstance(data, list):
        raise WrongShape(
            'A batched feed\'s on_user_segment_update answers {"status": "ok", "data": '
            '[{"data": …, "grouping_key": "…"}, …]}: data is missing or not a list.'
        )
    lines = []
    for number, line in enumerate(data):
        if not isinstance(line, dict) or "data" not in line:
            raise WrongShape(f"data[{number}] is not an object with data and grouping_key.")
        key = line.get("grouping_key", "")
        if not isinstance(key, str) or len(key) > MAX_GROUPING_KEY:
            raise WrongShape(
                f"data[{number}].grouping_key must be a string of at most "
                f"{MAX_GROUPING_KEY} characters."
            )
        lines.append((key, line["data"]))
    return lines


def batch(answer) -> BatchOutcome:
    answer = _object(answer, "on_batch_update")
    status = str(answer.get("status", "")).upper()
    if status not in ("OK", "ERROR", "RETRY"):
        raise WrongShape(
            f"on_batch_update answered status {answer.get('status')!r}; it answers OK, "
            "ERROR or RETRY."
        )
    return BatchOutcome(
        status,
        _message(answer),
        _delay(answer),
        _count(answer, "send_items_in_success"),
        _count(answer, "send_items_in_error"),
    )
