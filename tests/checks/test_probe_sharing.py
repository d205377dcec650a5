"""Probe once, assert many: every URL of a run is requested once whatever number of checks judge it
(also under -n), and a selection probes only what its checks need."""

from __future__ import annotations

import pytest

from healthsuite.demo.stack import DemoStack
from tests.conftest import RunChecks

# --- probe once, assert many --------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [[], ["-n", "2", "--keep-workers"]], ids=["serial", "xdist"])
def test_each_url_is_requested_once_per_run(run_checks: RunChecks, stack: DemoStack, workers: list[str]) -> None:
    """Also under -n: every check of one target runs on one worker, and targets that share a URL
    (the health endpoint and its proxied path) are one unit of work."""
    run = run_checks(*workers)
    assert set(run.result.parseoutcomes()) == {"passed"}, run.output  # every check of demo.yaml, all passing
    # One request per URL, whatever number of checks judge it: AV1, AV3, PERF1 and DEP1 share the GET
    # of the home page, AV2, AV3, PERF1, NET8, DEP1 that of the health endpoint. The exceptions are
    # different requests: a CORS preflight per origin plus a foreign one (NET7), the unsigned and the
    # wrongly signed event besides the signed one (PAY3, PAY2), AUTH3's five bad tokens, the calendar
    # with its token (EXT1) and without it (EXT3), and PERF2's deliberate samples.
    latency_samples = 10  # thresholds.PERF2.samples
    several = {
        "OPTIONS /api/appointments": 2,
        "POST /api/webhooks/paystack": 3,
        "GET /api/auth/me": 5,
        "GET /__calendar/calendar/v3/users/me/calendarList": 2,
        "GET /api/availability": latency_samples,
    }
    requests = dict(stack.faults.requests)
    assert {path: n for path, n in requests.items() if path in several} == several
    assert {path: n for path, n in requests.items() if path not in several and n != 1} == {}
    for path in ("GET /", "GET /api/health", "POST /api/book", "GET /metrics", "GET /__oidc/.well-known/openid-configuration"):
        assert requests.get(path) == 1, path


def test_a_selection_probes_only_what_its_checks_need(run_checks: RunChecks, stack: DemoStack) -> None:
    """Probes start ahead of the checks, but only for the selected checks' targets."""
    run = run_checks("--diagnosis", "AV1")
    assert run.result.parseoutcomes()["passed"] == 2 and "failed" not in run.result.parseoutcomes()
    assert dict(stack.faults.requests) == {"GET /": 1, "GET /book/instylehairboutique": 1}


def test_a_category_selection_probes_only_its_targets(run_checks: RunChecks, stack: DemoStack) -> None:
    """`-m payments` sends requests to the payment provider and the webhook, nothing else."""
    run = run_checks("-m", "payments")
    assert "failed" not in run.result.parseoutcomes(), run.output
    requests = dict(stack.faults.requests)
    assert requests and all("paystack" in path for path in requests), requests
