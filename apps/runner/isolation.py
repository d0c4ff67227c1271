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

The environment is clean too (see Supervisor._spawn). What the sandbox does not do is
firewall the network: plugin code can open connections, so the database and Redis must
require a password (see README, Production).

BATCHWORKS_PLUGIN_ISOLATION says what a worker insists on: "required" (the default with
PostgreSQL) refuses to run plugin code where any of these is missing; "best-effort" (the
default on the embedded SQLite) runs with what the kernel offers and warns."""

import ctypes
import logging
import os
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)
_libc = ctypes.CDLL(None, use_errno=True)

# Syscall numbers are the same on x86_64 and arm64 (the unified table, Linux 5.13+).
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}.get(os.uname().machine)
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 4, 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
CAPABILITY_VERSION_3 = 0x20080522

# Landlock's file-system access rights, by the ABI that introduced them.
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
TRUNCATE, IOCTL_DEV = 1 << 14, 1 << 15
FILE_ONLY_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

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
DEVICES_WRITABLE = ("/dev/null", "/dev/zero", "/dev/full")


class RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


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
    abi = _libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, 0, LANDLOCK_CREATE_RULESET_VERSION)
    problems = []
    if os.geteuid() == 0 and SYS_CAPSET is None:
        problems.append(f"root's capabilities cannot be dropped on {os.uname().machine}")
    if exposed := _secrets_readable_by_plugins():
        problems.append(
            f"plugin code must read {exposed[0]}, which holds {exposed[1]}: keep the "
            "platform's data out of the Python installation's folders"
        )
    return Isolation(landlock_abi=max(abi, 0), problems=tuple(problems))


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
    """Make this process non-dumpable: processes of the same user can then neither read its
    memory or /proc/<pid>/environ nor trace it. (A child's exec makes the child dumpable
    again, so this protects the worker only.)"""
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


class Sandbox:
    """The confinement of one run's child: prepared in the worker before the fork (opening
    files is not safe between fork and exec), entered by the child just before exec."""

    def __init__(self, *, readable: list[Path], writable: list[Path]):
        self.isolation = probe()
        self.drop_capabilities = os.geteuid() == 0
        self.last_capability = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
        self.ruleset_fd = -1
        if self.isolation.landlock_abi >= 1:
            self.ruleset_fd = _ruleset(self.isolation.landlock_abi, readable, writable)

    def enter(self) -> None:
        """Runs in the child, between fork and exec: after this, no way back."""
        _checked(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        if self.drop_capabilities:
            self._drop_capabilities()
        if self.ruleset_fd >= 0:
            _checked(
                _libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, self.ruleset_fd, 0), "landlock_restrict"
            )
            os.close(self.ruleset_fd)

    def close(self) -> None:
        """In the worker, once the child has started."""
        if self.ruleset_fd >= 0:
            os.close(self.ruleset_fd)
            self.ruleset_fd = -1

    def _drop_capabilities(self) -> None:
        for capability in range(self.last_capability + 1):
            _libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0)
        _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
        header = CapHeader(CAPABILITY_VERSION_3, 0)
        data = (CapData * 2)()  # all zero: no effective, permitted or inheritable capability
        _checked(_libc.syscall(SYS_CAPSET, ctypes.byref(header), ctypes.byref(data)), "capset")


def plugin_read_paths() -> list[Path]:
    """What any run's child reads: the Python runtime (and virtualenv), the SDK, the
    system's libraries and certificates."""
    runtime = {Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).resolve().parent}
    sdk = settings.BASE_DIR / "sdk"
    return [*sorted(runtime), sdk, *(Path(p) for p in SYSTEM_READ_PATHS)]


def _ruleset(abi: int, readable: list[Path], writable: list[Path]) -> int:
    rights = FS_RIGHTS_BY_ABI[max(level for level in FS_RIGHTS_BY_ABI if level <= abi)]
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    attr = RulesetAttr(handled_access_fs=rights, handled_access_net=0, scoped=scoped)
    fd = _libc.syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.sizeof(attr), 0)
    _checked(fd, "landlock_create_ruleset")
    try:
        for path in readable:
            _allow(fd, path, (READ_FILE | READ_DIR | EXECUTE) & rights)
        for path in [*writable, *(Path(p) for p in DEVICES_WRITABLE)]:
            _allow(fd, path, rights)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _allow(ruleset_fd: int, path: Path, access: int) -> None:
    try:
        path_fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if not path.is_dir():
            access &= FILE_ONLY_RIGHTS
        rule = PathBeneathAttr(allowed_access=access, parent_fd=path_fd)
        _checked(
            _libc.syscall(
                SYS_LANDLOCK_ADD_RULE, ruleset_fd, LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(rule), 0
            ),
            f"landlock_add_rule {path}",
        )
    finally:
        os.close(path_fd)


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


def _checked(result: int, what: str) -> int:
    if result < 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")
    return result
