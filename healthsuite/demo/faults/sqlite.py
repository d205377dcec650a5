"""The demo's SQLite/D1 file and its backups (DB8, DB15, PERF5, PERF6 on `d1.sqlite`; BAK1-BAK4).

`prepare` writes, next to `<dir>/d1.sqlite` (written by the stack): `<dir>/backups/` with seven daily
backups `daily-<YYYYmmdd-HHMMSS>.sqlite` (copies of d1.sqlite, modification times 1 h, 25 h, ... 145 h
ago), a `pre-migration-...sqlite` backup taken 10 minutes after the newest migration file arrived, and
`<dir>/migrations/` with two migration files (20 and 3 days old).

Each fault changes those files for real, and its undo puts back what it changed: a fault on d1.sqlite
snapshots the file and restores the snapshot (removing any -wal/-shm), so faults stacked on it undo in
reverse order. PERF5 and PERF6 have SQLite faults too (`SHARED_FAULTS`): their IDs already name the
PostgreSQL faults, so `stack.break_` reaches these only when it calls `inject` for them as well."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FAULTS: dict[str, str] = {
    "DB8": "a b-tree page of d1.sqlite (the appointments table's root) is overwritten with garbage",
    "DB15": "d1.sqlite is switched to journal_mode=wal (declared: delete)",
    "BAK1": "the daily backups of the last 3 days are moved out of backups/ (the newest is 3 days old)",
    "BAK2": "a daily backup 12 days old (retention 7 days) is left in backups/",
    "BAK3": "the newest daily backup's appointments table is emptied",
    "BAK4": "a migration (migrations/0003_add_reminders.sql) arrives after the newest pre-migration backup",
}
# same IDs as PostgreSQL faults (pg_faults_schema): made on d1.sqlite when the stack also injects them here
SHARED_FAULTS: dict[str, str] = {
    "PERF5": "idx_appointments_tenant_created is dropped from d1.sqlite: the hot query scans appointments",
    "PERF6": "idx_payments_appointment is dropped from d1.sqlite: payments.appointment_id is unindexed",
}

DAILY_BACKUPS = 7
HOUR = 3600


def _dir(stack: Any) -> Path:
    return Path(stack.directory)


def _d1(stack: Any) -> Path:
    return _dir(stack) / "d1.sqlite"


def _backups(stack: Any) -> Path:
    return _dir(stack) / "backups"


def _stamp(mtime: float) -> str:
    return datetime.fromtimestamp(mtime, UTC).strftime("%Y%m%d-%H%M%S")


def _copy(source: Path, target: Path, mtime: float) -> Path:
    shutil.copyfile(source, target)
    os.utime(target, (mtime, mtime))
    return target


def prepare(stack: Any) -> None:
    now = time.time()
    backups, migrations = _backups(stack), _dir(stack) / "migrations"
    for folder in (backups, migrations):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    for day in range(DAILY_BACKUPS):
        mtime = now - (day * 24 + 1) * HOUR
        _copy(_d1(stack), backups / f"daily-{_stamp(mtime)}.sqlite", mtime)
    for name, age_days in (("0001_initial_schema.sql", 20), ("0002_payment_indexes.sql", 3)):
        path = migrations / name
        path.write_text(f"-- {name}: applied with wrangler d1 migrations apply\n", encoding="utf-8")
        os.utime(path, (now - age_days * 24 * HOUR, now - age_days * 24 * HOUR))
    pre = now - 3 * 24 * HOUR + 600
    _copy(_d1(stack), backups / f"pre-migration-{_stamp(pre)}.sqlite", pre)


def _newest_daily(stack: Any) -> Path:
    return max(_backups(stack).glob("daily-*.sqlite"), key=lambda p: p.stat().st_mtime)


def _on_d1(stack: Any, change: Callable[[Path], None]) -> Callable[[], None]:
    """Snapshot d1.sqlite, change it; the undo writes the snapshot back and drops any -wal/-shm."""
    path = _d1(stack)
    snapshot = path.read_bytes()
    change(path)

    def undo() -> None:
        for suffix in ("-wal", "-shm", "-journal"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        spare = path.with_name(path.name + ".restore")
        spare.write_bytes(snapshot)
        os.replace(spare, path)

    return undo


def _execute(path: Path, sql: str) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.executescript(sql)
        conn.commit()
    finally:
        conn.close()


def _corrupt_page(path: Path) -> None:
    """Overwrite the appointments table's root page (never page 1: the header stays valid, DB1 passes)."""
    conn = sqlite3.connect(path)
    try:
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'appointments'").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    with path.open("r+b") as handle:
        handle.seek((root - 1) * page_size + 8)
        handle.write(b"\xa5" * (page_size - 8))


def _wal(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode = wal")
    finally:
        conn.close()


def _restore_file(path: Path) -> Callable[[], None]:
    """Undo of a change to a backup file: its bytes and modification time back."""
    data, stat = path.read_bytes(), path.stat()

    def undo() -> None:
        path.write_bytes(data)
        os.utime(path, (stat.st_atime, stat.st_mtime))

    return undo


def _new_file(path: Path, mtime: float, source: Path | None = None) -> Callable[[], None]:
    if source is not None:
        _copy(source, path, mtime)
    else:
        path.write_text("-- 0003_add_reminders.sql\nALTER TABLE appointments ADD COLUMN reminder_at text;\n")
        os.utime(path, (mtime, mtime))
    return lambda: path.unlink(missing_ok=True)


def _move_recent(stack: Any, days: int) -> Callable[[], None]:
    backups, aside = _backups(stack), _dir(stack) / "backups-aside"
    aside.mkdir(exist_ok=True)
    cutoff = time.time() - days * 24 * HOUR
    moved = [p for p in backups.glob("daily-*.sqlite") if p.stat().st_mtime > cutoff]
    for path in moved:
        os.replace(path, aside / path.name)

    def undo() -> None:
        for path in moved:
            os.replace(aside / path.name, path)

    return undo


def inject(diagnosis: str, stack: Any) -> Callable[[], None]:
    now = time.time()
    if diagnosis == "DB8":
        return _on_d1(stack, _corrupt_page)
    if diagnosis == "DB15":
        return _on_d1(stack, _wal)
    if diagnosis == "PERF5":
        return _on_d1(stack, lambda p: _execute(p, "DROP INDEX idx_appointments_tenant_created"))
    if diagnosis == "PERF6":
        return _on_d1(stack, lambda p: _execute(p, "DROP INDEX idx_payments_appointment"))
    if diagnosis == "BAK1":
        return _move_recent(stack, 3)
    if diagnosis == "BAK2":
        mtime = now - 12 * 24 * HOUR
        return _new_file(_backups(stack) / f"daily-{_stamp(mtime)}.sqlite", mtime, _d1(stack))
    if diagnosis == "BAK3":
        newest = _newest_daily(stack)
        undo = _restore_file(newest)
        mtime = newest.stat().st_mtime
        _execute(newest, "DELETE FROM appointments")
        os.utime(newest, (mtime, mtime))
        return undo
    if diagnosis == "BAK4":
        return _new_file(_dir(stack) / "migrations" / "0003_add_reminders.sql", now)
    raise ValueError(f"no demo fault for {diagnosis} here")
