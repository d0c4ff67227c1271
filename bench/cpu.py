"""Where a benchmark's CPU goes: the time each kind of process spent while a phase ran,
read from /proc (Linux) — its own, and that of the children it reaped meanwhile (a fork
server's plugin processes, RQ's work horses, PostgreSQL's ended backends)."""

import os
from contextlib import contextmanager

TICKS = os.sysconf("SC_CLK_TCK")
KINDS = (  # the first words found in a process's command line say what it is
    ("fork server and its plugin processes", ("apps.runner.zygote", "fork server")),
    ("workers", ("run_worker", "db_worker", "rq worker", "rqworker", "rq:worker", "rq:work-horse")),
    ("PostgreSQL", ("postgres",)),
    ("Redis", ("redis-server",)),
)


@contextmanager
def spent():
    """Seconds of CPU by kind of process, filled in when the block ends; "this benchmark"
    is the process measuring (creating the work, waiting for it)."""
    by_kind: dict[str, float] = {}
    before = _processes()
    yield by_kind
    for pid, (command, seconds) in _processes().items():
        kind = "this benchmark" if pid == os.getpid() else _kind(command)
        earlier = before.get(pid, (command, 0.0))[1]
        by_kind[kind] = by_kind.get(kind, 0.0) + seconds - earlier


def _kind(command: str) -> str:
    for kind, marks in KINDS:
        if any(mark in command for mark in marks):
            return kind
    return "other"


def _processes() -> dict[int, tuple[str, float]]:
    """Each process's command line and CPU seconds, its reaped children's included."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat, open(f"/proc/{pid}/cmdline", "rb") as cmd:
                fields = stat.read().rsplit(")", 1)[1].split()
                command = cmd.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # ended meanwhile
            continue
        utime, stime, children_utime, children_stime = map(int, fields[11:15])
        found[int(pid)] = (command, (utime + stime + children_utime + children_stime) / TICKS)
    return found
