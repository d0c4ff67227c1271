"""Each job attempt's scratch folder on its worker's machine (the converted file, the
export's pieces, DuckDB's spill), removed when the attempt ends, and swept when a killed
worker could not remove it."""

import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from apps.core.api.inputs import as_uuid
from apps.transfers.models import TransferJob, TransferStatus

logger = logging.getLogger(__name__)
# Folders of a query checked or previewed by the web process: gone within the hour.
CHECK_PREFIX, CHECK_FOR_AT_MOST = "check-", 3600


def folder_for(job: TransferJob) -> Path:
    """A new, empty folder for the job's attempt."""
    folder = settings.TRANSFER_WORK_DIR / str(job.pk)
    shutil.rmtree(folder, ignore_errors=True)  # an earlier attempt's, if its worker died
    folder.mkdir(parents=True)
    return folder


@contextmanager
def check_folder() -> Iterator[Path]:
    """A folder for DuckDB to spill to while the web process checks or previews a query."""
    settings.TRANSFER_WORK_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.TRANSFER_WORK_DIR, prefix=CHECK_PREFIX) as path:
        yield Path(path)


def sweep_leftover_folders() -> int:
    """Remove the folders of jobs no longer running, and old ones of checked queries: a
    killed worker (or web process) leaves them behind. Run by each worker as it starts and
    by the reaper. Returns how many were removed."""
    folders = _folders()
    jobs = {path.name: path for path in folders if as_uuid(path.name)}
    running = {
        str(pk)
        for pk in TransferJob.objects.filter(
            pk__in=list(jobs), status__in=[TransferStatus.PROCESSING, TransferStatus.CANCELING]
        ).values_list("pk", flat=True)
    }
    stale = time.time() - CHECK_FOR_AT_MOST
    leftovers = [path for name, path in jobs.items() if name not in running] + [
        path
        for path in folders
        if path.name.startswith(CHECK_PREFIX) and path.stat().st_mtime < stale
    ]
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    if leftovers:
        logger.info("Removed %d job folders left by stopped workers", len(leftovers))
    return len(leftovers)


def _folders() -> list[Path]:
    try:
        return [path for path in settings.TRANSFER_WORK_DIR.iterdir() if path.is_dir()]
    except FileNotFoundError:
        return []
