"""Escalation notices (--notify): pytest in a subprocess against a real local site, a loopback port
nothing listens on, and a real local webhook receiver that records what it is sent."""

from __future__ import annotations

import json
import os
import re
import stat
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

from healthsuite.environment.loaded import LoadedEnvironment
from healthsuite.environment.loader import load_environment
from healthsuite.environment.problems import EnvironmentFileError
from healthsuite.outputs.announcement import announcement
from healthsuite.outputs.notice_state import NoticeState, StateChange, Told, read_state, state_path, update_state
from healthsuite.outputs.notice_text import MAX_MESSAGES, MAX_TEXT
from healthsuite.outputs.notices import notify, summary_lines
from healthsuite.outputs.records import CheckRecord, RecordBook, SpooledRecord
from healthsuite.outputs.result import RunEnvironment, RunResult
from healthsuite.testing.listeners import SilentListener
from healthsuite.testing.ports import free_port
from tests.conftest import CHECKS, PROJECT
from tests.localhttp import serving
from tests.webhooks import Receiver

HOOK_SECRET = "hook-path-secret-4242"
TOKEN = "header-token-secret-7777"


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def site() -> Iterator[str]:
    with serving() as url:  # every path: 200, a small HTML page
        yield url


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
                 "CONTACT:  critical: immediate escalation", "DevOps on call &lt;devops@example.com&gt;", "#incidents",
                 f"Report: {tmp_path / 'reports'}/notices-"):
        assert part in text, (part, text)
    assert "blog" not in text  # a low failure calls nobody
    named = re.search(r"^Report: (\S+)$", text, re.MULTILINE)
    reports = tmp_path / "reports"
    assert named and named[1].startswith(f"{reports}/notices-")  # the report, written after the notice
    found = list(reports.glob(Path(named[1]).name))
    assert len(found) == 1 and found == list(reports.glob("notices-2*.json"))  # ...is that one
    assert "notice sent to oncall (slack): 1 new failure(s), 0 recovery(ies)" in first.stdout
    notices = _report(tmp_path)["notices"]
    assert notices["failures"] == 1 and notices["receivers"] == [
        {"name": "oncall", "format": "slack", "http_status": 200, "status": "sent", "messages": 1, "accepted": 1}]
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
    assert json.loads((tmp_path / "reports" / "notices.notified.json").read_text())["announced"] == {}

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
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    news = announcement(entries, _told("again", "back", "skipped", "not-run", at=now), now)
    assert [r.id for r in news.failures] == ["new", "warned"]
    assert [r.id for r in news.recoveries] == ["back"]
    assert news.announced == {"again", "skipped", "not-run"} and news.reminders == []
    # announced before, failing now on another subject (the history's `new`): a new failure, announced again
    other = _record("again", "failed")
    other.change = "new"
    assert [r.id for r in announcement([other], _told("again", at=now), now).failures] == ["again"]


def _told(*ids: str, at: datetime) -> NoticeState:
    return NoticeState({i: Told(at, at) for i in ids})


def test_an_unreadable_state_is_no_error(tmp_path: Path) -> None:
    assert read_state(tmp_path / "missing.json") == (NoticeState(), "")
    (tmp_path / "bad.json").write_text("{not json")
    state, note = read_state(tmp_path / "bad.json")
    assert state == NoticeState() and "could not be read" in note


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


# --- long notices, folding, Slack's escaping, a huge answer, concurrent runs ---------------------------------

LONG = "the upstream said <html><body>Service &amp; API down</body></html> & retried " * 30


def _alone(tmp_path: Path, notify_yaml: str, name: str = "env.yaml") -> LoadedEnvironment:
    path = tmp_path / name
    path.write_text(f"name: alone\nkind: test\n"
                    "escalation: {infrastructure: {primary: \"DevOps <devops@example.com> & friends\"}}\n"
                    f"{notify_yaml}\n")
    return load_environment(path, {})


