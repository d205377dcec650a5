"""Tests for the throwaway servers of healthsuite.testing (ports, postgres_server, redis_server, listeners):
real servers, no mocks."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from healthsuite.testing.listeners import GarbageListener, SilentListener
from healthsuite.testing.ports import free_port, port_is_free
from healthsuite.testing.postgres_server import PostgresServer, find_pg_bindir
from healthsuite.testing.redis_server import RedisServer, redis_command

MACHINE_PORTS = {5432, 6379}


def _have_pg() -> bool:
    try:
        find_pg_bindir()
    except RuntimeError:
        return False
    return True


needs_pg = pytest.mark.skipif(not _have_pg(), reason="PostgreSQL server binaries not installed")
needs_redis = pytest.mark.skipif(
    shutil.which("redis-server") is None and not Path("/usr/bin/redis-server").exists(),
    reason="redis-server not installed",
)


def _psql_tcp(pg: PostgresServer, user: str, password: str, sql: str = "SELECT current_user"):
    """psql as a client over TCP (not the socket), the way a health check connects."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGPASSWORD"] = password
    return subprocess.run(
        [str(pg.bindir / "psql"), "-h", pg.host, "-p", str(pg.port), "-U", user,
         "-d", "postgres", "-X", "-A", "-t", "-w", "-c", sql],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=30,
    )


def _refused(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


def test_free_port_distinct_and_bindable() -> None:
    ports = {free_port() for _ in range(20)}
    assert len(ports) == 20
    assert not ports & MACHINE_PORTS
    port = ports.pop()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


# ---------------------------------------------------------------- PostgreSQL


@needs_pg
def test_postgres_lifecycle() -> None:
    pg = PostgresServer(superuser_password="sup'er")
    try:
        assert pg.start() is pg
        assert pg.is_running()
        assert pg.host == "127.0.0.1" and pg.port not in MACHINE_PORTS
        assert pg.psql("SELECT 1") == "1\n"
        assert pg.psql("SHOW max_connections") == "30\n"
        assert pg.psql("SHOW fsync") == "off\n"

        pg.create_database("app db")
        pg.create_role("monitor", "m0n'pw", extra="IN ROLE pg_monitor")
        assert pg.psql("SELECT current_database()", dbname="app db") == "app db\n"

        ok = _psql_tcp(pg, "monitor", "m0n'pw")
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout == "monitor\n"
        bad = _psql_tcp(pg, "monitor", "wrong")
        assert bad.returncode != 0
        assert "password authentication failed" in bad.stderr
        su = _psql_tcp(pg, "postgres", "sup'er")
        assert su.returncode == 0, su.stderr

        assert pg.dsn("monitor", "m0n'pw", "app db") == (
            f"postgresql://monitor:m0n%27pw@127.0.0.1:{pg.port}/app%20db"
        )
        assert pg.dsn() == f"postgresql://postgres:sup%27er@127.0.0.1:{pg.port}/postgres"

        with pytest.raises(RuntimeError, match="does_not_exist"):
            pg.psql("SELECT * FROM does_not_exist")

        pg.stop()
        assert not pg.is_running()
        assert _refused(pg.host, pg.port)
        pg.stop()  # idempotent
        pg.start()  # restart, no initdb: the role is still there
        assert _psql_tcp(pg, "monitor", "m0n'pw").returncode == 0

        pg.kill()
        assert not pg.is_running()
        assert _refused(pg.host, pg.port)
        pg.kill()  # idempotent
        pg.start()  # recovers from the crash
        assert pg.psql("SELECT 1") == "1\n"
    finally:
        pg.remove()
    assert not pg.root.exists()
    assert not pg.is_running()


@needs_pg
def test_two_postgres_at_once_and_context_manager(tmp_path: Path) -> None:
    with PostgresServer() as a, PostgresServer(tmp_path / "pgs", max_connections=12) as b:
        assert a.port != b.port
        assert a.psql("SELECT 1") == b.psql("SELECT 1") == "1\n"
        assert b.psql("SHOW max_connections") == "12\n"
        # no password: TCP is trust
        assert _psql_tcp(a, "postgres", "anything").returncode == 0
        roots = (a.root, b.root)
        assert all(r.is_dir() for r in roots)
    assert not any(r.exists() for r in roots)
    assert not a.is_running() and not b.is_running()
    assert (tmp_path / "pgs").is_dir()  # a given base_dir stays; only our subdir goes


@needs_pg
def test_postgres_failed_start_leaves_nothing_running() -> None:
    pg = PostgresServer(settings={"shared_buffers": "not-a-size"})
    try:
        with pytest.raises(RuntimeError, match="shared_buffers") as info:
            pg.start()
        assert "log" in str(info.value)
        assert not pg.is_running()
    finally:
        pg.remove()
    assert not pg.root.exists()


# --------------------------------------------------------------------- Redis


@needs_redis
def test_redis_with_password() -> None:
    with RedisServer(password="p@ss word") as r:
        assert r.is_running() and r.port not in MACHINE_PORTS
        assert r.command("PING") == b"+PONG\r\n"
        assert r.command("SET", "k", "v") == b"+OK\r\n"
        assert r.command("GET", "k") == b"$1\r\nv\r\n"
        assert r.command("GET", "missing") == b"$-1\r\n"
        assert r.command("DEBUG", "SLEEP", "0") == b"+OK\r\n"
        assert r.command("CONFIG", "SET", "maxmemory", "10mb") == b"+OK\r\n"
        with pytest.raises(RuntimeError, match="WRONGPASS"):
            redis_command(r.host, r.port, "PING", password="wrong")
        assert redis_command(r.host, r.port, "PING").startswith(b"-NOAUTH")
        assert r.url() == f"redis://:p%40ss%20word@127.0.0.1:{r.port}/0"
        assert r.url(None, db=2) == f"redis://127.0.0.1:{r.port}/2"

        port = r.port
        r.stop()
        assert not r.is_running()
        assert _refused("127.0.0.1", port)
        assert port_is_free("127.0.0.1", port)
        r.stop()  # idempotent
        r.start()
        assert r.command("PING") == b"+PONG\r\n"
        root = r.root
    assert not root.exists()
    assert _refused("127.0.0.1", port)


@needs_redis
def test_redis_no_password_maxmemory_and_two_at_once() -> None:
    with RedisServer(maxmemory="5mb") as a, RedisServer() as b:
        assert a.port != b.port
        assert a.command("CONFIG", "GET", "maxmemory") == b"*2\r\n$9\r\nmaxmemory\r\n$7\r\n5242880\r\n"
        assert a.url() == f"redis://127.0.0.1:{a.port}/0"
        a.command("SET", "only-a", "1")
        assert b.command("EXISTS", "only-a") == b":0\r\n"


@needs_redis
def test_redis_failed_start_raises_with_log() -> None:
    r = RedisServer(extra_args=["--no-such-option", "x"])
    try:
        with pytest.raises(RuntimeError, match="no-such-option"):
            r.start()
        assert not r.is_running()
    finally:
        r.remove()
    assert not r.root.exists()


# ----------------------------------------------------------------- listeners


def _listener_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "Listener-" in t.name]


