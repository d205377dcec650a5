"""Progress on a long run, end to end: pytest in a subprocess against a real local HTTP server whose
one page answers after 8 s says once what it waits on (that page, with its elapsed time); a run where
everything answers at once, and a --nagios run however long it waits, say nothing of the kind."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.conftest import CHECKS, PROJECT
from tests.localhttp import Answer, serving

SLOW_S = 8.0  # past the 5 s after which a waiting run speaks, well short of a second line (15 s)


def _answer(request: BaseHTTPRequestHandler) -> Answer:
    """A small HTML page; under /slow only after SLOW_S."""
    if request.path.startswith("/slow"):
        time.sleep(SLOW_S)
    return Answer()


@pytest.fixture
def site() -> Iterator[str]:
    with serving(_answer) as url:
        yield url


def _env(tmp_path: Path, site: str, *, slow: bool) -> Path:
    path = tmp_path / "env.yaml"
    path.write_text(f"""
name: progress
kind: test
timeouts: {{http_s: 2, connect_s: 1}}
pages:
  - {{name: home, url: "{site}/", content_type: text/html}}
  - {{name: slow, url: "{site}/{'slow' if slow else 'fast'}", content_type: text/html, timeout_s: 15}}
""")
    return path


def _run(tmp_path: Path, env: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), f"--env={env}", f"--reports-dir={tmp_path / 'reports'}",
         "-p", "no:cacheprovider", "--diagnosis", "AV1", *args],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
    )


def _waiting_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "waiting on" in line]


# the lean protocol, and pytest's own with its output capture (the line is written past it)
@pytest.mark.parametrize("protocol", [(), ("-o", "healthsuite_lean_protocol=off")], ids=["lean", "pytest"])
def test_a_run_waiting_long_on_a_probe_says_once_what_it_waits_on(
    tmp_path: Path, site: str, protocol: tuple[str, ...]
) -> None:
    done = _run(tmp_path, _env(tmp_path, site, slow=True), *protocol)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    lines = _waiting_lines(done.stdout)
    assert len(lines) == 1, output
    found = re.fullmatch(r"healthsuite: waiting on 1 exchange: pages/slow (\d+\.\d) s", lines[0])
    assert found, lines[0]
    assert 5.0 <= float(found.group(1)) < 15.0, lines[0]  # it spoke after 5 s of waiting, once
    report = json.loads((tmp_path / "reports" / "latest.json").read_text())
    assert {r["target"]: r["outcome"] for r in report["checks"]} == {"home": "passed", "slow": "passed"}


def test_a_run_where_everything_answers_at_once_says_nothing(tmp_path: Path, site: str) -> None:
    done = _run(tmp_path, _env(tmp_path, site, slow=False))
    assert done.returncode == 0, done.stdout + done.stderr
    assert _waiting_lines(done.stdout + done.stderr) == []


def test_nagios_mode_says_nothing_however_long_it_waits(tmp_path: Path, site: str) -> None:
    done = _run(tmp_path, _env(tmp_path, site, slow=True), "--nagios")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _waiting_lines(done.stdout + done.stderr) == []
    assert len(done.stdout.strip().splitlines()) == 1, done.stdout  # Nagios's one line, nothing else
