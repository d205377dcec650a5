"""Escalation notices (--notify): pytest in a subprocess against a real local site, a loopback port
nothing listens on, and a real local webhook receiver that records what it is sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from healthsuite.demo.services import SilentListener, free_port
from healthsuite.envfile import EnvironmentFileError, load_environment
from healthsuite.outputs.notices import announcement, notify, read_state, summary_lines
from healthsuite.outputs.records import CheckRecord, RecordBook, SpooledRecord
from healthsuite.outputs.result import RunEnvironment, RunResult

from .conftest import CHECKS, PROJECT

HOOK_SECRET = "hook-path-secret-4242"
TOKEN = "header-token-secret-7777"


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b"<html>ok</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Receiver:
    """A webhook receiver on a free loopback port: records each POST; a path under /fail gets a 500."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.append({"path": self.path, "headers": dict(self.headers), "raw": raw.decode(),
                                 "body": json.loads(raw)})
                status = 500 if self.path.startswith("/fail") else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def site() -> Iterator[str]:
    server, url = _serve(_Page)
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


def _env(tmp_path: Path, site: str, notify: str, *, broken: bool) -> Path:
    closed = f"http://127.0.0.1:{free_port()}"
    path = tmp_path / "env.yaml"
    path.write_text(f"""
name: notices
kind: test
timeouts: {{http_s: 2, connect_s: 1}}
http: {{headers: {{X-Token: "${{HS_TEST_TOKEN}}"}}}}
escalation:
  infrastructure: {{primary: "DevOps on call <devops@example.com>", channel: "#incidents"}}
pages:
  - {{name: home, url: "{closed if broken else site}/?token=${{HS_TEST_TOKEN}}", content_type: text/html}}
  - {{name: blog, url: "{closed}/blog", content_type: text/html, severity: low}}
{notify}
""")
    return path


def _run(tmp_path: Path, env: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "HS_TEST_TOKEN": TOKEN, "HS_HOOK_SECRET": HOOK_SECRET}
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), f"--env={env}", f"--reports-dir={tmp_path / 'reports'}",
         "-p", "no:cacheprovider", "--diagnosis", "AV1", *args],
        cwd=PROJECT, capture_output=True, text=True, timeout=120, env=environ,
    )


def _report(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / "reports" / "latest.json").read_text())


def _slack(receiver: Receiver) -> str:
    return f'notify: [{{name: oncall, url: "{receiver.url}/hook/${{HS_HOOK_SECRET}}", format: slack}}]'


def test_a_new_failure_is_announced_once_then_its_recovery_once(
    tmp_path: Path, site: str, receiver: Receiver
) -> None:
    broken = _env(tmp_path, site, _slack(receiver), broken=True)
    first = _run(tmp_path, broken, "--notify")
    assert first.returncode == 1, first.stdout + first.stderr  # the run's own verdict
    assert len(receiver.posts) == 1, first.stdout
    text = receiver.posts[0]["body"]["text"]
    assert text.startswith("🔴 ESCALATION REQUIRED")
    for part in ("Severity: Critical", "Environment: notices (test)", "Time: ",
                 "Affected Systems: page 'home': GET http://127.0.0.1:", "AV1", "observed: connection refused", "NEXT STEPS REQUIRED", "runbook:",
                 "CONTACT:  critical: immediate escalation", "DevOps on call <devops@example.com>", "#incidents"):
        assert part in text, (part, text)
    assert "blog" not in text  # a low failure calls nobody
    assert "notice sent to oncall (slack): 1 new failure(s), 0 recovery(ies)" in first.stdout
    notices = _report(tmp_path)["notices"]
    assert notices["failures"] == 1 and notices["receivers"] == [
        {"name": "oncall", "format": "slack", "http_status": 200, "status": "sent"}]
    state = json.loads((tmp_path / "reports" / "notices.notified.json").read_text())
    assert [i.split("::")[1] for i in state["announced"]] == ["test_page_answers_with_expected_status_and_type[home]"]

    second = _run(tmp_path, broken, "--notify")
    assert second.returncode == 1 and len(receiver.posts) == 1, second.stdout  # not announced again
    assert "nothing new to announce (1 failing check(s) announced before)" in second.stdout

    healthy = _env(tmp_path, site, _slack(receiver), broken=False)
    third = _run(tmp_path, healthy, "--notify")
    assert third.returncode == 1, third.stdout  # blog (low) still fails
    assert len(receiver.posts) == 2, third.stdout
    recovered = receiver.posts[1]["body"]["text"]
    assert recovered.startswith("✅ RECOVERED") and "AV1 home passes again" in recovered
    assert json.loads((tmp_path / "reports" / "notices.notified.json").read_text())["announced"] == []

    fourth = _run(tmp_path, healthy, "--notify")
    assert len(receiver.posts) == 2, fourth.stdout  # the recovery is not announced twice


