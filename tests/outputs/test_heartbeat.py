"""The heartbeat (--heartbeat, the environment's heartbeat.url) and the splay (--splay): pytest in a
subprocess against a real local site, with a real loopback receiver that records every ping. Nothing
leaves loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest

from healthsuite.outputs.heartbeat import BODY_LIMIT, Heartbeat, clip_body, ping_address, shown
from healthsuite.runner.splay import splay_seconds
from healthsuite.testing.listeners import SilentListener
from healthsuite.testing.ports import free_port
from tests.conftest import CHECKS, PROJECT
from tests.localhttp import running, serving

PING_SECRET = "5b1f0c4e-ping-uuid-secret-9d2a"


class Receiver:
    """A Healthchecks.io stand-in on a free loopback port: records each ping (method, path, rid, body);
    a path under /gone answers 404, as Healthchecks.io does for an unknown check."""

    def __init__(self) -> None:
        self.pings: list[dict[str, Any]] = []
        received, lock = self.pings, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                parts = urlsplit(self.path)
                with lock:
                    received.append({"path": parts.path, "query": parse_qs(parts.query), "body": raw.decode(),
                                      "type": self.headers.get("Content-Type", "")})
                status, answer = (404, b"not found") if parts.path.startswith("/gone") else (200, b"OK")
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self._serving = ExitStack()
        self.url = self._serving.enter_context(running(Handler))

    def close(self) -> None:
        self._serving.close()


@pytest.fixture
def site() -> Iterator[str]:
    with serving() as url:  # every path: 200, a small HTML page
        yield url


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


def _env(tmp_path: Path, site: str, *, broken: bool, extra: str = "") -> Path:
    closed = f"http://127.0.0.1:{free_port()}"
    path = tmp_path / "env.yaml"
    path.write_text(f"""
name: beats
kind: test
timeouts: {{http_s: 2, connect_s: 1}}
pages:
  - {{name: home, url: "{closed if broken else site}/", content_type: text/html}}
{extra}
""")
    return path


def _run(tmp_path: Path, env: Path, *args: str, diagnosis: str = "AV1") -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "HS_PING_SECRET": PING_SECRET}
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), f"--env={env}", f"--reports-dir={tmp_path / 'reports'}",
         "-p", "no:cacheprovider", "--diagnosis", diagnosis, *args],
        cwd=PROJECT, capture_output=True, text=True, timeout=120, env=environ,
    )


def _report(tmp_path: Path) -> dict[str, Any]:
    """The run's JSON report, valid under docs/report.schema.json (its heartbeat section too)."""
    report: dict[str, Any] = json.loads((tmp_path / "reports" / "latest.json").read_text())
    jsonschema.Draft202012Validator(json.loads((PROJECT / "docs" / "report.schema.json").read_text())).validate(report)
    return report


def _ping_url(receiver: Receiver) -> str:
    return f"{receiver.url}/ping/{PING_SECRET}"


def test_a_failing_run_pings_start_then_its_exit_status_with_the_failing_checks(
    tmp_path: Path, site: str, receiver: Receiver
) -> None:
    done = _run(tmp_path, _env(tmp_path, site, broken=True), "--heartbeat", _ping_url(receiver))
    assert done.returncode == 1, done.stdout + done.stderr
    assert [p["path"] for p in receiver.pings] == [f"/ping/{PING_SECRET}/start", f"/ping/{PING_SECRET}/1"]
    start, end = receiver.pings
    assert start["query"]["rid"] == end["query"]["rid"]  # one run: the switch pairs them
    assert "healthsuite beats (test)" in start["body"] and "checks start" in start["body"]
    assert end["type"].startswith("text/plain")
    assert "exit status 1 (checks failed)" in end["body"] and "1 checks: 1 failed" in end["body"]
    assert "failed critical AV1 home: " in end["body"] and "test_page_answers_with_expected_status_and_type[home]" in end["body"]
    section = _report(tmp_path)["heartbeat"]
    assert section["url"] == f"{receiver.url}/***" and section["source"] == "--heartbeat"
    assert section["run_id"] == start["query"]["rid"][0]
    assert section["start"]["status"] == "sent" and section["end"] == {
        "ping": "1", "status": "sent", "http_status": 200, "elapsed_s": section["end"]["elapsed_s"]}
    assert f"heartbeat start ping sent to {receiver.url}/***" in done.stdout
    assert f"heartbeat end ping (exit status 1) sent to {receiver.url}/***" in done.stdout
    report = (tmp_path / "reports" / "latest.json").read_text()
    for text in (done.stdout, done.stderr, report):  # the ping URL is a secret
        assert PING_SECRET not in text


