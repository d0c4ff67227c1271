"""The parameters of an import or export as the batch import/export docs send them — form
fields, all text ('merge': 'False', filters as `str()` of a Python dict) — read into what
a job stores, each refused with its field's name and the reason.

Every surface (the /ls/api endpoints, the console's forms, the management commands)
reads them here, through the services."""

import ast
import csv
import io
import json

from django.core.exceptions import ValidationError

from apps.core.text import loads, unstorable_reason
from apps.ingestion.conversion import ConversionError, convert
from apps.ingestion.schema import FieldType
from apps.transfers.row_templates import ExportTemplate

# The docs' content types, and the formats they name. Imports read a JSON array or JSON
# Lines for application/json (the file's first character tells which).
IMPORT_CONTENT_TYPES = {
    "application/json": "json",
    "plain/text": "csv",
    "text/plain": "csv",
    "text/csv": "csv",
}
EXPORT_CONTENT_TYPES = IMPORT_CONTENT_TYPES
MAX_FILTERS_CHARS = 100_000
UNFILTERABLE = (FieldType.OBJECT, FieldType.MAP, FieldType.ARRAY)
INF = float("inf")
TRUE_WORDS, FALSE_WORDS = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}


def boolean(value, field: str) -> bool:
    """True or False as a form sends it ('True', 'false', '1', '' …) or as JSON does."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValidationError({field: f"True or False, not {str(value)[:40]!r}."})


def content_format(content_type: str, accepted: dict[str, str]) -> str:
    """The format a contentType names: csv or json."""
    found = accepted.get(content_type.strip().lower())
    if found is None:
        raise ValidationError(
            {"contentType": f"One of {', '.join(accepted)}, not {content_type[:60]!r}."}
        )
    return found


def sniffed_format(content_format_: str, head: bytes) -> str:
    """The import file's format, from its first bytes: csv, json (an array) or jsonl (JSON
    Lines). A file that contradicts its contentType is refused, saying what it looks like."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not text:
        raise ValidationError({"file": "The file is empty."})
    if text.startswith(b"PAR1"):
        raise ValidationError(
            {"file": "The file is Parquet: import JSON or CSV, or upload Parquet as a batch."}
        )
    if b"\x00" in head:
        raise ValidationError({"file": "The file is binary, not JSON or CSV text."})
    looks_json = text[:1] in (b"[", b"{")
    if content_format_ == "json":
        if not looks_json:
            raise ValidationError(
                {
                    "contentType": "application/json says JSON, but the file starts with "
                    f"{text[:20].decode('utf-8', 'replace')!r}: neither a JSON array nor "
                    "JSON Lines. Send plain/text for CSV."
                }
            )
        return "json" if text.startswith(b"[") else "jsonl"
    if looks_json:
        raise ValidationError(
            {"contentType": "This says CSV, but the file is JSON: send application/json."}
        )
    return "csv"


def import_mapping(
    template: str, file_format: str, schema: list[dict]
) -> tuple[dict[str, str], list[str] | None]:
    """An import's template, read: (file column → field renames, the CSV's column names
    when it has no header row). Two forms:

    - a JSON object, {"Email": "email", …}: the file's columns (or JSON keys) of those
      names go to those fields; other columns keep their names;
    - a CSV header line, `email,name,age`: the file has no header row, and these name its
      columns in order."""
    template = template.strip()
    if not template:
        return {}, None
    fields = [field["name"] for field in schema]
    if template.startswith("{"):
        return _renames(template, fields), None
    if file_format != "csv":
        raise ValidationError(
            {"template": 'For a JSON file a template maps its keys to fields: {"Email": "email"}.'}
        )
    if "\n" in template or "\r" in template:
        raise ValidationError({"template": "A header line is one line: the columns' names."})
    names = next(csv.reader(io.StringIO(template)))
    _check_targets(names, fields, "column")
    return {}, names


def _renames(template: str, fields: list[str]) -> dict[str, str]:
    try:
        renames = loads(template)
    except ValueError as error:
        raise ValidationError({"template": f"Not a JSON object: {error}"}) from None
    if not isinstance(renames, dict) or not all(isinstance(v, str) for v in renames.values()):
        raise ValidationError({"template": 'A JSON object of column → field: {"Email": "email"}.'})
    _check_targets(list(renames.values()), fields, "mapping")
    return renames


def _check_targets(names: list[str], fields: list[str], what: str) -> None:
    unknown = [name for name in names if name not in fields]
    if unknown:
        raise ValidationError(
            {
                "template": f"{', '.join(repr(n) for n in unknown[:10])}: not a field of the "
                f"dataset (its fields: {', '.join(fields[:30])})."
            }
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValidationError(
            {"template": f"Each field once: {', '.join(repeated)} is named twice ({what})."}
        )


def filter_dict(value) -> dict:
    """Filters as sent — JSON, or `str()` of a Python dict (read as a literal, never run)
    — as a dict, not yet checked against the dataset (see `filters`)."""
    if value in (None, "", {}):
        return {}
    if isinstance(value, str):
        value = _dict_text(value)
    if not isinstance(value, dict):
        raise ValidationError({"filters": "An object of field → value."})
    return value


def filters(value: dict, schema: list[dict]) -> dict:
    """An export's filters (from filter_dict), checked: field → exact value, each value
    converted to its field's type by the conversion table."""
    types = {field["name"]: field["type"] for field in schema}
    read = {}
    for name, wanted in value.items():
        where = f"filters.{name}"
        if name not in types:
            raise ValidationError({where: f"Not a field of the dataset ({', '.join(types)})."})
        if types[name] in UNFILTERABLE:
            raise ValidationError({where: f"{types[name]} fields cannot be filtered."})
        if not isinstance(wanted, str | int | float | bool | None) or wanted in (INF, -INF):
            raise ValidationError({where: "An exact value: text, a number, true or false."})
        if isinstance(wanted, float) and wanted != wanted:  # NaN
            raise ValidationError({where: "An exact value: text, a number, true or false."})
        if isinstance(wanted, str) and (reason := unstorable_reason(wanted)):
            raise ValidationError({where: reason})
        if types[name] == FieldType.BOOLEAN and isinstance(wanted, str):
            read[name] = boolean(wanted, where)  # CSV has words for booleans, so filters do
            continue
        try:
            read[name] = convert(wanted, types[name])
        except ConversionError as error:
            raise ValidationError({where: f"{error}."}) from None
    return read


def _dict_text(text: str) -> dict:
    if len(text) > MAX_FILTERS_CHARS:
        raise ValidationError({"filters": f"At most {MAX_FILTERS_CHARS} characters."})
    if reason := unstorable_reason(text):
        raise ValidationError({"filters": reason})
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ValidationError(
            {"filters": "Neither JSON nor a Python dict literal: {'field': 'value'}."}
        ) from None


def export_template(template: str, content_format_: str) -> ExportTemplate | None:
    """An export's template, compiled: each row rendered by it, in CSV exports only."""
    if not template.strip():
        return None
    if content_format_ != "csv":
        raise ValidationError({"template": "A template renders CSV rows: use text/plain."})
    return ExportTemplate.compile(template)
