"""Starting plugin code in its sandboxed child process: the version's code laid out in a
folder, a clean environment, the size limits, the kernel's confinement. An execution's
run (supervisor) and a feed's warm handler process (apps.feeds.handlers) both start their
child here, so both get exactly the same confinement."""

import contextlib
import ctypes
import os
import resource
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

from django.conf import settings

from apps.runner import isolation
from apps.runner.limits import Limits

SDK_DIR = settings.BASE_DIR / "sdk"
PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def lay_out(version, workspace: Path) -> Path:
    """The version's code under workspace/code, and an empty workspace/scratch (with its
    tmp) for the plugin to write in; returns the scratch folder."""
    code_dir, scratch = workspace / "code", workspace / "scratch"
    (scratch / "tmp").mkdir(parents=True)
    code_dir.mkdir()
    module = version.entry_point.partition(":")[0]
    with version.artifact.open("rb") as artifact:
        if version.artifact_name.lower().endswith(".zip"):
            with zipfile.ZipFile(artifact) as package:
                package.extractall(code_dir)
        else:
            target = code_dir / (module.replace(".", "/") + ".py")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(artifact.read())
    return scratch


def spawn(
    *,
    workspace: Path,
    module: str,
    spec_path: Path,
    limits: Limits,
    pass_fds: tuple[int, ...],
    spread_by: int,
    stdin=subprocess.DEVNULL,
) -> subprocess.Popen:
    """`python -m <module> <spec>` as plugin code runs: in its own process group, with a
    clean environment (nothing of the worker's — database URL, secret key — leaks into
    it), under `limits`, confined to its code (read) and scratch folder (write)."""
    scratch = workspace / "scratch"
    sandbox = isolation.Sandbox(
        readable=[*isolation.plugin_read_paths(), workspace / "code", spec_path],
        writable=[scratch],
    )
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(scratch),
        "TMPDIR": str(scratch / "tmp"),
        "PYTHONPATH": os.pathsep.join([str(workspace / "code"), str(SDK_DIR)]),
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", module, str(spec_path)],
            cwd=scratch,
            env=environment,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=pass_fds,
            start_new_session=True,  # its own process group, stopped as a whole
            preexec_fn=lambda: _confine(limits, sandbox),
        )
    finally:
        sandbox.close()
    os.sched_setaffinity(process.pid, limits.cpu_set(spread_by=spread_by))
    return process


def _confine(limits: Limits, sandbox: isolation.Sandbox) -> None:
    """Runs in the child between fork and exec."""
    memory, disk = limits.memory_bytes, limits.disk_bytes
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (disk, disk))
    # A file over the limit then fails the write (EFBIG) instead of killing silently.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    sandbox.enter()
    # If the worker dies (even by SIGKILL), the kernel kills its plugin process too.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def kill_group(process: subprocess.Popen, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def folder_size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total
