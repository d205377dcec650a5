"""Hostile servers for the suite's tests and the benchmark: listeners that accept, read the request
and then answer so slowly that a client timing out each read separately never times out.

    with TrickleHeadersListener(interval_s=1.0) as server:   # 127.0.0.1, a free port
        url = f"http://127.0.0.1:{server.port}/"              # the status line, then a header byte a second
    TrickleBodyListener()     # complete headers (content-length: 1000000), then a body byte a second
    TlsStallListener()        # reads the ClientHello, then trickles a handshake record, never completing it
    hostile_dns()             # a started DnsServer that never answers (every name dropped); stop() it
    CloseListener()           # accepts, then closes each connection at once, before a byte is read or sent
    FlakyListener(failures=1) # resets the first connection, answers the next ones (200, a small body)
    FlakyListener(1, "silent")  # ... or holds the first one unanswered (a client's timeout), then answers
    GarbageDnsServer()        # UDP: answers every datagram with bytes that are not a DNS message
    GarbageDnsServer(MALFORMED_DNS)  # ... or with a reply to the query whose records are cut off

The others already live in `healthsuite.testing.listeners` and are re-exported here: `SilentListener`
(accepts, never answers: also a TLS server that never answers the ClientHello) and `GarbageListener`
(answers bytes of no protocol, e.g. a binary status line).

Every listener is a `listeners.Listener`: one daemon thread around a selector serves every connection,
all sockets non-blocking, so one client never blocks another and hundreds of connections cost nothing;
the trickle's timers run from the selector's tick (every 0.1 s at most: an `interval_s` below that is
rounded up to it). Each has `.port`, `.connections` (accepted so far), `.requests` (requests read so
far), `.open_connections`, `.running`, `close()` (stops the thread, closes every socket; idempotent),
and is a context manager. A client that closes is dropped; nothing else ever closes a connection.

No pytest import: the benchmark uses it.
"""

from __future__ import annotations

import itertools
import selectors
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType

from healthsuite.testing.dns import ANY_NAME, DnsServer
from healthsuite.testing.listeners import GarbageListener, Listener, SilentListener, receive
from healthsuite.testing.ports import LOOPBACK

__all__ = [
    "TrickleHeadersListener",
    "TrickleBodyListener",
    "TlsStallListener",
    "SilentListener",
    "GarbageListener",
    "hostile_dns",
    "CloseListener",
    "FlakyListener",
    "http_answer",
    "GarbageDnsServer",
    "NOT_DNS",
    "MALFORMED_DNS",
    "BINARY_STATUS_LINE",
    "TRICKLE_STATUS_LINE",
]

TRICKLE_STATUS_LINE = b"HTTP/1.1 200 OK\r\n"
# a status line no HTTP client can parse (GarbageListener(BINARY_STATUS_LINE))
BINARY_STATUS_LINE = b"\x00\xff\x16\x03HTTP/9.9 \x00\x01\x02 garbage\r\n\r\n"
MAX_REQUEST_BYTES = 65536  # a request head (or ClientHello) larger than this counts as read
_TLS_HANDSHAKE = 0x16


@dataclass
class _Connection:
    buffer: bytearray = field(default_factory=bytearray)
    answering: bool = False  # the request is read: the prefix is sent, the trickle runs
    pending: bytes = b""  # the prefix's unsent part (the socket buffer was full)
    stream: Iterator[int] | None = None  # the trickled bytes
    next_byte: int | None = None  # taken from the stream, not sent yet
    next_at: float = 0.0  # when the next trickled byte is due
    sent: int = 0  # bytes sent on this connection


