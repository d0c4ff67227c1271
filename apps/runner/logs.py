"""An execution's log: written in chunks as the run goes, capped, and read from an offset."""

from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.template.defaultfilters import filesizeformat

from apps.core.secrets import mask
from apps.core.text import storable
from apps.runner.models import ExecutionLogChunk


class LogWriter:
    """Collects a run's output and stores it chunk by chunk, up to EXECUTION_LOG_MAX_CHARS;
    past that it stores one notice saying so, and drops the rest."""

    def __init__(self, execution_id: int):
        self.execution_id = execution_id
        self.limit = settings.EXECUTION_LOG_MAX_CHARS
        self.stored = 0
        self.pending: list[str] = []
        self.pending_size = 0
        self.truncated = False
        self.secrets: list[str] = []  # masked in what is stored

    def write(self, text: str) -> None:
        if self.truncated or not text:
            return
        text = storable(text)  # a NUL the plugin printed would make the chunk unstorable
        room = self.limit - self.stored - self.pending_size
        if len(text) > room:
            text = text[:room] + (
                f"\n[log truncated: the {filesizeformat(self.limit)} log limit was reached; "
                "the rest of this run's output is not kept]\n"
            )
            self.truncated = True
        self.pending.append(text)
        self.pending_size += len(text)

    def flush(self, *, final: bool = False) -> None:
        """Store what was written, secrets masked. Until the `final` flush, the end that
        could be the start of a secret stays pending, so that a secret printed across two
        flushes is masked all the same."""
        if not self.pending:
            return
        raw = "".join(self.pending)
        cut = len(raw) if final else self._safe_cut(raw)
        if not cut:
            return
        text = mask(raw[:cut], self.secrets)
        from apps.runner.services import execution_log_append  # services import this module

        execution_log_append(execution_id=self.execution_id, offset=self.stored, text=text)
        self.stored += len(text)
        rest = raw[cut:]
        self.pending, self.pending_size = ([rest], len(rest)) if rest else ([], 0)

    def _safe_cut(self, raw: str) -> int:
        """Where `raw` can be cut without splitting a secret: before its last characters
        that could begin one, and before any secret that spans that point."""
        if not self.secrets:
            return len(raw)
        cut = max(0, len(raw) - max(map(len, self.secrets)) + 1)
        moved = True
        while moved:
            moved = False
            for secret in self.secrets:
                start = raw.find(secret, max(0, cut - len(secret) + 1))
                if start != -1 and start < cut < start + len(secret):
                    cut, moved = start, True
        return cut


@dataclass(frozen=True)
class LogSlice:
    text: str
    offset: int  # where `text` starts
    next_offset: int  # ask for this next to continue


def log_size(execution_id: int) -> int:
    """How many characters of the execution's log are stored so far."""
    last = ExecutionLogChunk.objects.filter(execution_id=execution_id).order_by("-offset").first()
    return last.end if last else 0


def read_log(execution_id: int, *, offset: int = 0, limit: int = 65_536) -> LogSlice:
    """Up to `limit` characters of the log from `offset` on."""
    chunks = ExecutionLogChunk.objects.filter(
        execution_id=execution_id, end__gt=offset, offset__lt=offset + limit
    ).order_by("offset")
    text = "".join(chunk.text[max(0, offset - chunk.offset) :] for chunk in chunks)[:limit]
    return LogSlice(text=text, offset=offset, next_offset=offset + len(text))


def whole_lines(piece: LogSlice) -> LogSlice:
    """The piece up to its last line end (all of it if it has none): the rest of a line
    still being written comes with the next piece."""
    end = piece.text.rfind("\n") + 1
    if not end:
        return piece
    return LogSlice(text=piece.text[:end], offset=piece.offset, next_offset=piece.offset + end)


def log_texts(execution_id: int) -> Iterator[str]:
    """The whole log, chunk by chunk, without holding it in memory."""
    chunks = ExecutionLogChunk.objects.filter(execution_id=execution_id).order_by("offset")
    yield from chunks.values_list("text", flat=True).iterator(chunk_size=100)
