"""The exit status by severity (--fail-on) and Nagios/Icinga mode (--nagios), run as a scheduler and
Icinga run them: pytest in a subprocess with a timeout, against a real local HTTP server and a
loopback port nothing listens on."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from healthsuite.outputs import junit
from healthsuite.outputs.nagios import nagios_status
from healthsuite.plugin.verdicts import below
from healthsuite.testing.ports import free_port
from tests.conftest import CHECKS, PROJECT
from tests.localhttp import serving


@pytest.fixture
def site() -> Iterator[str]:
    with serving() as url:
        yield url


def _env(tmp_path: Path, site: str, *, low_broken: bool = False, critical_broken: bool = False) -> Path:
    closed = f"http://127.0.0.1:{free_port()}"
    path = tmp_path / "env.yaml"
    path.write_text(f"""
name: verdicts
kind: test
timeouts: {{http_s: 2, connect_s: 1}}
pages:
  - {{name: home, url: "{closed if critical_broken else site}/", content_type: text/html}}
  - {{name: blog, url: "{closed if low_broken else site}/blog", content_type: text/html, severity: low}}
""")
    return path


def _run(tmp_path: Path, env: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), f"--env={env}", f"--reports-dir={tmp_path / 'reports'}",
         "-p", "no:cacheprovider", "--diagnosis", "AV1,AV3", *args],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
    )


def _case_properties(case: ET.Element) -> dict[str, str]:
    """A JUnit testcase's healthsuite properties, wherever healthsuite_junit_properties put them."""
    found = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
    found.update(junit.parse_lines("".join(out.text or "" for out in case.iter("system-out"))))
    return found


def _report(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "reports" / "latest.json").read_text())


def test_every_failure_fails_the_run_by_default(tmp_path: Path, site: str) -> None:
    done = _run(tmp_path, _env(tmp_path, site, low_broken=True))
    assert done.returncode == 1, done.stdout + done.stderr
    assert {r["outcome"] for r in _report(tmp_path)["checks"] if r["target"] == "blog"} == {"failed"}


def test_failures_below_fail_on_are_warnings_everywhere(tmp_path: Path, site: str) -> None:
    junit = tmp_path / "junit.xml"
    done = _run(tmp_path, _env(tmp_path, site, low_broken=True), "--fail-on", "high", f"--junitxml={junit}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 warned" in done.stdout and "WARNED low" in done.stdout
    report = _report(tmp_path)
    blog = [r for r in report["checks"] if r["target"] == "blog"]
    assert {r["outcome"] for r in blog} == {"warned"} and all("connection refused" in r["observed"] for r in blog)
    assert all("AV" in r["message"] for r in blog)  # the failure text is kept
    assert report["summary"]["warned"] == 2 and report["summary"]["failed"] == 0 and report["exit_status"] == 0
    cases = [c for c in ET.parse(junit).iter("testcase") if "blog" in c.get("name", "")]
    assert cases and all(c.find("failure") is None for c in cases)
    for case in cases:
        properties = _case_properties(case)
        assert properties["verdict"] == "warning" and "connection refused" in properties["observed"]


def test_a_failure_at_or_above_fail_on_still_fails(tmp_path: Path, site: str) -> None:
    done = _run(tmp_path, _env(tmp_path, site, critical_broken=True), "--fail-on", "high")
    assert done.returncode == 1, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("broken", "code", "state"),
    [({}, 0, "OK"), ({"low_broken": True}, 1, "WARNING"), ({"critical_broken": True, "low_broken": True}, 2, "CRITICAL")],
)
def test_nagios_mode_prints_one_status_line_and_exits_by_state(
    tmp_path: Path, site: str, broken: dict[str, bool], code: int, state: str
) -> None:
    done = _run(tmp_path, _env(tmp_path, site, **broken), "--nagios")
    assert done.returncode == code, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"HEALTHSUITE {state} - verdicts: "), lines
    text, perfdata = lines[0].split(" | ")
    assert "checks=4;;;0" in perfdata and "duration=" in perfdata
    # the broken pages share one closed port: one cause, its line and its consequences folded under it
    assert len(lines) == (3 if broken else 1), lines
    assert ("causes=1;;;0" if broken else "causes=0;;;0") in perfdata
    assert "test session starts" not in done.stdout  # pytest's own output is off


def test_nagios_mode_is_unknown_when_the_run_cannot_judge(tmp_path: Path, site: str) -> None:
    missing = _run(tmp_path, tmp_path / "nope.yaml", "--nagios")
    assert missing.returncode == 3 and missing.stdout.startswith("HEALTHSUITE UNKNOWN - usage error:"), missing.stdout
    assert "nope.yaml" in missing.stdout
    nothing = _run(tmp_path, _env(tmp_path, site), "--nagios", "-k", "no_check_has_this_name")
    assert nothing.returncode == 3 and nothing.stdout.startswith("HEALTHSUITE UNKNOWN - "), nothing.stdout


def test_the_verdicts_underneath() -> None:
    assert below("low", "high") and below("medium", "high") and not below("high", "high")
    assert not below("low", None) and not below("critical", "low")

    class Record:
        def __init__(self, severity: str, outcome: str) -> None:
            self.diagnosis, self.severity, self.target, self.outcome = "AV1", severity, "home", outcome

    code, lines = nagios_status("prod", [Record("low", "warned"), Record("high", "passed")], 1.0)
    assert code == 1 and lines[0].startswith("HEALTHSUITE WARNING - prod: 1 low failing")