def test_secrets_never_reach_the_receiver_the_report_or_the_terminal(
    tmp_path: Path, site: str, receiver: Receiver
) -> None:
    notify = f'notify: [{{name: pager, url: "{receiver.url}/hook/${{HS_HOOK_SECRET}}", format: json}}]'
    done = _run(tmp_path, _env(tmp_path, site, notify, broken=True), "--notify")
    assert len(receiver.posts) == 1, done.stdout + done.stderr
    post = receiver.posts[0]
    assert post["path"] == f"/hook/{HOOK_SECRET}"  # it was sent where declared
    body = post["body"]
    assert body["kind"] == "escalation" and body["environment"] == {"name": "notices", "kind": "test"}
    failure = body["failures"][0]
    assert failure["diagnosis"] == "AV1" and failure["severity"] == "critical" and failure["next_steps"]
    assert "DevOps on call" in failure["who_to_call"] and "ESCALATION REQUIRED" in body["text"]
    assert TOKEN not in post["raw"] and "token=***" in post["raw"]
    report = (tmp_path / "reports" / "latest.json").read_text()
    for text in (report, done.stdout, done.stderr):
        assert HOOK_SECRET not in text and TOKEN not in text


def test_a_receiver_that_never_answers_or_refuses_does_not_hold_or_fail_the_run(
    tmp_path: Path, site: str, receiver: Receiver
) -> None:
    with SilentListener() as silent:
        closed = free_port()
        notify = (
            f'notify:\n  - {{name: silent, url: "http://127.0.0.1:{silent.port}/x", format: slack}}\n'
            f'  - {{name: refused, url: "http://127.0.0.1:{closed}/x", format: json}}\n'
            f'  - {{name: broken, url: "{receiver.url}/fail", format: json}}\n'
            f'  - {{name: unset, url: "${{HS_UNSET_WEBHOOK}}", format: slack}}\n'
        )
        env = _env(tmp_path, site, notify, broken=True)
        started = time.monotonic()
        done = _run(tmp_path, env, "--notify")
        elapsed = time.monotonic() - started
        assert silent.connections >= 1  # it was tried
    assert elapsed < 60, elapsed
    assert done.returncode == 1, done.stdout + done.stderr  # as without --notify
    out = done.stdout
    assert "notice to silent NOT SENT: no answer within 5 s" in out
    assert "notice to refused NOT SENT: ConnectError" in out
    assert "notice to broken NOT SENT: HTTP 500" in out
    assert "notice to unset NOT SENT: HS_UNSET_WEBHOOK is not set" in out
    receivers = {r["name"]: r for r in _report(tmp_path)["notices"]["receivers"]}
    assert {r["status"] for r in receivers.values()} == {"failed"}
    assert receivers["broken"]["http_status"] == 500 and "no answer" in receivers["silent"]["error"]
    assert not (tmp_path / "reports" / "notices.notified.json").exists()  # nobody got it: sent again next run


def test_without_notify_nothing_is_sent(tmp_path: Path, site: str, receiver: Receiver) -> None:
    done = _run(tmp_path, _env(tmp_path, site, _slack(receiver), broken=True))
    assert done.returncode == 1 and receiver.posts == []
    assert "notices" not in _report(tmp_path) and "--notify" not in done.stdout


