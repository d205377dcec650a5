"""Mirrors checks/test_database_sqlite.py. DB8, DB15, PERF5, PERF6 on SQLite files made for real in
tmp_path: each passes when healthy and fails on its own fault with the right category and severity,
naming the observed value; the demo's faults (healthsuite/demo/faults/sqlite.py) fail their diagnosis
and heal."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from healthsuite.demo.stack import DemoStack
from healthsuite.probes import sqlite_checks
from tests.checks.support import EnvFile, assert_demo_file_fault_fails_and_heals, booking_db
from tests.conftest import RunChecks

HOT = "SELECT id FROM appointments WHERE tenant_id = 'instylehairboutique' ORDER BY created_at DESC LIMIT 20"


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


def test_DB8_passes_clean_and_fails_on_corruption_and_orphans(
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


def test_DB15_settings_as_declared_and_size_under_limit(
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


def test_PERF5_PERF6_pass_with_indexes_and_fail_without(
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


def test_PERF5_plan_reads_resolve_aliases() -> None:
    sql = "SELECT a.id FROM appointments AS a JOIN users u ON u.id = a.user_id WHERE a.status = 'x'"
    reads = sqlite_checks.plan_reads(sql, ["SCAN a", "SEARCH u USING INDEX sqlite_autoindex_users_1 (id=?)"])
    assert [(r.table, r.full_scan) for r in reads] == [("appointments", True), ("users", False)]
    old = sqlite_checks.plan_reads("SELECT * FROM payments p", ["SCAN TABLE payments AS p USING COVERING INDEX i"])
    assert [(r.table, r.full_scan) for r in old] == [("payments", False)]


# --- the demo's files and faults -------------------------------------------------------------------------


@pytest.mark.parametrize("diagnosis", ["DB8", "DB15", "PERF5", "PERF6"])
def test_DB8_DB15_PERF5_PERF6_demo_file_fault_fails_its_diagnosis_and_heals(
    run_checks: RunChecks, env_file: EnvFile, stack: DemoStack, diagnosis: str
) -> None:
    assert_demo_file_fault_fails_and_heals(run_checks, env_file, stack, diagnosis)
