"""The lean run protocol of checks (healthsuite.plugin.protocol) changes nothing but the cost: the same
reports, JUnit and terminal outcomes as pytest's own protocol, output a check prints still reported,
marks honoured, and pytest's protocol wherever another plugin takes part in a test's phases."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from healthsuite.testing.asgi_server import ServedApp
from tests.conftest import RunChecks


def app() -> Starlette:
    async def ok(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def broken(request: Request) -> Response:
        return JSONResponse({"error": "down"}, status_code=502)

    return Starlette(routes=[Route("/", ok), Route("/broken", broken)])


def comparable(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What a run decided about each check, without its timings."""
    return sorted(
        (r["id"], r["outcome"], r["severity"], r["category"], re.sub(r"\d+", "N", r["observed"]), r["expected"],
         re.sub(r"\d+", "N", r["message"]))
        for r in report["checks"]
    )


def test_lean_and_pytests_protocol_report_the_same(run_checks: RunChecks, env_file: Callable[[str], Path]) -> None:
    with ServedApp(app()) as served:
        env = env_file(f"""
name: same
kind: test
base_urls: {{app: "{served.url}"}}
pages:
  - {{name: home, path: /, content_type: application/json}}
  - {{name: broken, path: /broken}}
""")
        lean = run_checks("--diagnosis", "AV1,AV3,PERF1,DEP1", env=env)
        plain = run_checks("--diagnosis", "AV1,AV3,PERF1,DEP1", "-o", "healthsuite_lean_protocol=false", env=env)
    assert lean.report["run"]["protocol"] == "lean"
    assert plain.report["run"]["protocol"] == "pytest's (ini healthsuite_lean_protocol is off)"
    assert comparable(lean.report) == comparable(plain.report)
    assert lean.report["summary"] == plain.report["summary"]
    strip = {"name", "observed", "facts", "failing_since"}  # timings (and the run's start) differ from run to run
    assert [{k: v for k, v in c.items() if k not in strip} for c in lean.junit] == [
        {k: v for k, v in c.items() if k not in strip} for c in plain.junit
    ]
    assert lean.result.parseoutcomes() == plain.result.parseoutcomes()
    assert lean.result.ret == plain.result.ret == pytest.ExitCode.TESTS_FAILED


CHECK_MODULE = '''
import pytest
from healthsuite import assessments, plans
from healthsuite.checkapi import check


@check("AV1", plan=plans.get)
def test_prints_and_fails(page, probes, expect):
    print("what the check printed")
    response = expect.reached(probes.http(page))
    expect.finding(assessments.page(page, response, expect.catalogue))
'''


def test_what_a_check_prints_is_reported_and_a_later_mark_is_honoured(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A team's own check that prints and fails: its output is in the failure's report, as under
    pytest's protocol. A skip mark another plugin adds after collection sends a check to pytest's
    protocol, which honours it."""
    with ServedApp(app()) as served:
        pytester.makefile(".yaml", env=f"""
name: own
kind: test
base_urls: {{app: "{served.url}"}}
pages: [{{name: broken, path: /broken}}, {{name: skipped, path: /}}]
""")
        pytester.makeconftest('''
import pytest
pytest_plugins = ["healthsuite.plugin"]

@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    for item in items:
        if item.callspec.id == "skipped":
            item.add_marker(pytest.mark.skip(reason="skipped by the team's conftest"))
''')
        pytester.makepyfile(test_own=CHECK_MODULE)
        result = pytester.runpytest("--env", "env.yaml", "-rs", "-p", "no:cacheprovider",
                                    "--reports-dir", str(pytester.path / "reports"))
    out = result.stdout.str()
    result.assert_outcomes(failed=1, skipped=1)
    assert "Captured stdout call" in out and "what the check printed" in out
    assert "skipped by the team's conftest" in out


def test_an_unknown_plugin_in_a_tests_phases_gets_pytests_protocol(
    run_checks: RunChecks, env_file: Callable[[str], Path], pytester: pytest.Pytester
) -> None:
    pytester.makepyfile(phase_plugin='''
def pytest_runtest_setup(item):
    item.config._phase_plugin_saw = True
''')
    pytester.syspathinsert()
    with ServedApp(app()) as served:
        env = env_file(f"""
name: plugin
kind: test
base_urls: {{app: "{served.url}"}}
pages: [{{name: home, path: /, content_type: application/json}}]
""")
        run = run_checks("--diagnosis", "AV1", "-p", "phase_plugin", env=env)
    assert run.result.ret == pytest.ExitCode.OK, run.output
    assert run.report["run"]["protocol"] == (
        "pytest's (plugin 'phase_plugin' takes part in each test's pytest_runtest_setup)"
    )
