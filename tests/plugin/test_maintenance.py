"""Maintenance windows end to end: pytest in a subprocess against a loopback port nothing listens on (AV1
fails), with a real webhook receiver, run after run; only the clock is simulated (HEALTHSUITE_NOW).
A failure inside a window is recorded as `maintenance` in every output and not announced; once the
window is over it is a failure, announced by the next run's notice."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from lxml import etree

from healthsuite.environment.loader import load_environment
from healthsuite.environment.problems import EnvironmentFileError
from healthsuite.testing.ports import free_port
from tests.conftest import CHECKS, PROJECT
from tests.localhttp import serving
from tests.webhooks import Receiver

START = "2026-12-24T22:00:00+01:00"  # the window: 22:00 to 23:00 Berlin time, 21:00Z to 22:00Z
WINDOW = f"""maintenance:
  - name: db-upgrade
    reason: CHG-1234 PostgreSQL 17 upgrade
    targets: [home]
    from: {START}
    to: 2026-12-24T23:00:00+01:00
"""
CHECK = "checks/test_availability.py::test_page_answers_with_expected_status_and_type[home]"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


@pytest.fixture
def site() -> Iterator[str]:
    with serving() as url:  # every path: 200, a small HTML page
        yield url


def _env(tmp_path: Path, receiver: Receiver, *, page: str | None = None, window: str = WINDOW) -> Path:
    """The check's page is `page` (a healthy one), or a closed port: a failure."""
    url = page if page is not None else f"http://127.0.0.1:{free_port()}"
    path = tmp_path / "env.yaml"
    path.write_text(f"""
name: windows
kind: test
timeouts: {{http_s: 2, connect_s: 1}}
pages:
  - {{name: home, url: "{url}/", content_type: text/html}}
notify: [{{name: oncall, url: "{receiver.url}/hook", format: json}}]
{window}
""")
    return path


def _run(tmp_path: Path, env: Path, now: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), f"--env={env}", f"--reports-dir={tmp_path / 'reports'}",
         "-p", "no:cacheprovider", "--diagnosis", "AV1", "--notify", *args],
        cwd=PROJECT, capture_output=True, text=True, timeout=120, env={**os.environ, "HEALTHSUITE_NOW": now},
    )


def _record(tmp_path: Path) -> dict[str, Any]:
    report = json.loads((tmp_path / "reports" / "latest.json").read_text())
    return next(c for c in report["checks"] if c["id"] == CHECK)


def _hooks(receiver: Receiver) -> list[dict[str, Any]]:
    return [p["body"] for p in receiver.posts if p["path"] == "/hook"]