class _TrickleListener(Listener):
    """Reads a request (until `_request_complete`), sends `_prefix()` at once, then one byte of
    `_stream()` every `interval_s`; when the stream ends (if ever) the connection is closed."""

    def __init__(self, interval_s: float = 1.0, host: str = LOOPBACK, port: int = 0, *, backlog: int = 512) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        self.interval_s = float(interval_s)
        self.requests = 0  # requests read so far
        self.bytes_sent = 0  # over every connection
        self._state: dict[socket.socket, _Connection] = {}
        super().__init__(host, port, backlog=backlog)

    # --- what a subclass defines ------------------------------------------------------------------

    def _request_complete(self, buffer: bytes) -> bool:
        return b"\r\n\r\n" in buffer  # an HTTP request head (a request body, if any, is drained unread)

    def _prefix(self) -> bytes:
        return b""

    def _stream(self) -> Iterator[int]:
        raise NotImplementedError

    # --- the selector's hooks -----------------------------------------------------------------------

    def _on_accept(self, conn: socket.socket) -> None:
        conn.setblocking(False)
        self._state[conn] = _Connection()
        try:
            self._sel.register(conn, selectors.EVENT_READ, "conn")
        except (OSError, ValueError):
            self._drop(conn)

    def _on_readable(self, conn: socket.socket) -> None:
        state = self._state.get(conn)
        if state is None:
            return
        data = receive(conn)
        if data is None:
            return
        if not data:  # the client closed (or reset) its side
            self._drop(conn)
            return
        if state.answering:
            return  # drained, unread: the client's writes never block
        state.buffer += data
        if self._request_complete(bytes(state.buffer)) or len(state.buffer) >= MAX_REQUEST_BYTES:
            self.requests += 1
            state.answering = True
            state.buffer.clear()
            state.pending = self._prefix()
            state.stream = self._stream()
            state.next_at = time.monotonic() + self.interval_s
            self._send(conn, state)

    def _on_tick(self) -> None:
        now = time.monotonic()
        for conn, state in list(self._state.items()):
            if state.answering and (state.pending or now >= state.next_at):
                self._send(conn, state, now)

    def _send(self, conn: socket.socket, state: _Connection, now: float | None = None) -> None:
        """Send what is due without blocking: the prefix's rest, then one trickled byte when its time came
        (`now`, from a tick). A full socket buffer keeps the bytes for the next tick."""
        try:
            if state.pending:
                sent = conn.send(state.pending)
                state.pending = state.pending[sent:]
                self._count(state, sent)
                if state.pending:
                    return
            if now is None or now < state.next_at or state.stream is None:
                return
            if state.next_byte is None:
                state.next_byte = next(state.stream, None)
                if state.next_byte is None:  # the whole answer went out (a body's last byte): done
                    self._drop(conn)
                    return
            if conn.send(bytes((state.next_byte,))):
                state.next_byte = None
                self._count(state, 1)
                # two bytes are at least interval_s apart (and the k-th leaves k intervals after the
                # request at the earliest); a tick's lateness (under 0.1 s) adds to the gap
                state.next_at = now + self.interval_s
        except (BlockingIOError, InterruptedError):
            return  # the socket buffer is full: the same bytes on a later tick
        except OSError:
            self._drop(conn)

    def _count(self, state: _Connection, sent: int) -> None:
        state.sent += sent
        self.bytes_sent += sent

    def _drop(self, conn: socket.socket) -> None:
        self._state.pop(conn, None)
        super()._drop(conn)

    # --- what a test reads ----------------------------------------------------------------------------

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    @property
    def running(self) -> bool:
        """Whether the selector thread still runs (False after close())."""
        return self._thread.is_alive()

    def close(self) -> None:
        super().close()
        self._state.clear()

    def __enter__(self) -> _TrickleListener:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class TrickleHeadersListener(_TrickleListener):
    """After reading the request head: `HTTP/1.1 200 OK\\r\\n` at once, then header bytes, one every
    `interval_s`, forever: `x-trickle-N: slow\\r\\n` lines, so the headers never end (no empty line)."""

    def _prefix(self) -> bytes:
        return TRICKLE_STATUS_LINE

    def _stream(self) -> Iterator[int]:
        for number in itertools.count(1):
            yield from f"x-trickle-{number}: slow\r\n".encode("ascii")

    def __enter__(self) -> TrickleHeadersListener:
        return self


class TrickleBodyListener(_TrickleListener):
    """After reading the request head: complete headers at once (200, `content-length: 1000000`), then
    the body, one byte (`.`) every `interval_s` (it would close after the millionth)."""

    BODY_LENGTH = 1_000_000

    def _prefix(self) -> bytes:
        return (
            TRICKLE_STATUS_LINE
            + b"content-type: text/plain\r\n"
            + f"content-length: {self.BODY_LENGTH}\r\n".encode("ascii")
            + b"\r\n"
        )

    def _stream(self) -> Iterator[int]:
        return itertools.repeat(ord("."), self.BODY_LENGTH)

    def __enter__(self) -> TrickleBodyListener:
        return self


class TlsStallListener(_TrickleListener):
    """Reads the TLS ClientHello (a whole handshake record), then trickles, one byte every `interval_s`
    and the first one `interval_s` after the ClientHello, a handshake record that never ends: the record
    header `16 03 03 40 00` (16 KiB announced), a ServerHello header, then bytes. The handshake never
    completes. (A server that never answers the ClientHello at all: `SilentListener`.)"""

    RECORD_LENGTH = 0x4000

    def _request_complete(self, buffer: bytes) -> bool:
        if len(buffer) < 5:
            return False
        if buffer[0] != _TLS_HANDSHAKE:
            return True  # not TLS: answer the same stall
        return len(buffer) >= 5 + int.from_bytes(buffer[3:5], "big")

    def _stream(self) -> Iterator[int]:
        record = bytes((_TLS_HANDSHAKE, 0x03, 0x03)) + self.RECORD_LENGTH.to_bytes(2, "big")
        server_hello = bytes((0x02,)) + (self.RECORD_LENGTH - 4).to_bytes(3, "big") + b"\x03\x03"
        yield from record + server_hello
        yield from itertools.cycle(range(1, 256))  # the "random" and beyond, byte by byte

    def __enter__(self) -> TlsStallListener:
        return self


