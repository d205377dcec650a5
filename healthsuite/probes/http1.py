"""One HTTP/1.1 exchange on a socket of its own, for the requests that follow no redirect.

Every plain GET of a run (a page, a health endpoint, an API endpoint...) comes here rather than
through httpx: the same request on the wire and the same answer read, at about a quarter of the CPU
(httpx with httpcore and h11 spent 1.8 ms per request, this 0.5 ms), which is what a run of thousands
of targets is made of. Requests that follow redirects keep httpx (probes.http).

What it enforces, whatever the server sends: every socket operation ends at the exchange's deadline
(probes.deadline; the socket is shut down there too); the response head is at most HEAD_MAX_BYTES
(httpcore's limit); the body is read and decompressed up to the caller's limit, never further (a
compressed bomb stops at the limit, where httpx would inflate a whole chunk first); a request header
that would split the request (CR, LF, NUL) or a method that is not a token is refused before
anything is sent. Errors are the exceptions probes.errors.classify names: the socket's own, and
RemoteProtocolError, LocalProtocolError and DecodingError worded as httpx words them.
"""

from __future__ import annotations

import re
import socket
import ssl
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from . import deadline

HEAD_MAX_BYTES = 100 * 1024  # the status line and headers (httpcore's MAX_INCOMPLETE_EVENT_SIZE)
LINE_MAX_BYTES = 4096  # one chunk-size line of a chunked body
READ_BYTES = 64 * 1024  # the most one read asks for
# the first read of an exchange asks for this much, each read that fills it twice as much (to READ_BYTES):
# a read allocates what it asks for and then shrinks to what came, so thousands of short answers each
# asking for 64 KiB left the allocator's heap in holes (megabytes at 5,000 exchanges, 64 in flight)
FIRST_READ_BYTES = 4 * 1024
NO_BODY_STATUS = frozenset({204, 304})

_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_FORBIDDEN_IN_VALUE = re.compile(rb"[\r\n\x00]")
_STATUS_LINE = re.compile(rb"^HTTP/(\d)\.(\d) (\d{3})(?: ([^\r\n]*))?\r?$")
_END_OF_HEAD = re.compile(rb"\r?\n\r?\n")
_UNSAFE_TARGET = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%]")


class RemoteProtocolError(Exception):
    """The server broke HTTP/1.1 (kind `protocol`; `reset` for a disconnection, by its words)."""


class LocalProtocolError(Exception):
    """The request itself is not valid HTTP/1.1 (a header value with a line break): nothing was sent."""


class DecodingError(Exception):
    """A body whose Content-Encoding does not decode."""


@dataclass(slots=True)
class Marks:
    """Milliseconds since the exchange began at which each phase completed (None: not reached), read
    by the caller also when the exchange failed half-way (which phase ran out of time)."""

    started: float = field(default_factory=time.perf_counter)
    connect: float | None = None
    tls: float | None = None
    sent: float | None = None
    first_byte: float | None = None

    def now(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 1)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    reason: str
    http_version: str
    headers: dict[str, str]  # lower-case names; a repeated header's values joined by ", " (as httpx does)
    body: bytes  # decoded, at most the caller's limit
    truncated: bool


def request_target(path: str, query: str) -> str:
    """The request line's target: the path (`/` when empty) and query, percent-encoding what may not
    appear there raw (a space, a quote...) as httpx does."""
    target = (path or "/") + (f"?{query}" if query else "")
    if _UNSAFE_TARGET.search(target):
        target = "".join(
            "".join(f"%{b:02X}" for b in ch.encode("utf-8")) if _UNSAFE_TARGET.match(ch) else ch for ch in target
        )
    return target


