"""Escalation notices: `--notify` posts one message per run to the environment's `notify:` webhooks.

- What is announced: the checks failing now at critical or high severity that were not announced
  before (new failures), and the checks announced before that pass now (recoveries). A failure goes
  on failing unannounced while it persists; its recovery is announced once, and it is forgotten.
  Severity decides, as it decides who is called (runbook 000): a `--fail-on` warning is announced too.
- What was announced is kept per environment beside the reports, `<reports>/<env>-notified.json`
  (the ids of the announced failing checks); a missing or unreadable file starts afresh. It is
  written when at least one webhook accepted the notice, so a notice nobody received is sent again.
- The message follows runbook 000's "Escalation Communication Template" (issue, severity,
  environment, time, affected systems, then each failure's observation, next steps, runbook and who
  to call, from failure.escalation_line), every string through the environment's redactor.
- Sending is bounded: every webhook is posted at once, and after NOTIFY_TIMEOUT_S the run goes on
  without those that did not answer. A failure to send is said in the terminal summary and the
  report's `notices` section; it never fails the run or changes its exit status.
"""

from __future__ import annotations

import json
import os
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from .. import __version__
from ..catalogue import Catalogue, Severity, load_catalogue
from ..envfile import LoadedEnvironment
from ..failure import escalation_line
from ..model.notify import Webhook
from ..templates import MissingVariable
from .records import CheckRecord, Entry
from .result import RunResult

NOTIFY_TIMEOUT_S = 5.0  # the whole sending, every webhook at once
SERIOUS = ("critical", "high")  # the severities that call someone (failure.escalation_line)
FAILING = ("failed", "error", "warned")
DETAILED = 10  # failures told in full in one notice; the others are counted
MAX_TEXT = 12_000  # characters of a notice's text (Slack truncates a message at 40,000)
USER_AGENT = f"healthsuite/{__version__} (notify)"


# --- what to announce ---------------------------------------------------------------------------------


@dataclass
class Announcement:
    failures: list[CheckRecord]  # failing now, not announced before
    recoveries: list[Entry]  # announced before, passing now
    announced: set[str]  # what is announced once this notice is received

    @property
    def empty(self) -> bool:
        return not self.failures and not self.recoveries


def _order(severity: str) -> int:
    return SERIOUS.index(severity) if severity in SERIOUS else len(SERIOUS)


def announcement(entries: Iterable[Entry], announced: set[str]) -> Announcement:
    """New serious failures and recoveries of this run, against what was announced before. A check
    announced before that did not run now (deselected) or is skipped stays announced."""
    entries = list(entries)
    failures = [
        e for e in entries
        if isinstance(e, CheckRecord) and e.outcome in FAILING and e.severity in SERIOUS and e.id not in announced
    ]
    failures.sort(key=lambda r: (_order(r.severity), r.diagnosis, r.id))
    recoveries = sorted((e for e in entries if e.id in announced and e.outcome == "passed"), key=lambda e: e.id)
    now = (announced - {e.id for e in recoveries}) | {r.id for r in failures}
    return Announcement(failures, recoveries, now)


