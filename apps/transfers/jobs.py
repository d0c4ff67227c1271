"""The jobs' periodic work, run with the scheduler's (see CRONJOBS)."""

import logging

from apps.core.text import counted
from apps.transfers.scratch import sweep_leftover_folders
from apps.transfers.services import files_remove_expired, jobs_reap

logger = logging.getLogger(__name__)


def reap() -> dict[str, int]:
    """Retry jobs whose worker went silent; hand lost hand-overs over again; sweep this
    machine's scratch folders of jobs that ended."""
    found = jobs_reap()
    sweep_leftover_folders()
    if any(found.values()):
        logger.warning("transfer reaper: %s", found)
    return found


def remove_expired_files() -> int:
    """Remove the files of exports whose links have expired."""
    removed = files_remove_expired()
    if removed:
        logger.info("removed %s", counted(removed, "expired export file"))
    return removed
