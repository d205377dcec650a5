"""SQLite (and Cloudflare D1 exports): open the file read-only and answer `SELECT 1`."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .errors import ProbeError, classify

T = TypeVar("T")

PROGRESS_STEPS = 10_000


@dataclass(frozen=True)
class SqliteObservation:
    address: str
    answered: bool = False
    sqlite_version: str = ""
    elapsed_s: float = 0.0
    error: ProbeError | None = None

    def summary(self) -> str:
        if self.error is not None:
            return f"{self.error.kind_name}: {self.error.detail}"
        return f"SELECT 1 answered in {self.elapsed_s * 1000:.0f} ms (SQLite {self.sqlite_version}, opened read-only)"


def connect_read_only(path: Path, timeout_s: float) -> sqlite3.Connection:
    """`mode=ro`: the file is never created, written or journalled by a check."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout_s)


def read_only(path: Path, timeout_s: float, read: Callable[[sqlite3.Connection], T]) -> T | ProbeError:
    """`read` on a read-only connection, or the error met (the file missing, locked, not a database)."""
    address = str(path)
    ends = time.monotonic() + timeout_s
    if not path.is_file():
        detail = "no such file" if not path.exists() else "not a regular file"
        return ProbeError("database_missing", "sqlite", address, detail)
    try:
        conn = connect_read_only(path, timeout_s)
        ends = time.monotonic() + timeout_s
        # SQLite calls this every PROGRESS_STEPS virtual-machine steps: past the timeout, the statement stops
        # ("interrupted"), so an endless `WITH RECURSIVE` ends at database_s, not at the run's deadline
        conn.set_progress_handler(lambda: int(time.monotonic() > ends), PROGRESS_STEPS)
        try:
            return read(conn)
        finally:
            conn.close()
    except Exception as exc:  # noqa: BLE001 - every failure becomes an observation
        error = classify(exc, "sqlite", address)
        if "interrupted" in error.detail and time.monotonic() > ends:
            return ProbeError("timeout", "sqlite", address, f"the statement was stopped after {timeout_s:g} s "
                              f"(its timeout): {error.detail}")
        if "database is locked" in error.detail:
            error = ProbeError("timeout", "sqlite", address, error.detail)
        return error


def _select_one(conn: sqlite3.Connection) -> tuple[bool, str]:
    answer = conn.execute("SELECT 1").fetchone()
    conn.execute("PRAGMA schema_version").fetchone()  # reads the header: garbage fails here
    return answer == (1,), str(conn.execute("SELECT sqlite_version()").fetchone()[0])


def select_one(path: Path, timeout_s: float) -> SqliteObservation:
    started = time.perf_counter()
    result = read_only(path, timeout_s, _select_one)
    elapsed = time.perf_counter() - started
    if isinstance(result, ProbeError):
        return SqliteObservation(str(path), elapsed_s=elapsed, error=result)
    answered, version = result
    return SqliteObservation(str(path), answered=answered, sqlite_version=version, elapsed_s=elapsed)
