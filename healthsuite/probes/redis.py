"""Redis: PING with the configured credentials within the timeout."""

from __future__ import annotations

import functools
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import deadline
from .errors import ProbeError, classify
from .lazy import lazy, preload

# the most one answer may hold: INFO is a few kB (its keyspace lines too, for thousands of databases);
# a server sending more (or announcing more) is cut there, not read into memory
MAX_ANSWER_BYTES = 1024 * 1024

if TYPE_CHECKING:
    import redis
    import redis.backoff as _backoff
    import redis.connection
    import redis.retry as _retry
else:
    redis = lazy("redis")
    _backoff = lazy("redis.backoff")
    _retry = lazy("redis.retry")


@dataclass(frozen=True)
class RedisObservation:
    address: str
    pong: bool = False
    server_version: str = ""
    elapsed_s: float = 0.0
    error: ProbeError | None = None

    def summary(self) -> str:
        if self.error is not None:
            return f"{self.error.kind_name}: {self.error.detail}"
        version = f" (Redis {self.server_version})" if self.server_version else ""
        return f"PONG in {self.elapsed_s * 1000:.0f} ms{version}"


def address_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or ''}"


def _watched(connection: redis.connection.AbstractConnection) -> None:
    """redis-py's hook after its socket connects: hand the socket to the exchange (cut at its
    deadline), then the usual handshake (AUTH, CLIENT SETNAME)."""
    exchange = deadline.current()
    sock = getattr(connection, "_sock", None)
    if exchange is not None and isinstance(sock, socket.socket):
        exchange.watch(sock)
    connection.on_connect()  # type: ignore[no-untyped-call]


@functools.cache
def _bounded_parser() -> type[Any]:
    """redis-py's RESP2 parser whose read buffer refuses to grow past MAX_ANSWER_BYTES: a bulk string
    announced larger is refused before it is read, a line that never ends is cut at the bound."""
    from redis._parsers import _RESP2Parser
    from redis._parsers.socket import SocketBuffer
    from redis.exceptions import InvalidResponse

    class Bounded(SocketBuffer):
        def _read_from_socket(self, length: int | None = None, *args: Any, **kwargs: Any) -> bool:
            held = self.get_pos() + self.unread_bytes()  # all of it is this answer's: purged after each
            if held + (length or 0) > MAX_ANSWER_BYTES:
                raise InvalidResponse(f"an answer larger than {MAX_ANSWER_BYTES // (1024 * 1024)} MiB (the bound of "
                                      "one Redis answer, MAX_ANSWER_BYTES): not read further")
            return bool(super()._read_from_socket(length, *args, **kwargs))

    class Parser(_RESP2Parser):
        def on_connect(self, connection: Any) -> None:
            super().on_connect(connection)  # type: ignore[no-untyped-call]
            self._buffer = Bounded(connection._sock, self.socket_read_size, connection.socket_timeout)

    return Parser


def client(url: str, username: str | None, password: str | None, timeout_s: float) -> redis.Redis:
    """A client for one exchange: its reads and connect are bounded by the time left to the exchange
    running on this thread (probes.deadline), and its socket is cut at that deadline."""
    timeout_s = deadline.remaining(timeout_s)
    return redis.Redis.from_url(
        url,
        username=username,
        password=password,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=_retry.Retry(_backoff.NoBackoff(), 0),  # one attempt: a retried pass would hide the failure
        health_check_interval=0,
        client_name="healthsuite",
        redis_connect_func=_watched,
        protocol=2,  # AUTH, not HELLO: any Redis (and the bounded RESP2 parser) answers it
        parser_class=_bounded_parser(),
    )


def failure(exc: BaseException, address: str) -> ProbeError:
    """The error of a Redis exchange; a timeout that names the deadline when one cut it."""
    error = classify(exc, "redis", address)
    exchange = deadline.current()
    if exchange is not None and exchange.expired:
        return ProbeError("timeout", "redis", address, f"{exchange.sentence()} ({error.detail})")
    return error


def ready() -> None:
    """redis-py imported, before an exchange's deadline starts (probes.lazy.preload)."""
    preload(redis, _backoff, _retry)


def ping(url: str, username: str | None, password: str | None, timeout_s: float) -> RedisObservation:
    address = address_of(url)
    ready()
    started = time.perf_counter()
    with deadline.exchange(timeout_s, f"redis PING {address}"):
        conn = client(url, username, password, timeout_s)
        try:
            pong = conn.ping()
            elapsed = time.perf_counter() - started
            try:
                version = str(conn.info("server").get("redis_version", ""))
            except redis.RedisError:
                version = ""  # INFO may be renamed or forbidden for this user: PING is what counts
        except Exception as exc:  # noqa: BLE001
            return RedisObservation(address, elapsed_s=time.perf_counter() - started, error=failure(exc, address))
        finally:
            conn.close()
    return RedisObservation(address, pong=pong is True, server_version=version, elapsed_s=elapsed)
