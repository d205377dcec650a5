"""The pytest plugin, tested with pytester: --env resolution, bad input, markers and selection,
severity overrides seen by -m, mutating checks, reports, secrets, and collection without sockets."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from healthsuite.demo.faults.switches import Fault
from healthsuite.demo.stack import DemoStack
from healthsuite.testing.ports import free_port
from tests.conftest import CHECKS, PROJECT, RunChecks

ENVIRONMENTS = PROJECT / "environments"


def contains(lines: pytest.LineMatcher, *parts: str) -> None:
    """Every part occurs in the output, in order (plain substrings: ids contain brackets)."""
    text = lines.str()
    position = 0
    for part in parts:
        found = text.find(part, position)
        assert found >= 0, f"{part!r} not found (in order) in:\n{text}"
        position = found + len(part)


# --- choosing the environment ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _demo_yaml_loads(demo_ca_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests here run `--env demo` without the demo; the ones with it set HEALTHSUITE_DEMO_DIR again."""
    monkeypatch.setenv("HEALTHSUITE_DEMO_DIR", str(demo_ca_dir))


def test_env_by_name_is_shown_in_the_header(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(str(CHECKS), "--env", "production", "--collect-only")
    assert result.ret == 0
    contains(result.stdout, f"healthsuite: environment production (production) from {ENVIRONMENTS / 'production.yaml'} [selected by --env]")


def test_env_from_variable_and_ini(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALTHSUITE_ENV", "staging")
    result = pytester.runpytest(str(CHECKS), "--collect-only")
    contains(result.stdout, "healthsuite: environment staging (staging) from", "[selected by HEALTHSUITE_ENV]")
    monkeypatch.delenv("HEALTHSUITE_ENV")
    result = pytester.runpytest(str(CHECKS), "--collect-only", "-o", "healthsuite_env=local")
    contains(result.stdout, "healthsuite: environment local (development) from", "[selected by ini healthsuite_env]")
    monkeypatch.setenv("HEALTHSUITE_ENV", "staging")
    result = pytester.runpytest(str(CHECKS), "--collect-only", "--env", "demo")
    contains(result.stdout, "healthsuite: environment demo (demo) from", "[selected by --env]")


def test_a_bare_pytest_in_the_checkout_is_a_usage_error_listing_the_environments() -> None:
    """No environment is checked unless named: a bare `pytest` probes neither production's domains nor
    whatever listens on localhost's 5432, 6379 and 3000 (local.yaml), but says how to choose."""
    environ = {k: v for k, v in os.environ.items() if k not in ("HEALTHSUITE_ENV", "PYTEST_ADDOPTS")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider"], cwd=PROJECT,
                          capture_output=True, text=True, timeout=120, env=environ)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout[-2000:] + done.stderr[-2000:]
    available = ", ".join(sorted(p.stem for p in ENVIRONMENTS.glob("*.yaml")))
    assert "no environment selected: name the one to check with --env NAME" in done.stderr, done.stderr
    assert "HEALTHSUITE_ENV=NAME, e.g. `pytest --env demo`" in done.stderr
    assert f"available: {available} (in {ENVIRONMENTS})" in done.stderr, done.stderr
    assert "passed" not in done.stdout and "failed" not in done.stdout


def test_env_by_path(pytester: pytest.Pytester) -> None:
    path = pytester.path / "mine.yaml"
    path.write_text("kind: test\n")
    result = pytester.runpytest(str(CHECKS), "--env", "mine.yaml", "--collect-only")
    contains(result.stdout, f"healthsuite: environment mine (test) from {path} [selected by --env]")


def test_unknown_env_is_a_usage_error_listing_the_available_ones(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(str(CHECKS), "--env", "prod")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    # environments/ as it is now: the shipped four, and any file `python -m healthsuite init` wrote there
    available = sorted(p.stem for p in ENVIRONMENTS.glob("*.yaml"))
    assert {"demo", "local", "production", "staging"} <= set(available)
    result.stderr.fnmatch_lines([f"*no environment named 'prod'*available: {', '.join(available)};*"])


def test_malformed_env_file_stops_the_run_before_collection(pytester: pytest.Pytester) -> None:
    path = pytester.path / "broken.yaml"
    path.write_text("name: broken\nkind: test\ndatabses: []\n")
    result = pytester.runpytest(str(CHECKS), "--env", str(path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        f"ERROR: {path}: invalid environment file (1 problem)",
        "  line 3: databses: unknown key",
        "    fix: did you mean `databases`? *",
        "(environment selected by --env)",
    ])
    assert "collected" not in result.stdout.str()


def test_malformed_env_file_stops_an_xdist_run_before_workers_start(pytester: pytest.Pytester) -> None:
    path = pytester.path / "broken.yaml"
    path.write_text("name: broken\nkind: test\ntimeouts: {http_s: soon}\n")
    result = pytester.runpytest_subprocess(str(CHECKS), "--env", str(path), "-n", "2", "--keep-workers")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*line 3: timeouts.http_s: *(got 'soon')*"])
    assert "created:" not in result.stdout.str()  # xdist never started a worker


# --- selection ---------------------------------------------------------------------------------------


def test_unknown_marker_in_m_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(str(CHECKS), "--env", "demo", "-m", "paymnts or critical")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown marker 'paymnts' (did you mean 'payments'?)*"])


def test_unknown_diagnosis_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(str(CHECKS), "--env", "demo", "--diagnosis", "AV9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--diagnosis: unknown diagnosis ID AV9*"])


def test_diagnosis_selects_exactly_and_marker_kwargs_work(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(str(CHECKS), "--env", "demo", "--diagnosis", "db1", "--collect-only", "-q")
    contains(result.stdout, "test_database_answers_select_1[booking]", "test_database_answers_select_1[d1]")
    assert re.search(r"^2/\d+ tests collected", result.stdout.str(), re.M)
    result = pytester.runpytest(str(CHECKS), "--env", "demo", "-m", "diagnosis(id='AV2')", "--collect-only", "-q")
    contains(result.stdout, "test_health_endpoint_is_healthy[api]")
    assert re.search(r"^1/\d+ tests collected", result.stdout.str(), re.M)


def test_a_run_that_selects_no_check_is_an_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(str(CHECKS), "--env", "demo", "-m", "backups and network", "--reports-dir", "out")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.re_match_lines([r"healthsuite: no check selected: \d+ checks were collected for demo, and -m 'backups and network' deselected all of them.*"])
    assert not (pytester.path / "out").exists()


def test_severity_override_is_visible_to_m(pytester: pytest.Pytester) -> None:
    env = pytester.path / "override.yaml"
    env.write_text(textwrap.dedent("""
        kind: staging
        base_urls: {app: "https://staging.invalid"}
        pages:
          - {name: home, path: /}
          - {name: blog, path: /blog, severity: low}
        severity_overrides: {AV3: medium, AV1: high}
    """))
    collect = lambda *args: pytester.runpytest(str(CHECKS), "--env", str(env), "--collect-only", "-q", *args).stdout.str()
    high = collect("-m", "high")
    assert "test_page_answers_with_expected_status_and_type[home]" in high and "[blog]" not in high
    low = collect("-m", "low")
    assert "test_page_answers_with_expected_status_and_type[blog]" in low
    assert "test_endpoint_answers_without_server_error[page-blog]" in low  # the target's own severity wins
    medium = collect("-m", "medium")
    assert "test_endpoint_answers_without_server_error[page-home]" in medium
    critical = collect("-m", "critical and availability")
    assert "test_page_answers" not in critical and "test_endpoint_answers" not in critical


# --- checks written by a team: mutating checks, secrets in output ------------------------------------


def _project(pytester: pytest.Pytester, checks: str) -> None:
    pytester.makeconftest('pytest_plugins = ["healthsuite.plugin"]')
    pytester.makeini("[pytest]\nstrict_markers = true\n")
    pytester.makepyfile(test_team_checks=checks)


MUTATING = """
from healthsuite.checkapi import check

@check("PAY6", mutating=True)
def test_initialize_test_transaction(expect):
    pass
"""


@pytest.mark.parametrize(("kind", "allow", "outcome"), [("staging", "false", "skipped"), ("staging", "true", "passed")])
def test_mutating_checks_need_allow_mutating(pytester: pytest.Pytester, kind: str, allow: str, outcome: str) -> None:
    _project(pytester, MUTATING)
    (pytester.path / "env.yaml").write_text(f"kind: {kind}\nallow_mutating: {allow}\n")
    result = pytester.runpytest("--env", "env.yaml", "-rs")
    result.assert_outcomes(**{outcome: 1})
    if outcome == "skipped":
        result.stdout.fnmatch_lines(["*mutating check refused: env.yaml does not allow mutating checks (kind staging, allow_mutating: false)*"])
    report = json.loads((pytester.path / "reports" / "latest.json").read_text())
    assert report["checks"][0]["diagnosis"] == "PAY6" and report["checks"][0]["outcome"] == outcome


SECRET_CHECK = """
import logging, os
from healthsuite.checkapi import check
from healthsuite.assessments.failure import Finding

@check("DEP3")
def test_leaky(expect, healthsuite_env):
    token = healthsuite_env.resolve(healthsuite_env.model.caches[0].password)
    print("stdout carries", token)
    logging.getLogger("team").warning("log carries %s", token)
    expect.finding(Finding(ok=False, observed=f"token {token} rejected", expected=f"token {token} accepted",
                           facts={"sent": {"authorization": f"Bearer {token}"}}))
"""


def test_secrets_never_reach_output_reports_or_junit(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cr3t-TOKEN-value-4242"
    monkeypatch.setenv("TEAM_REDIS_PASSWORD", secret)
    _project(pytester, SECRET_CHECK)
    (pytester.path / "env.yaml").write_text(
        "kind: test\ncaches:\n  - {name: c, url: 'redis://127.0.0.1:1/0', password: '${TEAM_REDIS_PASSWORD}'}\n"
    )
    result = pytester.runpytest(
        "--env", "env.yaml", "--junitxml=junit.xml", "-o", "junit_logging=all", "-rA", "--alluredir=allure", "-vv"
    )
    result.assert_outcomes(failed=1)
    assert "token *** rejected" in result.stdout.str()
    everything = result.stdout.str() + result.stderr.str()
    for path in sorted(pytester.path.rglob("*")):
        if path.is_file() and path.suffix in (".json", ".xml", ".txt"):
            everything += path.read_text(errors="replace")
    assert secret not in everything
    assert "stdout carries ***" in (pytester.path / "junit.xml").read_text()
    report = json.loads((pytester.path / "reports" / "latest.json").read_text())
    assert report["checks"][0]["facts"] == {"sent": {"authorization": "Bearer ***"}}  # facts are redacted too


# --- reports -----------------------------------------------------------------------------------------


def test_json_report_has_records_and_summary(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.faults.set("/api/employees", Fault(status=502))
    run = run_checks()
    report = run.report
    assert report["environment"]["name"] == "demo" and report["environment"]["selected_by"] == "--env"
    summary = report["summary"]
    assert summary["total"] == len(report["checks"]) and (summary["passed"], summary["failed"]) == (summary["total"] - 1, 1)
    assert summary["by_category"]["availability"] == {"passed": 13, "failed": 1, "error": 0, "warned": 0, "maintenance": 0,
                                                       "skipped": 0, "retried": 0}
    assert summary["by_severity"]["critical"]["failed"] == 1 and summary["failed_diagnoses"] == ["AV3"]
    assert report["platform_incident"] is None
    record = run.record("AV3", "employees")
    assert set(record) == {"id", "diagnosis", "category", "severity", "target", "target_kind", "outcome", "observed",
                           "expected", "duration_s", "message", "runbook", "facts", "likely_platform_incident",
                           "change", "failing_since", "failing_runs",  # a first run: the failure is new
                           "causes", "remediation", "escalation"}  # its failure block's advice, as data
    assert record["change"] == "new" and summary["changes"] == {"new": 1}
    assert record["id"].endswith("test_endpoint_answers_without_server_error[endpoint-employees]")
    assert record["runbook"][0].startswith("000 ")
    files = sorted(p.name for p in run.reports_dir.iterdir() if p.name != "demo.history.json")
    assert len(files) == 2 and files[1] == "latest.json" and files[0].startswith("demo-2"), files
    assert (run.reports_dir / files[0]).read_text() == (run.reports_dir / "latest.json").read_text()


def test_allure_results_carry_labels(run_checks: RunChecks, tmp_path: Path) -> None:
    run_checks("--diagnosis", "CACHE1", f"--alluredir={tmp_path / 'allure'}")
    results = [json.loads(p.read_text()) for p in (tmp_path / "allure").glob("*-result.json")]
    assert len(results) == 1
    labels = {(label["name"], label["value"]) for label in results[0]["labels"]}
    assert {("feature", "cache"), ("diagnosis", "CACHE1"), ("severity", "critical"), ("healthsuite_severity", "high"),
            ("tag", "CACHE1")} <= labels


# --- collection never touches the network ------------------------------------------------------------

NO_SOCKETS = """
import sys
LOG = {log!r}
def _audit(event, args):
    if event.startswith("socket.") or event in ("ssl.wrap_socket",):
        with open(LOG, "a") as handle:
            handle.write(f"{{event}} {{args!r}}\\n")
        raise RuntimeError(f"healthsuite opened a socket during collection: {{event}}")
sys.addaudithook(_audit)
"""


@pytest.mark.parametrize("env", ["production", "staging"])
def test_collect_only_against_production_opens_no_socket(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, env: str) -> None:
    log = pytester.path / "sockets.log"
    (pytester.path / "nosockets.py").write_text(NO_SOCKETS.format(log=str(log)))
    monkeypatch.setenv("PYTHONPATH", f"{pytester.path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    result = pytester.runpytest_subprocess("-p", "nosockets", str(CHECKS), "--env", env, "--collect-only", "-q")
    assert result.ret == 0, result.stderr.str()
    assert not log.exists(), log.read_text()
    contains(result.stdout, "test_page_answers_with_expected_status_and_type[home]", "test_post_deploy_smoke[page-home]")


def test_a_program_that_runs_pytest_main_gets_its_garbage_collection_back(tmp_path: Path) -> None:
    """Start-up objects are frozen out of garbage collection for the run (gc.freeze); a program that
    calls pytest.main() goes on afterwards, so they are unfrozen when the run ends."""
    env = tmp_path / "ports.yaml"
    env.write_text(f"name: ports\nkind: test\nports: [{{name: closed, address: '127.0.0.1:{free_port()}'}}]\n")
    code = (
        "import gc, sys, pytest\n"
        f"code = pytest.main([{str(CHECKS)!r}, '--env', {str(env)!r}, '--diagnosis', 'AV4', '-q', "
        f"'-p', 'no:cacheprovider', '--reports-dir', {str(tmp_path / 'reports')!r}])\n"
        "assert code == 1, code  # AV4 fails: nothing listens\n"
        "assert gc.get_freeze_count() == 0, gc.get_freeze_count()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]



def test_the_garbage_collector_is_paused_while_the_run_starts_and_runs_with_the_checks(pytester: pytest.Pytester) -> None:
    """Start-up (imports, the environment, collection) creates objects, not garbage: the collector is
    paused from the plugin's import until the checks run (healthsuite.runner.collector)."""
    pytester.makepyfile(test_gc="""
        import gc
        AT_COLLECTION = gc.isenabled()

        def test_collector() -> None:
            assert (AT_COLLECTION, gc.isenabled()) == (False, True)
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", "test_gc.py")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("args", [["--env", "no/such/file.yaml"], ["--help"], ["--collect-only", "-q"]],
                         ids=["usage-error", "help", "collect-only"])
def test_a_program_that_runs_pytest_main_gets_its_garbage_collector_back_whatever_the_run_did(
    tmp_path: Path, args: list[str]
) -> None:
    """The plugin pauses the collector when it is imported; a run that ends before its checks (a usage
    error, --help, --collect-only) still gives it back to a program that goes on."""
    code = (
        "import gc, sys, pytest\n"
        f"code = pytest.main([{str(CHECKS)!r}, *{args!r}, '-p', 'no:cacheprovider', "
        f"'--reports-dir', {str(tmp_path / 'reports')!r}])\n"
        "assert gc.isenabled(), code\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

EDITABLE_RUN = '''
import importlib.util, sys
project = sys.argv[1]
class Finder:  # as setuptools' editable finder: the packages are found by name, not on sys.path
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        where = {"healthsuite": f"{project}/healthsuite", "healthsuite_checks": f"{project}/checks"}.get(fullname)
        if where is None:
            return None
        return importlib.util.spec_from_file_location(fullname, f"{where}/__init__.py", submodule_search_locations=[where])
sys.meta_path.insert(0, Finder)
import pytest
sys.exit(pytest.main(sys.argv[2:]))
'''


def test_the_plugin_loads_without_an_assertion_rewrite_warning(tmp_path: Path) -> None:
    """pytest loads the plugin from its entry point, as from an editable install (`pip install -e`),
    and marks each module of its pytest_plugins for rewriting: none may have been imported before."""
    (tmp_path / "run.py").write_text(EDITABLE_RUN)
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS", "HEALTHSUITE_ENV")}
    done = subprocess.run(
        [sys.executable, "run.py", str(PROJECT), "-W", "error::pytest.PytestAssertRewriteWarning", "-p", "no:cacheprovider",
         "--collect-only", "-q", "--env", str(ENVIRONMENTS / "production.yaml"), str(CHECKS)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env=environ,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "tests collected" in output, output[-3000:]
    assert "AssertRewriteWarning" not in output, output[-3000:]
    assert f"{PROJECT}/healthsuite/plugin" in subprocess.run(
        [sys.executable, "-c", EDITABLE_RUN.split("import pytest")[0] + "import healthsuite.plugin; print(healthsuite.plugin.__file__)",
         str(PROJECT)], cwd=tmp_path, capture_output=True, text=True, timeout=60, env=environ).stdout
