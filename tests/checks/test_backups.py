"""Mirrors checks/test_backups.py. BAK1-BAK4 on backup folders made for real in tmp_path: each passes
when healthy and fails on its own fault with the right category and severity, naming the observed value;
the demo's faults fail their diagnosis and heal; PostgreSQL dumps are named, not misread."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from healthsuite.demo.stack import DATABASE, DemoStack
from healthsuite.environment.loader import load_environment
from healthsuite.environment.problems import EnvironmentFileError
from tests.checks.support import EnvFile, assert_demo_file_fault_fails_and_heals, booking_db
from tests.conftest import RunChecks

HOUR = 3600


# --- BAK1-BAK4 -------------------------------------------------------------------------------------------


def backup_folder(root: Path, source: Path, ages_h: list[float], prefix: str = "daily-") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for age in ages_h:
        path = root / f"{prefix}{int(age):05d}.sqlite"
        path.write_bytes(source.read_bytes())
        os.utime(path, (now - age * HOUR, now - age * HOUR))
    return root


def backup_entry(name: str, directory: Path, body: str = "") -> str:
    return (
        f"  - name: {name}\n    directory: {directory}\n    pattern: 'daily-*.sqlite'\n    retention_days: 7\n"
        f"    critical_tables: [users, appointments, services]\n{body}"
    )


def test_BAK1_BAK2_fresh_backups_across_retention(run_checks: RunChecks, env_file: EnvFile, tmp_path: Path) -> None:
    source = booking_db(tmp_path / "d1.sqlite")
    daily = [1 + 24 * d for d in range(7)]
    good = backup_folder(tmp_path / "good", source, daily)
    stale = backup_folder(tmp_path / "stale", source, [h + 72 for h in daily[:4]])
    expired = backup_folder(tmp_path / "expired", source, [*daily, 12 * 24])
    short = backup_folder(tmp_path / "short", source, daily[:3])
    path = env_file(
        "name: files\nkind: test\nbackups:\n"
        + "".join(backup_entry(n, d) for n, d in (("good", good), ("stale", stale), ("expired", expired)))
        + backup_entry("short", short)
        + backup_entry("nowhere", tmp_path / "missing")
    )
    run = run_checks("--diagnosis", "BAK1,BAK2", env=path)
    record = run.assert_outcome("BAK1", "good", "passed", category="backups", severity="high")
    assert "newest backup daily-00001.sqlite is 1.0 h old" in record["observed"]
    record = run.assert_outcome("BAK1", "stale", "failed", category="backups", severity="high")
    assert "newest backup daily-00073.sqlite is 3.0 days old" in record["observed"], record["observed"]
    record = run.assert_outcome("BAK1", "nowhere", "failed", category="backups", severity="high")
    assert "does not exist" in record["observed"]
    run.assert_outcome("BAK2", "good", "passed", category="backups", severity="low")
    record = run.assert_outcome("BAK2", "expired", "failed", category="backups", severity="low")
    assert "1 backup older than 8 days: daily-00288.sqlite (12.0 days)" in record["observed"], record["observed"]
    record = run.assert_outcome("BAK2", "short", "failed", category="backups", severity="low")
    assert "the oldest backup daily-00049.sqlite is only 2.0 days old" in record["observed"]


def test_BAK3_newest_backup_restores_with_critical_tables(
    run_checks: RunChecks, env_file: EnvFile, tmp_path: Path
) -> None:
    source = booking_db(tmp_path / "d1.sqlite")
    good = backup_folder(tmp_path / "good", source, [1, 25])
    emptied = backup_folder(tmp_path / "emptied", source, [1, 25])
    conn = sqlite3.connect(emptied / "daily-00001.sqlite")
    conn.execute("DELETE FROM appointments")
    conn.commit()
    conn.close()
    garbage = backup_folder(tmp_path / "garbage", source, [25])
    (garbage / "daily-00001.sqlite").write_bytes(b"not a database at all" * 200)
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    conn = sqlite3.connect(source)
    (dumps / "daily-1.sql").write_text("\n".join(conn.iterdump()))
    conn.close()
    before = (emptied / "daily-00001.sqlite").read_bytes()
    path = env_file(
        "name: files\nkind: test\nbackups:\n"
        + backup_entry("good", good)
        + backup_entry("emptied", emptied)
        + backup_entry("garbage", garbage)
        + backup_entry("dump", dumps).replace("'daily-*.sqlite'", "'daily-*.sql'")
        + "    format: sql\n"
    )
    run = run_checks("--diagnosis", "BAK3", env=path)
    record = run.assert_outcome("BAK3", "good", "passed", category="backups", severity="high")
    assert "users: 2 rows, appointments: 1 rows, services: 1 rows" in record["observed"]
    record = run.assert_outcome("BAK3", "emptied", "failed", category="backups", severity="high")
    assert "empty tables appointments" in record["observed"] and "appointments: 0 rows" in record["observed"]
    record = run.assert_outcome("BAK3", "garbage", "failed", category="backups", severity="high")
    assert "does not open: file is not a database" in record["observed"]
    record = run.assert_outcome("BAK3", "dump", "passed", category="backups", severity="high")
    assert "(copied to a scratch folder, sql)" in record["observed"]
    assert (emptied / "daily-00001.sqlite").read_bytes() == before
    assert sorted(p.name for p in emptied.iterdir()) == ["daily-00001.sqlite", "daily-00025.sqlite"]


def test_BAK4_pre_migration_backup_newer_than_migrations(
    run_checks: RunChecks, env_file: EnvFile, tmp_path: Path
) -> None:
    source = booking_db(tmp_path / "d1.sqlite")
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    migration = migrations / "0002_indexes.sql"
    migration.write_text("CREATE INDEX x ON y (z);\n")
    os.utime(migration, (time.time() - 50 * HOUR, time.time() - 50 * HOUR))
    good = backup_folder(tmp_path / "good", source, [48], prefix="pre-migration-")
    late = backup_folder(tmp_path / "late", source, [52], prefix="pre-migration-")
    body = f"    migrations: {migrations}/*.sql\n"
    path = env_file(
        "name: files\nkind: test\nbackups:\n" + backup_entry("good", good, body) + backup_entry("late", late, body)
    )
    run = run_checks("--diagnosis", "BAK4", env=path)
    record = run.assert_outcome("BAK4", "good", "passed", category="backups", severity="medium")
    assert "2.0 h after the newest migration 0002_indexes.sql" in record["observed"], record["observed"]
    record = run.assert_outcome("BAK4", "late", "failed", category="backups", severity="medium")
    assert "pre-migration-00052.sqlite" in record["observed"] and "2.0 h before" in record["observed"]


# --- the demo's files and faults -------------------------------------------------------------------------


@pytest.mark.parametrize("diagnosis", ["BAK1", "BAK2", "BAK3", "BAK4"])
def test_BAK1_BAK2_BAK3_BAK4_demo_file_fault_fails_its_diagnosis_and_heals(
    run_checks: RunChecks, env_file: EnvFile, stack: DemoStack, diagnosis: str
) -> None:
    assert_demo_file_fault_fails_and_heals(run_checks, env_file, stack, diagnosis)


# --- PostgreSQL dumps: not supported, and said so -----------------------------------------------------------


def _pg_dump(stack: DemoStack) -> str:
    bundled = stack.postgres.bindir / "pg_dump"
    found = str(bundled) if bundled.is_file() else shutil.which("pg_dump")
    assert found, "pg_dump is installed with the PostgreSQL server binaries the demo stack runs"
    return found


def test_BAK3_names_a_pg_dump_file_instead_of_a_sqlite_error(
    stack: DemoStack, run_checks: RunChecks, env_file: EnvFile, tmp_path: Path
) -> None:
    """A real pg_dump of the demo's PostgreSQL database, custom and plain, in a set declared `sqlite` and
    one declared `sql`: BAK3 fails naming the dump's format and how to check it, not `unrecognized token`."""
    dsn = stack.postgres.dsn(dbname=DATABASE)
    folders = {}
    for name, dump_format in (("custom", "custom"), ("plain", "plain")):
        folder = tmp_path / name
        folder.mkdir()
        subprocess.run([_pg_dump(stack), f"--format={dump_format}", "--file", str(folder / "daily-1.dump"), dsn],
                       check=True, capture_output=True, timeout=120)
        folders[name] = folder
    path = env_file(
        "name: files\nkind: test\nbackups:\n"
        + backup_entry("custom", folders["custom"]).replace("'daily-*.sqlite'", "'daily-*.dump'")
        + backup_entry("plain", folders["plain"]).replace("'daily-*.sqlite'", "'daily-*.dump'")
        + "    format: sql\n"
    )
    run = run_checks("--diagnosis", "BAK3", env=path)
    record = run.assert_outcome("BAK3", "custom", "failed", category="backups", severity="high")
    assert record["observed"] == "daily-1.dump is a PostgreSQL dump (pg_dump custom format), not a SQLite backup"
    assert any("pg_restore --list daily-1.dump" in step for step in record["remediation"])
    assert "BAK3 restores SQLite backups only" in record["message"]
    record = run.assert_outcome("BAK3", "plain", "failed", category="backups", severity="high")
    assert record["observed"] == "daily-1.dump is a PostgreSQL dump (pg_dump plain format), not a SQLite backup"
    assert "unrecognized token" not in record["message"]


@pytest.mark.parametrize("declared", ["pg_dump", "custom", "postgresql"])
def test_BAK1_BAK4_a_postgresql_backup_format_is_refused_at_load(
    env_file: EnvFile, tmp_path: Path, declared: str
) -> None:
    path = env_file(
        "name: files\nkind: test\nbackups:\n" + backup_entry("pg", tmp_path) + f"    format: {declared}\n"
    )
    with pytest.raises(EnvironmentFileError) as raised:
        load_environment(path, {})
    text = str(raised.value)
    assert "line 9" in text and "format" in text, text
    assert f"format '{declared}' is a PostgreSQL dump format: BAK1-BAK4 verify SQLite backups only" in text
    assert "pg_restore --list" in text