def test_notify_without_webhooks_says_so(tmp_path: Path, site: str) -> None:
    done = _run(tmp_path, _env(tmp_path, site, "", broken=True), "--notify")
    assert done.returncode == 1
    assert "healthsuite: --notify: env.yaml declares no `notify:` webhooks; nothing will be sent" in done.stdout
    assert "nothing was sent" in _report(tmp_path)["notices"]["note"]


# --- alone: the model, the state, what is announced, the redaction ---------------------------------------


def test_a_bad_notify_entry_names_file_key_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nkind: test\nnotify:\n  - {name: oncall, url: 'ftp://x', format: slack}\n"
                    "  - {name: oncall, url: '${HOOK}', format: xml}\n")
    with pytest.raises(EnvironmentFileError) as error:
        load_environment(path, {})
    text = str(error.value)
    assert str(path) in text and "line 4: notify[0].url" in text and "line 5: notify[1].format" in text


def _record(id: str, outcome: str, severity: str = "critical", observed: str = "down") -> CheckRecord:
    return CheckRecord(id=id, diagnosis="AV1", category="availability", severity=severity, target=id,
                       outcome=outcome, observed=observed, message="AV1 ...\n  what to do:\n    1. Restart it.")


def test_what_is_announced() -> None:
    entries = [
        _record("new", "failed"), _record("again", "failed"), _record("low", "failed", "low"),
        _record("warned", "warned", "high"),
        SpooledRecord("back", "AV1", "availability", "critical", "back", "passed", 0, 0),
        SpooledRecord("skipped", "AV1", "availability", "critical", "skipped", "skipped", 0, 0),
    ]
    news = announcement(entries, {"again", "back", "skipped", "not-run"})
    assert [r.id for r in news.failures] == ["new", "warned"]
    assert [r.id for r in news.recoveries] == ["back"]
    assert news.announced == {"new", "warned", "again", "skipped", "not-run"}


def test_an_unreadable_state_is_no_error(tmp_path: Path) -> None:
    assert read_state(tmp_path / "missing.json") == (set(), "")
    (tmp_path / "bad.json").write_text("{not json")
    ids, note = read_state(tmp_path / "bad.json")
    assert ids == set() and "could not be read" in note


def test_a_secret_in_an_observation_is_masked_before_it_is_sent(tmp_path: Path, receiver: Receiver) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(f'name: alone\nkind: test\nhttp: {{headers: {{Authorization: "Bearer ${{TOK}}"}}}}\n'
                    f'notify: [{{name: a, url: "{receiver.url}/a", format: slack}}, '
                    f'{{name: b, url: "{receiver.url}/b", format: json}}]\n')
    env = load_environment(path, {"TOK": TOKEN})
    leaking = _record("leak", "failed", observed=f"HTTP 500: the server said Bearer {TOKEN}")
    notices = notify(env, _result([leaking], tmp_path / "reports"), now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert [r["status"] for r in notices["receivers"]] == ["sent", "sent"]
    assert len(receiver.posts) == 2
    for post in receiver.posts:
        assert TOKEN not in post["raw"] and "the server said ***" in post["raw"]
    posts = {post["path"]: post["body"] for post in receiver.posts}  # sent at once: in either order
    assert "Time: 2026-01-02 03:04:05 UTC" in posts["/a"]["text"]
    assert posts["/b"]["failures"][0]["next_steps"] == ["Restart it."]
    assert summary_lines(notices)[0] == ("healthsuite: notice sent to a (slack): 1 new failure(s), 0 recovery(ies)",
                                         False)


def _result(records: list[CheckRecord], reports_dir: Path) -> RunResult:
    """A run's result holding `records` (as the plugin builds it at the end of a run)."""
    book = RecordBook()
    now = datetime.now(UTC)
    result = RunResult(RunEnvironment("alone"), now, now, 1, book, list(records), reports_dir)
    return result
