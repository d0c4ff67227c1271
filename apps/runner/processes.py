"""Starting plugin code in its sandboxed child process: the version's code laid out in a
folder, a clean environment, the size limits, the kernel's confinement — the child forked
by this worker's fork server (apps.runner.zygote), which this module starts and talks
to. An execution's run (supervisor) and a feed's warm handler process
(apps.feeds.handlers) both start their child here, so both get exactly the same
confinement."""

import contextlib
import functools
import io
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import zipfile
from collections import OrderedDict
from pathlib import Path

from django.conf import settings

from apps.runner import isolation
from apps.runner.confinement import Confinement
from apps.runner.limits import Limits

SDK_DIR = settings.BASE_DIR / "sdk"
MAX_MESSAGE = 2**16


def lay_out(version, workspace: Path) -> Path:
    """The version's code under workspace/code, and an empty workspace/scratch (with its
    tmp) for the plugin to write in; returns the scratch folder."""
    code_dir, scratch = workspace / "code", workspace / "scratch"
    (scratch / "tmp").mkdir(parents=True)
    code_dir.mkdir()
    module = version.entry_point.partition(":")[0]
    code = stored_code.read(version.artifact)
    if version.artifact_name.lower().endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(code)) as package:
            package.extractall(code_dir)
    else:
        target = code_dir / (module.replace(".", "/") + ".py")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(code)
    return scratch


class StoredCode:
    """Versions' code as this worker last read it, kept in memory (the least recently used
    first out past MAX_BYTES), so that a run does not fetch its code from the storage — a
    request to object storage — every time. A version's code is uploaded once, in a
    folder named by its SHA-256: a stored name always means the same bytes, so what is
    kept never goes stale."""

    MAX_BYTES = 64 * 2**20

    def __init__(self):
        self.kept: OrderedDict[str, bytes] = OrderedDict()
        self.lock = threading.Lock()

    def read(self, artifact) -> bytes:
        with self.lock:
            if (code := self.kept.get(artifact.name)) is not None:
                self.kept.move_to_end(artifact.name)
                return code
        with artifact.open("rb") as stored:
            code = stored.read()
        with self.lock:
            self.kept[artifact.name] = code
            while sum(map(len, self.kept.values())) > self.MAX_BYTES and len(self.kept) > 1:
                self.kept.popitem(last=False)
        return code


stored_code = StoredCode()


def spawn(
    *,
    workspace: Path,
    module: str,
    spec_path: Path,
    limits: Limits,
    pass_fds: tuple[int, ...],
    spread_by: int,
) -> "Child":
    """`<module>.main(<spec>)` as plugin code runs, forked by this worker's fork server: in
    its own process group, with a clean environment (nothing of the worker's — database
    URL, secret key — leaks into it), under `limits`, confined to its code (read) and
    scratch folder (write). `pass_fds` keep their numbers in the child."""
    scratch = workspace / "scratch"
    request = {
        "module": module,
        "argv": [str(spec_path)],
        "cwd": str(scratch),
        "env": {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(scratch),
            "TMPDIR": str(scratch / "tmp"),
            "PYTHONPATH": os.pathsep.join([str(workspace / "code"), str(SDK_DIR)]),
            **CHILD_PYTHON_FLAGS,
        },
        "path": [str(workspace / "code")],
        "confinement": Confinement(
            memory_bytes=limits.memory_bytes,
            disk_bytes=limits.disk_bytes,
            cpus=sorted(limits.cpu_set(spread_by=spread_by)),
            landlock_abi=isolation.probe().landlock_abi,
            shared_readable=shared_readable(),
            readable=[str(workspace / "code"), str(spec_path)],
            writable=[str(scratch)],
        ).__dict__,
    }
    return fork_server().spawn(request, pass_fds)


@functools.cache
def shared_readable() -> list[str]:
    """What every plugin process reads, the same for each (see Confinement)."""
    return [str(path) for path in isolation.plugin_read_paths()]


# How the fork server's Python runs, and so each child's: as `python -u`, with no user
# site-packages and no .pyc files written into the plugin's code.
CHILD_PYTHON_FLAGS = {
    "PYTHONNOUSERSITE": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
}


