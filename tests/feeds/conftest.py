import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.files.base import ContentFile

from apps.feeds import services
from apps.plugins.models import PluginType
from apps.plugins.services import batching_configuration_set, plugin_version_create
from tests.factories import PluginFactory
from tests.feeds import plugins

RECEIVER_PROPERTY = {
    "technical_name": "receiver",
    "property_type": "URL",
    "value": {"url": "http://127.0.0.1:9/unset"},
}


def feed_version(code: bytes = plugins.GROUPS_BY_TYPE, *, flush_size: int | None = 3, **kw):
    plugin = PluginFactory(plugin_type=PluginType.AUDIENCE_SEGMENT_EXTERNAL_FEED, **kw)
    version = plugin_version_create(
        plugin=plugin,
        version_id="1.0.0",
        artifact=ContentFile(code, name="feed.py"),
        properties=[RECEIVER_PROPERTY],
    )
    if flush_size:
        batching_configuration_set(
            version=version, enable_batching=True, batch_flush_max_size=flush_size
        )
    return version


def make_feed(version=None, *, receiver: str = "", **kw):
    version = version or feed_version()
    properties = {"receiver": {"url": receiver}} if receiver else None
    return services.feed_create(
        organisation=version.plugin.organisation,
        version=version,
        segment_id="vip-customers",
        properties=properties,
        **kw,
    )


def update(*identifiers: tuple[str, str], operation: str = "UPSERT") -> dict:
    return {
        "user_identifiers": [{"type": kind, "value": value} for kind, value in identifiers],
        "operation": operation,
    }


class Receiver:
    """A partner's HTTP endpoint: records each batch posted to it, and answers what the
    test says (OK by default)."""

    def __init__(self):
        self.batches: list[dict] = []
        self.answers: list[dict] = []
        self.hold = threading.Event()
        self.hold.set()
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.batches.append(body)
                receiver.arrived.set()
                receiver.hold.wait(120)
                answer = receiver.answers.pop(0) if receiver.answers else {"status": "OK"}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/batches"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def lines(self) -> list[str]:
        return [line for batch in self.batches for line in batch["lines"]]

    def close(self):
        self.hold.set()
        self.server.shutdown()


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.close()


@pytest.fixture(autouse=True)
def _stop_warm_processes():
    yield
    from apps.feeds import handlers

    handlers.stop_idle(0)
