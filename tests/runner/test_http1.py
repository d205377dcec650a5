"""probes.http1, the HTTP/1.1 exchange of every request that follows no redirect, against real loopback
servers that answer exact bytes: what it sends, how it frames and decodes what comes back, and the bounds
it keeps whatever the server does (head size, decompressed body, deadline), through probes.http.fetch as
every check calls it."""

from __future__ import annotations

import gzip
import socket
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from healthsuite.probes import http
from healthsuite.probes.http1 import HEAD_MAX_BYTES, request_target
from healthsuite.testing.listeners import GarbageListener, SilentListener
from healthsuite.testing.ports import LOOPBACK

LIMIT = 4096


def fetch(url: str, *, method: str = "GET", headers: tuple[tuple[str, str], ...] = (), body: bytes = b"",
          timeout_s: float = 5.0, limit: int = LIMIT) -> http.HttpObservation:
    client = http.make_client(http.tls_context(True, None))
    return http.fetch(client, http.HttpRequest(method, url, headers, False, timeout_s, body), limit)


def answered(payload: bytes, **kwargs: object) -> http.HttpObservation:
    with GarbageListener(payload) as server:
        return fetch(f"http://{LOOPBACK}:{server.port}/x", **kwargs)  # type: ignore[arg-type]


@contextmanager
def recording(reply: bytes) -> Iterator[tuple[str, list[bytes]]]:
    """A server that keeps each request's bytes (up to the blank line and a body of Content-Length) and
    answers `reply`."""
    seen: list[bytes] = []
    server = socket.create_server((LOOPBACK, 0))
    server.settimeout(10)

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(rest) < length:
                rest += conn.recv(65536)
            seen.append(head + b"\r\n\r\n" + rest)
            conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.getsockname()[1]}", seen
    finally:
        try:
            server.shutdown(socket.SHUT_RDWR)  # wakes an accept that is still waiting (nothing connected)
        except OSError:
            pass
        server.close()
        thread.join(10)


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_the_request_is_one_line_per_header_as_httpx_sent_it() -> None:
    with recording(OK) as (url, seen):
        seen_answer = fetch(url + "/a b?q=1&r=\"x\"", headers=(("X-Token", "t1"),))
    assert seen_answer.status == 200 and seen_answer.body == b"ok"
    lines = seen[0].split(b"\r\n")
    assert lines[0] == b"GET /a%20b?q=1&r=%22x%22 HTTP/1.1"
    assert lines[1] == f"host: {url.removeprefix('http://')}".encode()
    assert set(lines[2:6]) == {b"accept: */*", b"accept-encoding: gzip, deflate", b"connection: keep-alive",
                               b"user-agent: " + http.USER_AGENT.encode()}
    assert b"x-token: t1" in lines


def test_a_body_is_sent_with_its_length() -> None:
    with recording(OK) as (url, seen):
        fetch(url + "/hook", method="POST", body=b'{"a": 1}', headers=(("Content-Type", "application/json"),))
    assert b"content-length: 8\r\n\r\n{\"a\": 1}" in seen[0]
    assert seen[0].startswith(b"POST /hook HTTP/1.1\r\n")


@pytest.mark.parametrize("name, value", [
    ("X-Evil", "a\r\nGET /admin HTTP/1.1"), ("X-Evil", "a\nb"), ("X-Evil", "a\x00b"), ("Bad Name", "v"),
    ("X:Y", "v"),
])
def test_a_header_that_would_split_the_request_sends_nothing(name: str, value: str) -> None:
    with recording(OK) as (url, seen):
        answer = fetch(url + "/", headers=((name, value),))
    assert answer.error is not None and answer.error.kind == "protocol", answer
    assert seen == []  # not even a connection's worth of bytes


def test_a_method_that_is_not_a_token_is_refused() -> None:
    with recording(OK) as (url, seen):
        answer = fetch(url + "/", method="GET /x HTTP/1.1\r\nX:")
    assert answer.error is not None and answer.error.kind == "protocol"
    assert seen == []


