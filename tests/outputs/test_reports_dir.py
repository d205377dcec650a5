"""Where the run's files go: a reports directory that cannot be written is a usage error named with its
fix, after every check ran and every other output was written; the history survives damage and
concurrent runs; every report file is group-readable only. pytest runs as a scheduler runs it (a
subprocess with a timeout) against a loopback HTTP server."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from healthsuite.testing.ports import free_port
from tests.conftest import CHECKS, PROJECT
from tests.localhttp import serving


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Path]:
    """`home` answers; `blog` is a closed port (its AV1 fails)."""
    with serving() as site:
        path = tmp_path / "env.yaml"
        path.write_text(f"""
name: places
kind: test
timeouts: {{http_s: 2, connect_s: 1}}
pages:
  - {{name: home, url: "{site}/", content_type: text/html}}
  - {{name: blog, url: "http://127.0.0.1:{free_port()}/blog", content_type: text/html}}
""")
        yield path


def _run(env: Path, reports: Path, *args: str, cwd: Path = PROJECT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), f"--env={env}", f"--reports-dir={reports}",
         "-p", "no:cacheprovider", "--diagnosis", "AV1", *args],
        cwd=cwd, capture_output=True, text=True, timeout=120,
    )


def _unusable(tmp_path: Path, how: str) -> Path:
    """A reports directory that cannot take files: a regular file, a dangling link, an immutable directory."""
    place = tmp_path / "reports"
    if how == "a file":
        place.write_text("not a directory\n")
    elif how == "a dangling link":
        place.symlink_to(tmp_path / "gone")
    else:
        place.mkdir()
        done = subprocess.run(["chattr", "+i", str(place)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"chattr +i is not available here ({done.stderr.strip()}): no read-only directory for root")
    return place


@pytest.mark.parametrize("how", ["a file", "a dangling link", "read-only"])
def test_an_unwritable_reports_directory_is_a_usage_error_after_every_other_output(
    tmp_path: Path, env: Path, how: str
) -> None:
    place = _unusable(tmp_path, how)
    page, textfile = tmp_path / "out" / "report.html", tmp_path / "out" / "healthsuite.prom"
    try:
        done = _run(env, place, f"--html-report={page}", f"--prom-textfile={textfile}")
        nagios = _run(env, place, "--nagios")
    finally:
        if how == "read-only":
            subprocess.run(["chattr", "-i", str(place)], check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 4, output
    assert "Traceback" not in output and "INTERNALERROR" not in output
    assert "1 failed, 1 passed" in done.stdout  # every check ran, and the verdict is unchanged
    assert f"healthsuite: reports directory unusable: {place}" in done.stdout
    assert "fix: make" in done.stdout and "--reports-dir DIR" in done.stdout
    assert page.is_file() and "blog" in page.read_text()  # the other outputs are written all the same
    assert 'healthsuite_run_exit_status{environment="places"} 4.0' in textfile.read_text()
    assert nagios.returncode == 3, nagios.stdout + nagios.stderr
    first = nagios.stdout.splitlines()[0]
    assert first.startswith("HEALTHSUITE UNKNOWN - ") and "reports directory unusable" in first


def test_a_damaged_history_is_a_first_run_and_the_run_says_so(tmp_path: Path, env: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "places.history.json").write_text("[" * 200_000 + "]" * 200_000)  # deep: RecursionError
    done = _run(env, reports)
    assert done.returncode == 1 and "INTERNALERROR" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert "healthsuite: history: " in done.stdout and "this run counts as the first" in done.stdout
    history = json.loads((reports / "places.history.json").read_text())  # written anew, whole
    assert [v["states"] for v in history["checks"].values()] == ["F"]
    again = _run(env, reports)
    assert again.returncode == 1 and "history:" not in again.stdout


def test_concurrent_runs_into_one_directory_keep_every_state(tmp_path: Path, env: Path) -> None:
    """Five runs at once: the history is merged under a lock, so it holds five states, not the last writer's."""
    reports = tmp_path / "reports"
    command = [sys.executable, "-m", "pytest", str(CHECKS), f"--env={env}", f"--reports-dir={reports}",
               "-p", "no:cacheprovider", "--diagnosis", "AV1", "-q"]
    runs = [subprocess.Popen(command, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            for _ in range(5)]
    for run in runs:
        assert run.wait(timeout=180) == 1, run.stdout.read() if run.stdout else ""
        if run.stdout:
            run.stdout.close()
    history = json.loads((reports / "places.history.json").read_text())
    assert [v["states"] for v in history["checks"].values()] == ["FFFFF"]
    assert len(list(reports.glob("places-*.json"))) == 5  # five reports, and the glob finds nothing else


def test_every_report_file_is_group_readable_only(tmp_path: Path, env: Path) -> None:
    reports = tmp_path / "reports"
    page, junit = tmp_path / "report.html", tmp_path / "junit.xml"
    done = _run(env, reports, f"--html-report={page}", f"--junitxml={junit}")
    assert done.returncode == 1, done.stdout + done.stderr
    files = [*reports.iterdir(), page, junit]
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {p.name: 0o640 for p in files}
    assert not [p for p in reports.iterdir() if p.name.startswith(".")]  # no lock or temporary file left


def test_one_output_failing_loses_no_other_and_changes_no_verdict(tmp_path: Path, env: Path) -> None:
    """The HTML page's path is a directory: the page is not written and says why; the JSON report, the
    textfile and JUnit are, and the run's exit status is the checks' own."""
    reports, page, textfile = tmp_path / "reports", tmp_path / "page.html", tmp_path / "m" / "healthsuite.prom"
    page.mkdir()
    junit = tmp_path / "junit.xml"
    done = _run(env, reports, f"--html-report={page}", f"--prom-textfile={textfile}", f"--junitxml={junit}")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"healthsuite: HTML report NOT WRITTEN: {page} is not a directory" not in done.stdout
    assert "healthsuite: HTML report NOT WRITTEN: " in done.stdout and "Traceback" not in done.stdout
    assert json.loads((reports / "latest.json").read_text())["exit_status"] == 1
    assert 'healthsuite_run_exit_status{environment="places"} 1.0' in textfile.read_text()
    assert "AV1 page blog [critical]" in junit.read_text()


def test_a_full_reports_directory_is_a_usage_error_naming_it(tmp_path: Path, env: Path) -> None:
    """A reports directory on a full file system (a 64 KiB tmpfs filled up, in a mount namespace of its own)."""
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("no mount namespace can be made here (unshare -m): no full file system to try")
    full = tmp_path / "full"
    full.mkdir()
    script = (f'mount -t tmpfs -o size=64k tmpfs "{full}" && '
              f'(dd if=/dev/zero of="{full}/filler" bs=4k 2>/dev/null || true) && exec "$@"')
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", sys.executable, "-m", "pytest",
         str(CHECKS), f"--env={env}", f"--reports-dir={full}", "-p", "no:cacheprovider", "--diagnosis", "AV1"],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
    )
    if "mount:" in done.stderr and done.returncode != 4:
        pytest.skip(f"tmpfs cannot be mounted here: {done.stderr.strip()[:200]}")
    assert done.returncode == 4, done.stdout + done.stderr
    assert "1 failed, 1 passed" in done.stdout and "Traceback" not in done.stdout + done.stderr
    assert f"healthsuite: reports directory unusable: {full} cannot be written: the file system is full" in done.stdout