def test_a_passing_run_pings_0_and_the_url_may_come_from_the_environment_file(
    tmp_path: Path, site: str, receiver: Receiver
) -> None:
    extra = f'heartbeat: {{url: "{receiver.url}/ping/${{HS_PING_SECRET}}?create=1"}}'
    done = _run(tmp_path, _env(tmp_path, site, broken=False, extra=extra))
    assert done.returncode == 0, done.stdout + done.stderr
    assert [p["path"] for p in receiver.pings] == [f"/ping/{PING_SECRET}/start", f"/ping/{PING_SECRET}/0"]
    assert all(p["query"]["create"] == ["1"] for p in receiver.pings)  # the URL's own query is kept
    assert "exit status 0 (passed)" in receiver.pings[1]["body"] and "failing" not in receiver.pings[1]["body"]
    assert _report(tmp_path)["heartbeat"]["source"] == "heartbeat.url in env.yaml"
    assert "healthsuite: heartbeat: pings " in done.stdout and PING_SECRET not in done.stdout


def test_a_usage_error_still_sends_the_end_ping_with_exit_status_4(
    tmp_path: Path, site: str, receiver: Receiver
) -> None:
    env = _env(tmp_path, site, broken=False)
    bad_splay = _run(tmp_path, env, "--heartbeat", _ping_url(receiver), "--splay", "soon")
    assert bad_splay.returncode == 4, bad_splay.stdout + bad_splay.stderr
    assert "--splay: 'soon' is not a number of seconds" in bad_splay.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: beats\nkind: test\npages:\n  - {name: home, url: 'ftp://x'}\n")
    bad_file = _run(tmp_path, broken, f"--heartbeat={_ping_url(receiver)}")
    assert bad_file.returncode == 4, bad_file.stdout + bad_file.stderr
    assert [p["path"] for p in receiver.pings] == [f"/ping/{PING_SECRET}/4"] * 2  # no start: nothing started
    assert "exit status 4 (usage error): no check judged" in receiver.pings[0]["body"]
    assert "healthsuite: heartbeat end ping (exit status 4) sent to" in bad_file.stderr
    for done in (bad_splay, bad_file):
        assert PING_SECRET not in done.stdout + done.stderr


def test_a_hanging_or_refusing_switch_never_changes_the_exit_status(
    tmp_path: Path, site: str, receiver: Receiver
) -> None:
    env = _env(tmp_path, site, broken=False)
    refused = _run(tmp_path, env, "--heartbeat", f"{receiver.url}/gone/{PING_SECRET}")
    assert refused.returncode == 0, refused.stdout + refused.stderr
    assert "heartbeat end ping (exit status 0) to" in refused.stdout and "NOT SENT: HTTP 404 Not Found: not found" in refused.stdout
    assert _report(tmp_path)["heartbeat"]["end"]["http_status"] == 404
    with SilentListener() as silent:
        started = time.monotonic()
        hung = _run(tmp_path, env, "--heartbeat", f"http://127.0.0.1:{silent.port}/{PING_SECRET}")
        elapsed = time.monotonic() - started
        assert silent.connections >= 1
    assert hung.returncode == 0, hung.stdout + hung.stderr
    assert "heartbeat start ping to http://127.0.0.1:" in hung.stdout and "NOT SENT: no answer within 5 s" in hung.stdout
    section = _report(tmp_path)["heartbeat"]
    assert section["start"]["status"] == section["end"]["status"] == "failed"
    assert elapsed < 90, elapsed  # two bounded pings, not a hang
    unset = _run(tmp_path, env, "--heartbeat", "${HS_UNSET_PING_URL}")
    assert unset.returncode == 0 and "NOT SENT: HS_UNSET_PING_URL is not set" in unset.stdout, unset.stdout


def test_splay_waits_says_so_and_stays_out_of_the_deadline(tmp_path: Path, site: str, receiver: Receiver) -> None:
    done = _run(tmp_path, _env(tmp_path, site, broken=False), "--splay", "0.2", "--heartbeat", _ping_url(receiver))
    assert done.returncode == 0, done.stdout + done.stderr
    delay = splay_seconds("beats", socket.gethostname(), "", 0.2)  # what this host waits for this environment
    assert (f"healthsuite: splay: waiting {delay:.1f} s (of 0.2, --splay; by environment beats, host "
            f"{socket.gethostname()}) before the first exchange ...") in done.stdout, done.stdout
    assert "the run's deadline starts after it" in done.stdout
    run = _report(tmp_path)["run"]
    assert 0 <= run["splay_s"] < 5 and run["deadline_reached"] is False
    assert [p["path"].rsplit("/", 1)[1] for p in receiver.pings] == ["start", "0"]


