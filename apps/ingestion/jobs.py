"""The ingestion reaper, run every minute with the scheduler's (see CRONJOBS)."""

import logging

from apps.ingestion.services import batches_reap

logger = logging.getLogger(__name__)


def reap() -> dict[str, int]:
    """Abandon batches never completed; retry those whose worker went silent."""
    found = batches_reap()
    if any(found.values()):
        logger.warning("batch reaper: %s", found)
    return found
