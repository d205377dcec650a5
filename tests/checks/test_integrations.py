"""Mirrors checks/test_integrations.py. EXT1-EXT3 against the demo's calendar, Sentry and e-mail
stand-ins (their healthy and faulty demo runs are in test_performance.py, shared with PERF2, PERF3,
PERF7 and CACHE2): other failures are named, unset tokens skip naming the variable, wrong tokens fail
and stay secret, a literal token is refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from healthsuite.demo.app import ops as app_ops
from healthsuite.demo.faults.switches import Fault
from healthsuite.demo.stack import DemoStack
from healthsuite.testing.ports import free_port
from tests.checks.support import CALENDAR_TOKEN, SENTRY_TOKEN, assert_no_token_leaks, environ, ops_env
from tests.conftest import RunChecks

# --- PERF3, EXT1, EXT3, PERF2: the other answers ------------------------------------------------------------


def test_EXT1_EXT3_PERF2_PERF3_other_failures_are_named(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path], tokens: dict[str, str]
) -> None:
    closed = free_port()
    app = f"https://127.0.0.1:{stack.ports.https}"
    body = """  - name: renamed
    requests_metric: booking_requests_total
    duration_metric: null
    memory_metric: null
  - name: code-label
    status_label: code
    duration_metric: booking_latency_seconds
    max_resident_memory_mb: 1
"""
    integrations = f"""integrations:
  calendar:
    url: {app}{app_ops.CALENDAR_LIST}
    token: ${{{app_ops.CALENDAR_TOKEN_VARIABLE}}}
  dependencies:
    - {{name: refused, url: "https://127.0.0.1:{closed}/v1/status", budget_ms: 500}}
    - {{name: strict, url: "{app}{app_ops.CALENDAR_LIST}", expect_status: 200}}
"""
    text = ops_env(stack, integrations=integrations).replace("metrics:\n  - name: app\n", "metrics:\n  - name: app\n" + body)
    text = text.replace(
        "latency:\n", f"latency:\n  - {{name: failing, path: /api/appointments, samples: 4}}\n"
        f"  - {{name: down, url: 'https://127.0.0.1:{closed}/', samples: 3, concurrency: 3}}\n",
    )
    stack.faults.set_mode("metrics_latency", "slow")
    stack.faults.set_mode("metrics_memory", "high")
    stack.faults.set_mode("calendar", "no_scope")
    stack.faults.set("/api/appointments", Fault(status=503))
    run = run_checks("--diagnosis", "PERF3,EXT1,EXT3,PERF2", env=env_file(text), environ=environ(stack, tokens))

    app_record = run.assert_outcome("PERF3", "app", "failed", category="performance", severity="high")
    assert "request-duration p95 2125 ms over 5000 requests" in app_record["observed"]
    assert "resident memory 3.2 GiB" in app_record["observed"]
    renamed = run.assert_outcome("PERF3", "renamed", "failed", category="performance", severity="high")
    assert renamed["observed"].startswith("no request counter booking_requests_total in the scrape")
    assert "`metrics[renamed].requests_metric`" in renamed["message"]
    code = run.assert_outcome("PERF3", "code-label", "failed", category="performance", severity="high")
    assert "no histogram booking_latency_seconds" in code["observed"] and "5xx 0.2 %" in code["observed"]  # `status`
    assert "resident memory" in code["observed"] and "`metrics[code-label].duration_metric`" in code["message"]

    ext1 = run.assert_outcome("EXT1", "calendar", "failed", category="integrations", severity="medium")
    assert "HTTP 403" in ext1["observed"] and "insufficientPermissions" in ext1["observed"]
    assert "lacks the Calendar scope" in ext1["message"]
    refused = run.assert_outcome("EXT3", "refused", "failed", category="integrations", severity="medium")
    assert refused["observed"].startswith("connection refused")
    strict = run.assert_outcome("EXT3", "strict", "failed", category="integrations", severity="medium")
    assert strict["observed"].startswith("HTTP 401 in ") and "Unauthorized" in strict["message"]

    failing = run.assert_outcome("PERF2", "failing", "failed", category="performance", severity="high")
    # a failed sample decides the failure (the success rate cannot reach 99 %): the rest are not sent
    taken = failing["facts"]["samples"]
    assert f"0 of {taken} succeeded (0 %); failed: HTTP 503 x{taken}" in failing["observed"], failing["observed"]
    assert taken == 4 or f"sampling stopped after {taken} of 4 samples" in failing["observed"]
    assert "the success rate cannot reach 99 %" in failing["observed"] or taken == 4
    down = run.assert_outcome("PERF2", "down", "failed", category="performance", severity="high")
    assert down["observed"].startswith("none of ") and "connection refused x" in down["observed"]
    run.assert_outcome("PERF2", "availability", "passed", category="performance", severity="high")


# --- secrets: unset, wrong, literal -------------------------------------------------------------------------


def test_EXT1_EXT2_unset_tokens_skip_naming_the_variable(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    run = run_checks("--diagnosis", "EXT1,EXT2", "-rs", env=env_file(ops_env(stack)), environ=environ(stack))
    run.assert_outcome("EXT1", "calendar", "skipped", category="integrations", severity="medium")
    run.assert_outcome("EXT2", "sentry", "skipped", category="integrations", severity="medium")
    assert app_ops.CALENDAR_TOKEN_VARIABLE in run.output and app_ops.SENTRY_TOKEN_VARIABLE in run.output


def test_EXT1_EXT2_wrong_tokens_fail_and_stay_secret(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path], tmp_path: Path
) -> None:
    wrong = {app_ops.CALENDAR_TOKEN_VARIABLE: CALENDAR_TOKEN, app_ops.SENTRY_TOKEN_VARIABLE: SENTRY_TOKEN}
    run = run_checks("--diagnosis", "EXT1,EXT2", "-rA", env=env_file(ops_env(stack)), environ=environ(stack, wrong))
    run.assert_outcome("EXT1", "calendar", "failed", category="integrations", severity="medium")
    ext2 = run.assert_outcome("EXT2", "sentry", "failed", category="integrations", severity="medium")
    assert ext2["observed"].startswith("HTTP 401") and "rejects the API token" in ext2["message"]
    assert_no_token_leaks(run.output, tmp_path, run.reports_dir)


def test_EXT1_a_literal_token_is_refused_with_its_fix(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    text = ops_env(stack).replace(f"${{{app_ops.CALENDAR_TOKEN_VARIABLE}}}", "ya29.pasted-token")
    run = run_checks("--diagnosis", "EXT1", env=env_file(text), environ=environ(stack))
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "integrations.calendar" in run.output and "a token is written literally" in run.output
    assert "${VARIABLE_NAME}" in run.output
