"""PostgreSQL: connect read-only and answer `SELECT 1` within the timeout."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ProbeError, classify
from .lazy import lazy, preload

if TYPE_CHECKING:
    import psycopg
    import psycopg.conninfo
else:
    psycopg = lazy("psycopg")

APPLICATION_NAME = "healthsuite"
# the leading comment of every statement the suite sends: pg_stat_statements keeps it in the query text,
# so PERF4 leaves out the suite's own statements by it, and only those (the monitoring role may be the
# application's role too)
MARK = "/* healthsuite */"


def ready() -> None:
    """psycopg imported, before an exchange's deadline starts (probes.lazy.preload)."""
    preload(psycopg)


def marked(sql: str) -> str:
    """The statement as the suite sends it: with its leading MARK."""
    return f"{MARK} {sql}"


@dataclass(frozen=True)
class PostgresObservation:
    address: str
    answered: bool = False
    server_version: str = ""
    in_recovery: bool | None = None
    read_only: bool | None = None
    elapsed_s: float = 0.0
    error: ProbeError | None = None

    def summary(self) -> str:
        if self.error is not None:
            return f"{self.error.kind_name}: {self.error.detail}"
        role = "standby" if self.in_recovery else "primary"
        return (
            f"SELECT 1 answered in {self.elapsed_s * 1000:.0f} ms "
            f"(PostgreSQL {self.server_version}, {role}, read-only session: {'on' if self.read_only else 'off'})"
        )


def parts_of(dsn: str) -> dict[str, str]:
    """host, port, database and user of a DSN (never its password); empty when it does not parse."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return {}
    user = str(info.get("user") or "")
    return {
        "host": str(info.get("host") or info.get("hostaddr") or "localhost"),
        "port": str(info.get("port") or 5432),
        "database": str(info.get("dbname") or user),
        "user": user,
    }


def address_of(dsn: str) -> str:
    """host:port/dbname (user) of a DSN, without its password."""
    parts = parts_of(dsn)
    if not parts:
        return "(unparsable DSN)"
    return f"{parts['host']}:{parts['port']}/{parts['database']} (user {parts['user'] or '-'})"


def session_options(timeout_s: float) -> str:
    """Every session the suite opens is read-only and cannot wait long on a statement or a lock."""
    millis = max(1, int(timeout_s * 1000))
    return (
        f"-c default_transaction_read_only=on -c statement_timeout={millis} "
        f"-c lock_timeout={millis} -c idle_in_transaction_session_timeout={millis * 2}"
    )


def connect(dsn: str, timeout_s: float) -> psycopg.Connection[tuple[object, ...]]:
    conn = psycopg.connect(
        dsn,
        # whole seconds, at least 2 (libpq's minimum useful value): the one bound of a connect that the
        # exchange's deadline cannot cut, since the socket is the driver's until it returns
        connect_timeout=max(2, math.ceil(timeout_s)),
        options=session_options(timeout_s),
        application_name=APPLICATION_NAME,
        autocommit=False,
    )
    conn.read_only = True
    return conn


def select_one(dsn: str, timeout_s: float) -> PostgresObservation:
    address = address_of(dsn)
    started = time.perf_counter()
    try:
        with connect(dsn, timeout_s) as conn:
            row = conn.execute(
                marked(
                    "SELECT 1, current_setting('server_version'), pg_is_in_recovery(), "
                    "current_setting('transaction_read_only')"
                )
            ).fetchone()
            # a read-only transaction: COMMIT ends it without writing and, unlike a rollback, leaves the
            # database's commit ratio alone; the connection then closes idle (no transaction to abort)
            conn.commit()
    except Exception as exc:  # noqa: BLE001 - every failure becomes an observation
        error = classify(exc, "postgres", address)
        return PostgresObservation(address, elapsed_s=time.perf_counter() - started, error=error)
    elapsed = time.perf_counter() - started
    assert row is not None
    return PostgresObservation(
        address,
        answered=row[0] == 1,
        server_version=str(row[1]),
        in_recovery=bool(row[2]),
        read_only=row[3] == "on",
        elapsed_s=elapsed,
    )
