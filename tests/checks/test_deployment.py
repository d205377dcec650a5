"""Mirrors checks/test_deployment.py. DEP1 (the smoke set) and DEP2 (the deployed version) against the
demo; DEP3-DEP6 against real files written in tmp_path (and the demo's own files): each passes when
healthy and fails on its real fault with the right category and severity, naming what it saw; DEP3
never shows a value."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from healthsuite.demo.app.main import OLD_VERSION, VERSION
from healthsuite.demo.faults import config_files as files_config
from healthsuite.demo.stack import DemoStack
from tests.checks.support import EnvFile, edge_env
from tests.conftest import RunChecks

# --- DEP1 ---------------------------------------------------------------------------------------------


def test_DEP1_smoke_set_passes_and_is_selected_by_marker(run_checks: RunChecks) -> None:
    run = run_checks("-m", "smoke")
    run.result.assert_outcomes(passed=3)
    assert {r["diagnosis"] for r in run.report["checks"]} == {"DEP1"}
    for target in ("home", "api", "booking"):
        run.assert_outcome("DEP1", target, "passed", category="deployment", severity="critical")


def test_DEP1_fails_when_health_answers_503(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.break_(["DEP1"])
    run = run_checks("-m", "smoke")
    record = run.assert_outcome("DEP1", "api", "failed", category="deployment", severity="critical")
    assert "HTTP 503" in record["observed"] and "roll back" in record["message"]
    run.assert_outcome("DEP1", "home", "passed", category="deployment", severity="critical")


def test_DEP1_fails_when_the_database_is_down(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.break_(["DB1"])
    run = run_checks("-m", "smoke")
    record = run.assert_outcome("DEP1", "booking", "failed", category="deployment", severity="critical")
    assert record["observed"].startswith("connection refused")




SECRET = "s3cr3t-DEP3-value-never-shown"


def everything_shown(run, tmp_path: Path) -> str:
    """The terminal output, the JSON report and every JUnit file of the run."""
    junit = "".join(p.read_text() for p in tmp_path.glob("junit-*.xml"))
    return run.output + json.dumps(run.report) + junit


# --- DEP3 ----------------------------------------------------------------------------------------------


def test_DEP3_passes_when_every_variable_is_set_and_never_shows_a_value(
    run_checks: RunChecks, env_file: EnvFile, tmp_path: Path
) -> None:
    (tmp_path / "secrets.env").write_text(f"HS_TEST_FROM_FILE={SECRET}-file\n")
    path = env_file(
        "name: vars\nkind: test\nplatform: cloudflare\nsecrets_file: secrets.env\n"
        "deployment:\n  variables:\n    names: [HS_TEST_FROM_FILE, HS_TEST_FROM_PROCESS]\n"
    )
    run = run_checks("--diagnosis", "DEP3", env=path, environ={"HS_TEST_FROM_PROCESS": SECRET})
    record = run.assert_outcome("DEP3", "variables", "passed", category="deployment", severity="high")
    assert record["observed"] == "all 2 required variable(s) are set and non-empty"
    assert SECRET not in everything_shown(run, tmp_path)


def test_DEP3_fails_naming_unset_and_empty_variables_only(
    run_checks: RunChecks, env_file: EnvFile, tmp_path: Path
) -> None:
    assert "HS_TEST_NEVER_SET" not in os.environ
    (tmp_path / "secrets.env").write_text(f"HS_TEST_EMPTY=\nHS_TEST_SET={SECRET}\n")
    path = env_file(
        "name: vars\nkind: test\nplatform: cloudflare\nsecrets_file: secrets.env\n"
        "deployment:\n  variables:\n    names: [HS_TEST_SET, HS_TEST_EMPTY, HS_TEST_NEVER_SET]\n"
    )
    run = run_checks("--diagnosis", "DEP3", env=path)
    record = run.assert_outcome("DEP3", "variables", "failed", category="deployment", severity="high")
    assert "2 of 3 required variable(s) missing" in record["observed"]
    assert "not set: HS_TEST_NEVER_SET" in record["observed"] and "empty: HS_TEST_EMPTY" in record["observed"]
    assert "wrangler secret put" in record["message"]
    assert SECRET not in everything_shown(run, tmp_path)


def test_DEP3_reads_a_declared_env_file_and_fails_when_it_is_missing(
    run_checks: RunChecks, env_file: EnvFile, tmp_path: Path
) -> None:
    (tmp_path / "app.env").write_text(f"export API_KEY='{SECRET}'\nJWT_SECRET=\"\"\n")
    path = env_file(
        "name: vars\nkind: test\ndeployment:\n  variables:\n"
        "    names: [API_KEY, JWT_SECRET]\n    file: app.env\n"
    )
    run = run_checks("--diagnosis", "DEP3", env=path)
    record = run.assert_outcome("DEP3", "variables", "failed", category="deployment", severity="high")
    assert record["observed"].endswith("app.env: empty: JWT_SECRET") and SECRET not in everything_shown(run, tmp_path)
    (tmp_path / "app.env").unlink()
    run = run_checks("--diagnosis", "DEP3", env=path)
    record = run.assert_outcome("DEP3", "variables", "failed", category="deployment", severity="high")
    assert "app.env does not exist" in record["observed"]


# --- DEP4 ----------------------------------------------------------------------------------------------


def pair_env(env_file: EnvFile) -> Path:
    return env_file(
        "name: files\nkind: test\ndeployment:\n  env_files:\n"
        "    - {name: backend, example: .env.example, deployed: .env.production}\n"
    )


def test_DEP4_passes_with_every_key_and_reports_extra_keys(
    run_checks: RunChecks, env_file: EnvFile, tmp_path: Path
) -> None:
    (tmp_path / ".env.example").write_text("# settings\nDATABASE_URL=\nexport LOG_LEVEL=info\n")
    (tmp_path / ".env.production").write_text(f"DATABASE_URL={SECRET}\nLOG_LEVEL=warn\nSENTRY_DSN=x\n")
    run = run_checks("--diagnosis", "DEP4", env=pair_env(env_file))
    record = run.assert_outcome("DEP4", "backend", "passed", category="deployment", severity="medium")
    assert "all 2 key(s)" in record["observed"] and "not in the example (not a failure): SENTRY_DSN" in record["observed"]
    assert SECRET not in everything_shown(run, tmp_path)


def test_DEP4_fails_naming_the_missing_keys(run_checks: RunChecks, env_file: EnvFile, tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text("DATABASE_URL=\nLOG_LEVEL=\nREDIS_URL=\n")
    (tmp_path / ".env.production").write_text(f"DATABASE_URL={SECRET}\n")
    run = run_checks("--diagnosis", "DEP4", env=pair_env(env_file))
    record = run.assert_outcome("DEP4", "backend", "failed", category="deployment", severity="medium")
    assert "2 of 3 key(s) missing" in record["observed"] and "LOG_LEVEL, REDIS_URL" in record["observed"]
    assert "diff <(grep -oE" in record["message"] and ".env.production" in record["message"]
    assert SECRET not in everything_shown(run, tmp_path)


def test_DEP4_fails_when_the_deployed_file_is_missing(run_checks: RunChecks, env_file: EnvFile, tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text("DATABASE_URL=\n")
    run = run_checks("--diagnosis", "DEP4", env=pair_env(env_file))
    record = run.assert_outcome("DEP4", "backend", "failed", category="deployment", severity="medium")
    assert ".env.production does not exist" in record["observed"]


# --- DEP5 ----------------------------------------------------------------------------------------------


WRANGLER_ENV = """name = "app"
route = "top.example.com/*"

