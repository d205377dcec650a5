"""The heartbeat: a scheduled run pings a dead man's switch when its checks start and when it ends, in
the Healthchecks.io convention, so that a run that never started, hung or died is noticed by the
switch, not by nobody.

- Start: `POST <url>/start`. End: `POST <url>/<exit status>` (0-255; Healthchecks.io reads 0 as
  success and any other as failure), with a short plain-text body: the environment, the exit status,
  the counts and the failing checks' ids, redacted and at most BODY_LIMIT bytes. Both carry the same
  `rid` (a run id, a UUID): the switch pairs a start with its end even when runs overlap.
- The URL is a secret (a Healthchecks.io ping URL holds the check's UUID): it is added to the
  environment's redactor, and shown only as `scheme://host/***`.
- Bounded like the notices (outputs.notices): each ping ends after HEARTBEAT_TIMEOUT_S, answer
  included (a daemon thread is left behind), and no more than ANSWER_LIMIT bytes of an answer are
  read. A ping that fails or hangs never changes the exit status: it is said in the terminal
  summary and in the report's `heartbeat` section.
"""

from __future__ import annotations

import ssl
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .. import __version__
from .delivery import ANSWER_LIMIT, read_bounded
from .notices import report_name
from .records import FAILING, CheckRecord
from .result import RunResult

HEARTBEAT_TIMEOUT_S = 5.0  # one ping, its answer included
BODY_LIMIT = 10_000  # bytes of a ping's body (Healthchecks.io keeps the first 10 KB by default)
FAILING_NAMED = 50  # failing checks named in the end ping's body; the others are counted
USER_AGENT = f"healthsuite/{__version__} (heartbeat)"
PYTEST_STATUS = {0: "passed", 1: "checks failed", 2: "interrupted", 3: "internal error", 4: "usage error",
                 5: "no checks collected", 6: "a target was not judged"}


def ping_address(url: str, suffix: str, run_id: str) -> str:
    """`url` with `/suffix` appended to its path (none for ""), and the run id as `rid` in its query
    (after any query the URL has, e.g. Healthchecks.io's `?create=1`)."""
    parts = urlsplit(url)
    path = f"{parts.path.rstrip('/')}/{suffix}" if suffix else parts.path
    query = "&".join(q for q in (parts.query, f"rid={run_id}" if run_id else "") if q)
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def shown(url: str) -> str:
    """How a ping URL may be shown: its scheme and host; its path and query are the secret."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, "/***", "", ""))


def clip_body(text: str, limit: int = BODY_LIMIT) -> bytes:
    """`text` as UTF-8, cut to `limit` bytes at a character boundary (a cut one ends in `…`)."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return data
    marker = "\n…".encode()
    return data[: limit - len(marker)].decode("utf-8", "ignore").encode("utf-8") + marker


def status_meaning(status: int, nagios: bool = False) -> str:
    """What an exit status says: pytest's (with healthsuite's 6), or the Nagios plugin state."""
    if nagios:
        return ("OK", "WARNING", "CRITICAL", "UNKNOWN")[status] if 0 <= status <= 3 else "?"
    return PYTEST_STATUS.get(status, "?")


def end_text(result: RunResult, status: int, meaning: str) -> str:
    """The end ping's body: one summary line, the counts, the failing checks (most severe first, their
    ids), the report; redacted."""
    counts: dict[str, int] = {}
    for entry in result.entries:
        counts[entry.outcome] = counts.get(entry.outcome, 0) + 1
    env = result.environment
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    failing: Sequence[CheckRecord] = sorted(
        (e for e in result.failing() if e.outcome in FAILING),
        key=lambda r: (order.get(r.severity, 9), r.diagnosis, r.id),
    )
    lines = [
        f"healthsuite {env.name} ({env.kind}): exit status {status} ({meaning}) in {result.duration_s:.1f} s",
        f"{len(result.entries)} checks: " + (", ".join(f"{n} {o}" for o, n in sorted(counts.items())) or "none"),
    ]
    if failing:
        lines.append("failing:")
        lines += [f"  {r.outcome} {r.severity} {r.diagnosis} {r.target or '-'}: {r.id}"
                  for r in failing[:FAILING_NAMED]]
        if len(failing) > FAILING_NAMED:
            lines.append(f"  ... {len(failing) - FAILING_NAMED} more in the report")
    for item in result.not_judged:
        lines.append(f"not judged: {item.get('target_kind', '')} {item.get('target', '')}".rstrip())
    lines.append(f"report: {report_name(result)}")
    return result.redact("\n".join(lines)) + "\n"