def test_under_workers_only_the_controller_waits_and_pings(tmp_path: Path, site: str, receiver: Receiver) -> None:
    env = _env(tmp_path, site, broken=True)
    done = _run(tmp_path, env, "-n", "2", "--keep-workers", "--splay", "0.2", "--heartbeat", _ping_url(receiver))
    assert done.returncode == 1, done.stdout + done.stderr
    assert (done.stdout + done.stderr).count("splay: waiting") == 1, done.stdout + done.stderr
    assert [p["path"].rsplit("/", 1)[1] for p in receiver.pings] == ["start", "1"]


def test_in_nagios_mode_the_end_ping_carries_the_plugin_state_and_stdout_stays_the_status(
    tmp_path: Path, site: str, receiver: Receiver
) -> None:
    done = _run(tmp_path, _env(tmp_path, site, broken=True), "--nagios", "--splay", "0.2", "--heartbeat",
                _ping_url(receiver))
    assert done.returncode == 2, done.stdout + done.stderr  # CRITICAL: AV1 is critical
    assert done.stdout.startswith("HEALTHSUITE CRITICAL") and "splay" not in done.stdout, done.stdout
    assert "splay: waiting" in done.stderr
    assert [p["path"].rsplit("/", 1)[1] for p in receiver.pings] == ["start", "2"]
    assert "exit status 2 (CRITICAL)" in receiver.pings[1]["body"]


def test_a_bare_run_with_no_environment_pings_nothing(tmp_path: Path, receiver: Receiver) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), "-p", "no:cacheprovider", "--heartbeat", _ping_url(receiver),
         "-o", "healthsuite_env=", f"--reports-dir={tmp_path / 'reports'}"],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
        env={k: v for k, v in os.environ.items() if k != "HEALTHSUITE_ENV"},
    )
    assert "no environment selected" in done.stdout, done.stdout + done.stderr
    assert receiver.pings == []


@pytest.mark.parametrize("value", ["-1", "3601", "nan", "60s"])
def test_a_bad_splay_is_a_usage_error(tmp_path: Path, value: str) -> None:
    env = tmp_path / "env.yaml"
    env.write_text("name: beats\nkind: test\n")
    done = _run(tmp_path, env, f"--splay={value}")
    assert done.returncode == 4 and "--splay: " in done.stderr and "e.g. --splay 60" in done.stderr, done.stderr
    ini = _run(tmp_path, env, "-o", f"healthsuite_splay={value}")
    assert ini.returncode == 4 and "ini healthsuite_splay: " in ini.stderr, ini.stderr


# --- alone: the addresses, the body's bound ----------------------------------------------------------


def test_the_ping_addresses_follow_healthchecks_conventions() -> None:
    assert ping_address("https://hc-ping.com/u-u-i-d", "start", "r1") == "https://hc-ping.com/u-u-i-d/start?rid=r1"
    assert ping_address("https://hc-ping.com/u-u-i-d/", "1", "r1") == "https://hc-ping.com/u-u-i-d/1?rid=r1"
    assert ping_address("https://hc-ping.com/key/slug?create=1", "0", "r1") == "https://hc-ping.com/key/slug/0?create=1&rid=r1"
    assert shown("https://user:pw@hc-ping.com:8443/u-u-i-d?x=1") == "https://hc-ping.com:8443/***"


def test_the_body_is_bounded_at_a_character_boundary() -> None:
    body = clip_body("é" * BODY_LIMIT)
    assert len(body) <= BODY_LIMIT and body.decode("utf-8").endswith("\n…")
    assert clip_body("short") == b"short"


def test_a_ping_that_hangs_ends_at_its_timeout(tmp_path: Path) -> None:
    with SilentListener() as silent:
        beat = Heartbeat(url=f"http://127.0.0.1:{silent.port}/{PING_SECRET}", source="--heartbeat",
                         redact=lambda text: text.replace(PING_SECRET, "***"), timeout_s=0.3)
        outcome = beat.end(1, "summary")
    assert outcome["status"] == "failed" and outcome["error"] == "no answer within 0.3 s" and outcome["ping"] == "1"
    assert beat.section()["end"] is outcome and PING_SECRET not in json.dumps(beat.section())
