"""A webhook receiver on a free loopback port, for the tests that read what `--notify` sends."""

from __future__ import annotations

import json
import threading
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.localhttp import running


class Receiver:
    """A webhook receiver on a free loopback port: records each POST and its answer's status; a path
    under /fail gets a 500, and under /refuse-after-N a 500 from its (N+1)th POST on."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        received = self.posts
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    before = sum(1 for p in received if p["path"] == self.path)
                    status = 500 if self.path.startswith("/fail") else 200
                    if self.path.startswith("/refuse-after-"):
                        status = 500 if before >= int(self.path.split("-")[-1]) else 200
                    received.append({"path": self.path, "headers": dict(self.headers), "raw": raw.decode(),
                                     "body": json.loads(raw), "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self._serving = ExitStack()
        self.url = self._serving.enter_context(running(Handler))

    def close(self) -> None:
        self._serving.close()