def unjudged_text(environment: str, status: int, meaning: str, why: str = "") -> str:
    """The end ping's body of a run that judged nothing (a usage error, an interruption)."""
    return f"healthsuite {environment}: exit status {status} ({meaning}): no check judged" + (
        f": {why}" if why else "") + "\n"


@dataclass
class Heartbeat:
    """The run's heartbeat: its URL (a secret), where it was given, and what became of each ping."""

    url: str
    source: str  # "--heartbeat", "heartbeat.url in production.yaml"
    redact: Callable[[str], str] = str
    verify: ssl.SSLContext | bool = True
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_s: float = HEARTBEAT_TIMEOUT_S
    problem: str = ""  # why no ping can be sent (an unset variable): each ping fails, saying so
    started: dict[str, Any] | None = None
    ended: dict[str, Any] | None = None

    def start(self, text: str) -> dict[str, Any]:
        self.started = self._ping("start", text)
        return self.started

    def end(self, status: int, text: str) -> dict[str, Any]:
        self.ended = self._ping(str(max(0, min(255, status))), text)
        return self.ended

    def section(self) -> dict[str, Any]:
        """The report's `heartbeat` section."""
        return {"url": shown(self.url), "source": self.source, "run_id": self.run_id,
                "start": self.started, "end": self.ended}

    def _ping(self, suffix: str, text: str) -> dict[str, Any]:
        if self.problem:
            return {"ping": suffix, "status": "failed", "error": self.redact(self.problem), "elapsed_s": 0.0}
        address = ping_address(self.url, suffix, self.run_id)
        outcome: dict[str, Any] = {"ping": suffix, "status": "failed",
                                   "error": f"no answer within {self.timeout_s:g} s"}
        started = time.monotonic()
        thread = threading.Thread(target=_post, args=(address, clip_body(self.redact(text)), self.verify,
                                                      self.timeout_s, self.redact, outcome),
                                  daemon=True, name=f"healthsuite-heartbeat-{suffix}")
        thread.start()
        thread.join(self.timeout_s)
        seen = dict(outcome)  # what the thread had when the time was up; it is left behind
        seen["elapsed_s"] = round(time.monotonic() - started, 3)
        if seen["status"] == "sent":
            seen.pop("error", None)
        return seen


def _post(address: str, body: bytes, verify: ssl.SSLContext | bool, timeout_s: float,
          redact: Callable[[str], str], outcome: dict[str, Any]) -> None:
    """POST `body` to `address`; sets `outcome`'s status, http_status and error in one update (the
    caller may read it while this thread is still out)."""
    import httpx  # only a run with a heartbeat pays for it

    headers = {"content-type": "text/plain; charset=utf-8", "user-agent": USER_AGENT, "accept-encoding": "identity"}
    try:
        with httpx.Client(verify=verify, trust_env=False, follow_redirects=False) as client, client.stream(
            "POST", address, content=body, headers=headers, timeout=httpx.Timeout(timeout_s)
        ) as response:
            status, reason = response.status_code, response.reason_phrase
            answer = read_bounded(response.iter_raw(), ANSWER_LIMIT)
    except httpx.TimeoutException:
        return  # the outcome says so already
    except Exception as exc:  # noqa: BLE001 - a heartbeat never breaks the run
        outcome.update(error=redact(f"{type(exc).__name__}: {exc}"))
        return
    if 200 <= status < 300:
        outcome.update(http_status=status, status="sent", error="")
        return
    said = " ".join(answer[:400].decode("utf-8", "replace").split())[:200]
    outcome.update(http_status=status, error=redact(f"HTTP {status} {reason}" + (f": {said}" if said else "")))


def summary_lines(section: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """The terminal's lines about the heartbeat: (line, it went wrong)."""
    lines: list[tuple[str, bool]] = []
    for name in ("start", "end"):
        ping = section.get(name)
        if not ping:
            continue
        what = "start ping" if name == "start" else f"end ping (exit status {ping['ping']})"
        if ping["status"] == "sent":
            lines.append((f"healthsuite: heartbeat {what} sent to {section['url']}", False))
        else:
            lines.append((f"healthsuite: heartbeat {what} to {section['url']} NOT SENT: {ping['error']}", True))
    return lines
