"""`python -m healthsuite init` against the running demo: the file it writes validates against
environments/schema.json, loads, passes the checks on the healthy demo, and fails them, with the
right diagnoses, once the demo's tables, pages and health fields are broken. Also: no literal
password in it, no overwrite without --force, one-line usage errors with exit 4."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from healthsuite.demo.stack import DemoStack
from healthsuite.environment.loader import load_environment
from healthsuite.init import GUESSED, database
from healthsuite.init.command import dsn_for_file, redis_for_file
from healthsuite.init.web import health_fields, same_host_links
from healthsuite.testing.ports import free_port
from healthsuite.testing.postgres_server import PostgresServer
from tests.conftest import CHECKS, PROJECT
from tests.localhttp import Answer, serving

SCHEMA = json.loads((PROJECT / "environments" / "schema.json").read_text())


def _secrets(stack: DemoStack) -> dict[str, str]:
    lines = (stack.directory / "secrets.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def _init(*args: str, cwd: Path, environ: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PGPASSWORD", "REDIS_PASSWORD")}
    return subprocess.run(
        [sys.executable, "-m", "healthsuite", "init", *args], cwd=cwd, capture_output=True, text=True, timeout=60,
        env={**env, **(environ or {})},
    )


def _demo_args(stack: DemoStack) -> list[str]:
    secrets = _secrets(stack)
    return [
        "--base-url", f"https://127.0.0.1:{stack.ports.https}",
        "--ca-bundle", str(stack.directory / "ca.pem"),
        "--dsn", f"postgresql://healthsuite:{secrets['HEALTHSUITE_DEMO_PG_PASSWORD']}@127.0.0.1:{stack.ports.postgres}/booking",
        "--redis", f"redis://:{secrets['HEALTHSUITE_DEMO_REDIS_PASSWORD']}@127.0.0.1:{stack.ports.redis}/0",
        "--name", "live-demo",
    ]


def _checks(env: Path, reports: Path, stack: DemoStack, *args: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    secrets = _secrets(stack)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), f"--env={env}", f"--reports-dir={reports}",
         "-p", "no:cacheprovider", "-q", *args],
        cwd=env.parent, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PGPASSWORD": secrets["HEALTHSUITE_DEMO_PG_PASSWORD"],
             "REDIS_PASSWORD": secrets["HEALTHSUITE_DEMO_REDIS_PASSWORD"]},
    )
    return run, json.loads((reports / "latest.json").read_text())


def test_init_writes_a_file_that_passes_on_the_demo_and_catches_its_faults(fresh_demo: DemoStack, tmp_path: Path) -> None:
    """On a demo of its own: what init reads (the largest tables among them) is what the demo holds
    when it starts, not what the tests before this one left in a shared one."""
    stack = fresh_demo
    output = tmp_path / "live-demo.yaml"
    done = _init(*_demo_args(stack), "--output", str(output), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "set before running the checks: PGPASSWORD, REDIS_PASSWORD" in done.stdout, done.stdout
    text = output.read_text()

    # secrets only as references
    for name, value in _secrets(stack).items():
        assert value not in text and value not in done.stdout + done.stderr, name
    data = yaml.safe_load(text)
    jsonschema.validate(data, SCHEMA)
    loaded = load_environment(output, environ={})
    model = loaded.model
    assert (model.name, model.kind) == ("live-demo", "demo")
    database = model.databases[0]
    assert database.dsn.raw == f"postgresql://healthsuite:${{PGPASSWORD}}@127.0.0.1:{stack.ports.postgres}/booking"
    assert model.caches[0].password is not None and model.caches[0].password.raw == "${REDIS_PASSWORD}"

    # what the demo holds, as expectations
    pages = {page.name: page for page in model.pages}
    assert pages["home"].path == "/" and pages["home"].content_type == "text/html" and pages["home"].smoke
    assert pages["book-instylehairboutique"].path == "/book/instylehairboutique"  # a link on the home page
    health = {h.name: h for h in model.health}
    assert [c.describe() for c in health["api-health"].body] == ["body.status == 'ok'"]
    schema = database.schema_
    assert {"invoices", "appointments", "tenants", "payments", "users"} <= set(schema.tables)
    assert ("appointments.tenant_id", "tenants.id") in {(r.child, r.parent) for r in schema.relations}
    assert schema.migrations is not None and schema.migrations.expected is not None
    assert schema.migrations.expected.raw == "3f2a9c1d7b64"
    # the three largest tables by total size, as the demo starts: appointments and payments tie at the top
    # (80 KiB each), users is third (64 KiB), five tables tie after it (48 KiB); a tie goes by name
    assert schema.large_tables == ["appointments", "payments", "users"], schema.large_tables
    assert "idx_payments_appointment" in schema.indexes
    assert "the 3 largest by total size, a tie by name" in text
    assert "maxmemory-policy noeviction" in text

    # every value read from the demo is marked; what the command line told is not
    for line in text.splitlines():
        stripped = line.strip()
        discovered = stripped.startswith(("- {name:", "- name:", "- {path:", "- {child:", "content_type:", "kind:",
                                          "migrations:"))
        discovered |= line.startswith("        - ")  # tables, large tables, indexes
        if discovered and stripped not in ("- name: booking", "- name: cache"):
            assert GUESSED in line, line
        told = stripped.startswith(("app:", "dsn:", "url:", "password:", "ca_bundle:", "name: live-demo"))
        told |= stripped in ("- name: booking", "- name: cache")  # named after the DSN's database, and the cache
        if told:
            assert GUESSED not in line, line
    assert f"{text.count(GUESSED)} values are marked" in done.stdout

    healthy, report = _checks(output, tmp_path / "healthy", stack)
    assert healthy.returncode == 0, healthy.stdout[-3000:] + healthy.stderr[-2000:]
    ran = {(r["diagnosis"], r["target"]) for r in report["checks"] if r["outcome"] == "passed"}
    assert {("AV1", "home"), ("AV2", "api-health"), ("DB9", "booking"), ("DB12", "booking"), ("DB13", "booking"),
            ("DB14", "booking"), ("PERF6", "booking"), ("CACHE2", "cache")} <= ran, sorted(ran)

    stack.break_(["AV1", "AV2", "DB9", "DB12", "PERF6"])
    broken, report = _checks(output, tmp_path / "broken", stack, "--diagnosis", "AV1,AV2,DB9,DB12,PERF6")
    assert broken.returncode == 1, broken.stdout[-3000:]
    failed = {(r["diagnosis"], r["target"]): r for r in report["checks"] if r["outcome"] == "failed"}
    assert set(failed) == {("AV1", "home"), ("AV2", "api-health"), ("DB9", "booking"), ("DB12", "booking"),
                           ("PERF6", "booking")}, sorted(failed)
    assert "HTTP 404" in failed["AV1", "home"]["observed"]
    assert "body.status = 'degraded'" in failed["AV2", "api-health"]["observed"]
    assert "invoices does not exist" in failed["DB9", "booking"]["observed"]
    assert "appointments.tenant_id -> tenants.id: no FOREIGN KEY constraint" in failed["DB12", "booking"]["observed"]
    perf6 = failed["PERF6", "booking"]["observed"]
    assert "idx_payments_appointment" in perf6, perf6  # init listed it: payments is among the largest tables


def _transactions(stack: DemoStack) -> tuple[int, int]:
    """(xact_commit, xact_rollback) of the demo's database, once no session to it is left."""
    assert stack.postgres is not None
    deadline = time.monotonic() + 10
    alive = "SELECT count(*) FROM pg_stat_activity WHERE datname = 'booking' AND application_name = 'healthsuite'"
    while stack.postgres.psql(alive).strip() != "0":
        assert time.monotonic() < deadline, "init's session outlived it"
        time.sleep(0.05)
    row = stack.postgres.psql("SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = 'booking'")
    commits, rollbacks = row.strip().split("|")
    return int(commits), int(rollbacks)