def _failures(count: int, *, explained: dict[int, int] | None = None, observed: str = LONG) -> list[CheckRecord]:
    """`count` failing checks on targets svc-000...; `explained`: check number -> its cause's number."""
    records = [
        CheckRecord(id=f"checks/test_av.py::test_up[svc-{n:04d}]", diagnosis="AV1", category="availability",
                    severity="critical" if n % 3 else "high", target=f"svc-{n:04d}", outcome="failed",
                    observed=observed, message="AV1 ...\n  what to do:\n    1. Restart <it> & see.")
        for n in range(count)
    ]
    for number, cause in (explained or {}).items():
        records[number].explained_by = records[cause].id
    return records


def _said(texts: list[str], records: list[CheckRecord]) -> set[str]:
    """The ids of the records a received text names (`AV1 svc-0007`)."""
    return {r.id for r in records if any(f"{r.diagnosis} {r.target}" in text for text in texts)}


def _unslack(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _state(tmp_path: Path) -> set[str]:
    return set(json.loads((tmp_path / "reports" / "alone.notified.json").read_text())["announced"])


def test_every_failure_recorded_as_announced_was_said_once_in_a_received_message(
    tmp_path: Path, receiver: Receiver
) -> None:
    env = _alone(tmp_path, f'notify: [{{name: a, url: "{receiver.url}/a", format: slack}}, '
                           f'{{name: b, url: "{receiver.url}/b", format: json}}]')
    records = _failures(40)
    notices = notify(env, _result(records, tmp_path / "reports"))
    slack = [_unslack(p["body"]["text"]) for p in receiver.posts if p["path"] == "/a"]
    data = [p["body"] for p in receiver.posts if p["path"] == "/b"]
    assert len(slack) >= 2 and len(data) == len(slack) == notices["messages"], notices  # split, not cut
    assert [r["status"] for r in notices["receivers"]] == ["sent", "sent"]
    for post in receiver.posts:
        assert len(post["body"]["text"]) <= MAX_TEXT and "cut: see" not in post["body"]["text"]
    # each failure in exactly one message, in the text and in the data
    for record in records:
        assert sum(f"AV1 {record.target}" in text for text in slack) == 1, record.target
    ids = [f["id"] for body in sorted(data, key=lambda b: b["part"]) for f in body["failures"]]
    assert sorted(ids) == sorted(r.id for r in records)
    assert [(b["part"], b["parts"]) for b in sorted(data, key=lambda b: b["part"])] == [
        (n, len(data)) for n in range(1, len(data) + 1)]
    assert "1. [critical] AV1 svc-0001" in slack[0] and "(part 1 of" in slack[0]
    assert "MORE NEW FAILURES" in slack[-1]  # the 11th on are told in one line each
    assert _said(slack, records) == {r.id for r in records} == _state(tmp_path) == set(notices["announced"])
    assert "not_announced" not in notices
    assert summary_lines(notices)[0] == (
        f"healthsuite: notice sent to a (slack) in {len(slack)} messages: 40 new failure(s), 0 recovery(ies)", False)


def test_a_message_nobody_accepted_leaves_its_failures_to_the_next_notice(
    tmp_path: Path, receiver: Receiver
) -> None:
    records = _failures(40)
    refusing = _alone(tmp_path, f'notify: [{{name: a, url: "{receiver.url}/refuse-after-1", format: slack}}]')
    notices = notify(refusing, _result(records, tmp_path / "reports"))
    accepted = [_unslack(p["body"]["text"]) for p in receiver.posts if p["status"] == 200]
    refused = [_unslack(p["body"]["text"]) for p in receiver.posts if p["status"] != 200]
    assert len(accepted) == 1 and len(refused) == 1, notices  # it stops at the first refusal
    first = _said(accepted, records)
    assert first and first != {r.id for r in records}
    assert _state(tmp_path) == first == set(notices["announced"])
    assert notices["receivers"][0]["status"] == "partly sent" and notices["not_announced"] == 40 - len(first)
    line, bad = summary_lines(notices)[0]
    assert bad and line.startswith(f"healthsuite: notice to a PARTLY SENT (1 of {notices['messages']} messages): "
                                   "HTTP 500")

    receiver.posts.clear()
    accepting = _alone(tmp_path, f'notify: [{{name: a, url: "{receiver.url}/a", format: slack}}]', "other.yaml")
    again = notify(accepting, _result(records, tmp_path / "reports"))
    texts = [_unslack(p["body"]["text"]) for p in receiver.posts]
    assert _said(texts, records) == {r.id for r in records} - first  # the rest, and only the rest
    assert again["failures"] == 40 - len(first)
    assert _state(tmp_path) == {r.id for r in records}


def test_what_does_not_fit_in_the_messages_is_counted_and_left_to_the_next_run(
    tmp_path: Path, receiver: Receiver
) -> None:
    env = _alone(tmp_path, f'notify: [{{name: a, url: "{receiver.url}/a", format: slack}}]')
    records = _failures(1200, observed="down")
    notices = notify(env, _result(records, tmp_path / "reports"))
    texts = [_unslack(p["body"]["text"]) for p in receiver.posts]
    assert len(texts) == MAX_MESSAGES and all(len(p["body"]["text"]) <= MAX_TEXT for p in receiver.posts)
    said = _said(texts, records)
    left = notices["not_announced"]
    assert len(said) + left == 1200 and left > 0
    assert f"NOT IN THIS NOTICE: {left} more new failure(s)" in texts[-1]
    assert _state(tmp_path) == said == set(notices["announced"])


def test_consequences_are_folded_under_their_cause_and_announced_with_it(
    tmp_path: Path, receiver: Receiver
) -> None:
    env = _alone(tmp_path, f'notify: [{{name: a, url: "{receiver.url}/a", format: slack}}, '
                           f'{{name: b, url: "{receiver.url}/b", format: json}}]')
    # svc-0001 explains 2, 3, 4 (4 through 3; most severe first); svc-0005 explains 200 others; svc-0006 is explained by a
    # check announced before (not in this notice): it is told on its own
    explained = {2: 1, 3: 1, 4: 3, 6: 300, **{n: 5 for n in range(10, 210)}}
    records = _failures(301, explained=explained, observed="down")
    notices = notify(env, _result(records[:300], tmp_path / "reports"))
    slack = "\n".join(_unslack(p["body"]["text"]) for p in receiver.posts if p["path"] == "/a")
    assert "1. [critical] AV1 svc-0001: " in slack
    assert "   explains 3 more: AV1 svc-0002, AV1 svc-0004, AV1 svc-0003\n" in slack
    assert "   explains 200 more: AV1 svc-0010, AV1 svc-0011" in slack
    assert "(AV1 svc-0005, continued) explains also: " in slack  # a long list goes on, naming its cause
    for target in ("svc-0002", "svc-0003", "svc-0004", "svc-0010", "svc-0209"):
        assert f"] AV1 {target}" not in slack  # no place of its own
        assert slack.count(f"AV1 {target}") == 1
    assert "] AV1 svc-0006: " in slack
    assert "New failures: 300 (203 explained by another one, folded under it)" in slack
    bodies = [p["body"] for p in receiver.posts if p["path"] == "/b"]
    explained_data = {e["id"]: e["explained_by"] for b in bodies for e in b["explained"]}
    assert explained_data[records[4].id] == records[1].id and explained_data[records[209].id] == records[5].id
    assert len(explained_data) == 203 and records[6].id not in explained_data
    # the consequences folded under their cause are held, not announced on their own
    consequences = {records[n].id for n in explained if n != 6}
    assert _state(tmp_path) == {r.id for r in records[:300]} - consequences == set(notices["announced"])
    held = json.loads((tmp_path / "reports" / "alone.notified.json").read_text())["held"]
    assert set(held) == consequences and held[records[4].id]["cause"] == records[1].id
    assert {h["id"] for h in notices["held"]} == consequences


def test_slack_text_is_escaped_and_json_stays_raw(tmp_path: Path, receiver: Receiver) -> None:
    env = _alone(tmp_path, f'notify: [{{name: a, url: "{receiver.url}/a", format: slack}}, '
                           f'{{name: b, url: "{receiver.url}/b", format: json}}]')
    observed = "got <html><b>500</b></html> & <devops@example.com> said a&b > c"
    records = [*_failures(2, observed=observed)]
    records[1].target = "<svc> & co"
    back = SpooledRecord("back<1>&", "AV1", "availability", "critical", "<old> & gone", "passed", 0, 0)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "alone.notified.json").write_text(json.dumps({"announced": ["back<1>&"]}))
    notices = notify(env, _result([*records, back], tmp_path / "reports"))
    assert [r["status"] for r in notices["receivers"]] == ["sent", "sent"]
    posts = {p["path"]: p["body"] for p in receiver.posts}
    text = posts["/a"]["text"]
    assert "<" not in text and ">" not in text
    assert re.search(r"&(?!amp;|lt;|gt;)", text) is None, text
    plain = _unslack(text)
    for part in (observed, "AV1 <svc> & co", "DevOps <devops@example.com> & friends", "Restart <it> & see.",
                 "- AV1 <old> & gone passes again after failing for ", " s (back<1>&)"):
        assert part in plain, part
    raw = posts["/b"]
    assert raw["failures"][0]["observed"] == observed and observed in raw["text"]  # data, as it is
    (recovery,) = raw["recoveries"]
    assert recovery.pop("failed_for_s") >= 0  # since the old state file's time (it had no times)
    assert recovery == {"id": "back<1>&", "diagnosis": "AV1", "severity": "critical", "target": "<old> & gone"}