def hostile_dns(kind: str = "drop", *, delay_s: float | None = None, port: int = 0) -> DnsServer:
    """A started DNS server on 127.0.0.1 whose every name misbehaves as `kind` (default `drop`: it never
    answers, the client times out; see `healthsuite.testing.dns.FAULT_KINDS`). Put `server.address` in an
    environment file's `dns.nameservers`; `server.stop()` (or `with hostile_dns() as server:`) stops it."""
    server = DnsServer({}, port=port)
    server.set_fault(ANY_NAME, kind, delay_s=delay_s)
    return server.start()


class CloseListener(Listener):
    """Accepts every TCP connection and closes it at once, unread: the client reads EOF (a service that
    crashes on each connection, or a proxy with no upstream)."""

    def _on_accept(self, conn: socket.socket) -> None:
        self._drop(conn)

    def __enter__(self) -> CloseListener:
        return self


def http_answer(status: int = 200, body: bytes = b"<html><body>ok</body></html>",
                content_type: str = "text/html; charset=utf-8") -> bytes:
    """A whole HTTP/1.1 response that closes its connection (FlakyListener's `answer`)."""
    reason = {200: "OK", 500: "Internal Server Error", 503: "Service Unavailable"}.get(status, "Status")
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n")
    return head.encode("ascii") + body


ANSWER_200 = http_answer()


class FlakyListener(Listener):
    """A server that fails its first `failures` connections, then answers every request with `answer`
    (a whole HTTP response; it closes the connection after it): a transient fault. `fault` is "reset"
    (the connection is accepted and reset at once, RST: the client meets "connection reset") or
    "silent" (accepted and never answered: the client times out). `.connections` counts accepted
    connections, `.requests` the requests answered."""

    def __init__(self, failures: int = 1, fault: str = "reset", answer: bytes | None = None,
                 host: str = LOOPBACK, port: int = 0) -> None:
        if fault not in ("reset", "silent"):
            raise ValueError(f"unknown fault {fault!r}; reset or silent")
        self.failures = failures
        self.fault = fault
        self.answer = answer if answer is not None else ANSWER_200
        self.requests = 0
        self._buffers: dict[socket.socket, bytes] = {}
        super().__init__(host, port)

    def _on_accept(self, conn: socket.socket) -> None:
        conn.setblocking(False)
        if self.connections <= self.failures:
            if self.fault == "reset":  # SO_LINGER 0: close sends RST, not FIN
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self._drop(conn)
            return  # silent: held open, unread, until close()
        self._buffers[conn] = b""
        self._sel.register(conn, selectors.EVENT_READ, "conn")

    def _on_readable(self, conn: socket.socket) -> None:
        data = receive(conn)
        if data is None:
            return
        if not data:
            self._buffers.pop(conn, None)
            self._drop(conn)
            return
        buffer = self._buffers.get(conn, b"") + data
        self._buffers[conn] = buffer
        if b"\r\n\r\n" in buffer or len(buffer) > MAX_REQUEST_BYTES:
            self.requests += 1
            try:
                conn.setblocking(True)
                conn.settimeout(2.0)
                conn.sendall(self.answer)
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            self._buffers.pop(conn, None)
            self._drop(conn)

    def __enter__(self) -> FlakyListener:
        return self


NOT_DNS = "not_dns"  # GarbageDnsServer answers bytes of no protocol, shorter than a DNS header
MALFORMED_DNS = "malformed"  # ... or the query's header as a reply announcing one answer record, with none


class GarbageDnsServer:
    """A UDP server on 127.0.0.1 answering every datagram at once with what is not a DNS reply:
    `NOT_DNS` (default) sends `payload`, `MALFORMED_DNS` a reply header (the query's id, QR set) that
    announces a question and an answer and carries neither. `.port`, `.address` ("127.0.0.1:PORT"),
    `.queries` (datagrams answered), `.running`, `close()` (idempotent); a context manager."""

    PAYLOAD = b"\x00\x01garbage"

    def __init__(self, kind: str = NOT_DNS, host: str = LOOPBACK, port: int = 0, *, payload: bytes = PAYLOAD) -> None:
        if kind not in (NOT_DNS, MALFORMED_DNS):
            raise ValueError(f"unknown kind {kind!r}; one of {NOT_DNS}, {MALFORMED_DNS}")
        self.kind = kind
        self.payload = payload
        self.queries = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, port))
        self._sock.settimeout(0.1)
        self.host = host
        self.port = int(self._sock.getsockname()[1])
        self.address = f"{host}:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"GarbageDnsServer-{self.port}", daemon=True)
        self._thread.start()

    def _answer(self, query: bytes) -> bytes:
        if self.kind == NOT_DNS or len(query) < 12:
            return self.payload
        flags = (query[2] | 0x80).to_bytes(1, "big") + b"\x00"  # QR set, NOERROR
        return query[:2] + flags + b"\x00\x01\x00\x01\x00\x00\x00\x00"  # qd 1, an 1; then nothing

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                query, peer = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.queries += 1
            try:
                self._sock.sendto(self._answer(query), peer)
            except OSError:
                pass

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        self._sock.close()

    def __enter__(self) -> GarbageDnsServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
