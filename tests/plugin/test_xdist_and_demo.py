"""Whole runs in subprocesses: `-n 2` gives the same report as a serial run, written once by the
controller; and the README's demo command works end to end, healthy and broken."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from healthsuite.demo.faults.registry import FAULTS, MASKING_FAULTS
from healthsuite.demo.stack import PORT_VARIABLES, DemoStack
from healthsuite.testing.ports import free_port
from tests.conftest import CHECKS, PROJECT, _parse_junit


def _comparable(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    def normal(text: str) -> str:
        return re.sub(r"\d+ ms", "N ms", text)

    # a passing check's observed value carries timings (NET4, PERF1) that differ from run to run
    return [
        (r["id"], r["diagnosis"], r["category"], r["severity"], r["target"], r["outcome"],
         normal(r["observed"]) if r["outcome"] != "passed" else "", r["expected"])
        for r in report["checks"]
    ]



def test_xdist_run_matches_the_serial_run(pytester: pytest.Pytester, stack: DemoStack, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in stack.environ().items():
        monkeypatch.setenv(key, value)
    stack.break_(["AV3", "CACHE1"])
    reports: dict[str, dict[str, Any]] = {}
    junit: dict[str, list[tuple[str, ...]]] = {}
    for mode, extra in (("serial", []), ("xdist", ["-n", "2", "--keep-workers"])):
        directory = pytester.path / mode
        result = pytester.runpytest_subprocess(
            str(CHECKS), "--env", "demo", "--reports-dir", str(directory), f"--junitxml={directory}.xml", *extra
        )
        assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
        files = sorted(p.name for p in directory.iterdir())
        # written once, by the controller: the report, latest.json and the run-to-run history
        assert files[1:] == ["demo.history.json", "latest.json"] and files[0].startswith("demo-2"), files
        reports[mode] = json.loads((directory / "latest.json").read_text())
        junit[mode] = sorted(
            (case["name"], case["diagnosis"], case["category"], case["severity"], case["target"], case["outcome"])
            for case in _parse_junit(Path(f"{directory}.xml"))
        )
    assert _comparable(reports["xdist"]) == _comparable(reports["serial"])
    assert reports["xdist"]["summary"] == reports["serial"]["summary"]
    # AV3's fault breaks the appointments API, so its CORS preflight (NET7) fails too; CACHE1's stops Redis,
    # which fails its port (AV4) and every other Redis check (AUTH7, CACHE2, PERF7)
    assert reports["xdist"]["summary"]["failed_diagnoses"] == ["AUTH7", "AV3", "AV4", "CACHE1", "CACHE2", "NET7", "PERF7"]
    assert junit["xdist"] == junit["serial"] and len(junit["serial"]) == len(reports["serial"]["checks"])  # properties survive -n


def test_one_connection_per_database_even_under_xdist(
    pytester: pytest.Pytester, stack: DemoStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every check of `booking` shares one read-only connection; -n sends them all to one worker."""
    for key, value in stack.environ().items():
        monkeypatch.setenv(key, value)
    assert stack.postgres is not None
    log = stack.postgres.logfile
    before = log.read_text(errors="replace").count("connection authorized: user=healthsuite database=booking")
    result = pytester.runpytest_subprocess(str(CHECKS), "--env", "demo", "-n", "2", "--keep-workers", "-m", "database")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    after = log.read_text(errors="replace").count("connection authorized: user=healthsuite database=booking")
    assert after - before == 1, f"{after - before} connections to booking in one run"


def _demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "HEALTHSUITE_DEMO_DIR": str(tmp_path / "demo"),
        **{variable: str(free_port()) for variable in PORT_VARIABLES.values()},
    }
    return subprocess.run(
        [sys.executable, "-m", "healthsuite.demo", "run", *args], cwd=PROJECT, env=environ,
        capture_output=True, text=True, timeout=120,
    )


def test_demo_run_passes_the_critical_checks(tmp_path: Path) -> None:
    done = _demo(tmp_path, "--", "-m", "critical", "--reports-dir", str(tmp_path / "reports"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"=+ \d+ passed, \d+ deselected in", done.stdout), done.stdout  # passed only
    assert "demo: stopped" in done.stdout


def test_demo_with_postgres_stopped_fails_db1_naming_the_kind_and_the_fix(tmp_path: Path) -> None:
    done = _demo(tmp_path, "--break", "DB1", "--", "--diagnosis", "DB1", "--reports-dir", str(tmp_path / "reports"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "observed:    connection refused: nothing accepted the connection at 127.0.0.1:" in done.stdout
    assert "pg_isready" in done.stdout and "escalate:" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_demo_break_all_shows_every_fault_at_once(tmp_path: Path) -> None:
    """`--break all`: every diagnosis with a demo fault fails, in one run (DB1/DB2/CACHE1 would mask the rest)."""
    done = _demo(tmp_path, "--break", "all", "--", "--reports-dir", str(tmp_path / "reports"), "-p", "no:cacheprovider")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    report = json.loads((tmp_path / "reports" / "latest.json").read_text())
    failed = set(report["summary"]["failed_diagnoses"])
    expected = set(FAULTS) - set(MASKING_FAULTS)
    assert expected <= failed, f"not failing under --break all: {sorted(expected - failed)}"
    assert report["platform_incident"] is not None  # AV5 is broken too
    # Redis stays up: its other checks fail with their own faults, not behind "connection refused"
    for record in report["checks"]:
        if record["diagnosis"] in ("CACHE2", "PERF7", "AUTH7"):
            assert record["outcome"] == "failed" and "refused" not in record["observed"], record


def test_minus_n_runs_the_checks_in_one_process_and_says_why(
    pytester: pytest.Pytester, stack: DemoStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`-n 2` cannot beat one process for checks (the controller costs more per check than a check):
    the run stays in one process, with the same report, and the header says so."""
    for key, value in stack.environ().items():
        monkeypatch.setenv(key, value)
    result = pytester.runpytest_subprocess(str(CHECKS), "--env", "demo", "-n", "2", "-m", "availability",
                                           "-p", "no:cacheprovider")
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.OK, out
    assert "healthsuite: -n 2 not used: the checks of demo run in this one process" in out
    assert "--keep-workers keeps them" in out
    assert "gw0" not in out and "workers" not in out.split("not used")[0]  # no xdist worker started
    kept = pytester.runpytest_subprocess(str(CHECKS), "--env", "demo", "-n", "2", "--keep-workers",
                                         "-m", "availability", "-p", "no:cacheprovider")
    assert kept.ret == pytest.ExitCode.OK and "2 workers" in kept.stdout.str(), kept.stdout.str()
