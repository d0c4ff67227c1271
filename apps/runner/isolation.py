"""What keeps plugin code away from the platform it runs on.

A run's child process is confined before it executes any plugin code, by the kernel:

- **Files** (Landlock, Linux 5.13+): it reads only the Python runtime, the SDK, system
  libraries and certificates, and its own code; it writes only its own scratch folder.
  The worker's settings files, secret key, database file, uploads and other runs' folders
  are out of its reach, as is /proc (so no other process's environment).
- **Processes**: the worker makes itself non-dumpable, and Landlock keeps a confined
  process from tracing anything outside its sandbox; from Linux 6.12 Landlock also stops it
  signalling processes outside it (the worker, the web server) and reaching their abstract
  sockets.
- **Privileges**: it cannot gain any (no_new_privs); a worker running as root drops every
  capability in the child, so root's powers do not pass to plugin code.

The child is forked by the worker's fork server (apps.runner.zygote), which was started
with a clean environment and holds nothing of the worker's, so there is nothing secret in
the memory a child inherits; its environment is clean too (apps.runner.processes). What
the sandbox does not do is firewall the network: plugin code can open connections, so the
database and Redis must require a password (see README, Production).

BATCHWORKS_PLUGIN_ISOLATION says what a worker insists on: "required" (the default with
PostgreSQL) refuses to run plugin code where any of these is missing; "best-effort" (the
default on the embedded SQLite) runs with what the kernel offers and warns."""

import logging
import os
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from django.conf import settings

from apps.runner import confinement

logger = logging.getLogger(__name__)

# What every Python program reads besides the runtime: shared libraries, certificates,
# name resolution, time zones. Paths that do not exist are skipped.
SYSTEM_READ_PATHS = (
    "/usr",
    "/lib",
    "/lib64",
    "/bin",
    "/etc/ld.so.cache",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/localtime",
    "/etc/mime.types",
    "/etc/passwd",
    "/etc/group",
    "/dev/urandom",
    "/dev/random",
)


@dataclass(frozen=True)
class Isolation:
    """What this machine's kernel lets a worker do to confine plugin code."""

    landlock_abi: int  # 0: no Landlock
    problems: tuple[str, ...] = field(default=())  # besides the kernel's

    @property
    def confines_files(self) -> bool:
        return self.landlock_abi >= 1 and not self.problems

    @property
    def scopes_signals(self) -> bool:
        return self.landlock_abi >= 6

    @property
    def missing(self) -> list[str]:
        """What production's isolation has and this machine's lacks, in words."""
        missing = list(self.problems)
        if self.landlock_abi < 1:
            missing.append(
                "Landlock is not available (needs Linux 5.13+ with landlock among the "
                "kernel's LSMs): plugin code can read the worker's files and every "
                "process's environment, the worker's database credentials included"
            )
        if self.landlock_abi < 6:
            missing.append(
                "Landlock cannot scope signals before ABI 6 (Linux 6.12): plugin code can "
                "signal other processes of the worker's user"
            )
        return missing

    @property
    def production_grade(self) -> bool:
        return not self.missing

    def summary(self) -> str:
        if self.production_grade:
            return f"Landlock ABI {self.landlock_abi}: files, processes and signals confined"
        return "; ".join(self.missing)


@cache
def probe() -> Isolation:
    """This machine's isolation (the kernel does not change under a running worker)."""
    problems = []
    if os.geteuid() == 0 and confinement.SYS_CAPSET is None:
        problems.append(f"root's capabilities cannot be dropped on {os.uname().machine}")
    if exposed := _secrets_readable_by_plugins():
        problems.append(
            f"plugin code must read {exposed[0]}, which holds {exposed[1]}: keep the "
            "platform's data out of the Python installation's folders"
        )
    return Isolation(landlock_abi=confinement.landlock_abi(), problems=tuple(problems))


def required() -> bool:
    return settings.PLUGIN_ISOLATION == "required"


def refusal() -> str:
    """Why this worker must not run plugin code, or "" when it may."""
    isolation = probe()
    if isolation.production_grade or not required():
        return ""
    return (
        "This worker refuses to run plugin code: plugin isolation is not available here ("
        + "; ".join(isolation.missing)
        + "). Run workers on a kernel that has it, or set BATCHWORKS_PLUGIN_ISOLATION="
        "best-effort to run plugins without it (never where tenants do not trust each other)."
    )


def hide_worker() -> None:
    """Make the worker non-dumpable. (A process that execs becomes dumpable again, so this
    protects the worker only.)"""
    confinement.hide_process()


def plugin_read_paths() -> list[Path]:
    """What any run's child reads: the Python runtime (and virtualenv), the SDK, the
    system's libraries and certificates."""
    runtime = {Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).resolve().parent}
    sdk = settings.BASE_DIR / "sdk"
    return [*sorted(runtime), sdk, *(Path(p) for p in SYSTEM_READ_PATHS)]


def _secrets_readable_by_plugins() -> tuple[Path, str] | None:
    """A folder plugin code must read that holds the platform's data (a virtualenv inside
    the data folder, say), which no sandbox rule could then hide."""
    guarded = {
        settings.ENV_FILE: "the platform's settings",
        settings.DATA_DIR: "the platform's data",
        Path(settings.MEDIA_ROOT): "uploaded files",
        settings.EXECUTION_WORK_DIR: "other runs' folders",
    }
    for readable in plugin_read_paths():
        for secret, what in guarded.items():
            if Path(secret).resolve().is_relative_to(readable.resolve()):
                return readable, what
    return None
