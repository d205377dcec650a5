"""Loopback TCP listeners that misbehave, each served by one daemon thread around a selector:
:class:`SilentListener` accepts and never answers (a hung server), :class:`GarbageListener` answers
every connection with fixed bytes (the wrong protocol). :class:`Listener` is their base, and that of
the hostile listeners in :mod:`healthsuite.testing.hostile`.
"""

from __future__ import annotations

import errno
import selectors
import socket
import threading
import time
from types import TracebackType

from healthsuite.testing.ports import LOOPBACK

__all__ = ["Listener", "SilentListener", "GarbageListener", "receive"]


def receive(conn: socket.socket) -> bytes | None:
    """What a non-blocking connection has to read: None when nothing is there yet, b"" when the client
    closed its side or the connection broke (both end it for a listener)."""
    try:
        return conn.recv(65536)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""


class Listener:
    """A loopback TCP listener served by one daemon thread driven by a selector.

    ``close()`` wakes the thread through a socketpair, joins it, and closes
    every socket, so nothing is left behind.
    """

    def __init__(self, host: str = LOOPBACK, port: int = 0, *, backlog: int = 512) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
            self._sock.listen(backlog)
        except BaseException:
            self._sock.close()
            raise
        self._sock.setblocking(False)
        self.host: str = host
        self.port: int = int(self._sock.getsockname()[1])
        self.connections: int = 0  # connections accepted so far
        self._conns: set[socket.socket] = set()
        self._wake_r, self._wake_w = socket.socketpair()
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._sock, selectors.EVENT_READ, "listen")
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._loop, name=f"{type(self).__name__}-{self.port}", daemon=True
        )
        self._thread.start()

    # subclasses hook in here
    def _on_accept(self, conn: socket.socket) -> None:
        pass

    def _on_readable(self, conn: socket.socket) -> None:
        pass

    def _on_tick(self) -> None:
        pass

    def _drop(self, conn: socket.socket) -> None:
        try:
            self._sel.unregister(conn)
        except (KeyError, ValueError):
            pass
        self._conns.discard(conn)
        conn.close()

    def _loop(self) -> None:
        while True:
            for key, _ in self._sel.select(timeout=0.1):
                if key.data == "wake":
                    return
                if key.data == "listen":
                    while True:
                        try:
                            conn, _addr = self._sock.accept()
                        except (BlockingIOError, InterruptedError):
                            break
                        except OSError as exc:
                            if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                                break
                            return
                        self.connections += 1
                        self._conns.add(conn)
                        self._on_accept(conn)
                else:
                    self._on_readable(key.fileobj)  # type: ignore[arg-type]
            self._on_tick()

    def close(self) -> None:
        """Stop the thread and close the listening socket and every accepted connection."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._thread.join(timeout=5)
        for conn in list(self._conns):
            conn.close()
        self._conns.clear()
        self._sel.close()
        self._sock.close()
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> Listener:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SilentListener(Listener):
    """Accepts TCP connections on a free loopback port and never answers: a hung server.

    Accepted sockets stay open (unread) until :meth:`close`, and accepting
    continues, so clients connect fine and then time out on read.
    """

    def __enter__(self) -> SilentListener:
        return self


class GarbageListener(Listener):
    """Answers every TCP connection with fixed bytes, then closes: the wrong protocol.

    After sending, the write side is shut down and whatever the client sends
    is drained (up to ``linger`` seconds) before closing, so the client reads
    the bytes and a clean EOF rather than a connection reset.
    """

    DEFAULT_PAYLOAD = b"\x00\x01garbage not a protocol\r\n\r\n"

    def __init__(
        self,
        payload: bytes = DEFAULT_PAYLOAD,
        host: str = LOOPBACK,
        port: int = 0,
        *,
        linger: float = 2.0,
    ) -> None:
        self.payload = payload
        self.linger = linger
        self._deadlines: dict[socket.socket, float] = {}
        super().__init__(host, port)

    def _on_accept(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(2.0)
            conn.sendall(self.payload)
            conn.shutdown(socket.SHUT_WR)
            conn.setblocking(False)
        except OSError:
            self._drop(conn)
            return
        self._deadlines[conn] = time.monotonic() + self.linger
        self._sel.register(conn, selectors.EVENT_READ, "conn")

    def _on_readable(self, conn: socket.socket) -> None:
        data = receive(conn)
        if data is None:
            return
        if not data:
            self._deadlines.pop(conn, None)
            self._drop(conn)

    def _on_tick(self) -> None:
        now = time.monotonic()
        for conn, deadline in list(self._deadlines.items()):
            if now >= deadline:
                del self._deadlines[conn]
                self._drop(conn)

    def __enter__(self) -> GarbageListener:
        return self
