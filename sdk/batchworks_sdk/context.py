import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from batchworks_sdk.ingestion import Ingestion

if TYPE_CHECKING:
    from batchworks_sdk.feeds import FeedUpdates

# Shapes whose only key carries the whole value: get() returns it bare.
SINGLE_VALUE_KEYS = ("value", "url")


class Properties(Mapping):
    """The instance's properties: the version's values, overridden by the instance's own.

    `properties.get("provider")` gives the plain value of `{"value": …}` and `{"url": …}`
    shapes and the whole object of the others; `properties.typed("provider")` gives
    `{"property_type": …, "value": {…}}` as declared."""

    def __init__(self, typed: dict[str, dict]):
        self._typed = typed

    def __getitem__(self, name: str) -> Any:
        value = self._typed[name]["value"]
        for key in SINGLE_VALUE_KEYS:
            if set(value) == {key}:
                return value[key]
        return value

    def __iter__(self):
        return iter(self._typed)

    def __len__(self):
        return len(self._typed)

    def typed(self, name: str) -> dict:
        return self._typed[name]


@dataclass
class ExecutionContext:
    """Everything a run knows about itself, and its ways to report back."""

    execution_id: int
    instance_id: int
    organisation_id: int
    execution_type: str
    expected_start_date: datetime
    # The cron fire time this run stands for: a CRON run's own, a backfill run's past one
    # (the data period to process); None for a run asked for by hand.
    fire_time: datetime | None
    attempt: int
    parameters: dict
    properties: Properties
    scratch_dir: Path
    logger: logging.Logger
    ingestion: Ingestion | None  # this platform's batch ingestion API, for this run
    feeds: "FeedUpdates | None"  # unit updates to this organisation's external feeds
    _channel: IO[str] = field(repr=False)

    def progress(
        self, *, completed: int | None = None, failed: int | None = None, total: int | None = None
    ) -> None:
        """Report how far the run has got: tasks completed, failed, and the total expected."""
        self._send({"type": "progress", "completed": completed, "failed": failed, "total": total})

    def _send(self, message: dict) -> None:
        self._channel.write(json.dumps(message) + "\n")
        self._channel.flush()
