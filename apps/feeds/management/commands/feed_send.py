import json
import sys
from itertools import islice
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from rest_framework.exceptions import ValidationError

from apps.audit.context import from_command
from apps.core.api.errors import flatten
from apps.core.text import counted
from apps.feeds import services
from apps.feeds.intake import clean_updates
from apps.feeds.models import AudienceSegmentExternalFeed

CHUNK = 1000


class Command(BaseCommand):
    help = (
        "Send unit updates to a feed from JSON Lines (one update object per line: "
        '{"user_identifiers": [...], "operation": "UPSERT"}), as POST '
        "/v1/audience_segment_external_feeds/{id}/user_segment_updates does. Stored in chunks "
        f"of {CHUNK}; a bad line stops the command before its chunk is stored, naming it."
    )

    def add_arguments(self, parser):
        parser.add_argument("feed", type=int, help="The feed's id.")
        parser.add_argument(
            "file", nargs="?", type=Path, help="A .jsonl file; standard input by default."
        )
        parser.add_argument(
            "--organisation", required=True, help="The feed's organisation (name or id)."
        )

    @from_command
    def handle(self, *args, feed, file, organisation, **options):
        found = AudienceSegmentExternalFeed.objects.filter(pk=feed)
        found = (
            found.filter(organisation__pk=organisation)
            if organisation.isdigit()
            else (found.filter(organisation__name=organisation))
        )
        target = found.first()
        if target is None:
            raise CommandError(f"Organisation {organisation} has no feed {feed}.")
        if file is not None and not file.is_file():
            raise CommandError(f"No file at {file}.")
        stream = file.open(encoding="utf-8") if file else sys.stdin
        sent = 0
        try:
            lines = enumerate(stream, start=1)
            while chunk := [(n, line) for n, line in islice(lines, CHUNK) if line.strip()]:
                sent += services.updates_receive(feed=target, updates=_parsed(chunk))
        finally:
            if file:
                stream.close()
        self.stdout.write(f"Sent {counted(sent, 'update')} to feed {target.pk}.")


def _parsed(chunk: list[tuple[int, str]]) -> list[dict]:
    updates = []
    for number, line in chunk:
        try:
            updates.append(json.loads(line))
        except ValueError as error:
            raise CommandError(f"Line {number}: not JSON ({error}).") from None
    try:
        return clean_updates(updates)
    except ValidationError as refusal:
        problems = [
            _where(field, chunk) + " ".join(reasons)
            for field, reasons in flatten(refusal.detail).items()
        ]
        raise CommandError("Nothing of this chunk was sent — " + "; ".join(problems)) from None


def _where(field: str, chunk: list[tuple[int, str]]) -> str:
    """ "line 12: operation: " for the error of "[3].operation" in this chunk."""
    if not field.startswith("["):
        return f"{field}: " if field else ""
    index, _, name = field[1:].partition("].")
    return f"line {chunk[int(index)][0]}: {name}: "
