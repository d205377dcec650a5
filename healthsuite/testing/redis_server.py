"""A throwaway ``redis-server`` on a free loopback port, and :func:`redis_command`, one RESP command
over a raw socket (no redis-py), for tests, the bench and the demo.

It never touches a server it did not start (the machine's own Redis on 6379 included).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

from healthsuite.testing.cleanup import private_dir, register, unregister
from healthsuite.testing.ports import LOOPBACK, free_port
from healthsuite.testing.processes import LOG_TAIL_BYTES
from healthsuite.testing.throwaway import ThrowawayServer

__all__ = ["RedisServer", "redis_command"]

_POLL_INTERVAL = 0.05


def _resp_encode(args: tuple[str | bytes | int, ...]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def _resp_read(fh: BinaryIO) -> bytes:
    """Read exactly one RESP2/RESP3 reply from a binary file object; return it raw."""
    line = fh.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError(f"connection closed mid-reply (got {line!r})")
    kind, body = line[:1], line[1:-2]
    if kind in (b"+", b"-", b":", b",", b"_", b"#", b"("):
        return line
    if kind in (b"$", b"!", b"="):
        n = int(body)
        if n < 0:
            return line
        data = fh.read(n + 2)
        if len(data) != n + 2:
            raise ConnectionError("connection closed mid-reply")
        return line + data
    if kind in (b"*", b"~", b">", b"%", b"|"):
        n = int(body)
        if n < 0:
            return line
        if kind in (b"%", b"|"):
            n *= 2
        return line + b"".join(_resp_read(fh) for _ in range(n))
    raise ConnectionError(f"not a RESP reply: {line!r}")


def redis_command(
    host: str,
    port: int,
    *args: str | bytes | int,
    password: str | None = None,
    timeout: float = 10.0,
) -> bytes:
    """Send one command over a fresh connection and return the raw RESP reply.

    With ``password``, ``AUTH`` is sent first; a rejected AUTH raises
    RuntimeError carrying the server's error (e.g. ``WRONGPASS``).
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        fh = sock.makefile("rb")
        try:
            if password is not None:
                sock.sendall(_resp_encode(("AUTH", password)))
                reply = _resp_read(fh)
                if not reply.startswith(b"+OK"):
                    raise RuntimeError(f"redis AUTH failed: {reply.decode(errors='replace').strip()}")
            sock.sendall(_resp_encode(args))
            return _resp_read(fh)
        finally:
            fh.close()


_DEFAULT: Any = object()


class RedisServer(ThrowawayServer):
    """A throwaway ``redis-server`` on a free loopback port. Context manager.

    No persistence (``--save "" --appendonly no``); ``DEBUG`` is enabled for
    local connections (Redis 7 disables it by default) so tests can
    ``DEBUG SLEEP``.  Output goes to :attr:`logfile`.
    """

    host: str = LOOPBACK

    def __init__(
        self,
        base_dir: Path | None = None,
        *,
        port: int | None = None,
        password: str | None = None,
        maxmemory: str | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        exe = os.environ.get("HEALTHSUITE_REDIS_SERVER") or shutil.which("redis-server")
        if not exe and Path("/usr/bin/redis-server").is_file():
            exe = "/usr/bin/redis-server"
        if not exe:
            raise RuntimeError("redis-server not found: install it (`apt-get install redis-server`)")
        self.executable: str = exe
        self._auto_port = port is None
        self.port: int = port if port is not None else free_port(LOOPBACK)
        self.password = password
        self.maxmemory = maxmemory
        self.extra_args: list[str] = list(extra_args or [])
        self.root, _ = private_dir(base_dir, "healthsuite-redis-")
        self.logfile: Path = self.root / "redis.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_once = False
        self._removed = False
        register(self)

    def _argv(self) -> list[str]:
        argv = [
            self.executable,
            "--port", str(self.port),
            "--bind", LOOPBACK,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.root),
            "--daemonize", "no",
            "--enable-debug-command", "local",
        ]
        if self.password is not None:
            argv += ["--requirepass", self.password]
        if self.maxmemory is not None:
            argv += ["--maxmemory", self.maxmemory]
        return argv + self.extra_args

    def start(self) -> RedisServer:
        """Start and wait (polling every 50 ms, 10 s at most) until PING answers."""
        if self._removed:
            raise RuntimeError("this RedisServer was removed; create a new one")
        if self.is_running():
            return self
        register(self)
        self.start_on_port(self._start_once, port_was_chosen=self._auto_port and not self._started_once)
        self._started_once = True
        return self

    def _start_once(self) -> None:
        log_offset = self.logfile.stat().st_size if self.logfile.exists() else 0
        with open(self.logfile, "ab") as log_fh:
            self._proc = subprocess.Popen(
                self._argv(),
                stdin=subprocess.DEVNULL,
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                cwd=self.root,
            )
        deadline = time.monotonic() + 10.0
        last_error = ""
        try:
            while True:
                if self._proc.poll() is not None:
                    last_error = f"redis-server exited with code {self._proc.returncode}"
                    break
                try:
                    reply = redis_command(
                        LOOPBACK, self.port, "PING", password=self.password, timeout=1.0
                    )
                    if reply.startswith(b"+PONG"):
                        return
                    last_error = f"PING answered {reply!r}"
                except (OSError, RuntimeError) as exc:
                    last_error = str(exc)
                if time.monotonic() >= deadline:
                    last_error = f"no PONG within 10 s ({last_error})"
                    break
                time.sleep(_POLL_INTERVAL)
        except BaseException:
            self.stop()
            raise
        self.stop()
        try:
            with open(self.logfile, "rb") as fh:
                fh.seek(log_offset)
                log = fh.read()[-LOG_TAIL_BYTES:].decode("utf-8", "replace")
        except OSError:
            log = ""
        raise RuntimeError(
            f"redis-server failed to start on {LOOPBACK}:{self.port}: {last_error}\n"
            f"--- {self.logfile} (tail) ---\n{log}"
        )

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """SIGTERM, wait (SIGKILL after 5 s). Idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        else:
            proc.wait()

    def remove(self) -> None:
        """Stop and delete the directory this object made."""
        self._removed = True
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            unregister(self)

    def command(self, *args: str | bytes | int, timeout: float = 30.0) -> bytes:
        """One RESP command (AUTH first when a password is set); the raw reply bytes.

        Error replies are returned, not raised (``b"-ERR ..."``).
        """
        return redis_command(self.host, self.port, *args, password=self.password, timeout=timeout)

    def url(self, password: str | None = _DEFAULT, db: int = 0) -> str:
        """``redis://:pw@127.0.0.1:port/0``; the password defaults to the server's own, None omits it."""
        if password is _DEFAULT:
            password = self.password
        auth = f":{quote(password, safe='')}@" if password is not None else ""
        return f"redis://{auth}{self.host}:{self.port}/{db}"
