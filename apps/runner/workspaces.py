"""Each run's folder on its worker's machine: its code and scratch space, removed when the
run ends, and swept when a killed worker could not remove it."""

import logging
import re
import shutil
import tempfile
from pathlib import Path

from django.conf import settings

from apps.scheduling.models import Execution, ExecutionStatus

logger = logging.getLogger(__name__)
FOLDER = re.compile(r"^execution-(\d+)-")


def workspace_for(execution: Execution) -> Path:
    """A new, empty folder for this run, under EXECUTION_WORK_DIR."""
    return new_folder(f"execution-{execution.pk}-")


def new_folder(prefix: str) -> Path:
    """A new, empty folder under EXECUTION_WORK_DIR whose name starts with `prefix` (what
    the sweeps recognise it by)."""
    settings.EXECUTION_WORK_DIR.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=settings.EXECUTION_WORK_DIR))


def sweep_leftover_workspaces() -> int:
    """Remove the folders of runs that are no longer RUNNING: a worker killed mid-run leaves
    its folder behind. Run by the reaper and by each worker as it starts, so every machine
    is swept. Returns how many were removed."""
    by_execution: dict[int, list[Path]] = {}
    for path in folders():
        if match := FOLDER.match(path.name):
            by_execution.setdefault(int(match[1]), []).append(path)
    if not by_execution:
        return 0
    running = set(
        Execution.objects.filter(pk__in=by_execution, status=ExecutionStatus.RUNNING).values_list(
            "pk", flat=True
        )
    )
    removed = 0
    for pk, paths in by_execution.items():
        if pk not in running:
            for path in paths:
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
    if removed:
        logger.info("Removed %d run folders left by stopped workers", removed)
    return removed


def folders() -> list[Path]:
    """Every folder under EXECUTION_WORK_DIR: runs' and feed processes'."""
    try:
        return [path for path in settings.EXECUTION_WORK_DIR.iterdir() if path.is_dir()]
    except FileNotFoundError:
        return []
