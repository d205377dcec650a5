"""The DSNs and Redis URLs read without the drivers (healthsuite.model.addresses.quick_conninfo and
quick_redis_url) read to what libpq and redis-py read; anything else is left to them, and loading an
environment of the common forms imports neither driver."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict
from redis.connection import parse_url

from healthsuite.model.addresses import (
    Problem,
    postgres_dsn_problem,
    quick_conninfo,
    quick_redis_url,
    redis_url_problem,
)
from healthsuite.model.templates import Template

PROJECT = Path(__file__).resolve().parents[2]

COMMON_DSNS = [
    "postgresql://monitor:10001@db.internal:5432/app",
    "postgres://monitor@127.0.0.1/booking",
    "postgresql://db.internal",
    "postgresql://u.v-w_x~y:p.a-s_s~w@host-1.example.com:05432/db_1.x?sslmode=verify-full",
    "postgresql://h:0/d",
    "postgresql://h:99999/d",
    "postgresql://u:p@h/d?sslmode=nonsense&application_name=health-suite&connect_timeout=5",
    "postgresql://h/d?target_session_attrs=read-write",
    "postgresql://h/d?password=10001",
    "host=db.internal port=5432 dbname=app user=monitor",
    "  host=h   dbname=d password=secret  ",
    "host=h port=abc",
    "sslmode=require host=127.0.0.1 connect_timeout=3 application_name=x",
]
LEFT_TO_LIBPQ = [
    "postgresql://u:p%40ss@h/d",  # percent-escapes
    "postgresql://h1,h2/d",  # a list of hosts
    "postgresql://[::1]:5432/d",  # IPv6
    "postgresql://u:@h/d",  # an empty password
    "postgresql://h/",  # an empty database name
    "postgresql://h/d?ssl=true",  # a JDBC spelling libpq rewrites
    "postgresql://h:5432/d?port=5433",  # a keyword written twice
    "postgresql://h/d?nosuchkeyword=1",
    "host=h host=g",
    "host = h dbname=d",
    "host='h' dbname=d",
    "host=h\tdbname=d",
    "nosuchkeyword=1",
    "POSTGRESQL://h/d",
    "",
]
COMMON_REDIS = [
    "redis://127.0.0.1:6379/0",
    "rediss://cache.internal",
    "redis://:10001@Cache.Internal:06379/00012",
    "redis://user:10001@h:0/3",
    "redis://user@h",
    "redis://@h:65535",
]
LEFT_TO_REDIS_PY = [
    "redis://h:65536/0",  # out of range: redis-py's own message
    "redis://h/0?db=1",
    "redis://h/",
    "redis://u:p%40ss@h",
    "unix:///tmp/redis.sock",
    "REDIS://h",
    "redis://[::1]:6379",
    "redis://h:6379/db",
]


@pytest.mark.parametrize("dsn", COMMON_DSNS)
def test_a_common_dsn_reads_as_libpq_reads_it(dsn: str) -> None:
    assert quick_conninfo(dsn) == conninfo_to_dict(dsn)


@pytest.mark.parametrize("dsn", LEFT_TO_LIBPQ)
def test_any_other_dsn_is_left_to_libpq(dsn: str) -> None:
    assert quick_conninfo(dsn) is None


@pytest.mark.parametrize("url", COMMON_REDIS)
def test_a_common_redis_url_reads_as_redis_py_reads_it(url: str) -> None:
    theirs = {key: value for key, value in parse_url(url).items() if key != "connection_class"}  # type: ignore[no-untyped-call]
    assert quick_redis_url(url) == theirs


@pytest.mark.parametrize("url", LEFT_TO_REDIS_PY)
def test_any_other_redis_url_is_left_to_redis_py(url: str) -> None:
    assert quick_redis_url(url) is None


@pytest.mark.parametrize(("problem_of", "value", "problem"), [
    (postgres_dsn_problem, "postgresql://monitor:hunter2@h/d", "literal password"),
    (postgres_dsn_problem, "postgresql://h:99999/d", "port '99999'"),
    (postgres_dsn_problem, "host=h port=abc", "port 'abc'"),
    (postgres_dsn_problem, "postgresql://h/d?sslmode=nonsense", "sslmode 'nonsense'"),
    (postgres_dsn_problem, "postgresql://h/d?nosuchkeyword=1", "libpq cannot read the DSN: "),
    (postgres_dsn_problem, "postgresql://monitor:${PGPASSWORD}@h:${PGPORT}/d", ""),
    (redis_url_problem, "redis://:hunter2@h:6379/0", "literal password"),
    (redis_url_problem, "redis://h:65536/0", "redis-py cannot read the URL: Port out of range"),
    (redis_url_problem, "redis://127.0.0.1:${REDIS_PORT}/0", ""),
])
def test_the_problems_of_an_address_are_the_same_either_way(
    problem_of: Callable[[Template], Problem | None], value: str, problem: str
) -> None:
    found = problem_of(Template(value))
    if problem:
        assert found is not None and problem in found[0], found
    else:
        assert found is None, found


def test_loading_an_environment_of_common_forms_imports_no_driver(tmp_path: Path) -> None:
    """The drivers cost start-up on the main thread; the probes import them on first use."""
    env = tmp_path / "stores.yaml"
    env.write_text(
        "name: stores\nkind: test\n"
        "databases: [{name: main, engine: postgresql, dsn: 'postgresql://monitor:${PGPASSWORD}@127.0.0.1:${PGPORT:-5432}/app'}]\n"
        "caches: [{name: sessions, url: 'redis://127.0.0.1:${REDIS_PORT:-6379}/0'}]\n"
    )
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from healthsuite.environment.loader import load_environment\n"
        f"env = load_environment(Path({str(env)!r}), {{'PGPASSWORD': 's3cret', 'PGPORT': '5433'}})\n"
        "assert [d.name for d in env.model.databases] == ['main']\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'psycopg', 'redis'})\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
