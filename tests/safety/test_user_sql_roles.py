"""A file that declares SQL for a database whose DSN literally names the bootstrap superuser `postgres` is a
located load error (file, line, key, fix pointing at docs/safety.md's Least privilege), before any connection; a DSN
whose role is not literal, or that declares no SQL, loads as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from healthsuite.environment.loader import load_environment
from healthsuite.environment.problems import EnvironmentFileError


def _file(dsn: str, extra: str = "", checks: str = "") -> str:
    text = f"name: t\nkind: test\ndatabases:\n  - name: main\n    engine: postgresql\n    dsn: \"{dsn}\"\n{extra}"
    return text + checks


INVARIANT = "    schema: {invariants: [{name: i, table: invoices, holds: 'total_amount >= 0'}]}\n"
HOT = "    schema: {hot_queries: [{name: q, sql: 'SELECT * FROM tenants'}]}\n"
MAPPING = "    data: {api_keys: {active: 'NOT revoked'}}\n"
CHECK = ("declared_checks:\n  - {name: c, diagnosis: DB1, expect: value == 0,\n"
         "     sql: {database: main, query: 'SELECT 0'}}\n")


def _load(tmp_path: Path, text: str) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(text)
    load_environment(path, {"PGPASSWORD": "x", "DATABASE_URL": "postgresql://postgres@db/app"})


@pytest.mark.parametrize(
    ("dsn", "extra", "checks", "declared"),
    [
        ("postgresql://postgres:${PGPASSWORD}@db:5432/app", INVARIANT, "", "invariants"),
        ("postgres://postgres@db/app", HOT, "", "hot queries"),
        ("host=db user=postgres dbname=app", MAPPING, "", "data-mapping expressions"),
        ("postgresql://db/app?user=postgres", "", CHECK, "declared sql checks"),
    ],
)
def test_the_files_sql_for_the_bootstrap_superuser_is_a_located_load_error(
    tmp_path: Path, dsn: str, extra: str, checks: str, declared: str
) -> None:
    with pytest.raises(EnvironmentFileError) as info:
        _load(tmp_path, _file(dsn, extra, checks))
    message = str(info.value)
    assert f"{tmp_path / 'env.yaml'}: invalid environment file" in message, message
    assert "line 6: databases[0].dsn: " in message, message
    assert f"runs the file's SQL ({declared}) as postgres, the superuser initdb creates" in message, message
    assert "fix: connect as a role with CONNECT and SELECT only (docs/safety.md, Least privilege)" in message, message


@pytest.mark.parametrize(
    ("dsn", "extra"),
    [
        ("postgresql://postgres:${PGPASSWORD}@db:5432/app", ""),  # no SQL of the file
        ("postgresql://postgres@db/app", "    data: {api_keys: {active: active}}\n"),  # a column, not SQL
        ("postgresql://${PGUSER:-postgres}:${PGPASSWORD}@db/app", INVARIANT),  # the role is not literal
        ("${DATABASE_URL}", INVARIANT),  # checked by the session at run time (probes.pgreader)
        ("postgresql://postgres_ro@db/app", INVARIANT),
        ("host=db user=monitor dbname=postgres", HOT),
    ],
)
def test_other_roles_or_no_sql_still_load(tmp_path: Path, dsn: str, extra: str) -> None:
    _load(tmp_path, _file(dsn, extra))
