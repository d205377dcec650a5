"""The system resolver's answer for a host, within a timeout (getaddrinfo has none of its own)."""

from __future__ import annotations

import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

_RESOLVERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="healthsuite-getaddrinfo")


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def first_address(host: str, port: int, timeout_s: float) -> str:
    """The first address of `host` (IPv4 first), as the system resolver answers it.

    Runs getaddrinfo in a worker thread that is abandoned when slow, so a hung resolver costs the
    probe its timeout, never the run. Raises socket.gaierror (classified as kind `dns`)."""
    if is_ip(host):
        return host
    future = _RESOLVERS.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=timeout_s)
    except FutureTimeout:
        raise socket.gaierror(f"no answer from the system resolver for {host} within {timeout_s:g} s") from None
    infos.sort(key=lambda info: 0 if info[0] == socket.AF_INET else 1)
    return str(infos[0][4][0])
