"""Backup folders (BAK1-BAK4): list the backups by modification time, verify the newest in a scratch copy,
and date the newest migration file. Backups are only read: the newest is COPIED to a temporary folder and
opened there (a SQLite file read-only, a SQL dump loaded into an in-memory database), never in place."""

from __future__ import annotations

import gzip
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from glob import glob
from pathlib import Path

from .errors import ProbeError, classify
from .sqlite import connect_read_only
from .sqlite_checks import quoted

MAX_LISTED = 10_000  # backups listed per folder
ROWS_COUNTED = 1_000_000  # count(*) of a critical table stops here ("1000000+")


@dataclass(frozen=True)
class BackupFile:
    name: str
    path: str
    mtime: float
    size: int


@dataclass(frozen=True)
class BackupListing:
    directory: str
    pattern: str
    now: float
    exists: bool = True  # the folder exists
    files: tuple[BackupFile, ...] = ()  # newest first
    error: ProbeError | None = None

    @property
    def newest(self) -> BackupFile | None:
        return self.files[0] if self.files else None


def list_backups(directory: Path, pattern: str) -> BackupListing:
    """The regular files of `directory` whose names match `pattern`, newest first (by modification time)."""
    now = time.time()
    if not directory.exists():
        return BackupListing(str(directory), pattern, now, exists=False)
    try:
        if not directory.is_dir():
            return BackupListing(
                str(directory), pattern, now, error=ProbeError("other", "sqlite", str(directory), "not a directory")
            )
        files: list[BackupFile] = []
        for path in directory.glob(pattern):
            if len(files) >= MAX_LISTED:
                break
            if path.is_file():
                stat = path.stat()
                files.append(BackupFile(path.name, str(path), stat.st_mtime, stat.st_size))
    except OSError as exc:
        return BackupListing(str(directory), pattern, now, error=classify(exc, "sqlite", str(directory)))
    files.sort(key=lambda f: (f.mtime, f.name), reverse=True)
    return BackupListing(str(directory), pattern, now, files=tuple(files))


@dataclass(frozen=True)
class RestoreObservation:
    """The newest backup as restored in a scratch copy: row counts of the critical tables (None: missing)."""

    backup: BackupFile | None
    format: str
    tables: tuple[tuple[str, int | None], ...] = ()
    unreadable: str = ""  # the copy does not open or load: why (a corrupted or truncated backup)
    # the file is a PostgreSQL dump (`pg_dump custom format`, `pg_dump plain format`): not a SQLite backup
    foreign_format: str = ""
    too_large: bool = False
    limit_bytes: int = 0
    error: ProbeError | None = None


def _count(conn: sqlite3.Connection, table: str) -> int | None:
    schema, _, name = table.rpartition(".")
    master = f"{quoted(schema)}.sqlite_master" if schema else "sqlite_master"
    if conn.execute(f"SELECT 1 FROM {master} WHERE type = 'table' AND name = ?", (name,)).fetchone() is None:
        return None
    qualified = f"{quoted(schema)}.{quoted(name)}" if schema else quoted(name)
    row = conn.execute(f"SELECT count(*) FROM (SELECT 1 FROM {qualified} LIMIT {ROWS_COUNTED})").fetchone()
    return int(row[0])


class _TooLarge(Exception):
    pass


PG_DUMP_HEAD = 4096  # bytes of a backup read to recognise a pg_dump file


def pg_dump_format(path: Path) -> str:
    """`pg_dump custom format` (the PGDMP magic), `pg_dump plain format` (its SQL header), else "": a
    PostgreSQL dump, which BAK3 cannot restore (it verifies SQLite backups only)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            head = handle.read(PG_DUMP_HEAD)
    except (OSError, EOFError):
        return ""
    if head.startswith(b"PGDMP"):
        return "pg_dump custom format"
    text = head.decode("utf-8", errors="replace")
    if "-- PostgreSQL database dump" in text or "SELECT pg_catalog.set_config('search_path'" in text:
        return "pg_dump plain format"
    return ""


def _load_dump(copy: Path, limit_bytes: int) -> sqlite3.Connection:
    opener = gzip.open if copy.name.endswith(".gz") else open
    with opener(copy, "rb") as handle:
        data = handle.read(limit_bytes + 1)
    if len(data) > limit_bytes:
        raise _TooLarge
    script = data.decode("utf-8", errors="replace")
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(script)
    except BaseException:
        conn.close()
        raise
    return conn


def restore_newest(
    listing: BackupListing, format: str, tables: Sequence[str], limit_bytes: int
) -> RestoreObservation:
    """Copy the newest backup to a temporary folder, open (sqlite) or load (sql) the copy, count rows."""
    backup = listing.newest
    if listing.error is not None:
        return RestoreObservation(backup, format, error=listing.error)
    if backup is None:
        return RestoreObservation(None, format)
    if backup.size > limit_bytes:
        return RestoreObservation(backup, format, too_large=True, limit_bytes=limit_bytes)
    try:
        with tempfile.TemporaryDirectory(prefix="healthsuite-bak3-") as scratch:
            copy = Path(scratch) / backup.name
            shutil.copyfile(backup.path, copy)
            foreign = pg_dump_format(copy)
            if foreign:
                return RestoreObservation(backup, format, foreign_format=foreign)
            try:
                conn = _load_dump(copy, limit_bytes) if format == "sql" else connect_read_only(copy, 5)
                try:
                    counts = tuple((table, _count(conn, table)) for table in tables)
                finally:
                    conn.close()
            except _TooLarge:
                return RestoreObservation(backup, format, too_large=True, limit_bytes=limit_bytes)
            except (sqlite3.Error, EOFError, gzip.BadGzipFile) as exc:
                text = " ".join(str(exc).split())[:300] or type(exc).__name__
                return RestoreObservation(backup, format, unreadable=text)
    except OSError as exc:
        return RestoreObservation(backup, format, error=classify(exc, "sqlite", backup.path))
    return RestoreObservation(backup, format, tables=counts)


@dataclass(frozen=True)
class MigrationObservation:
    pattern: str
    files: int = 0
    newest: str = ""  # file name
    newest_mtime: float = 0.0
    error: ProbeError | None = None


def newest_migration(pattern: Path) -> MigrationObservation:
    """The newest file matching a glob of migration files (its modification time: when it arrived)."""
    try:
        paths = [Path(p) for p in glob(str(pattern))[:MAX_LISTED]]
        stats = [(p.stat().st_mtime, p.name) for p in paths if p.is_file()]
    except OSError as exc:
        return MigrationObservation(str(pattern), error=classify(exc, "sqlite", str(pattern)))
    if not stats:
        return MigrationObservation(str(pattern))
    mtime, name = max(stats)
    return MigrationObservation(str(pattern), len(stats), name, mtime)
