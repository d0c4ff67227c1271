"""Running one execution: claim it, run the version's code in a child process under the
instance's limits, store its log as it goes, keep its heartbeat, honour cancel and
timeout, and record how it ended. Whatever happens, the execution does not stay RUNNING:
either this supervisor records the end, or the reaper fails it when heartbeats stop."""

import codecs
import json
import logging
import os
import selectors
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection

from apps.core import leases
from apps.core.errors import TransitionError
from apps.core.secrets import SecretUnreadable, mask, mask_json
from apps.core.text import json_problem, storable
from apps.plugins.property_types import revealed, secret_texts
from apps.runner import isolation, processes
from apps.runner.credentials import execution_credential
from apps.runner.limits import Limits
from apps.runner.logs import LogWriter
from apps.runner.services import (
    execution_claim,
    execution_claim_next,
    execution_fail,
    execution_heartbeat,
    execution_report_progress,
    execution_stopped,
    execution_succeed,
    worker_check_in,
)
from apps.runner.workspaces import workspace_for
from apps.scheduling.models import Execution
from apps.scheduling.selectors import effective_properties

logger = logging.getLogger(__name__)

# Bounds on what the child may send on its control channel, so it cannot exhaust the worker.
MAX_CONTROL_LINE = 2**20
FLUSH_SECONDS = 1.0
DISK_CHECK_SECONDS = 2.0


def run(execution_id: int) -> str:
    """Claim this execution and run it, here and now; returns what happened, in words. (A
    worker takes whichever run is due next instead: run_next().)"""
    if refused := refusal_to_run():
        return refused
    try:  # get(), not first(): ordering a one-row query cost a third of its time
        execution = Execution.objects.select_related("instance__version").get(pk=execution_id)
    except Execution.DoesNotExist:
        return f"Execution {execution_id} no longer exists."
    try:
        execution_claim(execution=execution)
    except TransitionError as refusal:
        return refusal.message
    return Supervisor(execution).run()


def run_next(*, abort: threading.Event | None = None) -> str | None:
    """Claim the earliest due run and run it; None when no run is due, or when this
    worker may not run plugin code (refusal_to_run(), which says why). Set `abort` to
    stop the run at once: the worker is going."""
    if refusal_to_run():
        return None
    execution = execution_claim_next()
    if execution is None:
        return None
    return Supervisor(execution, abort=abort).run()


def refusal_to_run() -> str:
    """Why this worker may not run plugin code (its settings require a confinement it
    cannot give), said in its log; empty when it may."""
    if refused := isolation.refusal():
        logger.error("No execution run: %s", refused)
        return refused
    isolation.hide_worker()
    worker_check_in(leases.WORKER_ID)
    return ""


class WorkerStopping(Exception):
    """The worker was told to stop at once, in the middle of a run."""


@dataclass
class Outcome:
    """What the child reported, or why the supervisor stopped it."""

    result: object = None
    succeeded: bool = False
    error_kind: str = ""
    error_message: str = ""
    stop_reason: str = ""  # cancel | timeout | disk | lost


@dataclass
class Streams:
    """The child's log streams and control channel, decoded as they arrive."""

    decoders: dict[int, codecs.IncrementalDecoder] = field(default_factory=dict)
    control_buffer: bytes = b""


