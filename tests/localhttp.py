"""A real HTTP server on a free loopback port, for tests that run the checks against pages they shape:
`with serving(answer) as url:` where `answer(request)` returns what to send for each GET."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Answer:
    status: int = 200
    content_type: str = "text/html"
    body: bytes = b"<html>ok</html>"


Route = Callable[[BaseHTTPRequestHandler], Answer]


def page(_: BaseHTTPRequestHandler) -> Answer:
    """Every path answers 200 with a small HTML page."""
    return Answer()


@contextmanager
def serving(answer: Route = page) -> Iterator[str]:
    """The server's base URL (http://127.0.0.1:PORT) while it runs, one thread per request."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            reply = answer(self)
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, *args: object) -> None:
            pass

    with running(Handler) as url:
        yield url


@contextmanager
def running(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """`handler` served on a free loopback port, one thread per request: its base URL while it runs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
