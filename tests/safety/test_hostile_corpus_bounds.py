"""One real run per hostile surface, bounded as a whole (the issue "Safe when the input is hostile:
memory and time bounded everywhere"): for each surface ONE `pytest checks` subprocess against an
environment full of hostile inputs must (a) end with a verdict (exit 1, failures reported; never a
traceback, INTERNALERROR or a kill), (b) stay under 1 GB of peak RSS (wait4's ru_maxrss of that child
alone, tests.hostile_corpus.measured), (c) end within its run deadline plus the slowest bounded
exchange and generous slack, and (d) fail each hostile case's check with a clean message naming the
limit. A pattern too large to search is refused at load instead: its own run, exit 4, located.

Surfaces: regex bombs wherever a pattern goes; JSON bombs (deep, wide, a huge number, a huge string)
in AV2 and declared http checks; bodies (a 1 GiB page, a trickle, a 1 GiB webhook answer, a notice
receiver and a pushgateway answering 1 GiB or never, a pushgateway URL with userinfo)."""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from healthsuite.model.regexes import MAX_REPEAT, SEARCH_TIMEOUT_S
from healthsuite.outputs.delivery import NOTIFY_TIMEOUT_S
from healthsuite.outputs.prometheus import PUSH_TIMEOUT_S
from healthsuite.probes.http import JSON_MAX_BYTES, JSON_MAX_DEPTH
from healthsuite.testing.hostile import TrickleBodyListener, TrickleHeadersListener
from tests.conftest import CHECKS, PROJECT
from tests.hostile_corpus import Measured, measured
from tests.localhttp import running

PEAK_LIMIT_MB = 1024
GIB = 1 << 30
KILL_AFTER_S = 300  # the test kills a run that is still going here (a hang): far past every bound below
# a run's wall time also holds what no deadline covers: the interpreter's start, importing the checks and
# their collection, writing the reports, under the load of a shared 2-core machine running other suites
START_AND_REPORT_SLACK_S = 60.0
RUN_DEADLINE_S = 20.0  # --run-deadline of every run here
HTTP_S = 5.0  # timeouts.http_s of every file here: the slowest single exchange of a run


def _wall_bound(*after_run: float) -> float:
    """The run deadline, then the slowest exchange one could still be finishing when it passed (cut at
    the deadline, but its socket is reaped on the next tick), then what is sent after the run (notices,
    the push: each ends after its own timeout), plus START_AND_REPORT_SLACK_S."""
    return RUN_DEADLINE_S + HTTP_S + sum(after_run) + START_AND_REPORT_SLACK_S


# --- a loopback server whose answers are shaped per path, huge ones generated lazily -----------------

CHUNK = b"a" * 65536


@dataclass
class Asked:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Shaped:
    """What the server answers a path: status, content type, and the body as an iterator of chunks with
    its length (the 1 GiB ones are generated while sent, never held)."""

    status: int
    content_type: str
    length: int
    chunks: Any = None

    def body(self) -> Iterator[bytes]:
        return iter(self.chunks()) if callable(self.chunks) else iter(())


def fixed(status: int, content_type: str, body: bytes) -> Shaped:
    return Shaped(status, content_type, len(body), lambda: (body,))


def huge(status: int, size: int = GIB, content_type: str = "text/plain") -> Shaped:
    def chunks() -> Iterator[bytes]:
        left = size
        while left > 0:
            yield CHUNK[:left]
            left -= len(CHUNK)
    return Shaped(status, content_type, size, chunks)