class Supervisor:
    def __init__(self, execution: Execution, *, abort: threading.Event | None = None):
        self.execution = execution
        self.abort = abort
        self.instance = execution.instance
        self.limits = Limits.for_instance(self.instance)
        self.log = LogWriter(execution.pk)
        self.outcome = Outcome()
        self.progress: dict | None = None
        self.secrets: list[str] = []

    def run(self) -> str:
        workspace = workspace_for(self.execution)
        process = None
        try:
            try:
                spec_path, channel_read, channel_write = self._prepare(workspace)
            except SecretUnreadable as unreadable:
                return self._record_failure(str(unreadable))
            process = self._spawn(workspace, spec_path, channel_write)
            self._supervise(process, channel_read, workspace)
            return self._finish(process)
        except BaseException as error:
            # The worker itself is going (shutdown signal) or broke: stop the code and say
            # so now rather than leave the reaper to find the execution later.
            if process is not None and process.returncode is None:
                processes.kill_group(process, signal.SIGKILL)
            try:
                self._record_failure(
                    f"The worker stopped during the run ({type(error).__name__}: {error})."
                )
            except Exception:
                logger.exception("Execution %s: could not record the failure", self.execution.pk)
            raise
        finally:
            if process is not None:
                process.close()
            shutil.rmtree(workspace, ignore_errors=True)

    # --- before -------------------------------------------------------------------------

    def _prepare(self, workspace: Path) -> tuple[Path, int, int]:
        """Lay out the code and the run's spec; returns the spec and the control pipe."""
        version = self.instance.version
        properties = merged_properties(self.instance)
        self.secrets = self.log.secrets = secret_texts(properties)  # masked in what is kept
        scratch = processes.lay_out(version, workspace)
        read_end, write_end = os.pipe()
        spec = {
            "entry_point": version.entry_point,
            "channel_fd": write_end,
            "execution_id": self.execution.pk,
            "instance_id": self.instance.pk,
            "organisation_id": self.execution.organisation_id,
            "execution_type": self.execution.execution_type,
            "expected_start_date": self.execution.expected_start_date.isoformat(),
            "fire_time": stands_for.isoformat()
            if (stands_for := self.execution.stands_for)
            else None,
            "attempt": self.execution.attempt,
            "parameters": self.execution.parameters,
            "properties": properties,
            "scratch_dir": str(scratch),
            "api": {
                "api_url": settings.BATCHWORKS_API_URL,
                "credential": execution_credential(self.execution),
            },
        }
        spec_path = workspace / "spec.json"
        spec_path.write_text(json.dumps(spec))
        return spec_path, read_end, write_end

    def _spawn(self, workspace: Path, spec_path: Path, channel: int) -> processes.Child:
        try:
            return processes.spawn(
                workspace=workspace,
                module="batchworks_sdk.child",
                spec_path=spec_path,
                limits=self.limits,
                pass_fds=(channel,),
                spread_by=self.execution.pk,
            )
        finally:
            os.close(channel)

    # --- during -------------------------------------------------------------------------

    def _supervise(self, process: processes.Child, channel: int, workspace: Path) -> None:
        selector = selectors.DefaultSelector()
        streams = Streams()
        assert process.stdout and process.stderr  # both piped by _spawn
        for fd in (process.stdout.fileno(), process.stderr.fileno()):
            selector.register(fd, selectors.EVENT_READ, "log")
            streams.decoders[fd] = codecs.getincrementaldecoder("utf-8")(errors="replace")
        selector.register(channel, selectors.EVENT_READ, "control")

        started = time.monotonic()
        deadline = started + self.instance.timeout_seconds
        next_flush = started + FLUSH_SECONDS
        next_heartbeat = started + settings.LEASE_HEARTBEAT_SECONDS
        next_disk_check = started + DISK_CHECK_SECONDS
        kill_at = None
        while True:
            if selector.get_map():
                for key, _ in selector.select(timeout=0.2):
                    self._read(key, selector, streams)
            elif process.poll(timeout=0.05) is not None:  # every stream closed, and it ended
                break
            now = time.monotonic()
            if self.abort is not None and self.abort.is_set():
                raise WorkerStopping("told to stop at once")
            if now >= next_flush:
                self._flush()
                next_flush = now + FLUSH_SECONDS
            if now >= next_heartbeat:
                self._check_in()
                next_heartbeat = now + settings.LEASE_HEARTBEAT_SECONDS
            if now >= deadline and not self.outcome.stop_reason:
                self.outcome.stop_reason = "timeout"
            if now >= next_disk_check:
                if processes.folder_size(workspace / "scratch") > self.limits.disk_bytes:
                    self.outcome.stop_reason = self.outcome.stop_reason or "disk"
                next_disk_check = now + DISK_CHECK_SECONDS
            if self.outcome.stop_reason and kill_at is None:
                processes.kill_group(process, signal.SIGTERM)
                kill_at = now + settings.EXECUTION_STOP_GRACE_SECONDS
            if kill_at is not None and now >= kill_at:
                processes.kill_group(process, signal.SIGKILL)
        selector.close()
        processes.kill_group(process, signal.SIGKILL)  # anything the plugin left behind
        self._flush(final=True)

    def _read(self, key, selector, streams: Streams) -> None:
        data = os.read(key.fd, 65536)
        if not data:
            selector.unregister(key.fd)
            if key.data == "control":
                os.close(key.fd)  # the log pipes belong to the Child, which closes them
            return
        if key.data == "log":
            self.log.write(streams.decoders[key.fd].decode(data))
            return
        streams.control_buffer += data
        *lines, streams.control_buffer = streams.control_buffer.split(b"\n")
        if len(streams.control_buffer) > MAX_CONTROL_LINE:
            streams.control_buffer = b""
            self._report_error("plugin", "The plugin sent a message larger than 1 MiB.")
        for line in lines:
            self._on_message(line)

    def _on_message(self, line: bytes) -> None:
        """One message of the child's. What it says is stored as it is, except what the
        database cannot hold: NUL characters and lone surrogates become U+FFFD."""
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):
            return
        if not isinstance(message, dict):
            return
        kind = message.get("type")
        if kind == "progress":
            self.progress = {k: message.get(k) for k in ("completed", "failed", "total")}
        elif kind == "result":
            result = message.get("value")
            if (problem := json_problem(result)) and problem[1].startswith("Nested"):
                self._report_error("plugin", f"The plugin's result is {problem[1].lower()}")
                return
            self.outcome.result = mask_json(storable(result), self.secrets)
            self.outcome.succeeded = True
        elif kind == "error":
            self._report_error(message.get("kind", "plugin"), str(message.get("message", "")))

    def _report_error(self, kind: str, message: str) -> None:
        self.outcome.error_kind = str(kind)
        self.outcome.error_message = mask(storable(message), self.secrets)

    def _flush(self, *, final: bool = False) -> None:
        """Store new log text and progress. A database hiccup is survived: what could not
        be stored is kept and stored at the next flush."""
        try:
            self.log.flush(final=final)
            if self.progress is not None:
                progress, self.progress = self.progress, None
                execution_report_progress(execution=self.execution, progress=progress)
        except DatabaseError:
            logger.exception("Execution %s: could not store log or progress", self.execution.pk)
            connection.close()

    def _check_in(self) -> None:
        """Heartbeat, and learn whether the run was asked to stop or was taken away."""
        try:
            alive = execution_heartbeat(execution=self.execution)
            cancel = Execution.objects.filter(
                pk=self.execution.pk, cancel_requested_at__isnull=False
            ).exists()
        except DatabaseError:
            logger.exception("Execution %s: heartbeat failed", self.execution.pk)
            connection.close()
            return
        if not alive:
            self.outcome.stop_reason = "lost"
        elif cancel and not self.outcome.stop_reason:
            self.outcome.stop_reason = "cancel"

    # --- after --------------------------------------------------------------------------

    def _finish(self, process: processes.Child) -> str:
        outcome, code = self.outcome, process.returncode
        assert code is not None  # _supervise waited for the end
        if outcome.stop_reason == "lost":
            return "The execution was ended elsewhere (reaped or canceled) while running."
        if outcome.stop_reason == "cancel":
            stopped = self._record(execution_stopped, "CANCELED")
            who = self.execution.cancel_requested_by or "the platform"
            self._note(f"Canceled by {who}: the run was stopped on request.")
            return stopped
        if outcome.stop_reason == "timeout":
            seconds = self.instance.timeout_seconds
            return self._record_failure(
                f"Timed out after {timedelta(seconds=seconds)} (timeout_seconds={seconds})."
            )
        if outcome.stop_reason == "disk" or outcome.error_kind == "disk":
            return self._record_failure(self.limits.disk_exceeded())
        if outcome.error_kind == "memory" or _memory_exhausted(
            code, process.maxrss_bytes, self.limits
        ):
            return self._record_failure(self.limits.memory_exceeded())
        if outcome.error_kind:
            return self._record_failure(outcome.error_message)
        if outcome.succeeded and code == 0:
            return self._record(execution_succeed, "SUCCEEDED", result=outcome.result)
        if code < 0:
            name = signal.Signals(-code).name
            return self._record_failure(f"The plugin process was killed by {name}.")
        return self._record_failure(
            f"The plugin process exited with status {code} without a result."
        )

    def _note(self, text: str) -> None:
        """A line of the platform's own at the end of the run's log."""
        self.log.write(f"[batchworks] {text}\n")
        self._flush(final=True)

    def _record(self, service, status: str, **fields) -> str:
        try:
            service(execution=self.execution, **fields)
        except TransitionError as refusal:
            return refusal.message
        return status

    def _record_failure(self, message: str) -> str:
        self._record(execution_fail, "FAILED", message=message)
        return f"FAILED: {message}"


def merged_properties(instance) -> dict[str, dict]:
    """What the plugin's context.properties holds: each property's type, the value that
    applies to this instance, and where it comes from."""
    return {
        effective.prop.technical_name: {
            "property_type": effective.prop.property_type,
            "value": revealed(effective.prop.property_type, effective.value),
            "origin": effective.origin,
        }
        for effective in effective_properties(instance)
    }


def _memory_exhausted(code: int, peak_bytes: int, limits: Limits) -> bool:
    """A child killed by a signal with its peak memory near the limit ran out of memory
    (an allocation failed somewhere Python could not turn into MemoryError)."""
    return code < 0 and peak_bytes >= 0.9 * limits.memory_bytes
