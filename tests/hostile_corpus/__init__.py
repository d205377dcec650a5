"""Helpers of the hostile-input tests: a child process measured on its own (its exit status, its wall
time and the peak RSS of it and the processes it waited for, through a small wrapper, so neither the
test process nor its other children count), and a loopback Redis whose INFO answer a test shapes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    returncode: int  # -N: killed by signal N (also when the test's own timeout killed it)
    stdout: str
    stderr: str
    wall_s: float
    peak_rss_mb: float
    timed_out: bool

    def tail(self) -> str:
        return f"exit {self.returncode}, {self.wall_s:.1f} s, {self.peak_rss_mb:.0f} MB\n" \
               f"{self.stdout[-4000:]}\n{self.stderr[-3000:]}"


# Runs the command as its child and writes the child's own peak RSS (wait4's ru_maxrss, kB) to argv[1]:
# a child forked from this small process inherits its few MB, not the test process's (ru_maxrss carries
# the parent's high-water mark over fork and exec). The child's exit is passed on as its own.
_WRAPPER = """
import os, signal, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
proc.returncode = code = os.waitstatus_to_exitcode(status)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
if code < 0:
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
sys.exit(code)
"""


def measured(args: list[str], *, timeout_s: float, cwd: Path | str | None = None,
             env: dict[str, str] | None = None) -> Measured:
    """Run `args` to its end and measure it alone: the peak RSS (ru_maxrss) of that process and of the
    children it waited for (pytest-xdist workers), through a small wrapper process, so neither this
    test process nor its earlier children count. Killed (with its process group) after `timeout_s`, a
    bound no healthy run comes near."""
    with tempfile.TemporaryDirectory() as scratch, tempfile.TemporaryFile() as out, \
            tempfile.TemporaryFile() as err:
        peak = Path(scratch) / "peak"
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-c", _WRAPPER, str(peak), *args], cwd=cwd, env=env, stdout=out,
                                stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        expired = threading.Event()

        def kill() -> None:
            expired.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout_s, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        wall = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        peak_kb = int(peak.read_text()) if peak.exists() else usage.ru_maxrss  # killed: the wrapper's view
        return Measured(proc.returncode, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"),
                        wall, peak_kb / 1024, expired.is_set())


# --- a loopback Redis -----------------------------------------------------------------------------------

Info = Callable[[socket.socket], None]  # writes the answer to INFO (or nothing, or forever)


def _read_command(conn: socket.socket, buffer: bytearray) -> list[bytes] | None:
    """One RESP array of bulk strings (what redis-py sends); None when the client went away."""

    def line() -> bytes | None:
        while b"\r\n" not in buffer:
            data = conn.recv(65536)
            if not data:
                return None
            buffer.extend(data)
        end = buffer.index(b"\r\n")
        head = bytes(buffer[:end])
        del buffer[:end + 2]
        return head

    head = line()
    if head is None or not head.startswith(b"*"):
        return None
    parts = []
    for _ in range(int(head[1:])):
        size = line()
        if size is None:
            return None
        length = int(size[1:])
        while len(buffer) < length + 2:
            data = conn.recv(65536)
            if not data:
                return None
            buffer.extend(data)
        parts.append(bytes(buffer[:length]))
        del buffer[:length + 2]
    return parts


@dataclass
class FakeRedis:
    """A RESP2 server on a free loopback port: +OK to AUTH, CLIENT and anything else, +PONG to PING,
    proto 2 to HELLO and `info(conn)` to INFO. Records the commands asked (names only)."""

    info: Info
    asked: list[str] = field(default_factory=list)
    port: int = 0

    @contextmanager
    def serving(self) -> Iterator[str]:
        listener = socket.create_server(("127.0.0.1", 0))
        self.port = listener.getsockname()[1]
        stop = threading.Event()
        conns: list[socket.socket] = []

        def handle(conn: socket.socket) -> None:
            buffer = bytearray()
            try:
                while not stop.is_set():
                    command = _read_command(conn, buffer)
                    if command is None:
                        return
                    name = command[0].upper().decode("ascii", "replace")
                    self.asked.append(name)
                    if name == "INFO":
                        self.info(conn)
                    elif name == "HELLO":  # RESP2: the server's map as a flat array
                        conn.sendall(b"*4\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:2\r\n")
                    elif name == "PING":
                        conn.sendall(b"+PONG\r\n")
                    else:
                        conn.sendall(b"+OK\r\n")
            except OSError:
                return
            finally:
                conn.close()

        def accept() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                conns.append(conn)
                threading.Thread(target=handle, args=(conn,), daemon=True).start()

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            yield f"redis://127.0.0.1:{self.port}/0"
        finally:
            stop.set()
            listener.close()
            for conn in conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()


def bulk(payload: bytes) -> Info:
    """INFO answered with `payload` as one bulk string, as Redis answers it."""
    return lambda conn: conn.sendall(b"$%d\r\n%s\r\n" % (len(payload), payload))


def trickle(announced: int, every_s: float = 0.2) -> Info:
    """A bulk string of `announced` bytes sent one byte every `every_s`: an answer that never ends."""

    def send(conn: socket.socket) -> None:
        conn.sendall(b"$%d\r\n" % announced)
        while True:
            conn.sendall(b"x")
            time.sleep(every_s)

    return send


def silent(conn: socket.socket) -> None:
    """INFO never answered: the connection stays open and quiet until the client leaves."""
    while conn.recv(65536):
        pass
