"""Prometheus metrics (healthsuite.outputs.prometheus): the textfile checked by promtool, the shipped alerting
rules checked and unit-tested by promtool, and a push read back through a real Pushgateway scraped
by a real Prometheus. pytest runs in a subprocess against a local HTTP server and a closed port."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import prometheus_client
import pytest

from healthsuite.outputs.prometheus import registry
from healthsuite.outputs.records import CheckRecord
from healthsuite.testing.ports import free_port
from tests.conftest import CHECKS, PROJECT
from tests.localhttp import Answer, serving

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
    tail = 'severity="critical",target="{}",target_kind="pages"}}'
    assert series[f'{FAILING},diagnosis="AV1",environment="metrics",{tail.format("blog")}'] == 0
    assert series[f'{FAILING},diagnosis="AV1",environment="metrics",{tail.format("home")}'] == 1
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
    assert check.returncode == 0 and "SUCCESS: 4 rules found" in check.stdout, check.stdout + check.stderr
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
        'severity="critical",target="y",target_kind=""}'
    ]
    assert series['healthsuite_checks{environment="e",outcome="skipped"}'] == 1


def _lint(text: str) -> None:
    lint = subprocess.run([str(PROMTOOL), "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def _shop(request: BaseHTTPRequestHandler) -> Answer:
    """The page /shop answers; the API endpoint /api/shop fails with a 500."""
    return Answer(500, "application/json", b'{"error": "boom"}') if request.path.startswith("/api") else Answer()


@_needs(PROMTOOL, PROMETHEUS, PUSHGATEWAY)
def test_a_page_and_an_endpoint_of_one_name_are_two_series_and_the_failing_one_pages(
    tmp_path: Path, servers: tuple[str, str]
) -> None:
    """A page `shop` answering 200 and an endpoint `shop` answering 500 wrote one series, the last write
    winning: AV3 read 1 while the run failed, and HealthsuiteCriticalCheckFailing could never fire."""
    gateway, prometheus = servers
    with serving(_shop) as site:
        env = tmp_path / "env.yaml"
        env.write_text(f"""
name: shop
kind: test
timeouts: {{http_s: 2, connect_s: 1}}
pages: [{{name: shop, url: "{site}/shop", content_type: text/html}}]
endpoints: [{{name: shop, url: "{site}/api/shop", severity: critical}}]
""")
        out = tmp_path / "healthsuite.prom"
        done = _run(tmp_path, env, f"--prom-textfile={out}", f"--pushgateway={gateway}", "--diagnosis", "AV3")
    assert done.returncode == 1, done.stdout + done.stderr
    text = out.read_text()
    _lint(text)
    av3 = {k: v for k, v in _series(text).items() if k.startswith("healthsuite_check_success{") and 'AV3' in k}
    assert len(av3) == 2, av3
    assert [v for k, v in av3.items() if 'target_kind="endpoints"' in k] == [0.0]
    assert [v for k, v in av3.items() if 'target_kind="pages"' in k] == [1.0]
    # the alert's own expression, read by a real Prometheus from the pushed metrics: the endpoint fails
    query = 'healthsuite_check_success{severity="critical",diagnosis="AV3",target="shop"} == 0'
    url = f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    until, result = time.monotonic() + 30, []
    while time.monotonic() < until and not result:
        result = json.loads(_get(url)).get("data", {}).get("result", [])
        time.sleep(0.5)
    assert [r["metric"]["target_kind"] for r in result] == ["endpoints"], result


def test_identical_labels_still_give_one_series_per_check() -> None:
    """Should two checks share every label, `check` carries the test's parameters so neither is lost."""
    records = [CheckRecord("c.py::test_a[page-x]", "AV3", "availability", "high", "x", "failed"),
               CheckRecord("c.py::test_a[health-x]", "AV3", "availability", "high", "x", "passed")]
    text = prometheus_client.generate_latest(registry("e", records, {}, datetime.now(UTC), 1.0, 1)).decode()
    success = {k: v for k, v in _series(text).items() if k.startswith("healthsuite_check_success{")}
    assert sorted(success.values()) == [0.0, 1.0] and len(success) == 2, success


@_needs(PROMTOOL)
def test_a_usage_error_replaces_the_textfile_with_its_exit_status_and_no_stale_series(
    tmp_path: Path, env: Path
) -> None:
    """A run that ends in a usage error (a typo in -m, a broken environment file) judged nothing: the
    textfile must say so, not keep the last run's series for 35 minutes."""
    out = tmp_path / "healthsuite.prom"
    assert _run(tmp_path, env, f"--prom-textfile={out}").returncode == 1
    assert any(k.startswith("healthsuite_check_success{") for k in _series(out.read_text()))
    for broken in (["-m", "critcal", "--strict-markers"], [f"--env={tmp_path / 'missing.yaml'}"],
                   ["-m", "payments"]):  # a typo, a missing file, nothing selected
        done = _run(tmp_path, env, f"--prom-textfile={out}", *broken)
        assert done.returncode == 4, done.stdout + done.stderr
        text = out.read_text()
        _lint(text)
        series = _series(text)
        assert not [k for k in series if k.startswith("healthsuite_check_success")], (broken, text)
        status = [v for k, v in series.items() if k.startswith("healthsuite_run_exit_status{")]
        assert status == [4.0], (broken, text)
        assert f"healthsuite: metrics written to {out}: exit status 4, no check judged" in done.stderr


@pytest.fixture
def gateway_stand_in() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A loopback stand-in for a Pushgateway behind basic auth: it answers 200 to every PUT and keeps each
    request's path and Authorization header."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
            seen.append({"path": self.path, "authorization": self.headers.get("Authorization", "")})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_pushgateway_credentials_go_in_a_header_and_are_never_shown(
    tmp_path: Path, env: Path, gateway_stand_in: tuple[str, list[dict[str, str]]]
) -> None:
    """`--pushgateway http://user:secret@host/?token=X`: urllib would read `user:secret@host` as a host name
    (a credential sent to the resolver); the terminal echoed the token."""
    address, seen = gateway_stand_in
    done = _run(tmp_path, env, f"--pushgateway=http://pusher:s3cr%3At@{address}/", "-v")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert seen and seen[0]["path"].startswith("/metrics/job/healthsuite/environment/metrics/")
    assert seen[0]["authorization"] == "Basic " + base64.b64encode(b"pusher:s3cr:t").decode()
    assert f"healthsuite: metrics pushed to http://***@{address}/" in output
    assert "s3cr" not in output and "pusher" not in output
    with_token = _run(tmp_path, env, f"--pushgateway=http://127.0.0.1:{free_port()}/?token=T0KEN")
    assert "T0KEN" not in with_token.stdout + with_token.stderr
    assert "metrics NOT PUSHED to http://127.0.0.1:" in with_token.stdout