def read_state(path: Path) -> tuple[set[str], str]:
    """The ids announced before, and a note when the file could not be read (then none were)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return set(), ""
    except (OSError, ValueError) as exc:
        return set(), f"{path.name} could not be read ({type(exc).__name__}); every failure counts as new"
    ids = data.get("announced") if isinstance(data, dict) else None
    if not isinstance(ids, list):
        return set(), f"{path.name} has no `announced` list; every failure counts as new"
    return {i for i in ids if isinstance(i, str)}, ""


def write_state(path: Path, env_name: str, announced: set[str], now: datetime) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(
        {"environment": env_name, "updated": now.isoformat(timespec="seconds"), "announced": sorted(announced)},
        indent=2,
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- the message (runbook 000, "Escalation Communication Template") ----------------------------------


def _section(message: str, heading: str) -> list[str]:
    """The items under `heading` in a failure block (failure.compose): `  what to do:` then
    `    1. step` lines."""
    lines = message.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == heading)
    except StopIteration:
        return []
    items = []
    for line in lines[start + 1:]:
        if not line.startswith("    "):
            break
        item = line.strip()
        number, dot, rest = item.partition(". ")
        items.append(rest if dot and number.isdigit() else item.removeprefix("- "))
    return items


def _field(message: str, name: str) -> str:
    prefix = f"  {name}:"
    return next((line[len(prefix):].strip() for line in message.splitlines() if line.startswith(prefix)), "")


def _who_to_call(record: CheckRecord, catalogue: Catalogue, env: LoadedEnvironment) -> str:
    entry = catalogue.diagnoses.get(record.diagnosis)
    if entry is None:
        return _field(record.message, "escalate")
    severity: Severity = record.severity if record.severity in catalogue.severity_tiers else entry.severity
    return escalation_line(entry, severity, catalogue, env.model.escalation)


def _failure(record: CheckRecord, catalogue: Catalogue, env: LoadedEnvironment) -> dict[str, Any]:
    entry = catalogue.diagnoses.get(record.diagnosis)
    first_line = record.message.splitlines()[0] if record.message else ""
    return {
        "id": record.id,
        "diagnosis": record.diagnosis,
        "title": entry.title if entry else first_line,
        "severity": record.severity,
        "category": record.category,
        "target": record.target,
        "system": _field(record.message, "target") or record.target,  # e.g. page 'home': GET https://...
        "outcome": record.outcome,
        "observed": record.observed or _field(record.message, "observed") or first_line,
        "expected": record.expected or _field(record.message, "expected"),
        "next_steps": _section(record.message, "what to do:"),
        "runbook": list(record.runbook),
        "who_to_call": _who_to_call(record, catalogue, env),
    }


def _recovery(entry: Entry) -> dict[str, Any]:
    return {"id": entry.id, "diagnosis": entry.diagnosis, "severity": entry.severity, "target": entry.target}


def notice_text(env: LoadedEnvironment, failures: Sequence[Mapping[str, Any]],
                recoveries: Sequence[Mapping[str, Any]], now: datetime, still_failing: int) -> str:
    """The notice as runbook 000's escalation template reads: plain text, one line per field."""
    name, kind = env.name, env.model.kind
    stamp = now.strftime("%Y-%m-%d %H:%M:%S UTC")
    lines: list[str] = []
    if failures:
        severity = failures[0]["severity"]
        issues = "; ".join(f"{f['diagnosis']} {f['title']} ({f['target'] or '-'})" for f in failures[:3])
        more = f"; and {len(failures) - 3} more" if len(failures) > 3 else ""
        lines += [
            "🔴 ESCALATION REQUIRED",
            "",
            f"Issue: {issues}{more}",
            f"Severity: {severity.capitalize()}",
            f"Environment: {name} ({kind})",
            f"Time: {stamp}",
            "",
            "DETAILS:",
            f"- Affected Systems: {'; '.join(dict.fromkeys(f['system'] for f in failures))}",
            f"- New failures: {len(failures)}" + (f"; recovered: {len(recoveries)}" if recoveries else "")
            + (f"; still failing, announced before: {still_failing}" if still_failing else ""),
        ]
        for number, failure in enumerate(failures[:DETAILED], start=1):
            lines += [
                "",
                f"{number}. [{failure['severity']}] {failure['diagnosis']} {failure['title']}",
                f"   target:   {failure['system'] or '-'} ({failure['id']})",
                f"   observed: {failure['observed']}",
                f"   expected: {failure['expected']}",
            ]
            if failure["next_steps"]:
                lines.append("   NEXT STEPS REQUIRED:")
                lines += [f"   - {step}" for step in failure["next_steps"]]
            if failure["runbook"]:
                lines.append(f"   runbook:  {'; '.join(failure['runbook'])}")
            lines.append(f"   CONTACT:  {failure['who_to_call']}")
        if len(failures) > DETAILED:
            lines += ["", f"... and {len(failures) - DETAILED} more new failures: see the run's report"]
    else:
        lines += [
            "✅ RECOVERED",
            "",
            f"Issue: {len(recoveries)} check(s) announced before pass again",
            "Severity: resolved",
            f"Environment: {name} ({kind})",
            f"Time: {stamp}",
        ] + ([f"Still failing, announced before: {still_failing}"] if still_failing else [])
    if recoveries:
        lines += ["", "RECOVERED:"]
        lines += [f"- {r['diagnosis']} {r['target'] or '-'} passes again ({r['id']})" for r in recoveries]
    lines += ["", f"Escalated by: healthsuite {__version__} (pytest --env {name} --notify)"]
    text = "\n".join(lines)
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 40].rsplit("\n", 1)[0] + "\n... (cut: see the run's report)"
    return text


