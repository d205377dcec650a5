"""Database: SQLite/D1 files. Runbook 000 §2 solution A and §6 step 2 (integrity), §5 (indexes), 001
"Database Performance Analysis" (settings, query plans). Every read is on a `mode=ro` connection; hot
queries are only EXPLAINed (EXPLAIN QUERY PLAN), never run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from healthsuite.assessments import sqlite_checks as judge
from healthsuite.checkapi import check
from healthsuite.probes import sqlite_checks as lite

if TYPE_CHECKING:
    from pathlib import Path

    from healthsuite.checkapi import Expect
    from healthsuite.model.environment import SqliteDatabase
    from healthsuite.probes.session import ProbeSession


def _file(sqlite: SqliteDatabase, probes: ProbeSession, expect: Expect) -> tuple[Path, float]:
    """(path, timeout) of a declared SQLite file, resolved against the environment file."""
    path = expect.env.resolve_path(sqlite.path, expect.env.where(sqlite, "path"))
    return path, sqlite.timeout_s or expect.env.model.timeouts.database_s


def _integrity(sqlite: SqliteDatabase, probes: ProbeSession, expect: Expect) -> lite.IntegrityObservation:
    path, timeout = _file(sqlite, probes, expect)
    return probes.cache.get(("sqlite.integrity", path, timeout), lambda: lite.integrity(path, timeout))


@check("DB8")
def test_sqlite_integrity_and_foreign_keys(sqlite: SqliteDatabase, probes: ProbeSession, expect: Expect) -> None:
    observation = expect.reached(_integrity(sqlite, probes, expect))
    expect.finding(judge.integrity(observation))


@check("DB15")
def test_sqlite_settings_and_size(sqlite: SqliteDatabase, probes: ProbeSession, expect: Expect) -> None:
    path, timeout = _file(sqlite, probes, expect)
    declared = sqlite.settings
    busy_ms = declared.busy_timeout_ms if declared.busy_timeout_ms is not None else int(timeout * 1000)
    observation = expect.reached(lite.settings(path, busy_ms))
    expect.finding(judge.settings(observation, declared))  # foreign-key violations: DB8's finding


@check("PERF5", needs="schema.hot_queries")
def test_sqlite_hot_queries_use_an_index(sqlite: SqliteDatabase, probes: ProbeSession, expect: Expect) -> None:
    path, timeout = _file(sqlite, probes, expect)
    observation = expect.reached(lite.query_plans(path, timeout, sqlite.schema_.hot_queries))
    expect.finding(judge.hot_query_plans(observation, sqlite.schema_.large_tables))


@check("PERF6")
def test_sqlite_indexes_exist(sqlite: SqliteDatabase, probes: ProbeSession, expect: Expect) -> None:
    path, timeout = _file(sqlite, probes, expect)
    observation = expect.reached(lite.indexes(path, timeout))
    expect.finding(judge.indexes(observation, sqlite.schema_.indexes))
