"""Escalation notices: `--notify` posts a run's news to the environment's `notify:` webhooks.

- What is announced: the checks failing now at critical or high severity that were not announced
  before (new failures), reminders of those announced before that still fail, and the checks announced
  before that pass now (recoveries). Severity decides, as it decides who is called (runbook 000): a
  `--fail-on` warning is announced too; medium and low are never announced.
- Reminders (outputs.reminders): a failure announced before that still fails is told again when its
  severity's cadence has passed since it was last told: the catalogue's `severity_tiers.<s>.remind_every`
  (runbook 000's tiers: critical 30 min, high 4 h, medium and low never), overridden by the
  environment's `reminders:` (`{critical: 15m, high: 2h}`, or `off`). The notice says it under "STILL
  FAILING:" (`still failing for 1 h 05 min since 2026-12-07 21:00 UTC`, and how many failures it
  explains); a notice of reminders only is headed `🔁 STILL FAILING`. A recovery says how long it
  failed. Recoveries are always announced, of reminded failures too.
- Held consequences (across runs): a serious failure that a serious failure of this run explains
  (`explained_by`, healthsuite.catalogue.causes; followed to its root) is not announced on its own while
  its cause fails: when the cause is new in this notice it is folded under it ("explains 3 more: DB2
  main, ..."), else it is not told at all; either way it is held (kept in the state with its cause).
  When its cause passes again (or no longer explains it) and it still fails, it is announced as new,
  saying so ("outlived its cause: held since ... while DB1 booking explained it; ..."); while its cause
  did not run (a `-m` subset), it stays held. Only notices are held: the checks ran and the report says
  their outcome; its `notices` section names each held failure and why (`held`), and those released
  (`released`).
- The notice follows runbook 000's "Escalation Communication Template" (issue, severity,
  environment, time, affected systems, then each failure's observation, next steps, runbook and who
  to call, from failure.escalation_line), every string through the environment's redactor. The
  first DETAILED failures are told in full, the others in one line each. Every message names the
  run's report (`<reports>/<env>-<UTC stamp>*.json`: the JSON report is written after the notices).
  The notice's time is the run's end (`result.finished`, read from the run's wall clock,
  runner.clock, which HEALTHSUITE_NOW moves), the one time its cadence and its state are judged by;
  `notify(now=...)` gives another.
- A notice longer than MAX_TEXT characters is split into messages (at most MAX_MESSAGES), each
  within the bound and each naming its part; a failure, reminder or recovery is said in exactly one of
  them. What does not fit in MAX_MESSAGES is not said: the last message counts it, and it is told by
  the next run's notice.
- What was told is kept per environment beside the reports, `<reports>/<env>.notified.json`
  (outputs.notice_state: per announced failure when it was first announced and last told, and the held
  consequences); a missing or unreadable file starts afresh. Only what was said in a message that at
  least one webhook accepted (a 2xx answer) is recorded: a failure in a message nobody received stays
  new and is sent again, a reminder nobody received is due again. The holds are recorded whatever was
  sent. The file is read again, merged and rewritten whole under the reports directory's lock, so
  concurrent runs lose none of each other's.
- Slack's text is escaped for Slack (`&`, `<`, `>` as `&amp;`, `&lt;`, `&gt;`): an address such as
  `<devops@example.com>` or an HTML answer is shown as written, never read as Slack's markup. The
  json format is raw data (`kind`: escalation, reminder or recovery; `failures`, `explained`,
  `reminders`, `recoveries`).
- Sending is bounded: every webhook is posted at once (its messages one after the other), and after
  NOTIFY_TIMEOUT_S the run goes on without those that did not answer. An answer is read streamed and
  never past ANSWER_LIMIT bytes (enough to quote an error): a webhook answering gigabytes costs no
  memory. A failure to send is said in the terminal summary and the report's `notices` section; it
  never fails the run or changes its exit status.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ..catalogue.diagnoses import Catalogue, load_catalogue
from ..environment.loaded import LoadedEnvironment
from ..model.templates import MissingVariable
from .announcement import Announcement, announcement, fold, is_failing
from .delivery import NOTIFY_TIMEOUT_S, receivers, send, tls_verify
from .notice_state import StateChange, read_state, state_path, update_state
from .notice_text import consequence_item, failure_item, notice_messages, payload, recovery_item, reminder_item
from .records import FAILING, CheckRecord, Entry
from .reminders import every_s
from .result import RunResult


def report_name(result: RunResult) -> str:
    """Where the run's JSON report is (written after the notices: outputs.publish): its path when known,
    else its name's pattern (`<env>-<UTC stamp>.json`, `-2`... when another run took that second)."""
    if result.report_path is not None:
        return str(result.report_path.absolute())
    stamp = result.finished.strftime("%Y%m%dT%H%M%SZ")  # as json_report.write_report names it
    return str(result.reports_dir.absolute() / f"{result.environment.name}-{stamp}*.json")


