"""httpx with the whole-exchange deadline (healthsuite.probes.deadline) on every socket operation.

httpx's timeouts bound each read, connect and write; this network backend also cuts each of them to
the time left to the exchange running on the thread, and hands its socket to the exchange to be
shut down at the deadline. A server that trickles its headers or its body, or stalls the TLS
handshake, then ends its request at the deadline. Imported on first use (it needs httpcore).
"""

from __future__ import annotations

import socket
import ssl
import typing

import httpcore
import httpx

from . import deadline
from .lookup import Lookup, first_address, is_ip


def _clamp(timeout: float | None, error: type[Exception]) -> float | None:
    exchange = deadline.current()
    if exchange is None:
        return timeout
    try:
        return exchange.clamp(timeout)
    except deadline.DeadlineExceeded as exc:
        raise error(str(exc)) from exc


class DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        stream = self._inner.start_tls(ssl_context, server_hostname, _clamp(timeout, httpcore.ConnectTimeout))
        return DeadlineStream(stream)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's synchronous backend, bounded by the exchange's deadline. The name is resolved by
    `lookup` (the run's pins and resolver) with the same bound (getaddrinfo has no timeout of its own)."""

    def __init__(self, lookup: Lookup = first_address) -> None:
        self._inner = httpcore.SyncBackend()
        self._lookup = lookup

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _clamp(timeout, httpcore.ConnectTimeout)
        if not is_ip(host):
            try:
                host = self._lookup(host, port, timeout if timeout is not None else 30.0)
            except socket.gaierror as exc:
                raise httpcore.ConnectError(str(exc)) from exc
            timeout = _clamp(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        exchange = deadline.current()
        sock = stream.get_extra_info("socket")
        if exchange is not None and isinstance(sock, socket.socket):
            exchange.watch(sock)
        return DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        return DeadlineStream(
            self._inner.connect_unix_socket(path, _clamp(timeout, httpcore.ConnectTimeout), socket_options)
        )

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def transport(verify: ssl.SSLContext, lookup: Lookup = first_address) -> httpx.HTTPTransport:
    """An httpx transport whose connections use DeadlineBackend; no keep-alive (every request opens
    its own connection, so each carries its full timing breakdown), no cap of its own on connections
    (the probe pool bounds them)."""
    result = httpx.HTTPTransport(verify=verify, trust_env=False, http2=False)
    # httpx builds its httpcore pool without a way to pass a network backend: replace it
    result._pool = httpcore.ConnectionPool(
        ssl_context=verify,
        max_connections=None,
        max_keepalive_connections=0,
        http1=True,
        http2=False,
        network_backend=DeadlineBackend(lookup),
    )
    return result
