"""The process a feed's plugin code lives in: `python -m batchworks_sdk.feed_child SPEC`.

Unlike an execution's child, it stays up across many calls. It loads the plugin once,
says it is ready, then answers each request line the worker writes to it — a handler's
name and one or more requests — with one line: an answer per request, in order. A handler
that raises fails that one request; the process goes on. stdout and stderr are the feed's
log. The worker that started it enforces the limits, the call timeout, and restarts it if
it dies."""

import json
import logging
import os
import sys
import traceback
from pathlib import Path

from batchworks_sdk.child import _load
from batchworks_sdk.context import Properties
from batchworks_sdk.feeds import AudienceFeedPlugin, FeedContext

HANDLERS = {
    "on_external_segment_creation",
    "on_external_segment_connection",
    "on_user_segment_update",
    "on_batch_update",
    "on_troubleshoot",
}
MAX_TRACEBACK = 8000


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    channel = os.fdopen(spec["channel_fd"], "w", buffering=1)
    requests = os.fdopen(spec["requests_fd"], "r")
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        plugin = _load(spec["entry_point"], AudienceFeedPlugin)
        plugin.context = FeedContext(
            feed_id=spec["feed_id"],
            organisation_id=spec["organisation_id"],
            segment_id=spec["segment_id"],
            properties=Properties(spec["properties"]),
            scratch_dir=Path(spec["scratch_dir"]),
            logger=logging.getLogger("plugin"),
        )
    except BaseException as error:
        traceback.print_exc()
        _send(channel, {"type": "error", "message": _describe(error)})
        return 1
    _send(channel, {"type": "ready", "batched": hasattr(plugin, "on_batch_update")})
    for line in requests:
        message = json.loads(line)
        answers = []
        for request in message["requests"]:
            answers.append(_answer(plugin, message["handler"], request))
            if _asks_to_wait(answers[-1]):
                break  # the updates after it wait for it, to keep their order
        sys.stdout.flush()
        sys.stderr.flush()
        _send(channel, {"type": "answers", "answers": answers})
        if any(answer.get("fatal") for answer in answers):
            return 1  # out of memory: the worker starts a fresh process
    return 0


def _answer(plugin: AudienceFeedPlugin, handler: str, request) -> dict:
    if handler not in HANDLERS or not hasattr(plugin, handler):
        return {"error": f"The plugin has no {handler} handler."}
    try:
        value = getattr(plugin, handler)(request)
    except MemoryError:
        return {"error": "The plugin ran out of memory.", "fatal": True}
    except Exception as error:
        return _failed(error)
    try:
        json.dumps(value)
    except (TypeError, ValueError, RecursionError) as error:
        return {"error": f"The plugin's answer is not JSON: {error}"}
    return {"value": value}


def _asks_to_wait(answer: dict) -> bool:
    value = answer.get("value")
    return isinstance(value, dict) and value.get("status") == "retry"


def _failed(error: BaseException) -> dict:
    text = traceback.format_exc()
    print(text, file=sys.stderr, end="")
    return {"error": _describe(error), "traceback": text[-MAX_TRACEBACK:]}


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _send(channel, message: dict) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
