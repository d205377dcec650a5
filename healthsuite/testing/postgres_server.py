"""A throwaway PostgreSQL cluster (``initdb`` + ``pg_ctl``) on a free loopback port, for tests, the
bench and the demo.

It never connects to, stops or reconfigures a server it did not start (the machine's own PostgreSQL on
5432 is never touched: the port comes from :func:`healthsuite.testing.ports.free_port` unless given, and
the unix socket lives in a private directory). SQL goes through ``psql``: no driver needed.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from healthsuite.testing.cleanup import private_dir, register, unregister
from healthsuite.testing.ports import LOOPBACK, free_port
from healthsuite.testing.processes import LOG_TAIL_BYTES, children_of, log_tail, pid_alive, wait_dead
from healthsuite.testing.throwaway import ThrowawayServer

__all__ = ["PostgresServer", "find_pg_bindir"]

# A unix socket path (sun_path) holds at most 107 bytes plus the NUL.
_MAX_SOCKET_PATH = 107


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


class PostgresServer(ThrowawayServer):
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
        register(self)

    # -- setup helpers -----------------------------------------------------

    def _make_root(self, base_dir: Path | None) -> Path:
        if not self._as_root:
            root, _ = private_dir(base_dir, "healthsuite-pg-")
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
            fh.write("\n# added by healthsuite.testing.postgres_server\ninclude = 'healthsuite.conf'\n")

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
            if not pid_alive(pid):
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
        register(self)
        try:
            if not self.initialised:
                self._initdb()
            self.start_on_port(self._pg_ctl_start, port_was_chosen=self._auto_port and not self._started_once)
        except BaseException:
            self._force_stop()
            raise
        self._started_once = True
        return self

    def _pg_ctl_start(self) -> None:
        self._write_settings()
        pid = self._postmaster_pid()
        if pid is not None and not pid_alive(pid):
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
            log = log_tail(self.logfile)
            try:
                with open(self.logfile, "rb") as fh:
                    fh.seek(log_offset)
                    log = fh.read()[-LOG_TAIL_BYTES:].decode("utf-8", "replace")
            except OSError:
                pass
            raise RuntimeError(
                f"PostgreSQL failed to start on {LOOPBACK}:{self.port} (pg_ctl exit {res.returncode}):\n"
                f"{res.stdout}{res.stderr}\n--- {self.logfile} (tail) ---\n{log}"
            )

    def is_running(self) -> bool:
        pid = self._postmaster_pid()
        return pid is not None and pid_alive(pid)

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
        if pid is None or not pid_alive(pid):
            return
        try:
            os.kill(pid, signal.SIGSTOP)  # freeze it so it forks no new children meanwhile
        except ProcessLookupError:
            return
        kids = children_of(pid)
        for p in [pid, *kids]:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_dead([pid, *kids], timeout=10)

    def remove(self) -> None:
        """Stop (immediate) if running and delete the directories this object made."""
        self._removed = True
        try:
            self._force_stop()
        finally:
            for d in [self.root, *self._extra_dirs]:
                shutil.rmtree(d, ignore_errors=True)
            unregister(self)

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