def request_bytes(method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes) -> bytes:
    """The request as sent; LocalProtocolError for a method, header name or value that would not be
    one line of HTTP (so what an environment file declares can never add a request of its own)."""
    if not _TOKEN.match(method.encode("ascii", "replace")):
        raise LocalProtocolError(f"Illegal method {method!r}")
    lines = [f"{method} {target} HTTP/1.1".encode("ascii")]
    for name, value in headers:
        raw_name = name.encode("ascii", "replace")
        raw_value = value.encode("utf-8")
        if not _TOKEN.match(raw_name):
            raise LocalProtocolError(f"Illegal header name {name!r}")
        if _FORBIDDEN_IN_VALUE.search(raw_value) or raw_value != raw_value.strip(b" \t"):
            raise LocalProtocolError(f"Illegal header value for {name!r}")
        lines.append(raw_name + b": " + raw_value)
    if body:
        lines.append(b"content-length: " + str(len(body)).encode("ascii"))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class _Reader:
    """Bytes from the socket, each read bounded by the exchange's deadline."""

    def __init__(self, sock: socket.socket, exchange: deadline.Exchange) -> None:
        self.sock = sock
        self.exchange = exchange
        self.buffer = bytearray()
        self.closed = False
        self.read_bytes = FIRST_READ_BYTES

    def fill(self) -> bool:
        """Read once more into the buffer; False when the peer has closed."""
        if self.closed:
            return False
        self.sock.settimeout(self.exchange.clamp())
        data = self.sock.recv(self.read_bytes)
        if not data:
            self.closed = True
            return False
        if len(data) == self.read_bytes:
            self.read_bytes = min(2 * self.read_bytes, READ_BYTES)
        self.buffer += data
        return True

    def take(self, size: int) -> bytes:
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def line(self) -> bytes:
        """One line (without its line break) of a chunked body's framing."""
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0:
                line = self.take(end + 1)
                return line.rstrip(b"\r\n")
            if len(self.buffer) > LINE_MAX_BYTES:
                raise RemoteProtocolError(f"a chunked body's framing line is longer than {LINE_MAX_BYTES} bytes")
            if not self.fill():
                raise RemoteProtocolError("peer closed connection without sending complete message body: "
                                          "incomplete chunked read")


def _head(reader: _Reader) -> tuple[int, str, str, dict[str, str], list[str]]:
    """The status line and headers: (status, reason, version, headers, content-encodings)."""
    searched = 0
    while True:
        found = _END_OF_HEAD.search(reader.buffer, max(0, searched - 3))
        if found is not None:
            break
        if len(reader.buffer) > HEAD_MAX_BYTES:
            raise RemoteProtocolError(f"the response head is larger than {HEAD_MAX_BYTES:,} bytes")
        searched = len(reader.buffer)
        if not reader.fill():
            if not reader.buffer:
                raise RemoteProtocolError("Server disconnected without sending a response.")
            raise RemoteProtocolError("peer closed connection without sending a complete response head")
    if found.end() > HEAD_MAX_BYTES:
        raise RemoteProtocolError(f"the response head is larger than {HEAD_MAX_BYTES:,} bytes")
    head = reader.take(found.end())
    lines = head[: found.start()].split(b"\n")
    status_line = _STATUS_LINE.match(lines[0])
    if status_line is None:
        raise RemoteProtocolError(f"illegal status line: {bytes(lines[0][:200])!r}")
    version = f"HTTP/{status_line.group(1).decode()}.{status_line.group(2).decode()}"
    status = int(status_line.group(3))
    reason = (status_line.group(4) or b"").decode("ascii", errors="ignore").strip()  # as httpx reads it
    fields: list[tuple[str, bytes]] = []
    for raw in lines[1:]:
        raw = raw.rstrip(b"\r")
        if raw[:1] in (b" ", b"\t") and fields:  # an obsolete folded line continues the previous value
            fields[-1] = (fields[-1][0], fields[-1][1] + b" " + raw.strip(b" \t"))
            continue
        name, colon, value = raw.partition(b":")
        if not colon or not _TOKEN.match(name):
            raise RemoteProtocolError(f"illegal header line: {bytes(raw[:200])!r}")
        fields.append((name.decode("ascii").lower(), value.strip(b" \t")))
    encoding = _header_encoding(value for _, value in fields)
    headers: dict[str, str] = {}
    for key, value in fields:
        text = value.decode(encoding)
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    encodings = [part.strip().lower() for part in headers.get("content-encoding", "").split(",") if part.strip()]
    return status, reason, version, headers, encodings


def _header_encoding(values: Iterable[bytes]) -> str:
    """The one encoding the head's values are read in, as httpx chooses it: ASCII, else UTF-8, else Latin-1."""
    joined = b"\n".join(values)
    for encoding in ("ascii", "utf-8"):
        try:
            joined.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    return "latin-1"


