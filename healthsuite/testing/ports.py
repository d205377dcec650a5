"""Loopback ports for throwaway servers: one the kernel says is free, and whether a given one is.

Ports come from the kernel (bind to port 0), never a fixed guess, so nothing here collides with a server
the machine already runs (its own PostgreSQL on 5432, Redis on 6379).
"""

from __future__ import annotations

import socket
import threading

__all__ = ["LOOPBACK", "free_port", "port_is_free"]

LOOPBACK = "127.0.0.1"

_handed_out: set[int] = set()
_port_lock = threading.Lock()


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on ``host`` that is free right now.

    Binds to port 0, reads the port the kernel picked and closes.  Ports
    already returned by this process are skipped, so several servers
    constructed before any of them starts still get distinct ports.
    """
    with _port_lock:
        for _ in range(50):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((host, 0))
                port = int(s.getsockname()[1])
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    return port  # pragma: no cover - 50 collisions in a row


def port_is_free(host: str, port: int, *, udp: bool = False) -> bool:
    """Whether a TCP listener (or, with ``udp``, a UDP socket) could bind ``host:port`` now (SO_REUSEADDR, as
    the servers bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True