_HUGE = 200 * 1024 * 1024

_NOTIFY_IN_CHILD = """
import json, sys
from datetime import UTC, datetime
from pathlib import Path
from healthsuite.environment.loader import load_environment
from healthsuite.outputs.notices import notify
from healthsuite.outputs.records import CheckRecord, RecordBook
from healthsuite.outputs.result import RunEnvironment, RunResult

env = load_environment(Path(sys.argv[1]), {})
record = CheckRecord(id="a::b[home]", diagnosis="AV1", category="availability", severity="critical",
                     target="home", outcome="failed", observed="down")
now = datetime.now(UTC)
result = RunResult(RunEnvironment("alone"), now, now, 1, RecordBook(), [record], Path(sys.argv[2]))
notices = notify(env, result)
peak = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"notices": notices, "peak_mb": int(peak.split()[1]) / 1024}))
"""


def test_a_webhook_answering_hundreds_of_megabytes_costs_no_memory(tmp_path: Path) -> None:
    chunk = b"x" * (1024 * 1024)
    served: list[int] = []

    class Huge(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(500 if self.path == "/bad" else 200)
            self.send_header("Content-Length", str(_HUGE))
            self.end_headers()
            sent = 0
            try:
                self.wfile.write(b"quota exceeded: " + chunk[:100])
                while sent < _HUGE:  # generated as it goes: never held whole
                    self.wfile.write(chunk)
                    sent += len(chunk)
            except OSError:  # the client stopped reading: what is wanted
                pass
            served.append(sent)

        def log_message(self, *args: object) -> None:
            pass

    server, url = _serve(Huge)
    try:
        env = tmp_path / "env.yaml"
        env.write_text(f"name: alone\nkind: test\nnotify:\n  - {{name: ok, url: '{url}/ok', format: slack}}\n"
                       f"  - {{name: bad, url: '{url}/bad', format: json}}\n")
        done = subprocess.run([sys.executable, "-c", _NOTIFY_IN_CHILD, str(env), str(tmp_path / "reports")],
                              cwd=PROJECT, capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    receivers = {r["name"]: r for r in found["notices"]["receivers"]}
    assert receivers["ok"]["status"] == "sent" and receivers["ok"]["http_status"] == 200  # within the timeout
    assert receivers["bad"]["status"] == "failed"
    assert receivers["bad"]["error"].startswith("HTTP 500 Internal Server Error: quota exceeded: xxx")
    assert len(receivers["bad"]["error"]) < 300
    assert found["peak_mb"] < 150, found  # the answers (400 MB offered) were not read
    assert _state(tmp_path) == {"a::b[home]"}


def test_concurrent_runs_keep_every_announcement(tmp_path: Path) -> None:
    path = state_path(tmp_path / "reports", "alone")
    now = datetime.now(UTC)
    update_state(path, "alone", StateChange(announced={"old-1": now, "old-2": now}), now)
    writers = 16
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def run(number: int) -> None:
        try:
            start.wait()
            for round_ in range(5):
                update_state(path, "alone", StateChange(announced={f"run{number}-{round_}": now},
                                                        recovered=["old-1"]), now)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert _state(tmp_path) == {"old-2", *(f"run{n}-{r}" for n in range(writers) for r in range(5))}
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


def test_a_contacts_phone_and_pager_reach_every_output_on_one_line(
    tmp_path: Path, site: str, receiver: Receiver
) -> None:
    """`phone` and `pager` of an escalation contact, holding output separators (`|`, `;`, a line break,
    a tab), are named in the failure block, the JSON and JUnit records, the HTML report and the notice,
    each on the one escalation line, the same words everywhere."""
    closed = f"http://127.0.0.1:{free_port()}"
    env = tmp_path / "env.yaml"
    env.write_text(f"""
name: contacts
kind: test
timeouts: {{http_s: 2, connect_s: 1}}
escalation:
  infrastructure: {{primary: "DevOps on call <devops@example.com>", phone: "+1 555 | 0100;\\next.\\t7",
                    pager: "PD|ONCALL;\\n2", secondary: "CTO", secondary_phone: "+1 555 0199"}}
pages:
  - {{name: home, url: "{closed}/", content_type: text/html}}
{_slack(receiver)}
""")
    junit_path, page = tmp_path / "junit.xml", tmp_path / "report.html"
    done = _run(tmp_path, env, "--notify", f"--junitxml={junit_path}", f"--html-report={page}")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    expected = ("call DevOps Lead (DevOps on call <devops@example.com>, phone +1 555 | 0100; ext. 7, "
                "pager PD|ONCALL; 2), then CTO (phone +1 555 0199) if no answer within 15 minutes")
    (record,) = [r for r in _report(tmp_path)["checks"] if r["outcome"] == "failed"]
    assert record["escalation"].endswith(expected) and "\n" not in record["escalation"], record["escalation"]
    assert f"  escalate:    {record['escalation']}" in done.stdout.splitlines(), done.stdout[-3000:]
    from xml.etree import ElementTree  # noqa: PLC0415

    from healthsuite.outputs import junit  # noqa: PLC0415

    (case,) = list(ElementTree.parse(junit_path).getroot().iter("testcase"))
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    properties.update(junit.parse_lines("".join(out.text or "" for out in case.iter("system-out"))))
    assert properties["escalation"] == record["escalation"], properties
    text = page.read_text()
    assert "phone +1 555 | 0100; ext. 7, pager PD|ONCALL; 2" in text
    assert "&lt;devops@example.com&gt;" in text and "<devops@example.com>" not in text
    (post,) = receiver.posts
    notice = post["body"]["text"]
    assert "phone +1 555 | 0100; ext. 7, pager PD|ONCALL; 2), then CTO (phone +1 555 0199)" in notice, notice
