"""Does a TCP port accept a connection within its timeout? (AV4, what `nc -zv host port` tells.)"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from ..model.netaddr import format_address
from . import deadline
from .errors import ProbeError, classify
from .lookup import Lookup, first_address
from .retry import Attempt


@dataclass(frozen=True)
class TcpObservation:
    address: str
    elapsed_s: float = 0.0
    peer: str = ""  # the address that answered (after DNS)
    error: ProbeError | None = None
    attempts: tuple[Attempt, ...] = ()  # every attempt, when a transport failure was retried (probes.retry)

    @property
    def connected(self) -> bool:
        return self.error is None

    def summary(self) -> str:
        if self.error is not None:
            return f"{self.error.kind_name} after {self.elapsed_s * 1000:.0f} ms ({self.error.detail})"
        return f"connected to {self.peer} in {self.elapsed_s * 1000:.1f} ms"


def connect(host: str, port: int, timeout_s: float, lookup: Lookup = first_address) -> TcpObservation:
    """Name lookup (`lookup`: the run's pins and resolver) and connect together within `timeout_s`
    (and the run's deadline)."""
    address = format_address(host, port)
    started = time.perf_counter()
    with deadline.exchange(timeout_s, f"tcp {address}") as exchange:
        try:
            ip = lookup(host, port, exchange.clamp())
            with socket.create_connection((ip, port), timeout=exchange.clamp()) as sock:
                peer_host, peer_port = sock.getpeername()[:2]
                return TcpObservation(address, time.perf_counter() - started, format_address(peer_host, peer_port))
        except OSError as exc:
            error = classify(exc, "tcp", address)
            if exchange.expired:
                error = ProbeError("timeout", "tcp", address, f"{exchange.sentence()} ({error.detail})")
            return TcpObservation(address, time.perf_counter() - started, error=error)