class Child:
    """A plugin process, as much of subprocess.Popen as its supervisors use: its pid, its
    stdout and stderr (pipes, closed by close()), poll() and wait(); and its peak memory
    once it has ended."""

    def __init__(self, server: "ForkServer", pid: int, stdout: int, stderr: int):
        self.server, self.pid = server, pid
        self.stdout = open(stdout, "rb", buffering=0)  # noqa: SIM115 (closed by its owner)
        self.stderr = open(stderr, "rb", buffering=0)  # noqa: SIM115
        self.returncode: int | None = None
        self.maxrss_bytes = 0

    def poll(self, timeout: float = 0) -> int | None:
        """The exit code (negative: killed by that signal), once ended; waits up to timeout."""
        if self.returncode is None and (ended := self.server.exit_of(self.pid, timeout)):
            status, maxrss_kib = ended
            self.returncode = os.waitstatus_to_exitcode(status)
            self.maxrss_bytes = maxrss_kib * 1024
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.poll(timeout=86400.0 if timeout is None else timeout) is None:
            raise subprocess.TimeoutExpired(f"plugin process {self.pid}", timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def close(self) -> None:
        self.stdout.close()
        self.stderr.close()


class ForkServer:
    """This worker's end of its fork server (apps.runner.zygote)."""

    def __init__(self):
        self.lock = threading.RLock()
        self.exits: dict[int, tuple[int, int]] = {}
        self.channel, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        worker = str(os.getpid())
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "apps.runner.zygote", str(theirs.fileno()), worker],
                cwd="/",
                env={
                    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "LANG": "C.UTF-8",
                    "PYTHONPATH": os.pathsep.join([str(settings.BASE_DIR), str(SDK_DIR)]),
                    **CHILD_PYTHON_FLAGS,
                },
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,  # a terminal's Ctrl-C reaches the worker, not it
            )
        finally:
            theirs.close()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def spawn(self, request: dict, pass_fds: tuple[int, ...]) -> Child:
        stdout_read, stdout_write = os.pipe()
        stderr_read, stderr_write = os.pipe()
        request = {**request, "fds": [1, 2, *pass_fds]}
        try:
            with self.lock:
                socket.send_fds(
                    self.channel,
                    [json.dumps(request).encode()],
                    [stdout_write, stderr_write, *pass_fds],
                )
                answer = self._next(lambda message: "exited" not in message)
        except BaseException:
            os.close(stdout_read)
            os.close(stderr_read)
            raise
        finally:
            os.close(stdout_write)
            os.close(stderr_write)
        if "pid" not in answer:
            os.close(stdout_read)
            os.close(stderr_read)
            raise OSError(f"The fork server could not start the plugin: {answer.get('error')}")
        return Child(self, answer["pid"], stdout_read, stderr_read)

    def exit_of(self, pid: int, timeout: float) -> tuple[int, int] | None:
        """(wait status, peak memory in KiB) of a child that has ended, waiting up to timeout."""
        with self.lock:
            if pid not in self.exits:
                try:
                    self._next(lambda message: message.get("exited") == pid, timeout)
                except TimeoutError:
                    pass
                except OSError:  # the fork server died, and its children with it
                    self.exits[pid] = (signal.SIGKILL, 0)
            return self.exits.pop(pid, None)

    def _next(self, wanted, timeout: float | None = None) -> dict:
        """Read messages until one is `wanted`, keeping children's exits as they come."""
        while True:
            if timeout is not None:
                ready, _, _ = select.select([self.channel], [], [], timeout)
                if not ready:
                    raise TimeoutError
            data = self.channel.recv(MAX_MESSAGE)
            if not data:
                raise ConnectionError("The fork server has stopped.")
            message = json.loads(data)
            if "exited" in message:
                self.exits[message["exited"]] = (message["status"], message["maxrss"])
            if wanted(message):
                return message


_server: ForkServer | None = None
_server_lock = threading.Lock()


def fork_server() -> ForkServer:
    """This process's fork server, started on first use (and again if it died)."""
    global _server
    with _server_lock:
        if _server is None or not _server.alive:
            _server = ForkServer()
        return _server


def _forget_fork_server_in_a_fork() -> None:
    """A process forked from a worker (RQ's scheduler, say) must not hold the worker's end
    of the socket: the fork server notices its worker has gone when that end closes."""
    global _server
    if _server is not None:
        _server.channel.close()
        _server = None


os.register_at_fork(after_in_child=_forget_fork_server_in_a_fork)


def kill_group(process: Child, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def folder_size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total
