"""DB8, DB15, PERF5, PERF6 on SQLite files and BAK1-BAK4 on backup folders, made for real in tmp_path: each
passes when healthy and fails on its own fault with the right category and severity, naming the observed
value; the demo's faults (healthsuite/demo/faults/sqlite.py) fail their diagnosis and heal."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from healthsuite.demo.faults import sqlite as files_sqlite
from healthsuite.demo.stack import DATABASE, SCHEMA, SEED, DemoStack, _sqlite_sql
from healthsuite.environment.loader import load_environment
from healthsuite.environment.problems import EnvironmentFileError
from healthsuite.probes import sqlite_checks
from tests.conftest import CheckRun, RunChecks

EnvFile = Callable[[str], Path]
HOUR = 3600
DAY = 24 * HOUR
HOT = "SELECT id FROM appointments WHERE tenant_id = 'instylehairboutique' ORDER BY created_at DESC LIMIT 20"


def booking_db(path: Path, *extra_sql: str) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(_sqlite_sql(SCHEMA + SEED) + "".join(extra_sql))
    conn.close()
    return path


def corrupt_page(path: Path, table: str = "appointments") -> None:
    conn = sqlite3.connect(path)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with path.open("r+b") as handle:
        handle.seek((root - 1) * size + 8)
        handle.write(b"\xa5" * (size - 8))


def lite(name: str, path: Path, body: str = "") -> str:
    return f"  - name: {name}\n    engine: sqlite\n    path: {path}\n{body}"


SCHEMA_DECL = f"""    schema:
      large_tables: [appointments, payments]
      indexes: [idx_appointments_tenant_created, idx_payments_appointment]
      hot_queries:
        - {{name: tenant-appointments, sql: "{HOT}"}}
