"""The kernel's confinement of one plugin process: size limits, CPUs, no new privileges,
no capabilities, Landlock's file rules and scopes, death with its parent.

This module imports nothing of Django's: the fork server (apps.runner.zygote) runs it in
each child it forks, and the fork server must hold nothing of the worker's. What to
confine to — the paths, the limits, the Landlock ABI — is decided by the worker
(apps.runner.isolation, apps.runner.processes) and sent with each request."""

import ctypes
import os
import resource
import signal
import stat
from dataclasses import dataclass
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)

# Syscall numbers are the same on x86_64 and arm64 (the unified table, Linux 5.13+).
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}.get(os.uname().machine)
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP = 1, 4, 24
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 47, 4
CAPABILITY_VERSION_3 = 0x20080522

# Landlock's file-system access rights, by the ABI that introduced them.
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
TRUNCATE, IOCTL_DEV = 1 << 14, 1 << 15
FILE_ONLY_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1
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
class Confinement:
    """Everything one plugin process is held to, as the worker decided it."""

    memory_bytes: int
    disk_bytes: int
    cpus: list[int]
    landlock_abi: int  # 0: no Landlock on this kernel
    shared_readable: list[str]  # what every plugin process reads: runtime, SDK, system
    readable: list[str]  # what only this one reads: its code, its spec
    writable: list[str]

    def enter(self) -> None:
        """Runs in the plugin's process before any of its code: after this, no way back.
        No new privileges and no capabilities are the fork server's already, and so every
        process it forks: see confine_fork_server()."""
        resource.setrlimit(resource.RLIMIT_AS, (self.memory_bytes, self.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.disk_bytes, self.disk_bytes))
        # A file over the limit then fails the write (EFBIG) instead of killing silently.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        os.sched_setaffinity(0, self.cpus)
        if self.landlock_abi >= 1:
            ruleset = self._ruleset()
            checked(_libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0), "landlock_restrict")
            os.close(ruleset)
        die_with_parent()

    def open_shared(self) -> None:
        """Open the shared paths (and the devices) not open yet: the fork server does, before
        it forks the process, which finds them open."""
        for path in [*self.shared_readable, *DEVICES_WRITABLE]:
            if path not in _shared:
                _shared[path] = _open_path(path)

    def _ruleset(self) -> int:
        rights = FS_RIGHTS_BY_ABI[
            max(level for level in FS_RIGHTS_BY_ABI if level <= self.landlock_abi)
        ]
        scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if self.landlock_abi >= 6 else 0
        attr = RulesetAttr(handled_access_fs=rights, handled_access_net=0, scoped=scoped)
        fd = _libc.syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.sizeof(attr), 0)
        checked(fd, "landlock_create_ruleset")
        read = (READ_FILE | READ_DIR | EXECUTE) & rights
        try:
            self.open_shared()  # done already if the fork server did it before forking
            for path in self.shared_readable:
                _allow(fd, path, _shared[path], read)
            for path in DEVICES_WRITABLE:
                _allow(fd, path, _shared[path], rights)
            for path, access in [
                *((p, read) for p in self.readable),
                *((p, rights) for p in self.writable),
            ]:
                opened = _open_path(path)
                try:
                    _allow(fd, path, opened, access)
                finally:
                    if opened is not None:
                        os.close(opened[0])
        except BaseException:
            os.close(fd)
            raise
        return fd


def confine_fork_server() -> None:
    """What every plugin process is held to that the fork server takes on once, before its
    first fork, and passes on to each: no new privileges (which Landlock needs) and, as
    root, no capabilities. Dropping them in each child cost it fifty system calls."""
    checked(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    if os.geteuid() == 0:
        _drop_capabilities()


# Paths every plugin process may read (and the devices it may write), opened once (O_PATH)
# by the fork server and kept, with whether each is a folder: a process's rule for one is
# then one system call instead of four. None: the path does not exist here.
_shared: dict[str, tuple[int, bool] | None] = {}


def _open_path(path: str) -> tuple[int, bool] | None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    return fd, stat.S_ISDIR(os.fstat(fd).st_mode)


def landlock_abi() -> int:
    """The Landlock ABI this kernel offers; 0 when it has none."""
    return max(
        _libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, 0, LANDLOCK_CREATE_RULESET_VERSION), 0
    )


def hide_process() -> None:
    """Make this process non-dumpable: processes of the same user can then neither read its
    memory or /proc/<pid>/environ nor trace it."""
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def die_with_parent() -> None:
    """If the parent dies (even by SIGKILL), the kernel kills this process too."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _drop_capabilities() -> None:
    last_capability = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    for capability in range(last_capability + 1):
        _libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0)
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = CapHeader(CAPABILITY_VERSION_3, 0)
    data = (CapData * 2)()  # all zero: no effective, permitted or inheritable capability
    checked(_libc.syscall(SYS_CAPSET, ctypes.byref(header), ctypes.byref(data)), "capset")


def _allow(ruleset_fd: int, path: str, opened: tuple[int, bool] | None, access: int) -> None:
    """Let the ruleset's process have `access` to `path` (opened: its O_PATH descriptor,
    and whether it is a folder); a path that does not exist needs no rule."""
    if opened is None:
        return
    path_fd, is_folder = opened
    if not is_folder:
        access &= FILE_ONLY_RIGHTS
    rule = PathBeneathAttr(allowed_access=access, parent_fd=path_fd)
    checked(
        _libc.syscall(
            SYS_LANDLOCK_ADD_RULE, ruleset_fd, LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(rule), 0
        ),
        f"landlock_add_rule {path}",
    )


def checked(result: int, what: str) -> int:
    if result < 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")
    return result
