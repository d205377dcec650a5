"""Serve an ASGI app on loopback over HTTPS (its own test CA) or HTTP, in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from healthsuite.testing.certs import TestCA

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # what a client trusts
    chain: Path  # the server's certificate chain
    key: Path
    authority: TestCA | None = None  # issues replacement certificates (the demo's NET5 fault)


def make_tls_files(directory: Path, *names: str) -> TlsFiles:
    """A fresh CA and a 90-day server certificate for `names` (default: 127.0.0.1 and localhost)."""
    directory.mkdir(parents=True, exist_ok=True)
    authority = TestCA.create("healthsuite demo CA")
    leaf = authority.issue(*(names or (LOOPBACK, "localhost")))
    chain, key = leaf.write(directory, "server")
    return TlsFiles(authority.write(directory / "ca.pem"), chain, key, authority)


class ServedApp:
    """`with ServedApp(app, tls=files) as served: httpx.get(served.url + "/")`.

    `http_protocol` replaces uvicorn's HTTP protocol class (one instance per accepted connection; default:
    uvicorn's own choice), e.g. a subclass of `uvicorn.protocols.http.h11_impl.H11Protocol` that counts
    connections, as the benchmark does.
    """

    def __init__(
        self,
        app: Any,
        *,
        tls: TlsFiles | None = None,
        port: int = 0,
        host: str = LOOPBACK,
        http_protocol: type[asyncio.Protocol] | None = None,
    ) -> None:
        self.app = app
        self.tls = tls
        self.host = host
        self.http_protocol = http_protocol
        self.requested_port = port
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> ServedApp:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # accepted sockets inherit it: no 40 ms Nagle/delayed-ACK stall between header and body writes
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((self.host, self.requested_port))
        except OSError as exc:
            sock.close()
            raise RuntimeError(f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror}") from None
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            http=self.http_protocol or "auto",
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=1,
            ssl_certfile=str(self.tls.chain) if self.tls else None,
            ssl_keyfile=str(self.tls.key) if self.tls else None,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"served-app-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the app did not start on {self.url}")
            time.sleep(0.02)
        return self

    def reload_certificate(self, chain: Path, key: Path) -> None:
        """Serve another certificate from the next handshake on (the demo's NET5 fault)."""
        if self._server is None or self._server.config.ssl is None:
            raise RuntimeError("the app is not serving TLS")
        self._server.config.ssl.load_cert_chain(str(chain), str(key))

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> ServedApp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