"""


def sqlite_env(*databases: str) -> str:
    return "name: files\nkind: test\ndatabases:\n" + "".join(databases)


# --- DB8 -------------------------------------------------------------------------------------------------


def test_db8_passes_clean_and_fails_on_corruption_and_orphans(
    run_checks: RunChecks, env_file: EnvFile, tmp_path: Path
) -> None:
    good = booking_db(tmp_path / "good.sqlite")
    corrupt = booking_db(tmp_path / "corrupt.sqlite")
    corrupt_page(corrupt)
    orphans = booking_db(
        tmp_path / "orphans.sqlite",
        "INSERT INTO appointments (id, tenant_id, scheduled_time, status) VALUES "
        "('apt-9', 'no-such-tenant', '2026-01-01', 'confirmed'), ('apt-10', 'gone', '2026-01-01', 'confirmed');",
    )
    before = corrupt.read_bytes()
    path = env_file(sqlite_env(lite("good", good), lite("corrupt", corrupt), lite("orphans", orphans)))
    run = run_checks("--diagnosis", "DB8", "--diagnosis", "DB1", env=path)
    record = run.assert_outcome("DB8", "good", "passed", category="database", severity="critical")
    assert record["observed"] == "integrity_check: ok; foreign_key_check: no violation"
    record = run.assert_outcome("DB8", "corrupt", "failed", category="database", severity="critical")
    assert "integrity_check: " in record["observed"] and "page 11" in record["observed"], record["observed"]
    assert "corrupted" in record["message"]
    run.assert_outcome("DB1", "corrupt", "passed", category="database", severity="critical")  # page 1 intact
    record = run.assert_outcome("DB8", "orphans", "failed", category="database", severity="critical")
    assert "2 rows reference a missing parent" in record["observed"]
    assert "appointments -> tenants: 2" in record["observed"] and "rowid" in record["observed"]
    assert corrupt.read_bytes() == before, "a check must never write the file it checks"


# --- DB15 ------------------------------------------------------------------------------------------------


def test_db15_settings_as_declared_and_size_under_limit(
    run_checks: RunChecks, env_file: EnvFile, tmp_path: Path
) -> None:
    settings = "    settings: {journal_mode: delete, foreign_keys: true, busy_timeout_ms: 2000, max_size_mb: 50}\n"
    good = booking_db(tmp_path / "good.sqlite")
    wal = booking_db(tmp_path / "wal.sqlite")
    conn = sqlite3.connect(wal)
    conn.execute("PRAGMA journal_mode = wal")
    conn.close()
    big = booking_db(tmp_path / "big.sqlite")
    fk_off = booking_db(
        tmp_path / "fk.sqlite",
        "INSERT INTO users (id, tenant_id, email) VALUES ('usr-9', 'gone', 'x@example.invalid');",
    )
    path = env_file(
        sqlite_env(
            lite("good", good, settings),
            lite("wal", wal, settings),
            lite("big", big, "    settings: {max_size_mb: 0.05}\n"),
            lite("fk", fk_off, settings),
        )
    )
    run = run_checks("--diagnosis", "DB15,DB8", env=path)
    record = run.assert_outcome("DB15", "good", "passed", category="database", severity="low")
    assert "journal_mode delete" in record["observed"] and "busy_timeout 2000 ms" in record["observed"]
    record = run.assert_outcome("DB15", "wal", "failed", category="database", severity="low")
    assert record["observed"].startswith("journal_mode wal, declared delete"), record["observed"]
    record = run.assert_outcome("DB15", "big", "failed", category="database", severity="low")
    assert "limit 0.05 MB" in record["observed"] and "pages of 4096 bytes" in record["observed"]
    # a row violating a foreign key is DB8's finding only: DB15 judges settings and size
    record = run.assert_outcome("DB15", "fk", "passed", category="database", severity="low")
    assert "foreign_keys: per connection, not recorded in the file" in record["observed"]
    assert "violat" not in record["message"].replace("rows violating a foreign key are DB8's finding", "")
    record = run.assert_outcome("DB8", "fk", "failed", category="database", severity="critical")
    assert "reference a missing parent" in record["observed"] and "users -> tenants" in record["observed"]


# --- PERF5 / PERF6 ---------------------------------------------------------------------------------------


def test_perf5_perf6_pass_with_indexes_and_fail_without(
    run_checks: RunChecks, env_file: EnvFile, tmp_path: Path
) -> None:
    good = booking_db(tmp_path / "good.sqlite")
    dropped = booking_db(
        tmp_path / "dropped.sqlite",
        "DROP INDEX idx_appointments_tenant_created; DROP INDEX idx_payments_appointment;",
    )
    path = env_file(sqlite_env(lite("good", good, SCHEMA_DECL), lite("dropped", dropped, SCHEMA_DECL)))
    run = run_checks("--diagnosis", "PERF5,PERF6", env=path)
    record = run.assert_outcome("PERF5", "good", "passed", category="performance", severity="medium")
    assert "SEARCH appointments USING INDEX idx_appointments_tenant_created" in record["observed"]
    record = run.assert_outcome("PERF5", "dropped", "failed", category="performance", severity="medium")
    assert record["observed"] == "tenant-appointments: SCAN appointments", record["observed"]
    record = run.assert_outcome("PERF6", "good", "passed", category="performance", severity="medium")
    assert record["observed"] == "2 declared indexes exist; all 11 foreign keys are indexed"
    record = run.assert_outcome("PERF6", "dropped", "failed", category="performance", severity="medium")
    assert "index idx_payments_appointment does not exist" in record["observed"]
    assert "foreign key payments(appointment_id) -> appointments has no index" in record["observed"]


def test_plan_reads_resolve_aliases() -> None:
    sql = "SELECT a.id FROM appointments AS a JOIN users u ON u.id = a.user_id WHERE a.status = 'x'"
    reads = sqlite_checks.plan_reads(sql, ["SCAN a", "SEARCH u USING INDEX sqlite_autoindex_users_1 (id=?)"])
    assert [(r.table, r.full_scan) for r in reads] == [("appointments", True), ("users", False)]
    old = sqlite_checks.plan_reads("SELECT * FROM payments p", ["SCAN TABLE payments AS p USING COVERING INDEX i"])
    assert [(r.table, r.full_scan) for r in old] == [("payments", False)]


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


def test_bak1_bak2_fresh_backups_across_retention(run_checks: RunChecks, env_file: EnvFile, tmp_path: Path) -> None:
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


def test_bak3_newest_backup_restores_with_critical_tables(
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


def test_bak4_pre_migration_backup_newer_than_migrations(
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

DEMO_YAML = """name: demo-files
kind: demo
databases:
  - name: d1
    engine: sqlite
    path: {dir}/d1.sqlite
    settings: {{journal_mode: delete, foreign_keys: true, busy_timeout_ms: 5000, max_size_mb: 500}}
    schema:
      large_tables: [appointments, payments]
      indexes: [idx_appointments_tenant_created, idx_payments_appointment]
      hot_queries:
        - name: appointments-by-tenant
          sql: "SELECT * FROM appointments WHERE tenant_id = 'instylehairboutique' ORDER BY created_at DESC LIMIT 100"
