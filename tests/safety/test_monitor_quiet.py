"""A run that the database's other monitors cannot notice: the real PostgreSQL checks against a throwaway
server end every read-only transaction in COMMIT, so the database's `xact_rollback` does not grow and
Debian's check_postgres (`--action=commitratio`) reports OK before and after the run; a session that
only rolls back makes the same check_postgres warn, so the test can fail."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from healthsuite.demo.stack import MONITOR_ROLE, SCHEMA, SEED
from healthsuite.testing.postgres_server import PostgresServer
from tests.conftest import CHECKS

DATABASE = "quiet"
DIAGNOSES = "DB1,DB2,DB3,DB5,DB6,DB7,DB9,DB14"
# a database the run did not disturb stays at 100 %; the suite's old rollback per statement took a
# freshly seeded database far below 90 %
WARNING, CRITICAL = "99%", "90%"
CHECK_POSTGRES = shutil.which("check_postgres") or shutil.which("check_postgres.pl")

pytestmark = pytest.mark.skipif(CHECK_POSTGRES is None, reason="check_postgres missing: run scripts/install.sh")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PostgresServer]:
    with PostgresServer(tmp_path / "pg", superuser_password=secrets.token_urlsafe(18)) as pg:
        yield pg


def _stats(pg: PostgresServer) -> tuple[int, int]:
    """(xact_commit, xact_rollback) of the database, read from another database (psql is a session too)."""
    row = pg.psql(f"SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = '{DATABASE}'").strip()
    commit, rollback = row.split("|")
    return int(commit), int(rollback)


def _commitratio(pg: PostgresServer) -> subprocess.CompletedProcess[str]:
    assert CHECK_POSTGRES is not None
    return subprocess.run(
        [CHECK_POSTGRES, "--no-check_postgresrc", "--action=commitratio", "--host=127.0.0.1", f"--port={pg.port}",
         "--dbuser=postgres", "--dbname=postgres", f"--include={DATABASE}",
         f"--warning={WARNING}", f"--critical={CRITICAL}"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "PGPASSWORD": pg.superuser_password or ""},
    )


def _wait_for_the_run_to_disconnect(pg: PostgresServer) -> None:
    """The run's backend flushes its statistics as it exits: read them only once it is gone."""
    deadline = time.monotonic() + 10
    alive = f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{DATABASE}'"
    while pg.psql(alive).strip() != "0":
        assert time.monotonic() < deadline, "a session to the database outlived the run"
        time.sleep(0.05)


def test_a_run_leaves_the_commit_ratio_alone_and_check_postgres_would_notice(
    server: PostgresServer, tmp_path: Path
) -> None:
    password = secrets.token_urlsafe(18)
    server.create_role(MONITOR_ROLE, password, extra="IN ROLE pg_monitor")
    server.create_database(DATABASE)
    server.psql(SCHEMA + SEED, dbname=DATABASE)
    server.psql(f"ANALYZE;\nGRANT SELECT ON ALL TABLES IN SCHEMA public TO {MONITOR_ROLE}", dbname=DATABASE)
    secrets_file = tmp_path / "secrets.env"
    secrets_file.touch(mode=0o600)
    secrets_file.write_text(f"QUIET_PG_PASSWORD={password}\n")
    env = tmp_path / "quiet.yaml"
    env.write_text(f"""
name: quiet
kind: test
secrets_file: {secrets_file}
timeouts: {{database_s: 3}}
databases:
  - name: booking
    engine: postgresql
    dsn: postgresql://{MONITOR_ROLE}:${{QUIET_PG_PASSWORD}}@127.0.0.1:{server.port}/{DATABASE}
    schema:
      tables: [tenants, users, services, appointments, payments]
      large_tables: [appointments, payments]
""")
    _wait_for_the_run_to_disconnect(server)
    before = _commitratio(server)
    assert before.returncode == 0 and "OK" in before.stdout, before.stdout + before.stderr
    commits, rollbacks = _stats(server)

    reports = tmp_path / "reports"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), f"--env={env}", f"--reports-dir={reports}",
         "-p", "no:cacheprovider", "--diagnosis", DIAGNOSES],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "8 passed" in run.stdout, run.stdout[-4000:]  # the healthy run: no statement failed
    _wait_for_the_run_to_disconnect(server)
    time.sleep(0.2)
    commits_after, rollbacks_after = _stats(server)
    assert commits_after - commits >= 8, "the run's statements were not counted: the test measured nothing"
    assert rollbacks_after == rollbacks, f"the run rolled back {rollbacks_after - rollbacks} transactions"
    after = _commitratio(server)
    assert after.returncode == 0 and "OK" in after.stdout, after.stdout + after.stderr

    # a client that only rolls back lowers the ratio below the warning: the same check then warns
    lowered = commits_after // 20 + 1
    server.psql("BEGIN; SELECT 1; ROLLBACK;\n" * lowered, dbname=DATABASE)
    _wait_for_the_run_to_disconnect(server)
    assert _stats(server)[1] == rollbacks_after + lowered
    warned = _commitratio(server)
    assert warned.returncode == 1 and "WARNING" in warned.stdout, warned.stdout + warned.stderr
