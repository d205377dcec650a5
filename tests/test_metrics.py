"""Prometheus metrics (healthsuite.outputs.prometheus): the textfile checked by promtool, the shipped alerting
rules checked and unit-tested by promtool, and a push read back through a real Pushgateway scraped
by a real Prometheus. pytest runs in a subprocess against a local HTTP server and a closed port."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import prometheus_client
import pytest

from healthsuite.demo.services import free_port
from healthsuite.outputs.prometheus import registry
from healthsuite.outputs.records import CheckRecord

from .conftest import CHECKS, PROJECT
from .localhttp import serving

PROMTOOL = Path("/usr/bin/promtool")
PROMETHEUS = Path("/usr/bin/prometheus")
PUSHGATEWAY = Path("/usr/bin/prometheus-pushgateway")
RULES = PROJECT / "examples" / "prometheus" / "healthsuite-rules.yml"
RULES_TEST = PROJECT / "examples" / "prometheus" / "healthsuite-rules.test.yml"
FAILING = 'healthsuite_check_success{category="availability",check="test_page_answers_with_expected_status_and_type"'


def _needs(*binaries: Path) -> pytest.MarkDecorator:
    missing = [str(b) for b in binaries if not b.exists()]
    return pytest.mark.skipif(
        bool(missing), reason=f"{', '.join(missing)} not installed (scripts/install.sh installs Debian's "
        "prometheus and prometheus-pushgateway)",
    )


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Path]:
    """`home` answers; `blog` is a closed port (its AV1 and AV3 fail)."""
    with serving() as site:
        closed = f"http://127.0.0.1:{free_port()}"
        path = tmp_path / "env.yaml"
        path.write_text(f"""
name: metrics
kind: test
timeouts: {{http_s: 2, connect_s: 1}}
pages:
  - {{name: home, url: "{site}/", content_type: text/html}}
  - {{name: blog, url: "{closed}/blog", content_type: text/html}}
""")
        yield path


def _run(tmp_path: Path, env: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), f"--env={env}", f"--reports-dir={tmp_path / 'reports'}",
         "-p", "no:cacheprovider", "--diagnosis", "AV1,AV3", *args],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
    )


def _series(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


@_needs(PROMTOOL)
def test_the_textfile_passes_promtool_and_has_one_series_per_check(tmp_path: Path, env: Path) -> None:
    out = tmp_path / "textfile" / "healthsuite.prom"
    done = _run(tmp_path, env, f"--prom-textfile={out}")
    assert done.returncode == 1, done.stdout + done.stderr  # blog's checks fail; the metrics change nothing
    assert f"healthsuite: metrics written to {out}" in done.stdout
    text = out.read_text()
    lint = subprocess.run([str(PROMTOOL), "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    series = _series(text)
    success = {k: v for k, v in series.items() if k.startswith("healthsuite_check_success{")}
    assert len(success) == 4  # AV1 and AV3 on two pages
    assert series[f'{FAILING},diagnosis="AV1",environment="metrics",severity="critical",target="blog"}}'] == 0
    assert series[f'{FAILING},diagnosis="AV1",environment="metrics",severity="critical",target="home"}}'] == 1
    assert series['healthsuite_checks{environment="metrics",outcome="failed"}'] == 2
    assert series['healthsuite_checks{environment="metrics",outcome="passed"}'] == 2
    assert series['healthsuite_run_exit_status{environment="metrics"}'] == 1
    assert abs(series['healthsuite_run_timestamp_seconds{environment="metrics"}'] - time.time()) < 600
    assert {k for k in series if k.startswith("healthsuite_probe_duration_seconds")} == {
        'healthsuite_probe_duration_seconds{environment="metrics",target="pages/blog"}',
        'healthsuite_probe_duration_seconds{environment="metrics",target="pages/home"}',
    }
    assert [p.name for p in out.parent.iterdir()] == ["healthsuite.prom"]  # no temporary file left


def test_a_textfile_not_named_prom_is_a_usage_error(tmp_path: Path, env: Path) -> None:
    done = _run(tmp_path, env, f"--prom-textfile={tmp_path / 'metrics.txt'}")
    assert done.returncode == 4, done.stdout + done.stderr
    assert "reads only files named *.prom; name it metrics.prom" in done.stderr


def test_a_failed_push_is_said_and_fails_nothing(tmp_path: Path, env: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = _run(tmp_path, env, f"--pushgateway={url}")
    assert done.returncode == 1, done.stdout + done.stderr  # blog's two checks fail, nothing else does
    assert "2 failed, 2 passed" in done.stdout and "INTERNALERROR" not in done.stdout + done.stderr
    assert f"healthsuite: metrics NOT PUSHED to {url}: URLError:" in done.stdout
    assert json.loads((tmp_path / "reports" / "latest.json").read_text())["exit_status"] == 1


def test_collect_only_writes_no_metrics(tmp_path: Path, env: Path) -> None:
    out = tmp_path / "healthsuite.prom"
    done = _run(tmp_path, env, f"--prom-textfile={out}", "--collect-only", "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not out.exists()


@_needs(PROMTOOL)
def test_the_shipped_rules_pass_promtool_check_and_their_unit_tests() -> None:
    check = subprocess.run([str(PROMTOOL), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "SUCCESS: 3 rules found" in check.stdout, check.stdout + check.stderr
    test = subprocess.run([str(PROMTOOL), "test", "rules", RULES_TEST.name], cwd=RULES_TEST.parent,
                          capture_output=True, text=True, timeout=60)
    assert test.returncode == 0, test.stdout + test.stderr


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - loopback
        return bytes(answer.read())


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, bound_s: float = 30.0) -> None:
    until = time.monotonic() + bound_s
    while time.monotonic() < until:
        assert process.poll() is None, f"{url}: the server exited: {log.read_text()[-2000:]}"
        try:
            _get(url)
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"{url} not ready after {bound_s:g} s: {log.read_text()[-2000:]}")


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A Pushgateway, and a Prometheus scraping it every second with honor_labels: their URLs."""
    gateway_port, prometheus_port = free_port(), free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: pushgateway
    honor_labels: true
    static_configs: [{{targets: ["127.0.0.1:{gateway_port}"]}}]
