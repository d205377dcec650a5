"""Small threaded loopback servers for the TLS checks (NET5, NET6): a TLS server whose certificate
can be swapped while it runs and whose protocol versions can be capped, and a plain-HTTP server that
answers one fixed response (e.g. a redirect to HTTPS).

    with TlsServer(chain_path, key_path) as server:            # 127.0.0.1, a free port
        server.url                                             # https://127.0.0.1:PORT
        server.swap(new_chain, new_key)                        # next handshakes present the new one
    TlsServer(chain, key, maximum_version=ssl.TLSVersion.TLSv1_1)   # a server stuck on TLS 1.1
    with PlainHttpServer(redirect_response("https://127.0.0.1:8443/")) as plain: plain.url

After the handshake the TLS server reads one request head and answers `HTTP/1.1 200 OK`. A server
that accepts TCP but never handshakes is `healthsuite.testing.listeners.SilentListener`.

No pytest import: the demo ships it. Only loopback by default; every socket has a timeout.
"""

from __future__ import annotations

import socket
import ssl
import threading
import warnings
from pathlib import Path
from types import TracebackType

__all__ = ["TlsServer", "PlainHttpServer", "redirect_response", "OK_RESPONSE"]

LOOPBACK = "127.0.0.1"
OK_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n"
    b"Connection: close\r\n\r\nok\n"
)
_MAX_REQUEST_HEAD = 65536
_ACCEPT_POLL_S = 0.1


def redirect_response(location: str, status: int = 301) -> bytes:
    """A redirect answer, e.g. what nginx's `return 301 https://$host$request_uri;` sends."""
    reason = {301: "Moved Permanently", 302: "Found", 307: "Temporary Redirect", 308: "Permanent Redirect"}
    return (
        f"HTTP/1.1 {status} {reason.get(status, 'Redirect')}\r\nLocation: {location}\r\n"
        f"Content-Length: 0\r\nConnection: close\r\n\r\n"
    ).encode("latin-1")


class _FixedResponseServer:
    """Accepts on a loopback port in one thread; each connection is served in its own thread."""

    scheme = "http"

    def __init__(
        self, response: bytes = OK_RESPONSE, *, host: str = LOOPBACK, port: int = 0, io_timeout_s: float = 5.0
    ) -> None:
        self.response = response
        self.host = host
        self.requested_port = port
        self.port = 0
        self.io_timeout_s = io_timeout_s
        self.connections = 0  # accepted so far
        self.served = 0  # requests answered so far
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._open: dict[threading.Thread, socket.socket] = {}  # worker -> the socket it serves

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def start(self) -> _FixedResponseServer:
        if self._listener is not None:
            return self
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.host, self.requested_port))
            listener.listen(64)
        except OSError as exc:
            listener.close()
            raise RuntimeError(f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror}") from None
        listener.settimeout(_ACCEPT_POLL_S)
        self.port = int(listener.getsockname()[1])
        self._listener = listener
        self._stopping.clear()
        name = f"{type(self).__name__}-{self.port}"
        self._thread = threading.Thread(target=self._accept_loop, name=name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            still_open = list(self._open.items())
        for _, conn in still_open:
            try:
                # the plain socket's shutdown, also on an SSLSocket: wakes a worker blocked in recv or a handshake
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
            except OSError:
                pass
        for worker, _ in still_open:
            worker.join(timeout=5)

    def __enter__(self) -> _FixedResponseServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        listener = self._listener
        while not self._stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            worker = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            with self._lock:
                self.connections += 1
                self._open[worker] = conn
            worker.start()

    def _handle(self, conn: socket.socket) -> None:
        stream = conn
        try:
            conn.settimeout(self.io_timeout_s)
            stream = self._wrap(conn)  # an SSLSocket takes over the descriptor (conn is detached)
            with self._lock:
                self._open[threading.current_thread()] = stream
            head = b""
            while b"\r\n\r\n" not in head and len(head) < _MAX_REQUEST_HEAD:
                data = stream.recv(4096)
                if not data:
                    break
                head += data
            if b"\r\n\r\n" in head:
                stream.sendall(self.response)
                with self._lock:
                    self.served += 1
        except OSError:  # ssl.SSLError included: a client that hangs up or refuses our certificate
            pass
        finally:
            stream.close()
            conn.close()
            with self._lock:
                self._open.pop(threading.current_thread(), None)

    def _wrap(self, conn: socket.socket) -> socket.socket:
        return conn


class PlainHttpServer(_FixedResponseServer):
    """Plain HTTP answering one fixed response to every request (default 200 OK; see redirect_response)."""

    def start(self) -> PlainHttpServer:
        super().start()
        return self

    def __enter__(self) -> PlainHttpServer:
        return self.start()


class TlsServer(_FixedResponseServer):
    """TLS on loopback with a certificate chain that `swap()` replaces while the server runs.

    `maximum_version` caps the protocol (e.g. `ssl.TLSVersion.TLSv1_1`: a server stuck on TLS 1.1,
    served with `@SECLEVEL=0` because OpenSSL 3 refuses TLS < 1.2 at its default security level)."""

    scheme = "https"

    def __init__(
        self,
        chain: Path,
        key: Path,
        *,
        maximum_version: ssl.TLSVersion | None = None,
        minimum_version: ssl.TLSVersion | None = None,
        response: bytes = OK_RESPONSE,
        host: str = LOOPBACK,
        port: int = 0,
        io_timeout_s: float = 5.0,
    ) -> None:
        super().__init__(response, host=host, port=port, io_timeout_s=io_timeout_s)
        self.handshakes = 0  # completed so far
        self.server_names: list[str | None] = []  # the SNI of each handshake (None: the client sent none)
        self.context = self._make_context(chain, key, maximum_version, minimum_version)
        self.context.sni_callback = self._record_sni

    @staticmethod
    def _make_context(
        chain: Path, key: Path, maximum: ssl.TLSVersion | None, minimum: ssl.TLSVersion | None
    ) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        legacy = ssl.TLSVersion.TLSv1_2
        with warnings.catch_warnings():  # TLS 1.0/1.1 are deprecated: serving them is the point here
            warnings.simplefilter("ignore", DeprecationWarning)
            if minimum is not None:
                context.minimum_version = minimum
            if maximum is not None:
                if maximum < context.minimum_version:
                    context.minimum_version = maximum
                context.maximum_version = maximum
            if context.minimum_version < legacy:
                context.set_ciphers("DEFAULT:@SECLEVEL=0")
        context.load_cert_chain(chain, key)
        return context

    def start(self) -> TlsServer:
        super().start()
        return self

    def __enter__(self) -> TlsServer:
        return self.start()

    def _record_sni(self, _sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _context: ssl.SSLContext) -> None:
        with self._lock:
            self.server_names.append(name)

    def swap(self, chain: Path, key: Path) -> None:
        """Present another certificate chain from the next handshake on (connections already open keep theirs).

        It reloads the *running* context (`load_cert_chain`), as a hot-swapping server does; that replaces
        the certificate of the same key type, so keep a server's certificates on one key type."""
        with self._lock:
            self.context.load_cert_chain(chain, key)

    def _wrap(self, conn: socket.socket) -> socket.socket:
        with self._lock:  # the SSL object copies the context's certificate: never half-way through a swap
            stream = self.context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        stream.do_handshake()
        with self._lock:
            self.handshakes += 1
        return stream
