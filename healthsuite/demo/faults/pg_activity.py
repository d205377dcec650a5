"""Real PostgreSQL activity faults on the demo's database, one per diagnosis (DB2, DB3, DB5, DB6, DB7,
DB14): sessions really held, queries really running, locks really waited on.

`inject(diagnosis, server, dbname)` makes the fault as the superuser and returns the function that
undoes it completely (cancels the queries, rolls back and closes every session it opened, restores
the role or the statistics). Sessions are held by this process: they end with the undo function, or
with the process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

from healthsuite.testing.postgres_server import PostgresServer

MONITOR_ROLE = "healthsuite"  # the demo's monitoring role (stack.MONITOR_ROLE)
FAULT_APPLICATION = "booking-api"  # application_name of the sessions the faults hold
# How long inject waits once a timed fault is in place, so the query or transaction is already older
# than the limits environments/demo.yaml sets for DB5 (1 s, leak 2 s) and DB6 (1 s) when checks run.
FAULT_AGE_S = 2.5
DB3_PERCENT = 80  # DB3's catalogue threshold: the fault reaches it
STATS_TABLE = "appointments"  # DB14: a declared large table whose statistics are reset
LOCKED_ROW = "apt-1"  # DB7: the appointment whose row lock is held

FAULTS: dict[str, str] = {
    "DB2": f"the monitoring role {MONITOR_ROLE} may no longer log in (NOLOGIN): authentication fails",
    "DB3": f"a leaky client holds {DB3_PERCENT} % of max_connections open (24 of 30)",
    "DB5": "a query has been running pg_sleep for seconds (past demo.yaml's DB5 limits: a leaked connection)",
    "DB6": "a session opened a transaction on appointments and left it idle",
    "DB7": f"a transaction holds the row lock of appointment {LOCKED_ROW}; a second UPDATE of it waits",
    "DB14": f"the statistics of {STATS_TABLE} are reset: no analyze is recorded since",
}

Undo = Callable[[], None]


def _connect(server: PostgresServer, dbname: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    return psycopg.connect(
        server.dsn(dbname=dbname), autocommit=autocommit, application_name=FAULT_APPLICATION, connect_timeout=5
    )


def _close(conn: psycopg.Connection[Any]) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001, S110 - undoing: the session may already be gone
        pass


def _wait_for(admin: psycopg.Connection[Any], sql: str, params: tuple[Any, ...], timeout_s: float = 10) -> None:
    """Poll until `sql` returns true: the fault is visible to the server."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = admin.execute(sql, params).fetchone()
        if row and row[0]:
            return
        time.sleep(0.05)
    raise RuntimeError(f"the fault did not show in pg_stat_activity within {timeout_s} s: {sql}")


class _Background:
    """One statement running in its own session and thread (it blocks until cancelled or unblocked)."""

    def __init__(self, server: PostgresServer, dbname: str, sql: str) -> None:
        self.conn = _connect(server, dbname, autocommit=False)
        self.pid = self.conn.info.backend_pid
        self._sql = sql
        self._thread = threading.Thread(target=self._run, name=f"pg-fault-{self.pid}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.conn.execute(self._sql)
        except Exception:  # noqa: BLE001, S110 - cancelled by the undo function, as intended
            pass
        try:
            self.conn.rollback()
        except Exception:  # noqa: BLE001, S110
            pass

    def stop(self) -> None:
        if self._thread.is_alive():
            try:
                self.conn.cancel_safe(timeout=5)
            except Exception:  # noqa: BLE001, S110 - finished meanwhile
                pass
        self._thread.join(timeout=10)
        _close(self.conn)


def _role_login(server: PostgresServer, login: bool) -> None:
    server.psql(f'ALTER ROLE "{MONITOR_ROLE}" {"LOGIN" if login else "NOLOGIN"}')


def _db2(server: PostgresServer, dbname: str) -> Undo:
    _role_login(server, False)
    return lambda: _role_login(server, True)


def _db3(server: PostgresServer, dbname: str) -> Undo:
    held: list[psycopg.Connection[Any]] = []
    admin = _connect(server, dbname)
    held.append(admin)
    try:
        row = admin.execute(
            "SELECT current_setting('max_connections')::int, "
            "count(*) FILTER (WHERE backend_type = 'client backend') FROM pg_stat_activity"
        ).fetchone()
        assert row is not None
        max_connections, clients = row
        wanted = (max_connections * DB3_PERCENT + 99) // 100  # the threshold, reached (80 % is not under 80 %)
        for _ in range(wanted - clients):
            conn = _connect(server, dbname)
            conn.execute("SELECT 1")
            held.append(conn)
    except BaseException:
        for conn in held:
            _close(conn)
        raise

    def undo() -> None:
        for conn in held:
            _close(conn)

    return undo


def _db5(server: PostgresServer, dbname: str) -> Undo:
    query = _Background(server, dbname, "SELECT pg_sleep(3600), count(*) FROM appointments /* monthly report */")
    with _connect(server, dbname) as admin:
        try:
            _wait_for(admin, "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = %s AND state = 'active' "
                             "AND wait_event = 'PgSleep')", (query.pid,))
        except BaseException:
            query.stop()
            raise
    time.sleep(FAULT_AGE_S)
    return query.stop


def _db6(server: PostgresServer, dbname: str) -> Undo:
    conn = _connect(server, dbname, autocommit=False)
    conn.execute(f"SELECT id FROM {STATS_TABLE} WHERE id = %s", (LOCKED_ROW,))  # and then nothing: idle in transaction
    time.sleep(FAULT_AGE_S)

    def undo() -> None:
        try:
            conn.rollback()
        finally:
            _close(conn)

    return undo


def _db7(server: PostgresServer, dbname: str) -> Undo:
    update = f"UPDATE {STATS_TABLE} SET status = status WHERE id = '{LOCKED_ROW}'"
    holder = _connect(server, dbname, autocommit=False)
    holder.execute(update)  # holds the row lock; the transaction stays open, idle
    waiter = _Background(server, dbname, update)

    def undo() -> None:
        try:
            holder.rollback()  # releases the lock: the waiter's UPDATE proceeds, and is rolled back
        finally:
            waiter.stop()
            _close(holder)

    with _connect(server, dbname) as admin:
        try:
            _wait_for(admin, "SELECT %s = ANY(pg_blocking_pids(%s))", (holder.info.backend_pid, waiter.pid))
        except BaseException:
            undo()
            raise
    return undo


def _db14(server: PostgresServer, dbname: str) -> Undo:
    server.psql(f"SELECT pg_stat_reset_single_table_counters('{STATS_TABLE}'::regclass)", dbname=dbname)

    def undo() -> None:
        server.psql(f"ANALYZE {STATS_TABLE}", dbname=dbname)

    return undo


_INJECTORS: dict[str, Callable[[PostgresServer, str], Undo]] = {
    "DB2": _db2,
    "DB3": _db3,
    "DB5": _db5,
    "DB6": _db6,
    "DB7": _db7,
    "DB14": _db14,
}


def inject(diagnosis: str, server: PostgresServer, dbname: str) -> Undo:
    """Make the fault of `diagnosis` real on `dbname`; returns the function that undoes it."""
    try:
        injector = _INJECTORS[diagnosis]
    except KeyError:
        raise ValueError(f"no PostgreSQL activity fault for {diagnosis}; faults: {', '.join(FAULTS)}") from None
    return injector(server, dbname)
