"""Skipped is not green: a target whose checks were all skipped for an unset secret is not judged, and a
run that judged nothing else wrong says so with its own exit status (6), and UNKNOWN in Nagios mode,
unless the user says skips are fine (--allow-skips, ini healthsuite_allow_skips). Run as a scheduler runs
it: pytest in a subprocess, against a real local HTTP server; the database's password variable is unset,
so no connection is attempted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from healthsuite.outputs.nagios import nagios_status
from healthsuite.testing.ports import free_port
from tests.conftest import CHECKS, PROJECT
from tests.localhttp import serving

UNSET = "HS_TEST_SKIPNOTGREEN_PASSWORD"


@pytest.fixture
def site() -> Iterator[str]:
    with serving() as url:
        yield url


def _env(tmp_path: Path, site: str, *, database: bool = True, page_broken: bool = False) -> Path:
    page = f"http://127.0.0.1:{free_port()}" if page_broken else site
    path = tmp_path / "env.yaml"
    databases = (
        f"databases:\n  - {{name: main, engine: postgresql, dsn: \"postgresql://monitor:${{{UNSET}}}@127.0.0.1:"
        f"{free_port()}/app\"}}\n"
        if database else ""
    )
    path.write_text(f"""
name: skipnot
kind: test
timeouts: {{http_s: 2, connect_s: 1}}
pages:
  - {{name: home, url: "{page}/", content_type: text/html}}
{databases}""")
    return path


def _run(tmp_path: Path, env: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != UNSET and not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), f"--env={env}", f"--reports-dir={tmp_path / 'reports'}",
         "-p", "no:cacheprovider", "-p", "no:randomly", *args],
        cwd=PROJECT, capture_output=True, text=True, timeout=300, env=environ,
    )


def _report(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "reports" / "latest.json").read_text())


def test_a_target_whose_checks_all_skipped_for_an_unset_secret_is_not_green(tmp_path: Path, site: str) -> None:
    env = _env(tmp_path, site)
    done = _run(tmp_path, env, "-m", "database")
    assert done.returncode == 6, done.stdout + done.stderr
    assert "failed" not in done.stdout.splitlines()[-1]
    assert "healthsuite: NOT JUDGED databases main: all " in done.stdout, done.stdout
    assert f"{UNSET} is not set" in done.stdout
    assert "1 target not judged: exit status 6" in done.stdout
    report = _report(tmp_path)
    assert report["exit_status"] == 6 and report["summary"]["passed"] == 0 and report["summary"]["skipped"] > 1
    (unjudged,) = report["run"]["not_judged"]
    assert (unjudged["target"], unjudged["target_kind"]) == ("main", "databases")
    assert 1 < unjudged["checks"] <= report["summary"]["skipped"]  # the others: nothing declared (pools, schema)
    assert any(f"{UNSET} is not set" in reason for reason in unjudged["reasons"])
    assert report["run"]["skips_allowed"] is False

    nagios = _run(tmp_path, env, "-m", "database", "--nagios")
    assert nagios.returncode == 3, nagios.stdout + nagios.stderr
    first, *long_output = nagios.stdout.splitlines()
    assert first.startswith("HEALTHSUITE UNKNOWN - skipnot: 1 target not judged, all checks skipped: databases main ")
    assert "not_judged=1;;;0" in first.split(" | ")[1]
    assert long_output and long_output[0].startswith("NOT JUDGED databases main: all ")


def test_the_user_may_say_skips_are_fine(tmp_path: Path, site: str) -> None:
    env = _env(tmp_path, site)
    allowed = _run(tmp_path, env, "-m", "database", "--allow-skips")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "skips are allowed (--allow-skips)" in allowed.stdout  # still said, not hidden
    report = _report(tmp_path)
    assert report["exit_status"] == 0 and report["run"]["skips_allowed"] is True and report["run"]["not_judged"]
    by_ini = _run(tmp_path, env, "-m", "database", "--nagios", "-o", "healthsuite_allow_skips=true")
    assert by_ini.returncode == 0 and by_ini.stdout.startswith("HEALTHSUITE OK - skipnot: "), by_ini.stdout


def test_a_judged_target_beside_it_does_not_make_the_run_green(tmp_path: Path, site: str) -> None:
    """The page was judged (AV1 passed), the database was not: still status 6; a failure wins over it."""
    done = _run(tmp_path, _env(tmp_path, site), "--diagnosis", "AV1,DB2")
    assert done.returncode == 6, done.stdout + done.stderr
    report = _report(tmp_path)
    assert report["summary"]["passed"] >= 1 and [t["target"] for t in report["run"]["not_judged"]] == ["main"]
    broken = _run(tmp_path, _env(tmp_path, site, page_broken=True), "--diagnosis", "AV1,DB2", "--nagios")
    assert broken.returncode == 2 and broken.stdout.startswith("HEALTHSUITE CRITICAL - skipnot: 1 target not judged")


def test_nothing_declared_or_deselected_is_not_a_target_left_unjudged(tmp_path: Path, site: str) -> None:
    """Skips for "no databases declared" are the file's choice: exit 0."""
    done = _run(tmp_path, _env(tmp_path, site, database=False), "-m", "database")
    assert done.returncode == 0, done.stdout + done.stderr
    report = _report(tmp_path)
    assert report["summary"]["skipped"] >= 1 and report["run"]["not_judged"] == []
    assert "NOT JUDGED" not in done.stdout


def test_the_nagios_state_underneath() -> None:
    class Entry:
        def __init__(self, outcome: str, severity: str = "critical") -> None:
            self.diagnosis, self.severity, self.target, self.outcome = "DB1", severity, "main", outcome

    unjudged = [{"target": "main", "target_kind": "databases", "checks": 2, "reasons": ["PW is not set: set it"]}]
    assert nagios_status("e", [Entry("skipped")], 0.1)[0] == 0
    code, lines = nagios_status("e", [Entry("skipped"), Entry("skipped")], 0.1, not_judged=unjudged)
    assert code == 3 and lines[0].startswith("HEALTHSUITE UNKNOWN - e: 1 target not judged")
    assert lines[1] == "NOT JUDGED databases main: all 2 checks skipped: PW is not set: set it"
    assert nagios_status("e", [Entry("warned", "low")], 0.1, not_judged=unjudged)[0] == 3  # above WARNING
    assert nagios_status("e", [Entry("failed")], 0.1, not_judged=unjudged)[0] == 2  # CRITICAL stays