def payload(hook: Webhook, text: str, env: LoadedEnvironment, failures: Sequence[Mapping[str, Any]],
            recoveries: Sequence[Mapping[str, Any]], now: datetime) -> dict[str, Any]:
    """What a webhook receives, every string redacted: Slack's `{"text": ...}`, or the notice's parts."""
    if hook.format == "slack":
        body: dict[str, Any] = {"text": text}
    else:
        body = {
            "source": f"healthsuite {__version__}",
            "kind": "escalation" if failures else "recovery",
            "environment": {"name": env.name, "kind": env.model.kind},
            "time": now.isoformat(timespec="seconds"),
            "severity": failures[0]["severity"] if failures else "resolved",
            "failures": list(failures),
            "recoveries": list(recoveries),
            "text": text,
        }
    return cast(dict[str, Any], env.redactor.redact_data(body))


# --- sending ------------------------------------------------------------------------------------------


@dataclass
class Receiver:
    hook: Webhook
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    problem: str = ""  # why it cannot be sent to (an unset variable)


def receivers(env: LoadedEnvironment) -> list[Receiver]:
    """The declared webhooks, resolved; each resolved URL and header value is a secret from now on
    (the whole URL: a webhook's path is its credential)."""
    found = []
    for index, hook in enumerate(env.model.notify):
        receiver = Receiver(hook)
        try:
            receiver.url = env.resolve(hook.url, f"notify[{index}].url in {env.path.name}")
            receiver.headers = {
                key: env.resolve(value, f"notify[{index}].headers.{key} in {env.path.name}")
                for key, value in hook.headers.items()
            }
        except MissingVariable as exc:
            receiver.problem = exc.reason()
        for secret in (receiver.url, *(env.variables.get(n, "") for n in hook.url.variables)):
            env.redactor.add(secret)
        found.append(receiver)
    return found


def _verify(env: LoadedEnvironment) -> ssl.SSLContext | bool:
    settings = env.model.http
    if not settings.verify_tls:
        return False
    context = ssl.create_default_context()
    if settings.ca_bundle is not None:
        context.load_verify_locations(cafile=str(env.resolve_path(settings.ca_bundle)))
    return context


def _post(receiver: Receiver, body: bytes, verify: ssl.SSLContext | bool, timeout_s: float,
          redact: Callable[[str], str]) -> dict[str, Any]:
    import httpx  # only a run that notifies pays for it

    result: dict[str, Any] = {"name": receiver.hook.name, "format": receiver.hook.format}
    headers = {"content-type": "application/json", "user-agent": USER_AGENT, **receiver.headers}
    try:
        response = httpx.post(
            receiver.url, content=body, headers=headers, timeout=httpx.Timeout(timeout_s), verify=verify,
            trust_env=False, follow_redirects=False,
        )
    except httpx.TimeoutException:
        return {**result, "status": "failed", "error": f"no answer within {timeout_s:g} s"}
    except (httpx.HTTPError, OSError, ValueError) as exc:
        return {**result, "status": "failed", "error": redact(f"{type(exc).__name__}: {exc}")}
    result["http_status"] = response.status_code
    if not 200 <= response.status_code < 300:
        said = " ".join(response.text[:200].split())
        error = f"HTTP {response.status_code} {response.reason_phrase}" + (f": {said}" if said else "")
        return {**result, "status": "failed", "error": redact(error)}
    return {**result, "status": "sent"}


