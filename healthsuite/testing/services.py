"""Throwaway loopback servers for tests and the demo.

Everything here starts *fresh* processes on free 127.0.0.1 ports in private
temporary directories and removes them again.  Nothing in this module ever
connects to, stops or reconfigures a server it did not start itself (the
machine's own PostgreSQL on 5432 / Redis on 6379 are never touched: ports come
from the kernel via :func:`free_port`, and the PostgreSQL unix socket lives in
a private directory).

Plain Python, no third-party dependency (no pytest, psycopg or redis-py):
SQL goes through ``psql``, Redis through a tiny RESP client over a raw socket.

Contents:

* :func:`free_port`
* :class:`PostgresServer` -- a PostgreSQL cluster (``initdb`` + ``pg_ctl``)
* :class:`RedisServer` -- a ``redis-server`` subprocess
* :func:`redis_command` -- one RESP command against any host/port
* :class:`SilentListener` -- accepts TCP connections, never answers
* :class:`GarbageListener` -- answers every connection with fixed bytes

Every server registers itself at construction and an ``atexit`` hook removes
those still alive at interpreter exit, so an aborted test run does not leak
processes or directories.
"""

from __future__ import annotations

import atexit
import errno
import glob
import os
import pwd
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Protocol
from urllib.parse import quote

__all__ = [
    "free_port",
    "PostgresServer",
    "RedisServer",
    "redis_command",
    "SilentListener",
    "GarbageListener",
]

LOOPBACK = "127.0.0.1"
_POLL_INTERVAL = 0.05
_LOG_TAIL_BYTES = 4000
# A unix socket path (sun_path) holds at most 107 bytes plus the NUL.
_MAX_SOCKET_PATH = 107


# --------------------------------------------------------------------------
# registry + atexit fallback


class _Removable(Protocol):
    def remove(self) -> None: ...


_live: dict[int, tuple[_Removable, int]] = {}
_live_lock = threading.Lock()


def _register(obj: _Removable) -> None:
    with _live_lock:
        _live[id(obj)] = (obj, os.getpid())


def _unregister(obj: _Removable) -> None:
    with _live_lock:
        _live.pop(id(obj), None)


@atexit.register
def _remove_all_at_exit() -> None:
    """Last-resort cleanup for servers nobody removed (e.g. an aborted test run).

    Only in the process that created them: a forked child exiting must not
    tear down its parent's servers.
    """
    with _live_lock:
        leftovers = [obj for obj, pid in _live.values() if pid == os.getpid()]
    for obj in leftovers:
        try:
            obj.remove()
        except Exception:  # pragma: no cover - best effort at shutdown
            pass


# --------------------------------------------------------------------------
# small helpers

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


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie.

    Zombies matter here: a daemonised postmaster is re-parented to PID 1,
    which in containers does not always reap, so ``kill(pid, 0)`` alone would
    report a dead server as alive.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: trust kill(0)
    # the state letter follows the ")" closing the command name
    state = stat.rsplit(")", 1)[-1].split()[0:1]
    return state != ["Z"] and state != ["X"]


def _children_of(pid: int) -> list[int]:
    kids: list[int] = []
    for stat_path in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat_path).read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if len(fields) > 1 and fields[1] == str(pid):
            kids.append(int(stat_path.split("/")[2]))
    return kids