[env.production]
routes = ["example.com/api/*", { pattern = "example.com/*", zone_name = "example.com" }]

[env.production.vars]
API_ENDPOINT = "https://example.com/api"

[[env.production.d1_databases]]
binding = "DB"
database_id = "x"

[[env.production.kv_namespaces]]
binding = "SESSIONS"
id = "y"
"""


def wrangler_env(env_file: EnvFile, extra: str = "") -> Path:
    return env_file(
        "name: w\nkind: test\ndeployment:\n  wrangler:\n    path: wrangler.toml\n    route: example.com/*\n"
        f"    d1: [DB]\n    kv: [SESSIONS]\n{extra}"
    )


def test_DEP5_passes_for_the_declared_env_table(run_checks: RunChecks, env_file: EnvFile, tmp_path: Path) -> None:
    (tmp_path / "wrangler.toml").write_text(WRANGLER_ENV)
    run = run_checks("--diagnosis", "DEP5", env=wrangler_env(env_file, "    env: production\n"))
    record = run.assert_outcome("DEP5", "wrangler", "passed", category="deployment", severity="medium")
    assert "D1 DB; KV SESSIONS" in record["observed"] and "https://example.com/api" not in everything_shown(run, tmp_path)


def test_DEP5_fails_on_a_missing_binding_and_route_at_top_level(
    run_checks: RunChecks, env_file: EnvFile, tmp_path: Path
) -> None:
    # without `env:` the top level is read: its route differs, and the bindings live under [env.production]
    (tmp_path / "wrangler.toml").write_text(WRANGLER_ENV)
    run = run_checks("--diagnosis", "DEP5", env=wrangler_env(env_file))
    record = run.assert_outcome("DEP5", "wrangler", "failed", category="deployment", severity="medium")
    observed = record["observed"]
    assert "route example.com/* is not declared (routes: top.example.com/*)" in observed
    assert "no [vars] section" in observed and "D1 binding(s) DB not declared" in observed
    assert "Binding not found" in record["message"]


def test_DEP5_names_the_line_and_column_of_a_syntax_error(
    run_checks: RunChecks, env_file: EnvFile, tmp_path: Path
) -> None:
    (tmp_path / "wrangler.toml").write_text('name = "app"\n[vars]\nAPI = "https://x\n')
    run = run_checks("--diagnosis", "DEP5", env=wrangler_env(env_file))
    record = run.assert_outcome("DEP5", "wrangler", "failed", category="deployment", severity="medium")
    assert "is not valid TOML" in record["observed"] and "line 3, column" in record["observed"]


# --- DEP6 ----------------------------------------------------------------------------------------------


def bundle_env(env_file: EnvFile, path: str, extra: str = "") -> Path:
    return env_file(f"name: b\nkind: test\ndeployment:\n  bundle:\n    path: {path}\n{extra}")


def test_DEP6_passes_under_the_limit_and_sums_a_directory(
    run_checks: RunChecks, env_file: EnvFile, tmp_path: Path
) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "worker.js").write_text("export default {};\n" * 2000)
    (dist / "chunk.js").write_text("const a = 1;\n" * 1000)
    run = run_checks("--diagnosis", "DEP6", env=bundle_env(env_file, "dist"))
    record = run.assert_outcome("DEP6", "worker", "passed", category="deployment", severity="medium")
    assert "in 2 files: 49.8 KiB raw" in record["observed"] and "(judged: gzip)" in record["observed"]
    assert record["expected"] == "gzip size under 3,072 KiB"


def test_DEP6_fails_over_the_limit_naming_the_size(run_checks: RunChecks, env_file: EnvFile, tmp_path: Path) -> None:
    (tmp_path / "worker.js").write_bytes(os.urandom(300 * 1024))
    run = run_checks("--diagnosis", "DEP6", env=bundle_env(env_file, "worker.js", "    max_kb: 256\n"))
    record = run.assert_outcome("DEP6", "worker", "failed", category="deployment", severity="medium")
    assert "300.0 KiB raw" in record["observed"] and "gzip size under 256 KiB" in record["expected"]
    assert "Script exceeds size limit" in record["message"] and "Tree-shake" in record["message"]


def test_DEP6_fails_saying_build_first_without_a_bundle(run_checks: RunChecks, env_file: EnvFile) -> None:
    run = run_checks("--diagnosis", "DEP6", env=bundle_env(env_file, "dist/worker.js"))
    record = run.assert_outcome("DEP6", "worker", "failed", category="deployment", severity="medium")
    assert "no bundle" in record["observed"] and "build first" in record["message"]


# --- the demo's files and faults --------------------------------------------------------------------------


DEMO_DEPLOYMENT = """name: demo-deploy
kind: test
deployment:
  variables:
    names: [DATABASE_URL, JWT_SECRET, HEALTHSUITE_DEMO_DEPLOY_TOKEN]
    file: ${HEALTHSUITE_DEMO_DIR:-../.demo}/deploy/.env.production
  env_files:
    - name: backend
      example: ${HEALTHSUITE_DEMO_DIR:-../.demo}/deploy/.env.example
      deployed: ${HEALTHSUITE_DEMO_DIR:-../.demo}/deploy/.env.production
  wrangler:
    path: ${HEALTHSUITE_DEMO_DIR:-../.demo}/deploy/wrangler.toml
    route: booking.demo.test/*
    d1: [DB]
    kv: [SESSIONS]
  bundle:
    path: ${HEALTHSUITE_DEMO_DIR:-../.demo}/deploy/dist/worker.js
"""


TARGETS = {"DEP3": "variables", "DEP4": "backend", "DEP5": "wrangler", "DEP6": "worker"}
SEVERITY = {"DEP3": "high", "DEP4": "medium", "DEP5": "medium", "DEP6": "medium"}


def test_DEP3_DEP4_DEP5_DEP6_demo_files_pass_and_each_fault_fails_only_its_check(
    run_checks: RunChecks, env_file: EnvFile, stack: DemoStack
) -> None:
    files_config.prepare(stack)  # idempotent: the stack wrote them at start
    path = env_file(DEMO_DEPLOYMENT)
    args = ("--diagnosis", "DEP3,DEP4,DEP5,DEP6")
    run = run_checks(*args, env=path)
    for diagnosis, target in TARGETS.items():
        run.assert_outcome(diagnosis, target, "passed", category="deployment", severity=SEVERITY[diagnosis])
    stack.break_(list(TARGETS))
    run = run_checks(*args, env=path)
    for diagnosis, target in TARGETS.items():
        run.assert_outcome(diagnosis, target, "failed", category="deployment", severity=SEVERITY[diagnosis])
    assert "empty: HEALTHSUITE_DEMO_DEPLOY_TOKEN" in run.record("DEP3", "variables")["observed"]
    assert "LOG_LEVEL" in run.record("DEP4", "backend")["observed"]
    assert "D1 binding(s) DB not declared" in run.record("DEP5", "wrangler")["observed"]
    stack.heal()
    for diagnosis in TARGETS:  # one fault at a time fails its own check only
        stack.break_([diagnosis])
        run = run_checks(*args, env=path)
        for other, target in TARGETS.items():
            outcome = "failed" if other == diagnosis else "passed"
            run.assert_outcome(other, target, outcome, category="deployment", severity=SEVERITY[other])
        stack.heal()


# --- DEP2: deployed version -------------------------------------------------------------------------------


def test_DEP2_passes_with_the_expected_version_of_the_file(run_checks: RunChecks) -> None:
    run = run_checks("--diagnosis", "DEP2")
    record = run.assert_outcome("DEP2", "app", "passed", category="deployment", severity="high")
    assert record["observed"] == f"body.version = {VERSION!r}"


def test_DEP2_fails_when_the_old_build_is_served(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.break_(["DEP2"])
    run = run_checks("--diagnosis", "DEP2")
    record = run.assert_outcome("DEP2", "app", "failed", category="deployment", severity="high")
    assert OLD_VERSION in record["observed"] and VERSION in record["expected"]
    assert "another build is serving" in record["message"]


def test_DEP2_command_line_wins_over_variable_and_file(run_checks: RunChecks) -> None:
    run = run_checks(
        "--diagnosis", "DEP2", "--expected-version", "v9.9.9", environ={"HEALTHSUITE_EXPECTED_VERSION": VERSION}
    )
    record = run.assert_outcome("DEP2", "app", "failed", category="deployment", severity="high")
    assert record["expected"] == "'v9.9.9' (from --expected-version)"
    run = run_checks("--diagnosis", "DEP2", environ={"HEALTHSUITE_EXPECTED_VERSION": "v9.9.9"})
    assert run.record("DEP2", "app")["expected"] == "'v9.9.9' (from $HEALTHSUITE_EXPECTED_VERSION)"


def test_DEP2_reads_a_header_and_skips_without_an_expected_version(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    path = env_file(
        edge_env(
            stack,
            """versions:
  - {name: header, path: /api/health, header: content-type}
  - {name: unset, path: /api/version, json_path: commit}
""",
        )
    )
    run = run_checks("--diagnosis", "DEP2", env=path)
    unset = run.assert_outcome("DEP2", "unset", "skipped", category="deployment", severity="high")
    assert "no expected version: pass --expected-version" in unset["message"]
    run = run_checks("--diagnosis", "DEP2", "--expected-version", "application/json", env=path)
    run.assert_outcome("DEP2", "header", "passed", category="deployment", severity="high")
    record = run.assert_outcome("DEP2", "unset", "failed", category="deployment", severity="high")
    assert record["observed"] == "body.commit = '0f3c2a1'"
