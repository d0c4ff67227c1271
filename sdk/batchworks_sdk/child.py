"""The process a run's plugin code executes in: `python -m batchworks_sdk.child SPEC`.

It loads the entry point, calls `run(context)`, and reports the outcome as one JSON line
on its control channel; stdout and stderr are the execution's log. The runner that
started it enforces the resource limits and reads what it reports."""

import errno
import importlib
import inspect
import json
import logging
import os
import sys
import traceback
from datetime import datetime
from pathlib import Path

from batchworks_sdk import IntegrationBatchPlugin
from batchworks_sdk.context import ExecutionContext, Properties
from batchworks_sdk.feeds import FeedUpdates
from batchworks_sdk.ingestion import Ingestion


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    channel = os.fdopen(spec["channel_fd"], "w", buffering=1)
    try:
        plugin = _load(spec["entry_point"])
        result = plugin.run(_context(spec, channel))
    except MemoryError:
        _report(channel, "memory", "The plugin ran out of memory.")
        return 1
    except OSError as error:
        if error.errno in (errno.EFBIG, errno.ENOSPC, errno.EDQUOT):
            _report(channel, "disk", str(error))
            return 1
        return _failed(channel, error)
    except SystemExit as exit_:
        if exit_.code not in (None, 0):
            return _failed(channel, exit_)
        result = None
    except BaseException as error:
        return _failed(channel, error)
    try:
        payload = json.dumps({"type": "result", "value": result})
    except (TypeError, ValueError) as error:
        _report(channel, "plugin", f"The plugin's result is not JSON: {error}")
        return 1
    channel.write(payload + "\n")
    return 0


def _load(entry_point: str, base: type = IntegrationBatchPlugin):
    """An instance of the entry point's plugin class: the one named, or the module's one
    subclass of `base`."""
    module_name, _, attribute = entry_point.partition(":")
    module = importlib.import_module(module_name)
    if attribute:
        return getattr(module, attribute)()
    plugins = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, base)
        and value.__module__ == module.__name__
    ]
    if len(plugins) != 1:
        raise LookupError(
            f"{module_name} defines {len(plugins)} {base.__name__} subclasses; "
            f"name the one to run in the entry point ({module_name}:ClassName)."
        )
    return plugins[0]()


def _context(spec: dict, channel) -> ExecutionContext:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return ExecutionContext(
        execution_id=spec["execution_id"],
        instance_id=spec["instance_id"],
        organisation_id=spec["organisation_id"],
        execution_type=spec["execution_type"],
        expected_start_date=datetime.fromisoformat(spec["expected_start_date"]),
        fire_time=datetime.fromisoformat(spec["fire_time"]) if spec["fire_time"] else None,
        attempt=spec["attempt"],
        parameters=spec["parameters"],
        properties=Properties(spec["properties"]),
        scratch_dir=Path(spec["scratch_dir"]),
        logger=logging.getLogger("plugin"),
        ingestion=Ingestion(**spec["api"]) if spec.get("api") else None,
        feeds=FeedUpdates(**spec["api"]) if spec.get("api") else None,
        _channel=channel,
    )


def _failed(channel, error: BaseException) -> int:
    traceback.print_exc()
    message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    _report(channel, "plugin", message)
    return 1


def _report(channel, kind: str, message: str) -> None:
    channel.write(json.dumps({"type": "error", "kind": kind, "message": message}) + "\n")
    channel.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
