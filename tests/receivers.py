"""Real receivers a test starts: an SMTP server (aiosmtpd) and an HTTP server, each
keeping what arrives and saying when it has."""

import threading
from contextlib import contextmanager
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from tests.processes import free_port


class Inbox:
    """aiosmtpd's handler: keeps each message, and says when one has arrived."""

    def __init__(self):
        self.messages = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's name
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.arrived.set()
        return "250 OK"


@contextmanager
def smtp_server():
    """An SMTP server on a free port; its handler's `url` is for BATCHWORKS_EMAIL_URL."""
    handler, port = Inbox(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.url = f"smtp://127.0.0.1:{port}"
    try:
        yield handler
    finally:
        controller.stop()


class Received:
    def __init__(self, headers: dict, body: bytes):
        self.headers, self.body = headers, body


@contextmanager
def http_receiver(*statuses: int):
    """An HTTP server answering POSTs with `statuses` in turn (then 200), keeping each
    request; yields it, with `url`, `requests` and `arrived` (set at each request)."""
    requests: list[Received] = []
    arrived = threading.Event()
    answers = list(statuses)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            requests.append(Received(dict(self.headers), body))
            self.send_response(answers.pop(0) if answers else 200)
            self.end_headers()
            arrived.set()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_port}/hooks/batchworks"
    server.requests, server.arrived = requests, arrived
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