def send(targets: Sequence[Receiver], bodies: Sequence[bytes], verify: ssl.SSLContext | bool,
         redact: Callable[[str], str], timeout_s: float = NOTIFY_TIMEOUT_S) -> list[dict[str, Any]]:
    """Post each body to its receiver, all at once; after `timeout_s` those still out are reported
    as not answering and left behind (daemon threads, each bounded by its own timeout too)."""
    results: dict[int, dict[str, Any]] = {}
    lock = threading.Lock()
    until = time.monotonic() + timeout_s

    def work(index: int, receiver: Receiver, body: bytes) -> None:
        try:
            outcome = _post(receiver, body, verify, timeout_s, redact)
        except Exception as exc:  # noqa: BLE001 - a notice never breaks the run
            outcome = {"name": receiver.hook.name, "format": receiver.hook.format, "status": "failed",
                       "error": redact(f"{type(exc).__name__}: {exc}")}
        with lock:
            results[index] = outcome

    threads = []
    for index, (receiver, body) in enumerate(zip(targets, bodies, strict=True)):
        if receiver.problem:
            results[index] = {"name": receiver.hook.name, "format": receiver.hook.format, "status": "failed",
                              "error": redact(receiver.problem)}
            continue
        thread = threading.Thread(target=work, args=(index, receiver, body), daemon=True,
                                  name=f"healthsuite-notify-{receiver.hook.name}")
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(max(0.0, until - time.monotonic()))
    with lock:
        done = dict(results)
    return [
        done.get(index) or {"name": r.hook.name, "format": r.hook.format, "status": "failed",
                            "error": f"no answer within {timeout_s:g} s"}
        for index, r in enumerate(targets)
    ]


def state_path(reports_dir: Path, env_name: str) -> Path:
    return reports_dir / f"{env_name}.notified.json"


def notify(env: LoadedEnvironment, result: RunResult, *, keep_state: bool = True,
           now: datetime | None = None, timeout_s: float = NOTIFY_TIMEOUT_S) -> dict[str, Any]:
    """Announce this run's news to the environment's webhooks; the report's `notices` section."""
    entries, reports_dir = result.entries, result.reports_dir
    now = now or datetime.now(UTC)
    path = state_path(reports_dir, env.name)
    section: dict[str, Any] = {"state_file": str(path), "receivers": []}
    if not env.model.notify:
        section["note"] = "the environment file declares no `notify:` webhooks: nothing was sent"
        return section
    before, note = read_state(path)
    news = announcement(entries, before)
    still = len(news.announced - {f.id for f in news.failures})
    section.update(failures=len(news.failures), recoveries=len(news.recoveries),
                   announced=[f.id for f in news.failures], recovered=[r.id for r in news.recoveries])
    if note:
        section["note"] = note
    if news.empty:
        section["note"] = f"nothing new to announce ({still} failing check(s) announced before)" + (
            f"; {note}" if note else "")
        return section
    catalogue = load_catalogue()
    failures = [_failure(r, catalogue, env) for r in news.failures]
    recoveries = [_recovery(e) for e in news.recoveries]
    text = env.redactor.redact(notice_text(env, failures, recoveries, now, still))
    targets = receivers(env)
    bodies = [json.dumps(payload(r.hook, text, env, failures, recoveries, now), ensure_ascii=False).encode()
              for r in targets]
    try:
        verify = _verify(env)
    except (OSError, ValueError, MissingVariable) as exc:
        section["receivers"] = [{"name": r.hook.name, "format": r.hook.format, "status": "failed",
                                 "error": f"http.ca_bundle cannot be read: {exc}"} for r in targets]
        return section
    section["receivers"] = send(targets, bodies, verify, env.redactor.redact, timeout_s)
    if any(r["status"] == "sent" for r in section["receivers"]) and keep_state:
        try:
            write_state(path, env.name, news.announced, now)
        except OSError as exc:
            section["note"] = f"what was announced could not be kept in {path}: {exc.strerror}"
    return section


def summary_lines(notices: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """The terminal's lines about the notice: (line, it went wrong)."""
    lines: list[tuple[str, bool]] = []
    counts = f"{notices.get('failures', 0)} new failure(s), {notices.get('recoveries', 0)} recovery(ies)"
    for receiver in notices.get("receivers", []):
        if receiver["status"] == "sent":
            lines.append((f"healthsuite: notice sent to {receiver['name']} ({receiver['format']}): {counts}", False))
        else:
            lines.append((f"healthsuite: notice to {receiver['name']} NOT SENT: {receiver['error']}", True))
    if notices.get("error"):
        lines.append((f"healthsuite: --notify failed: {notices['error']}", True))
    if notices.get("note"):
        lines.append((f"healthsuite: --notify: {notices['note']}", False))
    return lines
