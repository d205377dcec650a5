"""Mirrors checks/test_database_pool.py. DB4 against the demo's pool endpoint: passes with headroom,
fails when the pool is exhausted, names the missing field of another shape."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from healthsuite.demo.stack import DemoStack
from tests.checks.support import edge_env
from tests.conftest import RunChecks

# --- DB4: the application's connection pool -----------------------------------------------------------------


def test_DB4_passes_with_headroom_and_fails_when_the_pool_is_exhausted(run_checks: RunChecks, stack: DemoStack) -> None:
    run = run_checks("--diagnosis", "DB4")
    record = run.assert_outcome("DB4", "backend", "passed", category="database", severity="high")
    assert record["observed"] == "3 of 20 connections checked out (15 %), overflow 0"
    stack.break_(["DB4"])
    run = run_checks("--diagnosis", "DB4")
    record = run.assert_outcome("DB4", "backend", "failed", category="database", severity="high")
    assert record["observed"] == "20 of 20 connections checked out (100 %), overflow 5"
    assert "about to wait for database connections" in record["message"]


def test_DB4_names_the_missing_field_of_another_shape(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    path = env_file(edge_env(stack, "pools:\n  - {name: other, path: /api/pool-status, size_path: pool.size}\n"))
    run = run_checks("--diagnosis", "DB4", env=path)
    record = run.assert_outcome("DB4", "other", "failed", category="database", severity="high")
    assert record["observed"].startswith("no number at body.pool.size")
