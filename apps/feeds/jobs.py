"""The feeds' periodic work, run with the scheduler's (see CRONJOBS)."""

import logging
import os
import re
import shutil

from apps.core.text import counted
from apps.feeds.services import feeds_wake_stalled
from apps.runner import workspaces

logger = logging.getLogger(__name__)
FOLDER = re.compile(r"^feed-\d+-(\d+)-")


def reap() -> int:
    """Wake feeds that have work but whose worker died or whose task was lost, and sweep
    this machine's folders of feed processes whose worker is gone."""
    woken = feeds_wake_stalled()
    sweep_leftover_folders()
    if woken:
        logger.warning("feed reaper: woke %s no worker was on", counted(woken, "feed"))
    return woken


def sweep_leftover_folders() -> int:
    """Remove the folders of feed processes whose worker process no longer runs (the
    kernel stopped their plugin process with it). Returns how many were removed."""
    removed = 0
    for path in workspaces.folders():
        if (match := FOLDER.match(path.name)) and not _running(int(match[1])):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