def test_headers_are_lower_case_and_repeated_ones_joined() -> None:
    answer = answered(b"HTTP/1.1 201 Created\r\nSet-Cookie: a=1\r\nSET-COOKIE: b=2\r\nX-Long: one\r\n two\r\n"
                      b"Content-Length: 0\r\n\r\n")
    assert (answer.status, answer.reason, answer.http_version) == (201, "Created", "HTTP/1.1")
    assert answer.headers["set-cookie"] == "a=1, b=2"
    assert answer.headers["x-long"] == "one two"


@pytest.mark.parametrize("value, text", [(b"caf\xc3\xa9\xe2\x80\xa8x", "caf\u00e9\u2028x"), (b"caf\xe9", "caf\u00e9")])
def test_header_values_are_read_as_httpx_reads_them(value: bytes, text: str) -> None:
    answer = answered(b"HTTP/1.1 200 OK\r\nContent-Type: " + value + b"\r\nContent-Length: 0\r\n\r\n")
    assert answer.headers["content-type"] == text


def test_chunked_gzip_and_an_informational_answer_before_the_real_one() -> None:
    packed = gzip.compress(b"hello world" * 10)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (packed[:7], packed[7:]))
    answer = answered(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                      b"Content-Encoding: gzip\r\n\r\n" + chunks + b"0\r\n\r\n")
    assert answer.status == 200 and answer.body == b"hello world" * 10 and not answer.truncated


@pytest.mark.parametrize("wrapped", [True, False])
def test_deflate_wrapped_or_raw(wrapped: bool) -> None:
    packer = zlib.compressobj(wbits=zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
    body = packer.compress(b"deflated" * 3) + packer.flush()
    answer = answered(b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: %d\r\n\r\n%s"
                      % (len(body), body))
    assert answer.body == b"deflated" * 3, answer


def test_a_compressed_bomb_is_inflated_only_to_the_limit() -> None:
    bomb = gzip.compress(b"\x00" * (32 * 1024 * 1024), compresslevel=1)  # 32 MiB inflated, 140 KiB sent
    answer = answered(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
                      % (len(bomb), bomb))
    assert answer.status == 200 and answer.truncated and len(answer.body) == LIMIT


def test_a_body_over_the_limit_is_cut_and_said_so() -> None:
    answer = answered(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * (LIMIT * 3))  # framed by the connection's close
    assert answer.truncated and answer.body == b"x" * LIMIT


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_where_http_has_none(status: int) -> None:
    answer = answered(b"HTTP/1.1 %d Nothing\r\nContent-Length: 5\r\n\r\n" % status)
    assert answer.status == status and answer.body == b"" and answer.error is None


@pytest.mark.parametrize("payload, kind, words", [
    (b"", "reset", "Server disconnected without sending a response."),
    (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "protocol", "illegal status line"),
    (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "protocol", "illegal header line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "protocol", "expected 10"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nx", "protocol", "illegal Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "protocol", "illegal chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "protocol", "incomplete chunked read"),
    (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope", "other", "incorrect header"),
    (b"HTTP/1.1 200 OK\r\nX: " + b"a" * (HEAD_MAX_BYTES + 10) + b"\r\n\r\n", "protocol", "larger than"),
])
def test_a_broken_answer_is_named(payload: bytes, kind: str, words: str) -> None:
    answer = answered(payload)
    assert answer.error is not None, answer
    assert answer.error.kind == kind and words in answer.error.detail, answer.error


def test_a_server_that_never_answers_costs_the_deadline_and_says_where() -> None:
    with SilentListener() as server:
        answer = fetch(f"http://{LOOPBACK}:{server.port}/", timeout_s=0.5)
    assert answer.error is not None and answer.error.kind == "timeout"
    assert "0.5 s deadline (the response headers were still arriving)" in answer.error.detail


def test_a_refused_connection() -> None:
    with socket.socket() as free:
        free.bind((LOOPBACK, 0))
        port = free.getsockname()[1]
    answer = fetch(f"http://{LOOPBACK}:{port}/")
    assert answer.error is not None and answer.error.kind == "refused"


def test_the_request_target() -> None:
    assert request_target("", "") == "/"
    assert request_target("/a/%20b", "x=1") == "/a/%20b?x=1"
    assert request_target("/é", "") == "/%C3%A9"