def test_silent_listener_times_out_reads() -> None:
    before = len(_listener_threads())
    with SilentListener() as lst:
        clients = []
        try:
            for _ in range(20):  # many connects succeed: the backlog is not the limit
                c = socket.create_connection((lst.host, lst.port), timeout=1)
                clients.append(c)
            c = clients[0]
            c.sendall(b"PING\r\n")
            c.settimeout(0.3)
            with pytest.raises(TimeoutError):
                c.recv(1)
        finally:
            for c in clients:
                c.close()
        assert lst.connections == 20
        port = lst.port
    assert len(_listener_threads()) == before
    assert _refused("127.0.0.1", port)
    lst.close()  # idempotent


def test_silent_listener_keeps_accepted_sockets_open() -> None:
    lst = SilentListener()
    try:
        c = socket.create_connection((lst.host, lst.port), timeout=1)
        c.settimeout(0.2)
        with pytest.raises(TimeoutError):
            c.recv(1)  # neither data nor EOF
    finally:
        lst.close()
    c.settimeout(2)
    assert c.recv(1) == b""  # close() closed the server side
    c.close()


def test_garbage_listener_answers_with_garbage() -> None:
    before = len(_listener_threads())
    with GarbageListener() as lst:
        for _ in range(3):
            with socket.create_connection((lst.host, lst.port), timeout=2) as c:
                c.sendall(b"\x00\x00\x00\x08\x04\xd2\x16\x2f")  # a client speaking first
                data = b""
                while chunk := c.recv(4096):
                    data += chunk
            assert data == b"\x00\x01garbage not a protocol\r\n\r\n"
    assert len(_listener_threads()) == before

    with GarbageListener(b"HTTP/1.0 200 OK\r\n\r\n") as lst, socket.create_connection(
        (lst.host, lst.port), timeout=2
    ) as c:
        c.shutdown(socket.SHUT_WR)
        with c.makefile("rb") as fh:
            assert fh.read() == b"HTTP/1.0 200 OK\r\n\r\n"
