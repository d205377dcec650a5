"""Run-to-run changes: two and more real runs against one reports directory label each failure new,
persisting (since when, for how many runs) or flapping, and each check passing again recovered, in
the terminal, the JSON report, JUnit and the Allure results. A failure is keyed by what failed: the
same check failing on another subject is new."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

from healthsuite.demo.faults.logs import nginx_line
from healthsuite.outputs.history import FLAP_CHANGES, Past, change, identity_of, load, save
from tests.conftest import CHECKS, PROJECT
from tests.plugin.test_verdicts import _case_properties, _env, _report, _run, site  # noqa: F401 - site is the fixture the runs use


def _record(tmp_path: Path, diagnosis: str, target: str) -> dict:
    return next(r for r in _report(tmp_path)["checks"] if r["diagnosis"] == diagnosis and r["target"] == target)


def test_a_failure_is_new_then_persisting_then_recovered(tmp_path: Path, site: str) -> None:  # noqa: F811
    broken, healthy = _env(tmp_path, site, critical_broken=True), tmp_path / "healthy.yaml"
    alluredir = tmp_path / "allure"
    first = _run(tmp_path, broken, f"--alluredir={alluredir}")
    record = _record(tmp_path, "AV1", "home")
    assert record["change"] == "new" and record["failing_runs"] == 1, record
    assert "[new]" in first.stdout and _report(tmp_path)["summary"]["changes"] == {"new": 2}
    labels = [label for result in alluredir.glob("*-result.json")
              for label in json.loads(result.read_text()).get("labels", []) if label["name"] == "change"]
    assert labels and {label["value"] for label in labels} == {"new"}

    junit = tmp_path / "junit.xml"
    second = _run(tmp_path, broken, f"--junitxml={junit}")
    again = _record(tmp_path, "AV1", "home")
    assert again["change"] == "persisting" and again["failing_runs"] == 2
    assert again["failing_since"] == record["failing_since"]
    assert f"[persisting since {record['failing_since']}, 2 runs]" in second.stdout
    case = next(c for c in ET.parse(junit).iter("testcase") if c.get("name", "").endswith("[home]"))
    properties = _case_properties(case)
    assert properties["change"] == "persisting" and properties["failing_runs"] == "2"

    healthy.write_text(_env(tmp_path, site).read_text())
    third = _run(tmp_path, healthy)
    assert third.returncode == 0, third.stdout
    back = _record(tmp_path, "AV1", "home")
    assert back["outcome"] == "passed" and back["change"] == "recovered" and "failing_since" not in back
    assert "recovered since the last run: " in third.stdout and "AV1 home" in third.stdout, third.stdout[-1500:]
    fourth = _run(tmp_path, healthy)
    assert "change" not in _record(tmp_path, "AV1", "home") and "recovered" not in fourth.stdout


def test_a_check_that_keeps_changing_state_is_flapping(tmp_path: Path, site: str) -> None:  # noqa: F811
    broken = _env(tmp_path, site, critical_broken=True).read_text()
    healthy = _env(tmp_path, site).read_text()
    path = tmp_path / "flap.yaml"
    for run in range(FLAP_CHANGES + 2):  # F P F P F: more changes than FLAP_CHANGES
        path.write_text(broken if run % 2 == 0 else healthy)
        done = _run(tmp_path, path)
    assert _record(tmp_path, "AV1", "home")["change"] == "flapping"
    assert "[flapping:" in done.stdout


def test_an_unreadable_history_is_a_first_run(tmp_path: Path, site: str) -> None:  # noqa: F811
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "verdicts.history.json").write_text("{not json")
    done = _run(tmp_path, _env(tmp_path, site, critical_broken=True))
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert _record(tmp_path, "AV1", "home")["change"] == "new"


def test_the_labels_underneath() -> None:
    now = "2026-12-03T07:00:00+00:00"
    assert change(None, "F", now) is not None and change(None, "F", now).label == "new"  # type: ignore[union-attr]
    assert change(None, "P", now) is None
    persisting = change(Past("PFF", "2026-12-01T00:00:00+00:00"), "F", now)
    assert persisting is not None and (persisting.label, persisting.runs) == ("persisting", 3)
    assert persisting.since == "2026-12-01T00:00:00+00:00"
    assert change(Past("FS", "x"), "P", now).label == "recovered"  # type: ignore[union-attr]  # a skip is no change
    assert change(Past("FPFP"), "F", now).label == "flapping"  # type: ignore[union-attr]


# --- a failure is keyed by what failed ------------------------------------------------------------------


def _log_run(tmp_path: Path, env: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), f"--env={env}", f"--reports-dir={tmp_path / 'reports'}",
         "-p", "no:cacheprovider", "--diagnosis", "LOG3"],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
    )


def test_a_check_failing_on_another_subject_is_new(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    env = tmp_path / "proxy.yaml"
    env.write_text(f"name: proxy\nkind: test\nlogs:\n  - {{name: edge, path: {log}, format: nginx}}\n")

    def traffic(status: int, request_time: float) -> None:
        now = datetime.now(UTC)
        with open(log, "a") as handle:
            handle.writelines([nginx_line(now - timedelta(seconds=30), 200) for _ in range(20)]
                              + [nginx_line(now - timedelta(seconds=1), status, request_time=request_time)] * 5)

    traffic(502, 0.01)  # 5xx
    first = _log_run(tmp_path, env)
    record = _record(tmp_path, "LOG3", "edge")
    assert (record["outcome"], record["change"], record["facts"]["identity"]) == ("failed", "new", ["5xx"]), record
    assert "[new]" in first.stdout

    traffic(504, 0.01)  # more 5xx, other statuses and counts: the same failure going on
    second = _log_run(tmp_path, env)
    record = _record(tmp_path, "LOG3", "edge")
    assert (record["change"], record["failing_runs"]) == ("persisting", 2), record
    assert f"[persisting since {record['failing_since']}, 2 runs]" in second.stdout

    traffic(200, 9.5)  # no 5xx now, but slow: another failure of the same check
    third = _log_run(tmp_path, env)
    record = _record(tmp_path, "LOG3", "edge")
    assert record["facts"]["identity"] == ["slow requests"], record
    assert (record["outcome"], record["change"], record["failing_runs"]) == ("failed", "new", 1), record
    assert "[new]" in third.stdout and "[persisting" not in third.stdout, third.stdout[-2000:]
    since = record["failing_since"]

    traffic(200, 12.0)  # slower still: the same failure
    fourth = _log_run(tmp_path, env)
    record = _record(tmp_path, "LOG3", "edge")
    assert (record["change"], record["failing_runs"], record["failing_since"]) == ("persisting", 2, since), record
    assert f"[persisting since {since}, 2 runs]" in fourth.stdout
    kept = json.loads((tmp_path / "reports" / "proxy.history.json").read_text())["checks"]
    assert [v["states"] for v in kept.values()] == ["FFNF"] and all(v["identity"] for v in kept.values()), kept


def test_identities_underneath_and_a_history_without_them(tmp_path: Path) -> None:
    now, then = "2026-12-03T07:00:00+00:00", "2026-12-01T00:00:00+00:00"
    fk_a = identity_of({"identity": ["orders.customer_id", "items.order_id"], "count": 2})
    assert fk_a == identity_of({"identity": ["items.order_id", "orders.customer_id"], "count": 7})  # any order
    fk_b = identity_of({"identity": ["orders.customer_id", "payments.order_id"]})
    assert fk_a != fk_b and len(fk_a) == 12 and identity_of({"observed": "x"}) == "" == identity_of(None)
    same = change(Past("FF", then, fk_a), "F", now, fk_a)
    assert same is not None and (same.label, same.since, same.runs) == ("persisting", then, 3)
    other = change(Past("FF", then, fk_a), "F", now, fk_b)
    assert other is not None and (other.label, other.since, other.runs) == ("new", now, 1)
    # unknown on either side: compared as before, by check
    assert change(Past("FF", then), "F", now, fk_b).label == "persisting"  # type: ignore[union-attr]
    assert change(Past("FF", then, fk_a), "F", now, "").label == "persisting"  # type: ignore[union-attr]
    # a skip between two failures on different subjects: still another failure
    assert change(Past("FS", then, fk_a), "F", now, fk_b).label == "new"  # type: ignore[union-attr]

    # a history written before identities were kept reads, and its failures go on persisting
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "old.history.json").write_text(json.dumps(
        {"environment": "old", "updated": then, "checks": {"c1": {"states": "PFF", "since": then}}}))
    past = load(reports, "old")
    assert past["c1"] == Past("PFF", then, "")
    assert change(past["c1"], "F", now, fk_a).label == "persisting"  # type: ignore[union-attr]
    save(reports, "old", past, {"c1": "F"}, now, {"c1": fk_a})
    assert load(reports, "old")["c1"] == Past("PFFF", then, fk_a)
    save(reports, "old", load(reports, "old"), {"c1": "F"}, "2026-12-04T07:00:00+00:00", {"c1": fk_b})
    renewed = load(reports, "old")["c1"]
    assert renewed == Past("PFFFN", "2026-12-04T07:00:00+00:00", fk_b)
    assert change(renewed, "F", "2026-12-05T07:00:00+00:00", fk_b).runs == 2  # type: ignore[union-attr]
    assert change(renewed, "P", "2026-12-05T07:00:00+00:00").label == "recovered"  # type: ignore[union-attr]