def test_a_failure_in_a_window_is_expected_then_announced_at_its_end(tmp_path: Path, receiver: Receiver) -> None:
    env = _env(tmp_path, receiver)
    junit, prom = tmp_path / "junit.xml", tmp_path / "hs.prom"
    inside = _run(tmp_path, env, "2026-12-24T22:10:00+01:00", f"--junitxml={junit}", f"--prom-textfile={prom}",
                  f"--html-report={tmp_path / 'report.html'}")
    assert inside.returncode == 0, inside.stdout + inside.stderr  # expected: it does not fail the run
    assert _hooks(receiver) == []  # and nobody is called
    record = _record(tmp_path)
    assert record["outcome"] == "maintenance"
    assert record["maintenance"] == {"name": "db-upgrade", "reason": "CHG-1234 PostgreSQL 17 upgrade",
                                     "until": "2026-12-24T22:00:00+00:00"}
    assert "connection refused" in record["message"]  # the failure is never hidden
    assert "MAINTENANCE" in inside.stdout and "1 maintenance" in inside.stdout
    assert "failed during maintenance db-upgrade" in inside.stdout
    assert "nothing new to announce" in inside.stdout
    assert ("healthsuite: maintenance window db-upgrade open until 2026-12-24T22:00:00+00:00: CHG-1234 PostgreSQL "
            "17 upgrade") in inside.stdout
    assert "healthsuite: the run's clock starts at 2026-12-24T21:10:" in inside.stdout
    case = next(c for c in ET.parse(junit).getroot().iter("testcase") if "AV1" in c.get("name", ""))
    assert case.find("failure") is None and case.find("error") is None  # it passes
    out = "".join(o.text or "" for o in case.iter("system-out"))
    assert "verdict: maintenance" in out and "db-upgrade" in out and "connection refused" in out
    schema = etree.XMLSchema(etree.parse(str(PROJECT / "tests" / "schemas" / "junit-10.xsd")))
    assert schema.validate(etree.parse(str(junit))), schema.error_log
    report = json.loads((tmp_path / "reports" / "latest.json").read_text())
    jsonschema.Draft202012Validator(json.loads((PROJECT / "docs" / "report.schema.json").read_text())).validate(report)
    assert report["summary"]["maintenance"] == 1 and report["summary"]["failed"] == 0
    metrics = prom.read_text()
    assert 'healthsuite_checks{environment="windows",outcome="maintenance"} 1.0' in metrics
    window = next(line for line in metrics.splitlines() if line.startswith("healthsuite_check_maintenance{"))
    assert 'window="db-upgrade"' in window and 'target="home"' in window and window.endswith(" 1.7981496e+09")
    lint = subprocess.run(["/usr/bin/promtool", "check", "metrics"], input=metrics, capture_output=True, text=True,
                          timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "failed during maintenance" in (tmp_path / "report.html").read_text()

    nagios = _run(tmp_path, env, "2026-12-24T22:30:00+01:00", "--nagios")
    assert nagios.returncode == 0, nagios.stdout + nagios.stderr  # OK
    assert nagios.stdout.startswith("HEALTHSUITE OK - windows: 0 checks passed, 1 in maintenance")
    assert " maintenance=1;;;0 " in nagios.stdout and "MAINTENANCE critical AV1 home" in nagios.stdout
    assert _hooks(receiver) == []

    after = _run(tmp_path, env, "2026-12-24T23:00:00+01:00")  # the window's end: it is over
    assert after.returncode == 1, after.stdout + after.stderr
    assert _record(tmp_path)["outcome"] == "failed" and "maintenance" not in _record(tmp_path)
    hooks = _hooks(receiver)
    assert len(hooks) == 1 and [f["id"] for f in hooks[0]["failures"]] == [CHECK]  # announced as new

    again = _run(tmp_path, env, "2026-12-24T23:10:00+01:00")
    assert again.returncode == 1 and len(_hooks(receiver)) == 1  # announced once


def test_an_announced_failure_in_a_window_stays_announced_without_a_recovery(
    tmp_path: Path, receiver: Receiver, site: str
) -> None:
    env = _env(tmp_path, receiver)
    before = _run(tmp_path, env, "2026-12-24T21:50:00+01:00")
    assert before.returncode == 1 and len(_hooks(receiver)) == 1, before.stdout + before.stderr
    inside = _run(tmp_path, env, "2026-12-24T22:10:00+01:00")
    assert inside.returncode == 0 and _record(tmp_path)["outcome"] == "maintenance"
    assert len(_hooks(receiver)) == 1  # no recovery is told
    state = json.loads((tmp_path / "reports" / "windows.notified.json").read_text())
    assert list(state["announced"]) == [CHECK]  # it stays announced
    after = _run(tmp_path, env, "2026-12-24T23:05:00+01:00")
    assert after.returncode == 1, after.stdout
    hooks = _hooks(receiver)  # announced before: not again, but reminded (critical: every 30 min)
    assert len(hooks) == 2 and hooks[1]["failures"] == [] and [r["id"] for r in hooks[1]["reminders"]] == [CHECK]
    still = hooks[1]["reminders"][0]["still"]  # each run's clock runs on while it runs: within a minute
    assert re.fullmatch(r"still failing for 1 h 1[456] min since 2026-12-24 20:5[01] UTC", still), still
    healthy = _run(tmp_path, _env(tmp_path, receiver, page=site), "2026-12-24T23:15:00+01:00")
    assert healthy.returncode == 0, healthy.stdout
    hooks = _hooks(receiver)
    assert len(hooks) == 3 and [r["id"] for r in hooks[2]["recoveries"]] == [CHECK]


def test_a_passing_check_in_a_window_passes(tmp_path: Path, receiver: Receiver, site: str) -> None:
    done = _run(tmp_path, _env(tmp_path, receiver, page=site), "2026-12-24T22:10:00+01:00")
    assert done.returncode == 0 and _record(tmp_path)["outcome"] == "passed" and "maintenance" not in _record(tmp_path)


def test_a_fail_on_warning_in_a_window_is_maintenance_too(tmp_path: Path, receiver: Receiver) -> None:
    env = _env(tmp_path, receiver)
    env.write_text(env.read_text().replace("content_type: text/html}", "content_type: text/html, severity: low}"))
    inside = _run(tmp_path, env, "2026-12-24T22:10:00+01:00", "--fail-on", "high")
    assert inside.returncode == 0 and _record(tmp_path)["outcome"] == "maintenance", inside.stdout
    after = _run(tmp_path, env, "2026-12-24T23:10:00+01:00", "--fail-on", "high")
    assert after.returncode == 0 and _record(tmp_path)["outcome"] == "warned", after.stdout


def test_a_recurring_window_over_midnight_covers_the_next_morning(tmp_path: Path, receiver: Receiver) -> None:
    nightly = ("maintenance:\n  - {name: nightly, reason: backups, categories: [availability], every: [thu],\n"
               "     between: \"23:00-01:00\", timezone: Europe/Berlin}\n")
    env = _env(tmp_path, receiver, window=nightly)
    inside = _run(tmp_path, env, "2026-12-25T00:30:00+01:00")  # Friday 00:30, the Thursday occurrence
    assert inside.returncode == 0, inside.stdout + inside.stderr
    assert _record(tmp_path)["maintenance"]["until"] == "2026-12-25T00:00:00+00:00"
    assert _run(tmp_path, env, "2026-12-25T01:00:00+01:00").returncode == 1


def test_a_bad_clock_is_a_usage_error(tmp_path: Path, receiver: Receiver) -> None:
    done = _run(tmp_path, _env(tmp_path, receiver), "2026-12-24T22:10:00")
    assert done.returncode == 4 and "HEALTHSUITE_NOW" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(("window", "said"), [
    ("  - {name: a, reason: r, targets: [home], from: 2026-12-24T23:00:00+01:00, to: 2026-12-24T22:00:00+01:00}",
     "ends (2026-12-24T22:00:00+01:00) before it starts"),
    ("  - {name: a, reason: r, targets: [home], from: 2026-12-24T23:00:00, to: 2026-12-24T23:30:00}",
     "timezone"),
    ("  - {name: a, reason: r, targets: [home], between: \"02:00-04:00\", timezone: Mars/Olympus}",
     "'Mars/Olympus' is not a known time zone"),
    ("  - {name: a, reason: r, targets: [home], between: \"2am-4am\", timezone: UTC}", "is not a range of hours"),
    ("  - {name: a, reason: r, diagnoses: [DB99], between: \"02:00-04:00\", timezone: UTC}",
     "unknown diagnosis 'DB99'"),
    ("  - {name: a, reason: r, diagnoses: [ACME-1], between: \"02:00-04:00\", timezone: UTC}",
     "unknown diagnosis 'ACME-1'"),  # a team's own: judged against its diagnoses_file
    ("  - {name: a, reason: r, categories: [databse], between: \"02:00-04:00\", timezone: UTC}",
     "unknown category 'databse'"),
    ("  - {name: a, reason: r, targets: [hom], between: \"02:00-04:00\", timezone: UTC}", "did you mean home?"),
    ("  - {name: a, reason: r, between: \"02:00-04:00\", timezone: UTC}", "selects no check"),
    ("  - {name: a, reason: r, targets: [home], every: [sun]}", "has no `between`"),
    ("  - {name: a, reason: r, targets: [home], between: \"02:00-04:00\", timezone: UTC}\n"
     "  - {name: a, reason: r, targets: [home], between: \"05:00-06:00\", timezone: UTC}", "used twice"),
])
def test_a_bad_window_names_file_key_and_line(tmp_path: Path, window: str, said: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nkind: test\npages: [{name: home, url: 'http://127.0.0.1:1/'}]\n"
                    f"maintenance:\n{window}\n")
    with pytest.raises(EnvironmentFileError) as caught:
        load_environment(path)
    text = str(caught.value)
    assert said in text and "bad.yaml" in text and "maintenance" in text and f"line {5 + window.count(chr(10))}" in text, text


def test_a_run_with_a_bad_window_exits_4(tmp_path: Path, receiver: Receiver) -> None:
    bad = "maintenance:\n  - {name: a, reason: r, targets: [home], between: \"02:00-04:00\", timezone: Nowhere/X}\n"
    done = _run(tmp_path, _env(tmp_path, receiver, window=bad), START)
    assert done.returncode == 4 and "Nowhere/X" in done.stderr and "Traceback" not in done.stderr


def test_at_most_100_windows(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    windows = "".join(f"  - {{name: w{i}, reason: r, targets: [home], between: \"02:00-04:00\", timezone: UTC}}\n"
                      for i in range(101))
    path.write_text(f"name: many\nkind: test\npages: [{{name: home, url: 'http://127.0.0.1:1/'}}]\nmaintenance:\n{windows}")
    with pytest.raises(EnvironmentFileError, match="maintenance"):
        load_environment(path)
