"""A feed's plugin code, kept warm: one sandboxed child process per feed on a worker,
started on the first call and reused for the next thousands, restarted when it dies,
hangs past the call timeout, or outgrows its limits. It is confined exactly as an
execution's child is (apps.runner.processes); what it prints is the feed's log."""

import codecs
import json
import logging
import os
import re
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from apps.core.secrets import SecretUnreadable, mask
from apps.core.text import human_bytes
from apps.plugins.property_types import secret_texts
from apps.runner import processes, workspaces
from apps.runner.limits import Limits

logger = logging.getLogger(__name__)

MAX_ANSWER_LINE = 64 * 2**20
# In the child's JSON (ASCII-escaped by json.dumps), what PostgreSQL could not store — a
# NUL or a lone surrogate — can only appear as one of these escapes.
UNSTORABLE_ESCAPE = re.compile(rb"\\u0000|\\u[dD][89a-fA-F]")
MAX_LOG_PER_CALL = 64 * 2**10


class HandlerFailed(Exception):
    """The plugin process gave no answer: it died, hung past the timeout, or sent
    something that is not one. The process is gone; the next call starts a new one."""


class PluginProcess:
    def __init__(self, feed):
        self.feed_id = feed.pk
        self.config = config_of(feed)
        self.limits = Limits.for_instance(feed)
        self.workspace = _workspace(feed)
        self.log_parts: list[str] = []
        self.secrets: list[str] = []
        self.process: processes.Child | None = None
        self.batched = False
        self.storable = False  # the last answers hold no text PostgreSQL cannot store
        try:
            self._start(feed)
        except BaseException:
            self.stop()
            raise

    def _start(self, feed) -> None:
        from apps.feeds.selectors import merged_properties

        version = feed.version
        try:
            properties = merged_properties(feed, reveal=True)
        except SecretUnreadable as unreadable:
            raise HandlerFailed(str(unreadable)) from None
        self.secrets = secret_texts(properties)  # masked in the feed's log
        scratch = processes.lay_out(version, self.workspace)
        requests_read, self.requests_write = os.pipe()
        self.channel, channel_write = os.pipe()
        spec = {
            "entry_point": version.entry_point,
            "channel_fd": channel_write,
            "requests_fd": requests_read,
            "feed_id": feed.pk,
            "organisation_id": feed.organisation_id,
            "segment_id": feed.segment_id,
            "properties": properties,
            "scratch_dir": str(scratch),
        }
        spec_path = self.workspace / "spec.json"
        spec_path.write_text(json.dumps(spec))
        try:
            self.process = processes.spawn(
                workspace=self.workspace,
                module="batchworks_sdk.feed_child",
                spec_path=spec_path,
                limits=self.limits,
                pass_fds=(channel_write, requests_read),
                spread_by=feed.pk,
            )
        finally:
            os.close(channel_write)
            os.close(requests_read)
        self.selector = selectors.DefaultSelector()
        assert self.process.stdout and self.process.stderr  # both piped by spawn
        self.decoders = {}
        for stream in (self.process.stdout, self.process.stderr):
            os.set_blocking(stream.fileno(), False)
            self.selector.register(stream.fileno(), selectors.EVENT_READ, "log")
            self.decoders[stream.fileno()] = codecs.getincrementaldecoder("utf-8")("replace")
        self.selector.register(self.channel, selectors.EVENT_READ, "answer")
        self.buffer = b""
        ready = self._next_message(time.monotonic() + settings.FEED_CALL_TIMEOUT_SECONDS, None)
        if ready.get("type") != "ready":
            raise HandlerFailed(
                f"The plugin could not start: {ready.get('message', 'no reason given')}"
            )
        self.batched = bool(ready.get("batched"))

    # --- calls ---------------------------------------------------------------------------

    def call(
        self, handler: str, requests: list, *, keep_alive: Callable[[], None] | None = None
    ) -> tuple[list[dict], str]:
        """Each request through `handler`, in order: one answer each ({"value": …} or
        {"error": …, "traceback"?: …}) up to the first that asks the rest to wait, and what
        the plugin printed meanwhile."""
        line = json.dumps({"handler": handler, "requests": requests}).encode() + b"\n"
        deadline = time.monotonic() + settings.FEED_CALL_TIMEOUT_SECONDS
        try:
            self._write(line, deadline, keep_alive)
            message = self._next_message(deadline, keep_alive)
        except HandlerFailed:
            self.stop()
            raise
        answers = message.get("answers")
        # Fewer answers than requests: the last asked the rest to wait (a retry).
        if (
            message.get("type") != "answers"
            or not isinstance(answers, list)
            or not 0 < len(answers) <= len(requests)
            or not all(isinstance(answer, dict) for answer in answers)
        ):
            self.stop()
            raise HandlerFailed("The plugin process sent something that is not an answer.")
        self._read_logs()
        if processes.folder_size(self.workspace / "scratch") > self.limits.disk_bytes:
            self.stop()  # the answers stand; the next call gets a fresh scratch folder
            self.log_parts.append(f"\n[disk limit {human_bytes(self.limits.disk_bytes)} exceeded]")
        return answers, self.take_log()

    def take_log(self) -> str:
        text, self.log_parts = mask("".join(self.log_parts), self.secrets), []
        if len(text) > MAX_LOG_PER_CALL:
            cut = len(text) - MAX_LOG_PER_CALL
            text = f"[{cut} earlier characters not kept]\n" + text[-MAX_LOG_PER_CALL:]
        return text

    def _write(self, data: bytes, deadline: float, keep_alive) -> None:
        view = memoryview(data)
        while view:
            if self.process is None or self.process.poll() is not None:
                raise HandlerFailed(self._why_it_ended())
            try:
                written = os.write(self.requests_write, view[: 2**16])
            except BrokenPipeError:
                raise HandlerFailed(self._why_it_ended()) from None
            view = view[written:]
            if time.monotonic() > deadline:
                raise HandlerFailed(self._timed_out())

    def _next_message(self, deadline: float, keep_alive) -> dict:
        next_beat = time.monotonic() + settings.LEASE_HEARTBEAT_SECONDS
        while b"\n" not in self.buffer:
            now = time.monotonic()
            if now > deadline:
                raise HandlerFailed(self._timed_out())
            if keep_alive and now >= next_beat:
                keep_alive()
                next_beat = now + settings.LEASE_HEARTBEAT_SECONDS
            for key, _ in self.selector.select(timeout=min(0.5, max(deadline - now, 0))):
                if key.data == "log":
                    self._read_log(key.fd)
                    continue
                data = os.read(self.channel, 2**20)
                if not data:
                    raise HandlerFailed(self._why_it_ended())
                self.buffer += data
                if len(self.buffer) > MAX_ANSWER_LINE:
                    raise HandlerFailed("The plugin's answer is larger than 64 MiB.")
        line, _, self.buffer = self.buffer.partition(b"\n")
        # Answers free of unstorable text need not be walked for it, one by one.
        self.storable = not UNSTORABLE_ESCAPE.search(line)
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):
            message = None
        if not isinstance(message, dict):
            raise HandlerFailed("The plugin process sent something that is not an answer.")
        return message

    def _read_logs(self) -> None:
        if self.process is not None:
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None and not stream.closed:
                    self._read_log(stream.fileno())

    def _read_log(self, fd: int) -> None:
        try:
            data = os.read(fd, 2**20)
        except BlockingIOError:
            return
        if data:
            self.log_parts.append(self.decoders[fd].decode(data))
        elif fd in self.selector.get_map():  # the stream ended (read again after a death)
            self.selector.unregister(fd)

    def _timed_out(self) -> str:
        seconds = settings.FEED_CALL_TIMEOUT_SECONDS
        return f"The plugin did not answer within {seconds:g} s (FEED_CALL_TIMEOUT_SECONDS)."

    def _why_it_ended(self) -> str:
        assert self.process is not None
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "The plugin process stopped answering."
        self._read_logs()
        if code < 0:
            name = signal.Signals(-code).name
            return f"The plugin process was killed by {name} ({self.limits.memory_exceeded()}?)."
        tail = "".join(self.log_parts).strip().splitlines()[-1:] or ["no message"]
        return f"The plugin process exited with status {code}: {tail[0][:500]}"

    # --- end -----------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None:
            processes.kill_group(self.process, signal.SIGKILL)
            self.process.wait()
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()
            self.process = None
        for name in ("requests_write", "channel"):
            if (fd := getattr(self, name, None)) is not None:
                os.close(fd)
                setattr(self, name, None)
        shutil.rmtree(self.workspace, ignore_errors=True)


