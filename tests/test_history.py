"""Run-to-run changes: two and more real runs against one reports directory label each failure new,
persisting (since when, for how many runs) or flapping, and each check passing again recovered, in
the terminal, the JSON report, JUnit and the Allure results."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from healthsuite.outputs.history import FLAP_CHANGES, Past, change

from .test_verdicts import _case_properties, _env, _report, _run, site  # noqa: F401 - site is the fixture the runs use


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
