"""SQLite (and Cloudflare D1 exports): open the file read-only and answer `SELECT 1`."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import ProbeError, classify


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


def select_one(path: Path, timeout_s: float) -> SqliteObservation:
    address = str(path)
    started = time.perf_counter()
    if not path.is_file():
        detail = "no such file" if not path.exists() else "not a regular file"
        return SqliteObservation(address, error=ProbeError("database_missing", "sqlite", address, detail))
    try:
        conn = connect_read_only(path, timeout_s)
        try:
            answer = conn.execute("SELECT 1").fetchone()
            conn.execute("PRAGMA schema_version").fetchone()  # reads the header: garbage fails here
            version = conn.execute("SELECT sqlite_version()").fetchone()[0]
        finally:
            conn.close()
    except Exception as exc:  # noqa: BLE001
        error = classify(exc, "sqlite", address)
        if "database is locked" in error.detail:
            error = ProbeError("timeout", "sqlite", address, error.detail)
        return SqliteObservation(address, elapsed_s=time.perf_counter() - started, error=error)
    return SqliteObservation(address, answered=answer == (1,), sqlite_version=version,
                             elapsed_s=time.perf_counter() - started)