def config_of(feed):
    """What a feed's process was started with: every change of the feed's settings (its
    properties, its sizes) saves it, moving updated_at, and restarts the process."""
    return feed.updated_at


def _workspace(feed) -> Path:
    # Named with the worker's pid: a folder whose worker is gone is swept (apps.feeds.jobs).
    return workspaces.new_folder(f"feed-{feed.pk}-{os.getpid()}-")


# --- This worker's warm processes ---------------------------------------------------------

_warm: dict[int, tuple[PluginProcess, float]] = {}


def process_for(feed) -> PluginProcess:
    """The feed's warm process on this worker, started (or restarted) as needed. At most
    FEED_MAX_WARM_PROCESSES stay up: starting one more stops the least recently used."""
    stop_idle()
    if feed.pk not in _warm and len(_warm) >= settings.FEED_MAX_WARM_PROCESSES:
        least_recent = min(_warm, key=lambda feed_id: _warm[feed_id][1])
        _warm.pop(least_recent)[0].stop()
    found = _warm.get(feed.pk)
    if found and found[0].alive and found[0].config == config_of(feed):
        process = found[0]
    else:
        if found:
            found[0].stop()
        process = PluginProcess(feed)
    _warm[feed.pk] = (process, time.monotonic())
    return process


def stop_idle(idle_seconds: float | None = None) -> None:
    """Stop the processes of feeds this worker has not called for a while."""
    limit = settings.FEED_PROCESS_IDLE_SECONDS if idle_seconds is None else idle_seconds
    now = time.monotonic()
    for feed_id, (process, used) in list(_warm.items()):
        if now - used >= limit or not process.alive:
            process.stop()
            del _warm[feed_id]
