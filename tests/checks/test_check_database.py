"""DB1 against a throwaway PostgreSQL and SQLite files: pass when healthy, and each failure kind
(refused, authentication, missing database, hung server, wrong protocol, missing/corrupt file)
fails with its sentence, category and severity."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from healthsuite.demo.stack import DemoStack
from healthsuite.probes import postgres, sqlite
from healthsuite.testing.services import GarbageListener, PostgresServer, SilentListener
from tests.conftest import RunChecks


def db_env(*databases: str, timeout: float = 2) -> str:
    return f"""
name: db
kind: test
timeouts:
  database_s: {timeout}
databases:
{''.join(databases)}"""


def pg(name: str, dsn: str) -> str:
    return f"  - name: {name}\n    engine: postgresql\n    dsn: {dsn}\n"


def lite(name: str, path: Path | str) -> str:
    return f"  - name: {name}\n    engine: sqlite\n    path: {path}\n"


def test_db1_passes_on_postgres_and_sqlite(run_checks: RunChecks) -> None:
    run = run_checks("--diagnosis", "DB1")
    booking = run.assert_outcome("DB1", "booking", "passed", category="database", severity="critical")
    assert "read-only session: on" in booking["observed"]
    d1 = run.assert_outcome("DB1", "d1", "passed", category="database", severity="critical")
    assert "opened read-only" in d1["observed"]


def test_db1_fails_with_refused_when_postgres_is_stopped(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.break_(["DB1"])
    run = run_checks("--diagnosis", "DB1")
    record = run.assert_outcome("DB1", "booking", "failed", category="database", severity="critical")
    assert record["observed"].startswith("connection refused: nothing accepted the connection at 127.0.0.1:")
    assert "pg_isready" in record["message"]  # the remediation for this kind of failure
    run.assert_outcome("DB1", "d1", "passed", category="database", severity="critical")


def test_db1_fails_with_refused_after_a_crash(run_checks: RunChecks, env_file, tmp_path: Path) -> None:
    with PostgresServer(tmp_path / "crash") as server:
        dsn = server.dsn()
        server.kill()
        run = run_checks("--diagnosis", "DB1", env=env_file(db_env(pg("crashed", dsn))))
    record = run.assert_outcome("DB1", "crashed", "failed", category="database", severity="critical")
    assert record["observed"].startswith("connection refused")


def test_db1_fails_with_authentication_failed(run_checks: RunChecks, stack: DemoStack, env_file) -> None:
    assert stack.postgres is not None
    dsn = f"postgresql://healthsuite:${{WRONG_PG_PASSWORD}}@127.0.0.1:{stack.postgres.port}/booking"
    run = run_checks("--diagnosis", "DB1", env=env_file(db_env(pg("booking", dsn))),
                     environ={"WRONG_PG_PASSWORD": "not-the-password"})
    record = run.assert_outcome("DB1", "booking", "failed", category="database", severity="critical")
    assert record["observed"].startswith("authentication failed: ")
    assert "password authentication failed" in record["observed"]
    assert "not-the-password" not in run.output + str(run.report)


def test_db1_fails_when_the_database_does_not_exist(run_checks: RunChecks, stack: DemoStack, env_file) -> None:
    assert stack.postgres is not None
    dsn = f"postgresql://healthsuite:${{HEALTHSUITE_DEMO_PG_PASSWORD}}@127.0.0.1:{stack.postgres.port}/nosuchdb"
    env = env_file(db_env(pg("booking", dsn)) + f"secrets_file: {stack.directory / 'secrets.env'}\n")
    run = run_checks("--diagnosis", "DB1", env=env)
    record = run.assert_outcome("DB1", "booking", "failed", category="database", severity="critical")
    assert record["observed"].startswith("database does not exist:") and "nosuchdb" in record["observed"]


def test_db1_fails_with_timeout_on_a_hung_server(run_checks: RunChecks, env_file) -> None:
    with SilentListener() as silent:
        dsn = f"postgresql://monitor@{silent.host}:{silent.port}/app"
        run = run_checks("--diagnosis", "DB1", env=env_file(db_env(pg("hung", dsn), timeout=1)))
    record = run.assert_outcome("DB1", "hung", "failed", category="database", severity="critical")
    assert record["observed"].startswith("timed out")
    assert record["duration_s"] < 6


def test_db1_fails_with_protocol_error_on_a_non_postgres_server(run_checks: RunChecks, env_file) -> None:
    with GarbageListener() as garbage:
        dsn = f"postgresql://monitor@{garbage.host}:{garbage.port}/app?sslmode=disable"
        run = run_checks("--diagnosis", "DB1", env=env_file(db_env(pg("garbage", dsn))))
    record = run.assert_outcome("DB1", "garbage", "failed", category="database", severity="critical")
    assert record["observed"].split(":")[0] in ("protocol error", "connection reset"), record["observed"]


def test_db1_fails_on_missing_and_corrupt_sqlite_files(run_checks: RunChecks, env_file, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"this is not a database" * 200)
    run = run_checks("--diagnosis", "DB1", env=env_file(db_env(lite("missing", tmp_path / "nope.sqlite"), lite("corrupt", corrupt))))
    missing = run.assert_outcome("DB1", "missing", "failed", category="database", severity="critical")
    assert missing["observed"].startswith("database does not exist")
    bad = run.assert_outcome("DB1", "corrupt", "failed", category="database", severity="critical")
    assert bad["observed"].startswith("not a database: ")
    assert not (tmp_path / "nope.sqlite").exists(), "a check must never create the file it checks"


def test_db1_skips_naming_the_unset_variable(run_checks: RunChecks, env_file, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNSET_DATABASE_URL", raising=False)
    run = run_checks("--diagnosis", "DB1", env=env_file(db_env(pg("main", "${UNSET_DATABASE_URL}"))))
    record = run.assert_outcome("DB1", "main", "skipped", category="database", severity="critical")
    assert "UNSET_DATABASE_URL is not set" in record["message"] and "databases[main].dsn" in record["message"]


# --- the probes cannot write ------------------------------------------------------------------------


def test_postgres_probe_session_refuses_writes(stack: DemoStack) -> None:
    assert stack.postgres is not None
    dsn = stack.postgres.dsn(dbname="booking")
    with postgres.connect(dsn, timeout_s=2) as conn:
        assert conn.execute("SHOW transaction_read_only").fetchone() == ("on",)
        assert conn.execute("SHOW statement_timeout").fetchone() == ("2s",)
        assert conn.execute("SHOW lock_timeout").fetchone() == ("2s",)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO tenants (id, name) VALUES ('x', 'x')")


def test_sqlite_probe_opens_read_only(tmp_path: Path) -> None:
    path = tmp_path / "d1.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    ro = sqlite.connect_read_only(path, 1)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.execute("INSERT INTO t VALUES (1)")
    ro.close()