def test_init_only_reads(stack: DemoStack, tmp_path: Path) -> None:
    """HTTP: GET only, at most 20 requests; PostgreSQL: read-only transactions that all commit."""
    commits, rollbacks = _transactions(stack)
    stack.faults.requests.clear()
    done = _init(*_demo_args(stack), "--output", str(tmp_path / "x.yaml"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    sent = dict(stack.faults.requests)
    assert sent and all(key.startswith("GET ") for key in sent) and sum(sent.values()) <= 20, sent
    commits_after, rollbacks_after = _transactions(stack)
    for _ in range(20):  # the backend's statistics are flushed as it exits: give them a moment
        if commits_after >= commits + 5:
            break
        time.sleep(0.1)
        commits_after, rollbacks_after = _transactions(stack)
    assert rollbacks_after == rollbacks and commits_after >= commits + 5, (commits, commits_after, rollbacks_after)


def test_init_refuses_to_overwrite_without_force(stack: DemoStack, tmp_path: Path) -> None:
    output = tmp_path / "mine.yaml"
    output.write_text("name: mine\n")
    args = ["--base-url", f"https://127.0.0.1:{stack.ports.https}", "--ca-bundle", str(stack.directory / "ca.pem"),
            "--output", str(output)]
    done = _init(*args, cwd=tmp_path)
    assert done.returncode == 4 and output.read_text() == "name: mine\n"
    assert done.stderr.count("\n") == 1 and "the file exists" in done.stderr and "--force" in done.stderr
    assert "Traceback" not in done.stderr
    forced = _init(*args, "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert load_environment(output, environ={}).model.name == "local"  # from the host, 127.0.0.1
    assert GUESSED in output.read_text() and not list(tmp_path.glob(".mine-*"))  # no temporary file left


def test_an_unreachable_base_url_is_a_usage_error(tmp_path: Path) -> None:
    port = free_port()  # nothing listens on it
    done = _init("--base-url", f"http://127.0.0.1:{port}/", cwd=tmp_path)
    assert done.returncode == 4, done.stderr
    assert done.stdout == "" and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert f"--base-url http://127.0.0.1:{port}/: connection refused" in done.stderr
    assert "(fix: start the site or correct --base-url)" in done.stderr
    assert not (tmp_path / "environments").exists()


def test_a_dsn_that_does_not_connect_is_a_usage_error_without_its_password(stack: DemoStack, tmp_path: Path) -> None:
    base = ["--base-url", f"https://127.0.0.1:{stack.ports.https}", "--ca-bundle", str(stack.directory / "ca.pem")]
    wrong = _init(*base, "--dsn", f"postgresql://healthsuite:not-the-password@127.0.0.1:{stack.ports.postgres}/booking",
                  cwd=tmp_path)
    assert wrong.returncode == 4 and wrong.stderr.count("\n") == 1, wrong.stderr
    assert "authentication failed" in wrong.stderr and "fix: give the role's password" in wrong.stderr
    assert "not-the-password" not in wrong.stderr
    unreadable = _init(*base, "--dsn", "host=127.0.0.1 port=abc", cwd=tmp_path)
    assert unreadable.returncode == 4 and "port 'abc'" in unreadable.stderr and "fix:" in unreadable.stderr
    assert not (tmp_path / "environments").exists()


def test_usage_and_help(tmp_path: Path) -> None:
    top = subprocess.run([sys.executable, "-m", "healthsuite", "--help"], capture_output=True, text=True, timeout=30)
    assert top.returncode == 0 and "init" in top.stdout
    unknown = subprocess.run([sys.executable, "-m", "healthsuite", "frob"], capture_output=True, text=True, timeout=30)
    assert unknown.returncode == 4 and "unknown command 'frob'" in unknown.stderr
    helped = _init("--help", cwd=tmp_path)
    assert helped.returncode == 0 and "--base-url" in helped.stdout and GUESSED in helped.stdout
    missing = _init(cwd=tmp_path)
    assert missing.returncode == 4 and "--base-url" in missing.stderr and missing.stderr.count("\n") == 1


def _shaped(request: BaseHTTPRequestHandler) -> Answer:
    routes = {
        "/": Answer(302, "text/html", b""),
        "/login": Answer(200, "text/html; charset=utf-8", b"<html><form>sign in</form></html>"),
        "/health": Answer(200, "application/json", json.dumps(
            {"status": "ok", "version": "1.4.2", "checks": {"db": "connected", "cache": "degraded"}}).encode()),
        "/healthz": Answer(200, "text/plain", b"OK"),
    }
    return routes.get(request.path, Answer(404, "text/html", b"<html>not found</html>"))


def test_init_keeps_redirects_text_health_and_leaves_out_unhealthy_fields(tmp_path: Path) -> None:
    output = tmp_path / "shaped.yaml"
    with serving(_shaped) as url:
        done = _init("--base-url", url, "--output", str(output), "--kind", "test", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        model = load_environment(output, environ={}).model
        pages = {p.name: (p.path, p.expect_status, p.content_type) for p in model.pages}
        assert pages == {"home": ("/", 302, None), "login": ("/login", 200, "text/html")}
        health = {h.name: [c.describe() for c in h.body] for h in model.health}
        assert health == {"health": ["body.status == 'ok'", "body.checks.db == 'connected'"],
                          "healthz": ["body contains 'OK'"]}
        text = output.read_text()
        assert "# left out: checks.cache = 'degraded'" in text and "kind: test\n" in text
        assert "version" not in text.split("health:", 1)[1]  # not a status field
        run = subprocess.run(
            [sys.executable, "-m", "pytest", str(CHECKS), f"--env={output}", f"--reports-dir={tmp_path / 'r'}",
             "-p", "no:cacheprovider", "-q", "--diagnosis", "AV1,AV2"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )
        assert run.returncode == 0, run.stdout[-3000:]
        assert "4 passed" in run.stdout, run.stdout[-2000:]


# --- the pieces, on their own --------------------------------------------------------------------


def test_health_fields_keep_healthy_status_fields_only() -> None:
    body = {"status": "ok", "version": "1.2", "uptime_s": 3, "ready": True,
            "checks": {"database": "connected", "redis": {"status": "degraded"}}, "a.b": "ok"}
    found = {(path, value, healthy) for path, value, healthy in health_fields(body)}
    assert found == {("status", "ok", True), ("ready", True, True), ("checks.database", "connected", True),
                     ("checks.redis.status", "degraded", False)}


def test_links_stay_on_the_base_urls_host() -> None:
    html = ('<a href="/book/a">a</a><a href="https://other.example/x">x</a><a href="b?q=1#f">b</a>'
            '<a href="mailto:x@y">m</a><a href="/book/a">again</a><a href="https://site.example/c">c</a>')
    assert same_host_links("https://site.example", "https://site.example/", html, 10) == ["/book/a", "/b", "/c"]
    assert same_host_links("https://site.example", "https://site.example/", html, 1) == ["/book/a"]


@pytest.mark.parametrize(
    ("given", "written"),
    [
        ("postgresql://monitor:s3cr%40t@db:5432/app?sslmode=require",
         "postgresql://monitor:${PGPASSWORD}@db:5432/app?sslmode=require"),
        ("postgresql://monitor@db/app?password=s3cr%40t", "postgresql://monitor:${PGPASSWORD}@db/app"),
        ("host=db dbname=app user=monitor password=s3cr@t", "host=db dbname=app user=monitor password=${PGPASSWORD}"),
        ("postgresql://monitor:${MY_PW}@db/app", "postgresql://monitor:${MY_PW}@db/app"),
        ("postgresql://monitor@db/app", "postgresql://monitor@db/app"),
    ],
)
def test_a_dsn_is_written_without_its_password(given: str, written: str) -> None:
    dsn = dsn_for_file(given, {"MY_PW": "s3cr@t" if "host=" in given else "s3cr%40t"})
    assert dsn.written == written
    assert "s3cr" not in dsn.written and dsn.database == "app"
    assert dsn.password == (None if given == "postgresql://monitor@db/app" else "s3cr@t")


def test_a_redis_url_is_written_without_its_password() -> None:
    target = redis_for_file("redis://user:p%40ss@cache:6380/2", {})
    assert (target.connect, target.written, target.username, target.password, target.password_written) == (
        "redis://cache:6380/2", "redis://cache:6380/2", "user", "p@ss", "${REDIS_PASSWORD}")
    from_environment = redis_for_file("redis://cache:6379/0", {"REDIS_PASSWORD": "pw"})
    assert (from_environment.password, from_environment.password_written) == ("pw", "${REDIS_PASSWORD}")
    assert redis_for_file("redis://cache:6379/0", {}).password_written is None


@pytest.mark.parametrize(
    ("given", "user", "password"),
    [
        ("redis://:${MY_REDIS_PW}@cache:6380/2", None, "${MY_REDIS_PW}"),
        ("redis://${MY_REDIS_USER}:${MY_REDIS_PW}@cache:6380/2", "${MY_REDIS_USER}", "${MY_REDIS_PW}"),
        ("redis://cache:6380/2?password=${MY_REDIS_PW}", None, "${MY_REDIS_PW}"),
    ],
)
def test_a_redis_password_given_as_a_reference_is_written_as_given(given: str, user: str | None, password: str) -> None:
    target = redis_for_file(given, {"MY_REDIS_PW": "p@ss", "MY_REDIS_USER": "app", "REDIS_PASSWORD": "other"})
    assert (target.connect, target.written, target.password) == ("redis://cache:6380/2", "redis://cache:6380/2", "p@ss")
    assert (target.username_written, target.password_written) == (user, password)
    assert target.username == ("app" if user else None)


def test_init_keeps_the_redis_password_reference_it_was_given(stack: DemoStack, tmp_path: Path) -> None:
    """Against the demo's Redis (a password required): `${HEALTHSUITE_DEMO_REDIS_PASSWORD}` in --redis is
    read from the environment to connect, and written as that reference, not as ${REDIS_PASSWORD}."""
    output = tmp_path / "refs.yaml"
    secrets_env = _secrets(stack)
    done = _init("--base-url", f"https://127.0.0.1:{stack.ports.https}", "--ca-bundle", str(stack.directory / "ca.pem"),
                 "--redis", f"redis://:${{HEALTHSUITE_DEMO_REDIS_PASSWORD}}@127.0.0.1:{stack.ports.redis}/0",
                 "--output", str(output), cwd=tmp_path,
                 environ={"HEALTHSUITE_DEMO_REDIS_PASSWORD": secrets_env["HEALTHSUITE_DEMO_REDIS_PASSWORD"]})
    assert done.returncode == 0, done.stderr
    assert "set before running the checks: HEALTHSUITE_DEMO_REDIS_PASSWORD\n" in done.stdout, done.stdout
    text = output.read_text()
    assert secrets_env["HEALTHSUITE_DEMO_REDIS_PASSWORD"] not in text + done.stdout + done.stderr
    assert 'password: "${HEALTHSUITE_DEMO_REDIS_PASSWORD}"' in text and "REDIS_PASSWORD}" not in text.replace(
        "${HEALTHSUITE_DEMO_REDIS_PASSWORD}", "")
    cache = load_environment(output, environ={}).model.caches[0]
    assert cache.password is not None and cache.password.raw == "${HEALTHSUITE_DEMO_REDIS_PASSWORD}"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), f"--env={output}", f"--reports-dir={tmp_path / 'r'}",
         "-p", "no:cacheprovider", "-q", "--diagnosis", "CACHE1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**{k: v for k, v in os.environ.items() if k != "REDIS_PASSWORD"},
             "HEALTHSUITE_DEMO_REDIS_PASSWORD": secrets_env["HEALTHSUITE_DEMO_REDIS_PASSWORD"]},
    )
    assert run.returncode == 0 and "1 passed" in run.stdout, run.stdout[-3000:] + run.stderr[-2000:]


def test_the_largest_tables_tie_by_name(tmp_path: Path) -> None:
    """Tables of the same total size go by name, whatever order they were made in (or their oids)."""
    with PostgresServer(tmp_path / "pg", superuser_password=secrets.token_urlsafe(18)) as pg:
        pg.create_database("app")
        same = "(id int PRIMARY KEY, note text); INSERT INTO {0} SELECT g, 'x' FROM generate_series(1, 50) g;\n"
        pg.psql("CREATE TABLE big (id int PRIMARY KEY, note text);\n"
                "INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, 2000) g;\n"
                + "".join(f"CREATE TABLE {name} {same.format(name)}" for name in ("zeta", "mid", "alpha"))
                + "ANALYZE;\n", dbname="app")
        found = database.discover(pg.dsn(dbname="app"), 10, 86400)
    assert [t.declared for t in found.tables[:4]] == ["big", "alpha", "mid", "zeta"]
    assert len({t.size_bytes for t in found.tables[1:4]}) == 1  # the three tie
    assert [t.declared for t in found.large_tables] == ["big", "alpha", "mid"]


def test_the_documented_init_against_the_demo_runs_as_written(stack: DemoStack, tmp_path: Path) -> None:
    """docs/init.md's lines, run by bash as written, from a directory whose .demo/ holds this demo's
    secrets.env and ca.pem, with its ports in the HEALTHSUITE_DEMO_*_PORT variables demo.yaml reads."""
    doc = (PROJECT / "docs" / "init.md").read_text()
    block = doc.split("## Against the demo", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    assert "set -a; . .demo/secrets.env; set +a" in block and "python -m healthsuite init" in block
    (tmp_path / ".demo").mkdir()
    for name in ("secrets.env", "ca.pem"):
        (tmp_path / ".demo" / name).write_bytes((stack.directory / name).read_bytes())
    script = block.replace("python -m ", f"{sys.executable} -m ").replace("\npytest ", f"\n{sys.executable} -m pytest ")
    script = script.replace("pytest --env live-demo", f"pytest {CHECKS} -p no:cacheprovider -q --env live-demo "
                            f"--reports-dir {tmp_path / 'reports'}")
    environ = {k: v for k, v in os.environ.items() if k not in ("PGPASSWORD", "REDIS_PASSWORD", "HEALTHSUITE_ENV")}
    environ |= {"HEALTHSUITE_DEMO_HTTPS_PORT": str(stack.ports.https), "HEALTHSUITE_DEMO_PG_PORT": str(stack.ports.postgres),
                "HEALTHSUITE_DEMO_REDIS_PORT": str(stack.ports.redis)}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=180, env=environ)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "healthsuite init: wrote environments/live-demo.yaml" in done.stdout
    text = (tmp_path / "environments" / "live-demo.yaml").read_text()
    for name, value in _secrets(stack).items():
        assert value not in text, name
    assert "${HEALTHSUITE_DEMO_PG_PASSWORD}@127.0.0.1:${HEALTHSUITE_DEMO_PG_PORT:-15432}/booking" in text
    assert 'password: "${HEALTHSUITE_DEMO_REDIS_PASSWORD}"' in text
    report = json.loads((tmp_path / "reports" / "latest.json").read_text())
    passed = {(r["diagnosis"], r["target"]) for r in report["checks"] if r["outcome"] == "passed"}
    assert {("AV1", "home"), ("DB1", "booking"), ("CACHE1", "cache")} <= passed, sorted(passed)
