"""One read-only connection per PostgreSQL database for the whole run, shared by every check.

Every statement runs in its own read-only transaction (`BEGIN READ ONLY` in a session with
`default_transaction_read_only=on`), under the session's `statement_timeout` and `lock_timeout`, so a
check can neither write nor wait long on a lock. A transaction that answered ends in COMMIT, as any
read-only client's does (it cannot have written anything): a run leaves the database's commit ratio
(`xact_commit` / `xact_rollback` in pg_stat_database, which monitors such as check_postgres's
commitratio watch) as it found it; only a statement that failed has its transaction rolled back.
Results are cached by statement, so checks that read the same view share one read of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import deadline
from .errors import ProbeError, classify
from .postgres import PostgresObservation, address_of, connect, marked

if TYPE_CHECKING:
    import psycopg

MAX_ROWS = 1000


@dataclass(frozen=True)
class QueryResult:
    """The rows of one statement (at most `max_rows`), or the error it met."""

    label: str
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()
    truncated: bool = False  # more rows existed than were read
    elapsed_s: float = 0.0
    error: ProbeError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def scalar(self) -> Any:
        """The first column of the first row (None when there is no row)."""
        return self.rows[0][0] if self.rows else None


class PgReader:
    """Opens its connection on first use; `error` is set (and every query returns it) when it cannot."""

    def __init__(self, dsn: str, timeout_s: float) -> None:
        self.address = address_of(dsn)
        self.timeout_s = timeout_s
        self._dsn = dsn
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None
        self._opened = False
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, tuple[Any, ...], int, tuple[tuple[str, str], ...]], QueryResult] = {}
        self.error: ProbeError | None = None
        self.connect_elapsed_s = 0.0
        self.connections_opened = 0  # for tests: one per run

    def open(self) -> PgReader:
        with self._lock:
            self._open_locked()
        return self

    def _open_locked(self) -> None:
        if self._opened:
            return
        self._opened = True
        started = time.perf_counter()
        with deadline.exchange(self.timeout_s, f"postgres connect {self.address}") as exchange:
            try:
                self._conn = connect(self._dsn, exchange.clamp())
                self.connections_opened += 1
            except Exception as exc:  # noqa: BLE001 - every failure becomes an observation
                self.error = self._failure(exc, exchange)
        self.connect_elapsed_s = time.perf_counter() - started

    def _failure(self, exc: BaseException, exchange: deadline.Exchange) -> ProbeError:
        error = classify(exc, "postgres", self.address)
        if exchange.expired:
            return ProbeError("timeout", "postgres", self.address, f"{exchange.sentence()} ({error.detail})")
        return error

    def query(
        self,
        sql: str,
        params: Sequence[Any] = (),
        *,
        label: str = "",
        max_rows: int = MAX_ROWS,
        settings: Mapping[str, str] | None = None,
    ) -> QueryResult:
        """Run one statement in its own read-only transaction; cached by (statement, parameters, settings).

        `settings` are set first in that same transaction with `set_config(name, value, true)`, so they
        end with it (PERF5 explains under {"enable_seqscan": "off"})."""
        prelude = tuple(sorted((settings or {}).items()))
        key = (sql, tuple(params), max_rows, prelude)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            self._open_locked()
            result = self._run(sql, tuple(params), label or sql.split(None, 1)[0], max_rows, prelude)
            self._cache[key] = result
            return result

    def _run(
        self, sql: str, params: tuple[Any, ...], label: str, max_rows: int, prelude: tuple[tuple[str, str], ...] = ()
    ) -> QueryResult:
        if self.error is not None or self._conn is None:
            return QueryResult(label, error=self.error)
        conn = self._conn
        started = time.perf_counter()
        with deadline.exchange(self.timeout_s, f"postgres {label} {self.address}") as exchange:
            return self._exchange(conn, exchange, sql, params, label, max_rows, prelude, started)

    def _exchange(
        self,
        conn: psycopg.Connection[tuple[Any, ...]],
        exchange: deadline.Exchange,
        sql: str,
        params: tuple[Any, ...],
        label: str,
        max_rows: int,
        prelude: tuple[tuple[str, str], ...],
        started: float,
    ) -> QueryResult:
        """One statement within the exchange's deadline: the server's statement_timeout should end a
        slow one first; a server that does not answer at all has its socket cut at the deadline."""
        try:
            exchange.clamp()
            exchange.watch_fd(conn.pgconn.socket)
            for name, value in prelude:
                conn.execute(marked("SELECT set_config(%s, %s, true)"), (name, value))
            # prepare=True: the extended protocol, which refuses a string of several statements, so
            # nothing like "COMMIT; BEGIN READ WRITE; ..." can leave the read-only transaction
            # every statement carries the suite's leading comment (postgres.MARK): PERF4 leaves out these only
            cursor = conn.execute(marked(sql), params or None, prepare=True)
            columns = tuple(column.name for column in cursor.description or ())
            rows = cursor.fetchmany(max_rows + 1) if cursor.description else []
            # COMMIT, not ROLLBACK: the transaction is read-only, so this ends it without writing, and
            # without counting a rollback the database's monitors would read as failing clients
            conn.commit()
        except Exception as exc:  # noqa: BLE001 - an error is an observation, never a pass
            error = self._failure(exc, exchange)
            if exchange.expired:
                self.error = error  # the connection was cut: every later statement meets that
            else:
                self._recover(conn)
            return QueryResult(label, elapsed_s=time.perf_counter() - started, error=error)
        return QueryResult(
            label,
            columns,
            tuple(tuple(row) for row in rows[:max_rows]),
            truncated=len(rows) > max_rows,
            elapsed_s=time.perf_counter() - started,
        )

    def _recover(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        """After a failed statement: its transaction is aborted, and only a rollback ends it."""
        try:
            conn.rollback()
        except Exception:  # noqa: BLE001 - the connection is gone: report it on the next query
            self.error = ProbeError("reset", "postgres", self.address, "the connection was lost during the run")

    def observation(self) -> PostgresObservation:
        """DB1's `SELECT 1`, on the shared connection."""
        if self.error is None:
            self.open()
        if self.error is not None:
            return PostgresObservation(self.address, elapsed_s=self.connect_elapsed_s, error=self.error)
        result = self.query(
            "SELECT 1, current_setting('server_version'), pg_is_in_recovery(), "
            "current_setting('transaction_read_only')",
            label="SELECT 1",
        )
        if result.error is not None or not result.rows:
            return PostgresObservation(self.address, elapsed_s=result.elapsed_s, error=result.error)
        row = result.rows[0]
        return PostgresObservation(
            self.address,
            answered=row[0] == 1,
            server_version=str(row[1]),
            in_recovery=bool(row[2]),
            read_only=row[3] == "on",
            elapsed_s=self.connect_elapsed_s + result.elapsed_s,
        )

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None
