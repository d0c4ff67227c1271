"""The fork server: a warm Python that has imported the SDK once and forks each plugin
process from itself, so a run starts in milliseconds instead of paying for a new
interpreter and the SDK's import every time.

`python -m apps.runner.zygote SOCKET_FD WORKER_PID` is started by each worker
(apps.runner.processes) with a clean environment, and imports nothing of Django's: no
settings, no credentials, nothing a forked child could inherit and read. When its worker
goes, even killed, the kernel closes the worker's end of the socket: the fork server then
kills every child it started and exits. (Not PR_SET_PDEATHSIG: that follows the thread
that started it, not the worker.) A child dies with the fork server.

On its socket (SOCK_SEQPACKET, one JSON message each way per datagram) the worker asks
{"module", "argv", "cwd", "env", "path", "fds", "confinement"} with the child's
stdout, stderr and other descriptors attached (SCM_RIGHTS), and is answered {"pid"} or
{"error"}; when a child ends, {"exited": pid, "status", "maxrss"} follows."""

import contextlib
import fcntl
import importlib
import io
import json
import os
import select
import signal
import socket
import sys
import traceback

from setproctitle import setproctitle

from apps.runner.confinement import Confinement, confine_fork_server, hide_process

# What every run uses, imported once here rather than in each child.
WARM_MODULES = ("batchworks_sdk.child", "batchworks_sdk.feed_child")
MAX_REQUEST = 2**20
CONFINEMENT_FAILED = 70  # EX_SOFTWARE: the child could not be confined, no plugin code ran


def serve(channel: socket.socket) -> None:
    children: set[int] = set()
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes select() through the pipe
    while True:
        ready, _, _ = select.select([channel.fileno(), wake_read], [], [])
        if wake_read in ready:
            os.read(wake_read, 4096)
            _report_exits(channel, children)
        if channel.fileno() in ready:
            message, fds, _, _ = socket.recv_fds(channel, MAX_REQUEST, 16)
            if not message:  # the worker is gone
                for pid in children:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)
                return
            try:
                answer = _start(json.loads(message), fds)
            finally:
                for fd in fds:
                    os.close(fd)
            children.update([answer["pid"]] if "pid" in answer else [])
            channel.send(json.dumps(answer).encode())


def _start(request: dict, fds: list[int]) -> dict:
    confinement = Confinement(**request["confinement"])
    try:
        confinement.open_shared()
        pid = os.fork()
    except OSError as error:
        return {"error": f"could not fork: {error}"}
    if pid == 0:
        _become_child(request, fds, confinement)  # never returns
    return {"pid": pid}


def _report_exits(channel: socket.socket, children: set[int]) -> None:
    while True:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not pid:
            return
        children.discard(pid)
        exited = {"exited": pid, "status": status, "maxrss": usage.ru_maxrss}
        channel.send(json.dumps(exited).encode())


def _become_child(request: dict, fds: list[int], confinement: Confinement) -> None:
    """In the forked child: become the plugin's process, run its module, exit."""
    code = CONFINEMENT_FAILED
    log = fds[request["fds"].index(2)]  # the run's stderr, until _place() puts it at 2
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()  # its own process group, stopped as a whole
        # Confined first, while the shared paths the fork server opened are still open.
        confinement.enter()
        _place(fds, request["fds"])
        log = 2
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path[:0] = request["path"]
        sys.argv = [request["module"], *request["argv"]]
        setproctitle(" ".join(["batchworks:", *sys.argv]))  # what ps shows: which run
        _fresh_standard_streams()
    except BaseException:
        said = traceback.format_exc() + "[batchworks] The plugin process could not be "
        os.write(log, (said + "confined; no code ran.\n").encode(errors="replace"))
        os._exit(code)
    try:
        code = importlib.import_module(request["module"]).main(*request["argv"])
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code or 0)


def _place(received: list[int], targets: list[int]) -> None:
    """Each received descriptor at the number the worker asked for (stdout at 1, the
    control channel where the run's spec says), /dev/null as stdin, nothing else open."""
    above = max([*received, *targets, 2]) + 1
    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD, above) for fd in received]
    for fd, target in zip(moved, targets, strict=True):
        os.dup2(fd, target)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    keep = sorted({0, 1, 2, *targets})
    for low, high in zip(keep, [*keep[1:], os.sysconf("SC_OPEN_MAX")], strict=True):
        os.closerange(low + 1, high)


def _fresh_standard_streams() -> None:
    """Unbuffered text streams on descriptors 0-2, as `python -u` would have."""
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    for name, fd in (("stdout", 1), ("stderr", 2)):
        raw = io.FileIO(fd, "w", closefd=False)
        stream = io.TextIOWrapper(
            raw, encoding="utf-8", errors="backslashreplace", write_through=True
        )
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def main() -> None:
    channel = socket.socket(fileno=int(sys.argv[1]))
    hide_process()
    setproctitle(f"batchworks: fork server of worker {sys.argv[2]}")
    project = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for module in WARM_MODULES:
        importlib.import_module(module)
    # Children import plugin code, never the platform's.
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != project]
    confine_fork_server()
    serve(channel)


if __name__ == "__main__":
    main()