""")
    processes = []
    try:
        for name, command in (
            ("pushgateway", [str(PUSHGATEWAY), f"--web.listen-address=127.0.0.1:{gateway_port}"]),
            ("prometheus", [str(PROMETHEUS), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                            f"--web.listen-address=127.0.0.1:{prometheus_port}"]),
        ):
            log = tmp_path / f"{name}.log"
            with log.open("wb") as handle:
                process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, cwd=tmp_path)
            processes.append(process)
            port = gateway_port if name == "pushgateway" else prometheus_port
            _wait_ready(f"http://127.0.0.1:{port}/-/ready", process, log)
        yield f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{prometheus_port}"
    finally:
        for process in processes:
            process.kill()
            process.wait(timeout=30)


@_needs(PROMETHEUS, PUSHGATEWAY)
def test_a_push_is_read_back_through_prometheus(tmp_path: Path, env: Path, servers: tuple[str, str]) -> None:
    gateway, prometheus = servers
    done = _run(tmp_path, env, f"--pushgateway={gateway}", "--prom-instance=runner-1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"healthsuite: metrics pushed to {gateway}" in done.stdout
    query = ('healthsuite_check_success{job="healthsuite",instance="runner-1",environment="metrics",'
             'diagnosis="AV1",target="blog"}')
    url = f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    until, answer = time.monotonic() + 30, {}
    while time.monotonic() < until:
        answer = json.loads(_get(url))
        if answer["status"] == "success" and answer["data"]["result"]:
            break
        time.sleep(0.5)
    result = answer.get("data", {}).get("result", [])
    assert len(result) == 1, answer
    assert result[0]["value"][1] == "0"
    assert result[0]["metric"]["severity"] == "critical" and result[0]["metric"]["category"] == "availability"


def test_no_series_is_kept_for_a_skipped_check() -> None:
    records = [CheckRecord("c.py::test_a[x]", "AV1", "availability", "critical", "x", "skipped"),
               CheckRecord("c.py::test_a[y]", "AV1", "availability", "critical", "y", "warned")]
    text = prometheus_client.generate_latest(registry("e", records, {}, datetime.now(UTC), 1.0, 0)).decode()
    series = _series(text)
    assert [k for k in series if k.startswith("healthsuite_check_success")] == [
        'healthsuite_check_success{category="availability",check="test_a",diagnosis="AV1",environment="e",'
        'severity="critical",target="y"}'
    ]
    assert series['healthsuite_checks{environment="e",outcome="skipped"}'] == 1