def repeated(head: bytes, unit: bytes, count: int, tail: bytes) -> Shaped:
    """`head` + `unit` * count + `tail`, sent in pieces (megabytes of `{},` is never one bytes object)."""
    per = max(1, len(CHUNK) // len(unit))

    def chunks() -> Iterator[bytes]:
        yield head
        left = count
        block = unit * per
        while left > 0:
            yield block if left >= per else unit * left
            left -= per
        yield tail
    return Shaped(200, "application/json", len(head) + len(unit) * count + len(tail), chunks)


@dataclass
class Served:
    url: str
    asked: list[Asked] = field(default_factory=list)


@contextmanager
def shaped_server(routes: dict[str, Shaped]) -> Iterator[Served]:
    """Each path's answer by its longest matching prefix in `routes` (404 else); every request recorded."""
    served = Served("")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(min(length, 1 << 20))
            served.asked.append(Asked(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
            key = max((p for p in routes if self.path.startswith(p)), key=len, default=None)
            shape = routes[key] if key is not None else fixed(404, "text/plain", b"no")
            self.send_response(shape.status)
            self.send_header("Content-Type", shape.content_type)
            self.send_header("Content-Length", str(shape.length))
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for chunk in shape.body():
                    self.wfile.write(chunk)
            except OSError:
                pass  # the client stopped reading: what it should do
            self.close_connection = True

        do_GET = do_POST = do_PUT = do_HEAD = _answer  # noqa: N815 - http.server's names

        def log_message(self, *args: object) -> None:
            pass

    with running(Handler) as url:
        served.url = url
        yield served


# --- one run ------------------------------------------------------------------------------------------


def _run(tmp_path: Path, text: str, *args: str, environ: dict[str, str] | None = None
         ) -> tuple[Measured, dict[str, Any], Path]:
    env = tmp_path / "hostile.yaml"
    env.write_text(text)
    reports = tmp_path / "reports"
    done = measured([sys.executable, "-m", "pytest", str(CHECKS), f"--env={env}", f"--reports-dir={reports}",
                     "-p", "no:cacheprovider", "-p", "no:randomly", "-q", "--run-deadline", f"{RUN_DEADLINE_S:g}",
                     *args], cwd=PROJECT, timeout_s=KILL_AFTER_S, env=environ)
    print(f"\n{tmp_path.name}: exit {done.returncode}, wall {done.wall_s:.1f} s, peak RSS {done.peak_rss_mb:.0f} MB")
    latest = reports / "latest.json"
    return done, json.loads(latest.read_text()) if latest.exists() else {"checks": []}, reports


def _verdict(done: Measured, bound_s: float, status: int = 1) -> None:
    output = done.stdout + done.stderr
    assert not done.timed_out and done.returncode == status, done.tail()
    assert "Traceback" not in output and "INTERNALERROR" not in output and "MemoryError" not in output, done.tail()
    assert done.peak_rss_mb < PEAK_LIMIT_MB, done.tail()
    assert done.wall_s < bound_s, (bound_s, done.tail())


def _failed(report: dict[str, Any], expected: dict[str, tuple[str, ...]]) -> None:
    """Each target's records failed, and each says one of the limits named for it."""
    records: dict[str, list[dict[str, Any]]] = {}
    for record in report["checks"]:
        records.setdefault(record["target"], []).append(record)
    for target, limits in expected.items():
        assert target in records, (target, sorted(records))
        for record in records[target]:
            said = f"{record.get('observed')} {record.get('meaning', '')} {record.get('message', '')}"
            assert record["outcome"] == "failed", record
            assert any(limit in said for limit in limits), (limits, record)


# --- regex bombs, wherever a pattern goes ----------------------------------------------------------------

LINE = "a" * 34 + "!"  # the issue's subject: (a+)+$ on it backtracks for hours in `re`
BOMBS = {"alternation": "(a|aa)+$", "nested": "((a|aa)+)+$", "issue": "(a+)+$"}
REGEX_LIMITS = (f"took over {SEARCH_TIMEOUT_S:g} s", "ran out of time")


def test_regex_bombs_in_every_place_a_pattern_goes_fail_their_checks_in_one_bounded_run(tmp_path: Path) -> None:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    (tmp_path / "plain.log").write_text(f"{LINE}\n" * 50)
    (tmp_path / "app.log").write_text("".join(
        json.dumps({"ts": now, "level": "info", "msg": LINE}) + "\n" for _ in range(50)))
    (tmp_path / "worker.log").write_text(f"{now} {LINE}\n" * 50)
    routes = {"/page": fixed(200, "text/plain", LINE.encode()),
              "/health": fixed(200, "application/json", json.dumps({"status": LINE}).encode())}
    alternation, nested = BOMBS["alternation"], BOMBS["nested"]
    with shaped_server(routes) as site:
        done, report, _ = _run(tmp_path, f"""\
name: regex-bombs
kind: test
timeouts: {{http_s: {HTTP_S:g}}}
health:
  - {{name: av2-matches, url: "{site.url}/health", body: [{{path: status, matches: "{alternation}"}}]}}
  - {{name: av2-nested, url: "{site.url}/health/n", body: [{{path: status, matches: "{nested}"}}]}}
  - {{name: av2-issue, url: "{site.url}/health/i", body: [{{path: status, matches: "{BOMBS['issue']}"}}]}}
logs:
  - {{name: app, path: app.log, format: json, timestamp_field: ts, message_field: msg}}
  - {{name: worker, path: worker.log, format: regex, regex: '^(?P<ts>\\S+) (?P<message>(?:{alternation[:-1]}))$'}}
declared_checks:
  - {{name: declared-matches, diagnosis: AV1, http: {{url: "{site.url}/page"}}, expect: body matches /{alternation}/}}
  - {{name: declared-nested, diagnosis: AV1, http: {{url: "{site.url}/page/n"}}, expect: body matches /{nested}/}}
  - {{name: plain-file, diagnosis: LOG1, file: {{path: plain.log, pattern: '{alternation}'}}, expect: matches == 0}}
  - {{name: log-file, diagnosis: LOG1, file: {{log: app, pattern: '{nested}'}}, expect: matches == 0}}
""", "--diagnosis", "AV1,AV2,LOG1,LOG2")
    # the searches are each cut at SEARCH_TIMEOUT_S; nothing is sent after the run
    _verdict(done, _wall_bound())
    _failed(report, {target: REGEX_LIMITS for target in (
        "av2-matches", "av2-nested", "declared-matches", "declared-nested", "plain-file", "log-file")})
    # the issue's (a+)+$ is answered at once (no match), not cut: the bounded search sees through it
    issue = next(r for r in report["checks"] if r["target"] == "av2-issue")
    assert issue["outcome"] == "failed" and "took over" not in issue["observed"] and LINE in issue["observed"], issue
    worker = [r for r in report["checks"] if r["target"] == "worker" and r["diagnosis"] == "LOG1"]
    assert worker and all(r["outcome"] == "failed" and "ran out of time" in str(r["observed"]) for r in worker)


REFUSED_FILES = {  # the model's patterns are refused together; declared checks' once the model is valid
    "model": ("""\
name: regex-refused
kind: test
health:
  - {name: api, url: "http://127.0.0.1:9/health", body: [{path: status, matches: "x{4294967294}"}]}
logs:
  - {name: app, path: app.log, format: regex, regex: '^(?P<ts>\\S+) (?P<message>x{4294967294})$'}
""", {4: "health[0].body[0]", 6: "logs[0]"}),
    "declared": ("""\
name: regex-refused
kind: test
declared_checks:
  - {name: page, diagnosis: AV1, http: {url: "http://127.0.0.1:9/"}, expect: "body matches /x{4294967294}/"}
  - {name: plain-file, diagnosis: LOG1, file: {path: plain.log, pattern: 'x{4294967294}'}, expect: matches == 0}
""", {4: "declared_checks[0].expect", 5: "declared_checks[1].file.pattern"}),
}


@pytest.mark.parametrize("kind", list(REFUSED_FILES))
def test_a_pattern_too_large_to_search_is_a_located_load_error_in_its_own_run(tmp_path: Path, kind: str) -> None:
    text, located = REFUSED_FILES[kind]
    (tmp_path / "plain.log").write_text("x\n")
    done, report, _ = _run(tmp_path, text)
    _verdict(done, START_AND_REPORT_SLACK_S, status=4)  # refused at load: no exchange is made
    output = done.stdout + done.stderr
    for line, key in located.items():
        assert f"line {line}" in output and key in output, (line, key, done.tail())
    assert f"at most {MAX_REPEAT:,}" in output and "fix:" in output, done.tail()
    assert report["checks"] == []


# --- JSON bombs in AV2 and declared http checks; a pushgateway that never answers ------------------------

JSON_BOMBS = {
    "deep": (fixed(200, "application/json", b"[" * 100_000 + b"]" * 100_000),
             (f"nested deeper than {JSON_MAX_DEPTH} levels",)),
    # 3.1 million empty objects (9.4 MB): past the JSON limit, yet not so large that moving it over loopback
    # on a loaded machine comes near the 5 s exchange timeout (60 MB once did, and the check said that instead)
    "wide": (repeated(b"[", b"{},", 3 * 1024 * 1024 + 65536, b"{}]"), (f"over the {JSON_MAX_BYTES:,}",)),
    "number": (repeated(b'{"status": 1', b"0", 5_000_000, b"}"), (f"more than {sys.get_int_max_str_digits():,} digits",)),  # 5 MB: one integer
    "string": (repeated(b'{"status": "', b"x", 10 * 1024 * 1024, b'"}'), (f"over the {JSON_MAX_BYTES:,}",)),
}


def test_json_bombs_fail_av2_and_declared_checks_and_a_silent_pushgateway_is_left_in_one_bounded_run(
    tmp_path: Path
) -> None:
    routes = {f"/{name}": shape for name, (shape, _) in JSON_BOMBS.items()}
    health = "".join(f'  - {{name: json-{name}, url: "URL/{name}", body: [{{path: status, equals: ok}}]}}\n'
                     for name in JSON_BOMBS)
    declared = "".join(f'  - {{name: declared-{name}, diagnosis: AV1, http: {{url: "URL/{name}/d"}}, '
                       f'expect: json.status == "ok"}}\n' for name in JSON_BOMBS)
    with shaped_server(routes) as site, TrickleHeadersListener(interval_s=0.5) as gateway:
        done, report, _ = _run(tmp_path, f"""\
name: json-bombs
kind: test
timeouts: {{http_s: {HTTP_S:g}}}
http: {{max_body_bytes: 67108864}}
health:
{health}declared_checks:
{declared}""".replace("URL", site.url), "--diagnosis", "AV1,AV2", "--pushgateway", f"http://127.0.0.1:{gateway.port}/")
        pushed = gateway.requests
    _verdict(done, _wall_bound(PUSH_TIMEOUT_S + 1.0))  # the push is left after its timeout (plus a second)
    _failed(report, {f"{prefix}-{name}": limits for name, (_, limits) in JSON_BOMBS.items()
                     for prefix in ("json", "declared")})
    assert pushed == 1 and f"no answer within {PUSH_TIMEOUT_S:g} s" in done.stdout + done.stderr, done.tail()


# --- bodies: 1 GiB and never-ending answers of a page, a webhook, a notice receiver and a pushgateway -----

PUSH_USER, PUSH_SECRET = "pusher", "push-s3cret-7f2c"


def test_huge_and_endless_bodies_and_receivers_are_cut_in_one_bounded_run(tmp_path: Path) -> None:
    routes = {"/huge": huge(200, content_type="text/html"), "/webhook": huge(401),
              "/provider": fixed(200, "application/json", b'{"status": true}'),
              "/notice": huge(500), "/metrics": huge(500)}
    with shaped_server(routes) as site, TrickleBodyListener(interval_s=0.5) as trickle, \
            TrickleHeadersListener(interval_s=0.5) as silent:
        environ = {**os.environ, "PAYSTACK_SECRET_KEY": "sk_test_" + "k" * 40}
        done, report, reports = _run(tmp_path, f"""\
name: bodies
kind: test
timeouts: {{http_s: {HTTP_S:g}}}
base_urls: {{app: "{site.url}"}}
escalation:
  infrastructure: {{primary: "DevOps on call <devops@example.com>", channel: "#incidents"}}
pages:
  - {{name: gib-page, path: /huge, content_type: text/html}}
  - {{name: trickle-page, url: "http://127.0.0.1:{trickle.port}/", content_type: text/html}}
health:
  - {{name: gib-health, path: /huge/health, body: [{{path: status, equals: ok}}]}}
declared_checks:
  - {{name: gib-declared, diagnosis: AV1, http: {{url: "{site.url}/huge/declared"}}, expect: json.status == "ok"}}
payments:
  provider: {{url: "{site.url}/provider", secret: "${{PAYSTACK_SECRET_KEY}}"}}
  webhook: {{path: /webhook}}
notify:
  - {{name: gib-receiver, url: "{site.url}/notice", format: json}}
  - {{name: silent-receiver, url: "http://127.0.0.1:{silent.port}/x", format: slack}}
""", "--diagnosis", "AV1,AV2,PAY2,PAY3", "--notify",
            "--pushgateway", f"http://{PUSH_USER}:{PUSH_SECRET}@{site.url.removeprefix('http://')}",
            environ=environ)
        asked = list(site.asked)
    # the notices are sent after the run, within NOTIFY_TIMEOUT_S, then the push, within PUSH_TIMEOUT_S + 1 s
    _verdict(done, _wall_bound(NOTIFY_TIMEOUT_S, PUSH_TIMEOUT_S + 1.0))
    output = done.stdout + done.stderr
    body_limit = "the body is larger than the 1,048,576 bytes read (http.max_body_bytes)"  # the default bound
    _failed(report, {"gib-health": (body_limit,), "gib-declared": (body_limit,),
                     "trickle-page": (f"within its {HTTP_S:g} s deadline (the body was still arriving)",)})
    records = {(r["diagnosis"], r["target"]): r for r in report["checks"]}
    # a page of 1 GiB that answers 200 with its type is available (AV1 reads it up to max_body_bytes)
    assert records["AV1", "gib-page"]["outcome"] == "passed", records["AV1", "gib-page"]
    webhook = records["PAY2", "paystack-webhook"]  # its 401 and 1 GiB body: refused, the body shown cut
    assert webhook["outcome"] == "failed" and "HTTP 401" in webhook["observed"], webhook
    assert len(webhook["observed"]) < 2000, webhook
    # after the run: a receiver answering 500 with 1 GiB, one that never answers, the push answering 500
    assert "notice to gib-receiver NOT SENT: HTTP 500" in output, done.tail()
    assert f"notice to silent-receiver NOT SENT: no answer within {NOTIFY_TIMEOUT_S:g} s" in output, done.tail()
    assert "metrics NOT PUSHED to http://***@127.0.0.1:" in output and "HTTP Error 500" in output, done.tail()
    assert max(map(len, output.splitlines())) < 4000, done.tail()
    # the pushgateway's password went in a basic-auth header, never into the URL, a report or the output
    pushes = [a for a in asked if a.method == "PUT" and a.path.startswith("/metrics/job/healthsuite/")]
    token = base64.b64encode(f"{PUSH_USER}:{PUSH_SECRET}".encode()).decode()
    assert len(pushes) == 1 and pushes[0].headers.get("authorization") == f"Basic {token}", asked
    assert PUSH_SECRET not in output and token not in output
    for path in reports.rglob("*"):
        if path.is_file():
            text = path.read_bytes()
            assert PUSH_SECRET.encode() not in text and token.encode() not in text, path