def _held_section(news: Announcement, entries: Sequence[Entry], told_now: set[str]) -> list[dict[str, Any]]:
    """The report's list of the failures held, each with why (never a hidden verdict: they fail, and
    the report's checks say so)."""
    by_id = {e.id: e for e in entries}
    held = []
    for check_id, hold in sorted(news.held.items()):
        entry, cause = by_id.get(check_id), by_id.get(hold.cause)
        since = hold.since.isoformat(timespec="seconds")
        why = f"explained by {hold.cause_name}, which fails" + (
            " (new in this notice: this one is folded under it)" if hold.cause in told_now
            else " (announced before)" if hold.cause in news.announced else "")
        if cause is None or cause.outcome not in FAILING:
            why = f"held since {since} under {hold.cause_name}, which did not run now"
        held.append({"id": check_id, "diagnosis": entry.diagnosis if entry else "",
                     "target": entry.target if entry else "", "cause": hold.cause, "since": since, "why": why})
    return held


def cadence_of(env: LoadedEnvironment, catalogue: Catalogue) -> Callable[[str], float | None]:
    """Each severity's reminder cadence in seconds: the catalogue's, overridden by the environment's."""
    tiers: dict[str, float | None] = {name: tier.remind_every_s for name, tier in catalogue.severity_tiers.items()}
    return lambda severity: every_s(severity, catalogue_tiers=tiers, reminders=env.model.reminders)


