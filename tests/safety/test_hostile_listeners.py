"""The hostile servers of healthsuite.testing.hostile, seen from a raw socket client: they answer as
documented, slowly (only lower bounds on time are asserted: the k-th trickled byte cannot arrive
before k intervals after the request), never complete within a short window, serve hundreds of
connections from one thread, and leave nothing running after close()."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator

import dns.exception
import dns.message
import dns.query
import pytest

from healthsuite.testing.hostile import (
    BINARY_STATUS_LINE,
    TRICKLE_STATUS_LINE,
    GarbageListener,
    TlsStallListener,
    TrickleBodyListener,
    TrickleHeadersListener,
    hostile_dns,
)

INTERVAL_S = 0.2
WINDOW_S = 1.2
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n"
PATIENCE_S = 10.0  # how long a client waits for what must come (never a timing assertion)


@pytest.fixture
def client() -> Iterator[list[socket.socket]]:
    """Sockets opened by a test, closed after it."""
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def _connect(port: int, opened: list[socket.socket]) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=PATIENCE_S)
    opened.append(sock)
    return sock


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    """Byte by byte up to `marker` (included): nothing after it is read."""
    data = b""
    while not data.endswith(marker):
        chunk = sock.recv(1)
        assert chunk, f"closed before {marker!r}: {data!r}"
        data += chunk
    return data


def _trickle(sock: socket.socket, since: float, window_s: float) -> list[tuple[float, bytes]]:
    """What arrives during `window_s`: (seconds after `since`, bytes) per recv. The connection stays open."""
    arrivals = []
    deadline = time.monotonic() + window_s
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        assert chunk, "the server closed the connection"
        arrivals.append((time.monotonic() - since, chunk))
    sock.settimeout(PATIENCE_S)
    return arrivals


def _assert_slow(arrivals: list[tuple[float, bytes]], interval_s: float) -> int:
    """The k-th trickled byte arrived no sooner than k intervals after the request; returns how many."""
    count = 0
    for elapsed, chunk in arrivals:
        count += len(chunk)
        assert elapsed >= count * interval_s - 0.01, f"byte {count} after {elapsed:.3f} s (interval {interval_s} s)"
    assert count >= 1, "nothing trickled in the window"
    return count


def _wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def _client_hello() -> tuple[ssl.SSLObject, ssl.MemoryBIO, bytes]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return tls, incoming, outgoing.read()


def test_trickle_headers_sends_the_status_line_then_headers_that_never_end(client: list[socket.socket]) -> None:
    with TrickleHeadersListener(interval_s=INTERVAL_S) as server:
        sock = _connect(server.port, client)
        sent_at = time.monotonic()
        sock.sendall(REQUEST)
        head = _read_until(sock, b"\r\n")
        assert head == TRICKLE_STATUS_LINE
        arrivals = _trickle(sock, sent_at, WINDOW_S)
        _assert_slow(arrivals, INTERVAL_S)
        trickled = b"".join(chunk for _, chunk in arrivals)
        assert b"\r\n\r\n" not in head + trickled, "the headers ended"
        assert b"x-trickle-1: slow\r\nx-trickle-2: slow\r\n".startswith(trickled)
        assert server.connections == 1 and server.requests == 1 and server.open_connections == 1


def test_trickle_body_sends_whole_headers_then_the_body_byte_by_byte(client: list[socket.socket]) -> None:
    with TrickleBodyListener(interval_s=INTERVAL_S) as server:
        sock = _connect(server.port, client)
        sent_at = time.monotonic()
        sock.sendall(REQUEST)
        headers = _read_until(sock, b"\r\n\r\n")
        assert headers.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"content-length: 1000000\r\n" in headers.lower()
        arrivals = _trickle(sock, sent_at, WINDOW_S)
        count = _assert_slow(arrivals, INTERVAL_S)
        assert set(b"".join(chunk for _, chunk in arrivals)) == {ord(".")} and count < 1_000_000


def test_tls_stall_reads_the_client_hello_then_never_completes_the_handshake(client: list[socket.socket]) -> None:
    with TlsStallListener(interval_s=INTERVAL_S) as server:
        tls, incoming, hello = _client_hello()
        assert hello[0] == 0x16  # a handshake record
        sock = _connect(server.port, client)
        sent_at = time.monotonic()
        sock.sendall(hello)
        arrivals = _trickle(sock, sent_at, WINDOW_S)
        received = b"".join(chunk for _, chunk in arrivals)
        _assert_slow(arrivals, INTERVAL_S)
        assert bytes((0x16, 0x03, 0x03, 0x40, 0x00, 0x02))[: len(received)] == received[:6]
        incoming.write(received)
        with pytest.raises(ssl.SSLWantReadError):  # an incomplete record: the handshake waits for more
            tls.do_handshake()
        assert server.requests == 1


def test_tls_stall_waits_for_the_whole_client_hello(client: list[socket.socket]) -> None:
    """Half a ClientHello is not a request: nothing is sent until the record is whole."""
    with TlsStallListener(interval_s=INTERVAL_S) as server:
        _, _, hello = _client_hello()
        sock = _connect(server.port, client)
        sock.sendall(hello[: len(hello) // 2])
        assert _trickle(sock, time.monotonic(), 3 * INTERVAL_S) == []
        assert server.requests == 0
        sock.sendall(hello[len(hello) // 2:])
        _wait_for(lambda: server.requests == 1, "the whole ClientHello was not read")


def test_garbage_listener_answers_a_binary_status_line(client: list[socket.socket]) -> None:
    with GarbageListener(BINARY_STATUS_LINE) as server:
        sock = _connect(server.port, client)
        sock.sendall(REQUEST)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        assert data == BINARY_STATUS_LINE


def test_hostile_dns_never_answers() -> None:
    with hostile_dns() as server:
        query = dns.message.make_query("anything.example", "A")
        started = time.monotonic()
        with pytest.raises(dns.exception.Timeout):
            dns.query.udp(query, "127.0.0.1", port=server.port, timeout=0.5)
        assert time.monotonic() - started >= 0.5
        assert server.queries["anything.example A"] == 1
    assert not server.running


def test_hundreds_of_connections_from_one_thread_and_no_client_blocks_another(client: list[socket.socket]) -> None:
    with TrickleHeadersListener(interval_s=INTERVAL_S) as server:
        idle = _connect(server.port, client)  # connects and never sends
        half = _connect(server.port, client)
        half.sendall(REQUEST[:20])  # half a request head
        socks = [_connect(server.port, client) for _ in range(300)]
        for sock in socks:
            sock.sendall(REQUEST)
        for sock in socks:  # the status line and at least one trickled byte, on every connection
            assert _read_until(sock, TRICKLE_STATUS_LINE + b"x").startswith(TRICKLE_STATUS_LINE)
        assert server.connections == 302 and server.requests == 300
        assert server.open_connections == 302
        assert idle.fileno() >= 0 and half.fileno() >= 0
        threads = [t for t in threading.enumerate() if t.name.startswith(f"TrickleHeadersListener-{server.port}")]
        assert len(threads) == 1


def test_a_client_that_leaves_is_dropped(client: list[socket.socket]) -> None:
    with TrickleBodyListener(interval_s=INTERVAL_S) as server:
        sock = _connect(server.port, client)
        sock.sendall(REQUEST)
        _read_until(sock, b"\r\n\r\n")
        assert server.open_connections == 1
        sock.close()
        _wait_for(lambda: server.open_connections == 0, "the closed connection is still held")


@pytest.mark.parametrize("kind", [TrickleHeadersListener, TrickleBodyListener, TlsStallListener])
def test_close_leaves_nothing_running(
    client: list[socket.socket], kind: type[TrickleHeadersListener | TrickleBodyListener | TlsStallListener]
) -> None:
    server = kind(interval_s=INTERVAL_S)
    port = server.port
    socks = [_connect(port, client) for _ in range(5)]
    for sock in socks:
        sock.sendall(REQUEST)
    _wait_for(lambda: server.requests == 5, "the requests were not read")
    server.close()
    server.close()  # idempotent
    assert not server.running
    assert not [t for t in threading.enumerate() if t.name == f"{kind.__name__}-{port}"]
    assert server.open_connections == 0
    for sock in socks:  # their server side is closed: EOF (after what was sent) or a reset
        sock.settimeout(PATIENCE_S)
        try:
            while sock.recv(65536):
                pass
        except ConnectionResetError:
            pass
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=PATIENCE_S).close()


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        TrickleHeadersListener(interval_s=0)