backups:
  - name: d1-daily
    directory: {dir}/backups
    pattern: "daily-*.sqlite"
    retention_days: 7
    critical_tables: [users, appointments, services]
    pre_migration_pattern: "pre-migration-*.sqlite"
    migrations: {dir}/migrations/*.sql
"""
DEMO_DIAGNOSES = ["DB8", "DB15", "PERF5", "PERF6", "BAK1", "BAK2", "BAK3", "BAK4"]


def outcomes(run: CheckRun, diagnosis: str) -> list[str]:
    """The outcomes of the demo file's targets (PERF5/PERF6's PostgreSQL checks skip: none declared here)."""
    return [r["outcome"] for r in run.records(diagnosis) if r["target"] in ("d1", "d1-daily")]


@pytest.mark.parametrize("diagnosis", DEMO_DIAGNOSES)
def test_demo_file_fault_fails_its_diagnosis_and_heals(
    run_checks: RunChecks, env_file: EnvFile, stack: DemoStack, diagnosis: str
) -> None:
    path = env_file(DEMO_YAML.format(dir=stack.directory))
    healthy = run_checks("--diagnosis", diagnosis, env=path)
    assert outcomes(healthy, diagnosis) == ["passed"], healthy.output
    if diagnosis in files_sqlite.FAULTS:
        stack.break_([diagnosis])
        undo = stack.heal
    else:  # PERF5/PERF6 name the PostgreSQL faults in the stack: made here directly
        undo = files_sqlite.inject(diagnosis, stack)
    try:
        broken = run_checks("--diagnosis", diagnosis, env=path)
    finally:
        undo()
    assert outcomes(broken, diagnosis) == ["failed"], broken.output
    assert "Traceback" not in broken.output
    healed = run_checks("--diagnosis", diagnosis, env=path)
    assert outcomes(healed, diagnosis) == ["passed"], healed.output


# --- PostgreSQL dumps: not supported, and said so -----------------------------------------------------------


def _pg_dump(stack: DemoStack) -> str:
    bundled = stack.postgres.bindir / "pg_dump"
    found = str(bundled) if bundled.is_file() else shutil.which("pg_dump")
    assert found, "pg_dump is installed with the PostgreSQL server binaries the demo stack runs"
    return found


def test_bak3_names_a_pg_dump_file_instead_of_a_sqlite_error(
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
def test_a_postgresql_backup_format_is_refused_at_load(env_file: EnvFile, tmp_path: Path, declared: str) -> None:
    path = env_file(
        "name: files\nkind: test\nbackups:\n" + backup_entry("pg", tmp_path) + f"    format: {declared}\n"
    )
    with pytest.raises(EnvironmentFileError) as raised:
        load_environment(path, {})
    text = str(raised.value)
    assert "line 9" in text and "format" in text, text
    assert f"format '{declared}' is a PostgreSQL dump format: BAK1-BAK4 verify SQLite backups only" in text
    assert "pg_restore --list" in text