def notify(env: LoadedEnvironment, result: RunResult, *, keep_state: bool = True,
           now: datetime | None = None, timeout_s: float = NOTIFY_TIMEOUT_S) -> dict[str, Any]:
    """Announce this run's news to the environment's webhooks; the report's `notices` section. `now`:
    the notice's time, the run's end (`result.finished`) unless given: the one time the reminders'
    cadence and the state's stamps are judged by."""
    entries, reports_dir = result.entries, result.reports_dir
    now = now or result.finished
    path = state_path(reports_dir, env.name)
    section: dict[str, Any] = {"state_file": str(path), "receivers": []}
    if not env.model.notify:
        section["note"] = "the environment file declares no `notify:` webhooks: nothing was sent"
        return section
    before, note = read_state(path)
    catalogue = load_catalogue()
    news = announcement(entries, before, now, cadence_of(env, catalogue))
    new_ids = {f.id for f in news.failures}
    still = len(news.announced - new_ids)
    section.update(failures=len(news.failures), reminders=len(news.reminders), recoveries=len(news.recoveries),
                   announced=[], reminded=[], recovered=[],
                   held=_held_section(news, entries, new_ids))
    if news.released:
        section["released"] = [{"id": i, "why": why} for i, why in sorted(news.released.items())]
    change = StateChange(held=news.held, unheld=news.unheld)
    holds_changed = bool(news.unheld) or any(before.held.get(i, h).cause != h.cause or i not in before.held
                                             for i, h in news.held.items())
    if note:
        section["note"] = note
    if news.empty:
        section["note"] = f"nothing new to announce ({still} failing check(s) announced before)" + (
            f"; {len(news.held)} held under their cause" if news.held else "") + (f"; {note}" if note else "")
        if holds_changed and keep_state:
            _keep(path, env, change, now, section)
        return section
    targets = receivers(env)  # first: their URLs are secrets the messages are redacted of
    failures = []
    for top, consequences in fold(news.failures):
        failure = failure_item(top, catalogue, env)
        if top.id in news.released:
            failure["outlived"] = news.released[top.id]
        failures.append((failure, [consequence_item(c, top.id) for c in consequences]))
    explains: dict[str, int] = {}
    for entry in entries:
        if is_failing(entry) and isinstance(entry, CheckRecord) and entry.explained_by:
            explains[entry.explained_by] = explains.get(entry.explained_by, 0) + 1
    reminders = [reminder_item(r, due_, explains.get(r.id, 0), catalogue, now) for r, due_ in news.reminders]
    recoveries = [recovery_item(e, before.announced.get(e.id), now) for e in news.recoveries]
    report = report_name(result) if keep_state else "not written (the reports directory cannot be written)"
    messages = notice_messages(env, failures, recoveries, now, still, report, env.redactor.redact, reminders)
    bodies = [[json.dumps(payload(r.hook, m, env, now, report), ensure_ascii=False).encode() for m in messages]
              for r in targets]
    section["messages"] = len(messages)
    try:
        verify = tls_verify(env)
    except (OSError, ValueError, MissingVariable) as exc:
        section["receivers"] = [{"name": r.hook.name, "format": r.hook.format, "status": "failed",
                                 "messages": len(messages), "accepted": 0,
                                 "error": f"http.ca_bundle cannot be read: {exc}"} for r in targets]
        if holds_changed and keep_state:
            _keep(path, env, change, now, section)
        return section
    section["receivers"] = send(targets, bodies, verify, env.redactor.redact, timeout_s)
    received = max((r["accepted"] for r in section["receivers"]), default=0)  # each: its first messages
    said = messages[:received]
    announced = [f["id"] for m in said for f in m.failures]  # on their own; the folded ones are held
    folded = [e["id"] for m in said for e in m.explained]
    reminded = [i for m in said for i in m.reminder_ids]
    recovered = [i for m in said for i in m.recovery_ids]
    section.update(announced=announced, reminded=reminded, recovered=recovered)
    unsaid = (len(news.failures) + len(news.reminders) + len(news.recoveries) - len(announced) - len(folded)
              - len(reminded) - len(recovered))
    if unsaid:
        section["not_announced"] = unsaid
        note = (f"{unsaid} new failure(s), reminder(s) or recovery(ies) were not in a received message: the next "
                "run tells them")
        section["note"] = f"{section['note']}; {note}" if section.get("note") else note
    change.announced = {i: news.since.get(i, now) for i in announced}
    change.reminded, change.recovered = reminded, recovered
    if (announced or reminded or recovered or holds_changed) and keep_state:
        _keep(path, env, change, now, section)
    return section


def _keep(path: Path, env: LoadedEnvironment, change: StateChange, now: datetime, section: dict[str, Any]) -> None:
    try:
        update_state(path, env.name, change, now)
    except OSError as exc:
        section["note"] = f"what was announced could not be kept in {path}: {exc.strerror}"


def summary_lines(notices: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """The terminal's lines about the notice: (line, it went wrong)."""
    lines: list[tuple[str, bool]] = []
    reminded = f", {notices['reminders']} reminder(s)" if notices.get("reminders") else ""
    counts = f"{notices.get('failures', 0)} new failure(s){reminded}, {notices.get('recoveries', 0)} recovery(ies)"
    if notices.get("held"):
        counts += f"; {len(notices['held'])} held under their cause (the report's notices.held)"
    for receiver in notices.get("receivers", []):
        parts = receiver.get("messages", 1)
        if receiver["status"] == "sent":
            split = f" in {parts} messages" if parts > 1 else ""
            lines.append((f"healthsuite: notice sent to {receiver['name']} ({receiver['format']}){split}: {counts}",
                          False))
        elif receiver["status"] == "partly sent":
            lines.append((f"healthsuite: notice to {receiver['name']} PARTLY SENT ({receiver['accepted']} of "
                          f"{parts} messages): {receiver['error']}", True))
        else:
            lines.append((f"healthsuite: notice to {receiver['name']} NOT SENT: {receiver['error']}", True))
    if notices.get("error"):
        lines.append((f"healthsuite: --notify failed: {notices['error']}", True))
    if notices.get("note"):
        lines.append((f"healthsuite: --notify: {notices['note']}", False))
    return lines