class _Decoder:
    """Content-Encoding undone (gzip, deflate; any other encoding is passed as it is, as httpx does),
    never producing more than the bytes still wanted."""

    def __init__(self, encodings: list[str]) -> None:
        self.steps: list[zlib._Decompress | None] = []
        for encoding in reversed(encodings):  # the last applied is undone first
            if encoding in ("gzip", "x-gzip"):
                self.steps.append(zlib.decompressobj(16 + zlib.MAX_WBITS))
            elif encoding == "deflate":
                self.steps.append(None)  # zlib-wrapped or raw: decided by its first bytes

    def decode(self, data: bytes, wanted: int) -> bytes:
        for i, step in enumerate(self.steps):
            if not data:
                return b""
            try:
                if step is None:
                    step = self.steps[i] = zlib.decompressobj(zlib.MAX_WBITS)
                    try:
                        data = step.decompress(data, wanted)
                        continue
                    except zlib.error:  # a raw deflate stream, as some servers send (httpx tries both)
                        step = self.steps[i] = zlib.decompressobj(-zlib.MAX_WBITS)
                data = step.decompress(data, wanted)
            except zlib.error as exc:
                raise DecodingError(str(exc)) from exc
        return data

    @property
    def pending(self) -> bool:
        """Output is held back by the limit (more would come without more input)."""
        return any(step is not None and bool(step.unconsumed_tail) for step in self.steps)


def _body(reader: _Reader, headers: dict[str, str], encodings: list[str], limit: int) -> tuple[bytes, bool]:
    """The body up to `limit` decoded bytes (and whether there was more)."""
    decoder = _Decoder(encodings) if encodings else None
    out = bytearray()

    def add(raw: bytes) -> bool:
        """Keep `raw`'s decoded bytes; True once over the limit."""
        data = decoder.decode(raw, limit + 1 - len(out)) if decoder is not None else raw
        out.extend(data)
        return len(out) > limit or (decoder is not None and decoder.pending)

    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size_line = reader.line().split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise RemoteProtocolError(f"illegal chunk size line: {size_line[:40]!r}") from None
            if size < 0:
                raise RemoteProtocolError("illegal chunk size line")
            if size == 0:
                break
            while size:
                if not reader.buffer and not reader.fill():
                    raise RemoteProtocolError("peer closed connection without sending complete message body: "
                                              "incomplete chunked read")
                piece = reader.take(size)
                size -= len(piece)
                if add(piece):
                    return bytes(out[:limit]), True
            reader.line()  # the CRLF after the chunk's data
        return bytes(out[:limit]), False
    length_text = headers.get("content-length")
    if length_text is not None:
        values = {value.strip() for value in length_text.split(",")}
        if len(values) != 1 or not next(iter(values)).isdigit():
            raise RemoteProtocolError(f"illegal Content-Length: {length_text[:40]!r}")
        expected = left = int(values.pop())
        while left:
            if not reader.buffer and not reader.fill():
                raise RemoteProtocolError(f"peer closed connection without sending complete message body: "
                                          f"received {expected - left} bytes, expected {expected}")
            piece = reader.take(left)
            left -= len(piece)
            if add(piece):
                return bytes(out[:limit]), True
        return bytes(out[:limit]), False
    while True:  # neither: the body runs to the connection's close
        if reader.buffer and add(reader.take(len(reader.buffer))):
            return bytes(out[:limit]), True
        if not reader.fill():
            return bytes(out[:limit]), False


def exchange(
    *,
    method: str,
    target: str,
    address: str,
    port: int,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    tls: ssl.SSLContext | None,
    server_name: str,
    max_body_bytes: int,
    within: deadline.Exchange,
    marks: Marks,
) -> Response:
    """Connect to `address`:`port` (TLS with SNI `server_name` when `tls` is given), send the request,
    read the answer; everything within `within`'s deadline. `marks` records each phase as it ends."""
    wire = request_bytes(method, target, headers, body)  # before connecting: a refused request sends nothing
    sock = socket.create_connection((address, port), timeout=within.clamp())
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        within.watch(sock)
        marks.connect = marks.now()
        if tls is not None:
            sock.settimeout(within.clamp())
            sock = tls.wrap_socket(sock, server_hostname=server_name or None)
            marks.tls = marks.now()
        sock.settimeout(within.clamp())
        sock.sendall(wire)
        marks.sent = marks.now()
        reader = _Reader(sock, within)
        while True:
            status, reason, version, response_headers, encodings = _head(reader)
            if not 100 <= status < 200 or status == 101:
                break  # an informational answer (100 Continue) is followed by the real one
        marks.first_byte = marks.now()
        if method == "HEAD" or status in NO_BODY_STATUS or 100 <= status < 200:
            content, truncated = b"", False
        else:
            content, truncated = _body(reader, response_headers, encodings, max_body_bytes)
        return Response(status, reason, version, response_headers, content, truncated)
    finally:
        sock.close()