def _wait_dead(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if not any(_pid_alive(p) for p in pids):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def _tail(path: Path, limit: int = _LOG_TAIL_BYTES) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            return fh.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"<no log: {exc}>"


def _clean_env() -> dict[str, str]:
    """The current environment without libpq's PG* variables.

    A stray PGHOST/PGPORT/PGUSER/PGPASSWORD in the caller's environment must
    never redirect our commands at the machine's own PostgreSQL.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    env.pop("LANGUAGE", None)
    return env


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _conf_value(value: str) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "''") + "'"


def _make_root(base_dir: Path | None, prefix: str) -> tuple[Path, Path | None]:
    """Create a private directory; return (it, the base_dir it lives in or None)."""
    if base_dir is None:
        return Path(tempfile.mkdtemp(prefix=prefix)), None
    base = Path(base_dir)
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base)), base


# --------------------------------------------------------------------------
# PostgreSQL


def find_pg_bindir() -> Path:
    """Locate the PostgreSQL server binaries (the directory holding ``initdb``).

    Order: ``$HEALTHSUITE_PG_BINDIR``; ``pg_config --bindir`` if it holds
    initdb (Debian's pg_config often points at /usr/bin, which lacks it); the
    highest version under /usr/lib/postgresql/*/bin; ``initdb`` on PATH.
    """
    env_dir = os.environ.get("HEALTHSUITE_PG_BINDIR")
    if env_dir:
        if (Path(env_dir) / "initdb").is_file():
            return Path(env_dir)
        raise RuntimeError(f"HEALTHSUITE_PG_BINDIR={env_dir} does not contain initdb")
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out and (Path(out) / "initdb").is_file():
            return Path(out)

    def version_key(p: str) -> tuple[int, ...]:
        ver = Path(p).parent.name
        return tuple(int(x) for x in ver.split(".") if x.isdigit()) or (0,)

    candidates = [p for p in glob.glob("/usr/lib/postgresql/*/bin") if (Path(p) / "initdb").is_file()]
    if candidates:
        return Path(max(candidates, key=version_key))
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install them "
        "(`apt-get install postgresql`) or set HEALTHSUITE_PG_BINDIR to the directory holding initdb"
    )


def _user_can_traverse(path: Path, uid: int, gids: set[int]) -> bool:
    """Whether ``uid`` may reach ``path``: search permission on it and every ancestor."""
    p = path.resolve()
    for d in [p, *p.parents]:
        try:
            st = d.stat()
        except OSError:
            return False
        if st.st_uid == uid:
            bit = 0o100
        elif st.st_gid in gids:
            bit = 0o010
        else:
            bit = 0o001
        if not st.st_mode & bit:
            return False
    return True


class PostgresServer:
    """A throwaway PostgreSQL cluster on a free loopback port.

    Context manager: starts on enter, :meth:`remove` on exit.

    Layout under :attr:`root` (a fresh directory inside ``base_dir``, or a
    fresh temp directory): ``data/`` (the cluster), ``sock/`` (unix socket),
    ``postgres.log``.  When running as root, initdb/pg_ctl/psql run as the
    ``postgres`` OS user (initdb refuses root).  If that user cannot reach
    ``base_dir`` (e.g. pytest's 0700 ``tmp_path``), the cluster goes in a
    fresh directory under the system temp dir instead; :attr:`root` tells
    where.  The socket directory likewise moves to a short temp path when the
    socket path would exceed the kernel's 107-byte limit.
    """

    host: str = LOOPBACK

    def __init__(
        self,
        base_dir: Path | None = None,
        *,
        port: int | None = None,
        superuser_password: str | None = None,
        max_connections: int = 30,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.bindir = find_pg_bindir()
        self._auto_port = port is None
        self.port: int = port if port is not None else free_port(LOOPBACK)
        self.superuser_password = superuser_password
        self.max_connections = max_connections
        self.settings: dict[str, str] = dict(settings or {})
        self._as_root = os.geteuid() == 0
        self._pg_uid: int | None = None
        self._pg_gid: int | None = None
        if self._as_root:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError(
                    "running as root but there is no `postgres` OS user to run initdb as "
                    "(`apt-get install postgresql` creates it)"
                ) from None
            self._pg_uid, self._pg_gid = pw.pw_uid, pw.pw_gid
        self._runuser = shutil.which("runuser") if self._as_root else None

        self.root: Path = self._make_root(base_dir)
        self._extra_dirs: list[Path] = []
        self.data_dir: Path = self.root / "data"
        self.socket_dir: Path = self.root / "sock"
        self.logfile: Path = self.root / "postgres.log"
        if len(str(self.socket_dir)) + len("/.s.PGSQL.65535") > _MAX_SOCKET_PATH:
            self.socket_dir = Path(tempfile.mkdtemp(prefix="hs-pgs-"))
            self._extra_dirs.append(self.socket_dir)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        if self._as_root:
            for d in (self.root, self.data_dir, self.socket_dir):
                os.chown(d, self._pg_uid, self._pg_gid)  # type: ignore[arg-type]
        self._started_once = False
        self._removed = False
        _register(self)

    # -- setup helpers -----------------------------------------------------

    def _make_root(self, base_dir: Path | None) -> Path:
        if not self._as_root:
            root, _ = _make_root(base_dir, "healthsuite-pg-")
            return root
        assert self._pg_uid is not None and self._pg_gid is not None
        gids = {self._pg_gid, *os.getgrouplist("postgres", self._pg_gid)}
        parents: list[Path | None] = [Path(base_dir)] if base_dir is not None else [None]
        parents += [Path(tempfile.gettempdir()), Path("/tmp"), Path("/var/tmp")]
        for parent in parents:
            if parent is not None:
                parent.mkdir(parents=True, exist_ok=True)
            root = Path(tempfile.mkdtemp(prefix="healthsuite-pg-", dir=parent))
            os.chmod(root, 0o700)
            os.chown(root, self._pg_uid, self._pg_gid)
            if _user_can_traverse(root, self._pg_uid, gids):
                return root
            shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(
            "no directory reachable by the `postgres` OS user to hold the cluster "
            f"(tried {base_dir}, {tempfile.gettempdir()}, /tmp, /var/tmp)"
        )

    def _cmd(self, *argv: str) -> list[str]:
        """Command line, wrapped to run as the postgres OS user when we are root."""
        if self._as_root and self._runuser:
            return [self._runuser, "-u", "postgres", "--", *argv]
        return list(argv)

    def _run(
        self, argv: list[str], *, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        if self._as_root and not self._runuser:  # no runuser: switch user in the child
            kwargs.update(user=self._pg_uid, group=self._pg_gid, extra_groups=[])
        return subprocess.run(
            self._cmd(*argv),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,  # reachable by postgres (avoids "could not change directory")
            env=_clean_env(),
            stdin=None if input is not None else subprocess.DEVNULL,
            **kwargs,
        )

    def _bin(self, name: str) -> str:
        return str(self.bindir / name)

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def _initdb(self) -> None:
        argv = [
            self._bin("initdb"),
            "-D", str(self.data_dir),
            "-U", "postgres",
            "--auth-local=trust",
            f"--auth-host={'scram-sha-256' if self.superuser_password is not None else 'trust'}",
            "-E", "UTF8",
            "--no-locale",
            "--no-sync",
            "--no-instructions",
        ]
        pwfile: Path | None = None
        if self.superuser_password is not None:
            # Set the password at initdb time: no TCP window without it, and it stays out of argv.
            pwfile = self.root / ".pwfile"
            pwfile.write_text(self.superuser_password + "\n")
            os.chmod(pwfile, 0o600)
            if self._as_root:
                os.chown(pwfile, self._pg_uid, self._pg_gid)  # type: ignore[arg-type]
            argv.append(f"--pwfile={pwfile}")
        try:
            res = self._run(argv)
        finally:
            if pwfile is not None:
                pwfile.unlink(missing_ok=True)
        if res.returncode != 0:
            raise RuntimeError(f"initdb failed (exit {res.returncode}):\n{res.stdout}\n{res.stderr}")
        conf = self.data_dir / "postgresql.conf"
        with open(conf, "a") as fh:
            fh.write("\n# added by healthsuite.testing.services\ninclude = 'healthsuite.conf'\n")

    def _write_settings(self) -> None:
        """(Re)write the included settings file; it is re-read on every start."""
        values: dict[str, str] = {
            "listen_addresses": LOOPBACK,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "max_connections": str(self.max_connections),
            "fsync": "off",
        }
        values.update(self.settings)
        path = self.data_dir / "healthsuite.conf"
        path.write_text("".join(f"{k} = {_conf_value(v)}\n" for k, v in values.items()))
        if self._as_root:
            os.chown(path, self._pg_uid, self._pg_gid)  # type: ignore[arg-type]

    def _clear_stale_socket_locks(self) -> None:
        """Drop socket lock files left by a killed postmaster (our socket dir is private)."""
        for lock in self.socket_dir.glob(".s.PGSQL.*.lock"):
            try:
                pid = int(lock.read_text().split("\n", 1)[0].strip())
            except (OSError, ValueError):
                continue
            if not _pid_alive(pid):
                lock.unlink(missing_ok=True)
                Path(str(lock)[: -len(".lock")]).unlink(missing_ok=True)

    def _postmaster_pid(self) -> int | None:
        try:
            first = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
            return int(first.strip())
        except (OSError, ValueError):
            return None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> PostgresServer:
        """initdb (first time only), write settings, ``pg_ctl start``; wait until ready.

        On failure nothing is left running and RuntimeError carries the log tail.
        """
        if self._removed:
            raise RuntimeError("this PostgresServer was removed; create a new one")
        if self.is_running():
            return self
        _register(self)
        try:
            if not self.initialised:
                self._initdb()
            attempts = 3 if (self._auto_port and not self._started_once) else 1
            for attempt in range(attempts):
                if not _port_is_free(LOOPBACK, self.port):
                    if attempt + 1 < attempts:
                        self.port = free_port(LOOPBACK)
                        continue
                    raise RuntimeError(f"port {LOOPBACK}:{self.port} is already in use")
                try:
                    self._pg_ctl_start()
                    break
                except RuntimeError as exc:
                    if attempt + 1 < attempts and "Address already in use" in str(exc):
                        self.port = free_port(LOOPBACK)  # lost a race for the port: try another
                        continue
                    raise
        except BaseException:
            self._force_stop()
            raise
        self._started_once = True
        return self

    def _pg_ctl_start(self) -> None:
        self._write_settings()
        pid = self._postmaster_pid()
        if pid is not None and not _pid_alive(pid):
            # stale after kill(); a zombie pid would make postgres refuse to start
            (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        self._clear_stale_socket_locks()
        log_offset = self.logfile.stat().st_size if self.logfile.exists() else 0
        res = self._run(
            [
                self._bin("pg_ctl"), "-D", str(self.data_dir),
                "-w", "-t", "60", "-l", str(self.logfile), "start",
            ],
            timeout=90,
        )
        if res.returncode != 0 or not self.is_running():
            self._force_stop()
            log = _tail(self.logfile)
            try:
                with open(self.logfile, "rb") as fh:
                    fh.seek(log_offset)
                    log = fh.read()[-_LOG_TAIL_BYTES:].decode("utf-8", "replace")
            except OSError:
                pass
            raise RuntimeError(
                f"PostgreSQL failed to start on {LOOPBACK}:{self.port} (pg_ctl exit {res.returncode}):\n"
                f"{res.stdout}{res.stderr}\n--- {self.logfile} (tail) ---\n{log}"
            )

    def is_running(self) -> bool:
        pid = self._postmaster_pid()
        return pid is not None and _pid_alive(pid)

    def stop(self) -> None:
        """Fast shutdown; the cluster files stay, so :meth:`start` works again. Idempotent."""
        self._stop("fast")

    def _stop(self, mode: str) -> None:
        if not self.is_running():
            return
        res = self._run(
            [self._bin("pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "-t", "30", "stop"],
            timeout=60,
        )
        if res.returncode != 0 and self.is_running():
            self.kill()

    def _force_stop(self) -> None:
        try:
            self._stop("immediate")
        except Exception:
            pass
        if self.is_running():
            self.kill()

    def kill(self) -> None:
        """Simulate a crash: SIGKILL the postmaster (and its backends, so nothing lingers).

        ``postmaster.pid`` is left behind, as after a real crash; :meth:`start`
        copes with it.  Idempotent.
        """
        pid = self._postmaster_pid()
        if pid is None or not _pid_alive(pid):
            return
        try:
            os.kill(pid, signal.SIGSTOP)  # freeze it so it forks no new children meanwhile
        except ProcessLookupError:
            return
        kids = _children_of(pid)
        for p in [pid, *kids]:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _wait_dead([pid, *kids], timeout=10)

    def remove(self) -> None:
        """Stop (immediate) if running and delete the directories this object made."""
        self._removed = True
        try:
            self._force_stop()
        finally:
            for d in [self.root, *self._extra_dirs]:
                shutil.rmtree(d, ignore_errors=True)
            _unregister(self)

    # -- SQL -----------------------------------------------------------------

    def psql(self, sql: str, dbname: str = "postgres", *, timeout: float = 60) -> str:
        """Run ``sql`` as the superuser over the unix socket and return stdout.

        Output is unaligned and tuples-only (``psql -At``): ``SELECT 1`` gives
        ``"1\\n"``, columns are separated by ``|``.  The SQL goes via stdin, so
        several statements run one after the other (each in its own transaction).
        """
        res = self._run(
            [
                self._bin("psql"),
                "-h", str(self.socket_dir), "-p", str(self.port),
                "-U", "postgres", "-d", dbname,
                "-v", "ON_ERROR_STOP=1", "-X", "-q", "-A", "-t",
                "-f", "-",
            ],
            input=sql,
            timeout=timeout,
        )
        if res.returncode != 0:
            raise RuntimeError(f"psql failed (exit {res.returncode}) on {sql!r}:\n{res.stderr.strip()}")
        return res.stdout

    def create_database(self, name: str) -> None:
        self.psql(f"CREATE DATABASE {_sql_ident(name)}")

    def create_role(
        self, name: str, password: str | None = None, *, login: bool = True, extra: str = ""
    ) -> None:
        """``CREATE ROLE``; ``extra`` is appended verbatim, e.g. ``"IN ROLE pg_monitor"``."""
        sql = f"CREATE ROLE {_sql_ident(name)} {'LOGIN' if login else 'NOLOGIN'}"
        if password is not None:
            sql += f" PASSWORD {_sql_literal(password)}"
        if extra:
            sql += f" {extra}"
        self.psql(sql)

    def dsn(self, user: str = "postgres", password: str | None = None, dbname: str = "postgres") -> str:
        """``postgresql://user:pw@127.0.0.1:port/db``.

        For ``user="postgres"`` the password defaults to the superuser password.
        """
        if password is None and user == "postgres":
            password = self.superuser_password
        auth = quote(user, safe="")
        if password is not None:
            auth += ":" + quote(password, safe="")
        return f"postgresql://{auth}@{self.host}:{self.port}/{quote(dbname, safe='')}"

    # -- context manager -----------------------------------------------------

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.remove()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<PostgresServer {self.host}:{self.port} {state} root={self.root}>"


# --------------------------------------------------------------------------
# Redis


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


class RedisServer:
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
        self.root, _ = _make_root(base_dir, "healthsuite-redis-")
        self.logfile: Path = self.root / "redis.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_once = False
        self._removed = False
        _register(self)

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
        _register(self)
        attempts = 3 if (self._auto_port and not self._started_once) else 1
        for attempt in range(attempts):
            if not _port_is_free(LOOPBACK, self.port):
                if attempt + 1 < attempts:
                    self.port = free_port(LOOPBACK)
                    continue
                raise RuntimeError(f"port {LOOPBACK}:{self.port} is already in use")
            try:
                self._start_once()
                break
            except RuntimeError as exc:
                if attempt + 1 < attempts and "Address already in use" in str(exc):
                    self.port = free_port(LOOPBACK)
                    continue
                raise
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
                log = fh.read()[-_LOG_TAIL_BYTES:].decode("utf-8", "replace")
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
            _unregister(self)

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

    def __enter__(self) -> RedisServer:
        try:
            return self.start()
        except BaseException:
            self.remove()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<RedisServer {self.host}:{self.port} {state}>"


# --------------------------------------------------------------------------
# fault listeners


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
        try:
            data = conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
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
