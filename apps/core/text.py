"""Text from outside, checked before it reaches the database or a parser; and the
platform's own words about numbers and errors, said the same way everywhere.

PostgreSQL stores no NUL character (in text or jsonb) and no lone surrogate (they are not
UTF-8); Python's json reads both from "\\u0000" and "\\ud800", and `str.isdigit()` accepts
"¹" and reads "٣" as 3. Every surface reads digits and JSON through these functions."""

import json
import re
from collections.abc import Iterator

from django.core.exceptions import ValidationError

# Deeper than any honest document, shallow enough for every recursive reader after us.
MAX_JSON_DEPTH = 64
DIGITS = re.compile(r"[0-9]{1,18}")
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def parse_int(text) -> int | None:
    """A non-negative integer written in ASCII digits (at most 18 of them), else None."""
    text = str(text)
    return int(text) if DIGITS.fullmatch(text) else None


def unstorable_reason(text: str) -> str:
    """Why this text cannot be stored, or ""."""
    if (found := UNSTORABLE.search(text)) is None:
        return ""
    if found[0] == "\x00":
        return "Contains a NUL character (\\u0000), which cannot be stored."
    return f"Contains a lone surrogate (\\u{ord(found[0]):04x}), which is not valid Unicode."


def json_problem(value, path: str = "") -> tuple[str, str] | None:
    """The first place in a JSON value that cannot be stored, as (path, reason): nested
    deeper than MAX_JSON_DEPTH, or a key or string that unstorable_reason() refuses.
    Iterative, so a value of any depth is looked at safely."""
    for where, depth, item in _walk(value, path):
        if depth > MAX_JSON_DEPTH:
            return where or "request", f"Nested deeper than {MAX_JSON_DEPTH} levels."
        if isinstance(item, str) and (reason := unstorable_reason(item)):
            return where or "request", reason
    return None


def loads(text: str):
    """json.loads for what people type: ValueError, saying why, for anything json_problem()
    refuses as well as for what is not JSON."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"Nested deeper than {MAX_JSON_DEPTH} levels.") from None
    if problem := json_problem(value):
        path, reason = problem
        raise ValueError(reason if path == "request" else f"{path}: {reason}")
    return value


def validate_storable_json(value) -> None:
    """A model validator: the JSON value can be stored as it is."""
    if problem := json_problem(value):
        path, reason = problem
        raise ValidationError(reason if path == "request" else f"{path}: {reason}")


def storable(value):
    """The value with every NUL and lone surrogate (in keys and strings) replaced by U+FFFD:
    for what the platform must store whatever it holds, like a plugin's output. (Recursive:
    for values json_problem() found no deeper than MAX_JSON_DEPTH.)"""
    if isinstance(value, str):
        return UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value


def _walk(value, path: str) -> Iterator[tuple[str, int, object]]:
    stack = [(path, 0, value)]
    while stack:
        where, depth, item = stack.pop()
        yield where, depth, item
        if depth > MAX_JSON_DEPTH:
            return
        if isinstance(item, dict):
            for key, child in item.items():
                key_text = UNSTORABLE.sub("\ufffd", str(key))
                child_path = f"{where}.{key_text}" if where else key_text
                yield child_path, depth + 1, key
                stack.append((child_path, depth + 1, child))
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", depth + 1, child) for i, child in enumerate(item))


def human_bytes(size: int) -> str:
    """512 MiB, 1 GiB: a size in the units limits are set in."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} bytes"


def with_article(words: str) -> str:
    """The words after the indefinite article they take: "an active", "a RUNNING"."""
    return f"{'an' if words and words[0].lower() in 'aeiou' else 'a'} {words}"


def counted(number: int, noun: str, plural: str = "") -> str:
    """A number with its noun in the form the number calls for: "1 record", "1,234 records"."""
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"


def errors_in_brief(
    listed: list[dict], count: int, where: tuple[str, ...] = ("file", "row", "field")
) -> str:
    """A refusal's reason: "3 errors; first: file a.csv, row 1, field amount: …", or the one
    error's message alone when it is about no place. `where`: the keys that place an error
    (a job of one file need not name it)."""
    first = listed[0] if listed else {"message": "unknown"}
    place = ", ".join(f"{key} {first[key]}" for key in where if first.get(key))
    if count <= 1 and not place:
        return first["message"]
    return f"{counted(count, 'error')}; first: {place + ': ' if place else ''}{first['message']}"
