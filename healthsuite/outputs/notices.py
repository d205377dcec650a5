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
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .. import __version__
from ..assessments.failure import escalation_line
from ..catalogue.diagnoses import Catalogue, Severity, load_catalogue
from ..catalogue.durations import duration_text
from ..environment.loaded import LoadedEnvironment
from ..model.notify import Webhook
from ..model.templates import MissingVariable
from .notice_state import Held, NoticeState, StateChange, Told, read_state, state_path, update_state
from .records import FAILING, CheckRecord, Entry
from .reminders import Due, due, every_s
from .result import RunResult

if TYPE_CHECKING:
    import httpx

NOTIFY_TIMEOUT_S = 5.0  # the whole sending, every webhook at once
SERIOUS = ("critical", "high")  # the severities that call someone (failure.escalation_line)
DETAILED = 10  # failures told in full in one notice; the others in one line each
MAX_TEXT = 12_000  # characters of a message's text, as sent (Slack truncates a message at 40,000)
MAX_MESSAGES = 5  # messages of one notice; what does not fit is announced by the next run
ANSWER_LIMIT = 64 * 1024  # bytes of a webhook's answer ever read
FOLD_LINE = 1_000  # characters of one "explains N more: ..." line
USER_AGENT = f"healthsuite/{__version__} (notify)"


# --- what to announce ---------------------------------------------------------------------------------


@dataclass
class Announcement:
    failures: list[CheckRecord]  # failing now, not announced before: new, and the consequences of a new cause
    recoveries: list[Entry]  # announced before, passing now
    announced: set[str]  # announced before and not recovered (whether they ran or not)
    reminders: list[tuple[CheckRecord, Due]] = field(default_factory=list)  # announced before, due again
    held: dict[str, Held] = field(default_factory=dict)  # consequences not announced on their own, by id
    unheld: list[str] = field(default_factory=list)  # held before, held no more (passing, or announced)
    released: dict[str, str] = field(default_factory=dict)  # a new failure that outlived its cause: why
    since: dict[str, datetime] = field(default_factory=dict)  # a released failure: failing since

    @property
    def empty(self) -> bool:
        return not self.failures and not self.recoveries and not self.reminders


def _order(severity: str) -> int:
    return SERIOUS.index(severity) if severity in SERIOUS else len(SERIOUS)


def _failing(entry: Entry) -> bool:
    return isinstance(entry, CheckRecord) and entry.outcome in FAILING


def announcement(entries: Iterable[Entry], state: NoticeState, now: datetime,
                 cadence: Callable[[str], float | None] = lambda severity: None) -> Announcement:
    """New serious failures, reminders and recoveries of this run, against what was told before
    (`state`). A check announced before that did not run now (deselected) or is skipped stays announced.
    A check announced before that now fails on another subject (the history labels it `new`: another
    foreign key, another error) is announced again: it is a new failure.

    A serious failure that a serious failure of this run explains (`explained_by`) is held: not
    announced on its own while its cause fails (folded under the cause when the cause is new in this
    notice). A held failure that fails on while its cause passes again (or no longer explains it) is
    announced as new, saying so; one whose cause did not run now stays held. An announced failure that
    fails on, not explained by another, is reminded when its severity's `cadence` (seconds, None:
    never) has passed since it was last told."""
    entries = list(entries)
    by_id = {e.id: e for e in entries}
    failing = {e.id: e for e in entries if isinstance(e, CheckRecord) and e.outcome in FAILING}

    def cause_of(record: CheckRecord) -> CheckRecord | None:
        """The failing cause at the root of what explains `record` (None: none, a loop, or not serious)."""
        seen, current = {record.id}, record
        while (parent := failing.get(current.explained_by or "")) is not None:
            if parent.id in seen:
                return None
            seen.add(parent.id)
            current = parent
        return current if current is not record and current.severity in SERIOUS else None

    news = Announcement([], [], set())
    consequences: list[CheckRecord] = []
    for record in failing.values():
        if record.severity not in SERIOUS or (record.id in state.announced and record.change != "new"):
            continue
        cause = cause_of(record)
        if cause is not None:
            news.held[record.id] = Held(cause.id, f"{cause.diagnosis} {cause.target or '-'}", now)
            consequences.append(record)
            continue
        hold = state.held.get(record.id)
        if hold is not None:
            was = by_id.get(hold.cause)
            if (was is None or was.outcome not in ("passed", *FAILING)) and hold.cause in state.announced:
                news.held[record.id] = hold  # its cause did not run now: still held
                continue
            now_said = (f"{hold.cause_name} passes again, this one still fails" if was and was.outcome == "passed"
                        else "it no longer explains this one" if was and was.outcome in FAILING
                        else f"{hold.cause_name} is no longer announced as failing, this one still fails")
            news.released[record.id] = (f"outlived its cause: held since {hold.since.strftime('%Y-%m-%d %H:%M UTC')} "
                                        f"while {hold.cause_name} explained it; {now_said}")
            news.since[record.id] = hold.since
        news.failures.append(record)
    new_ids = {r.id for r in news.failures}
    news.failures += [r for r in consequences if news.held[r.id].cause in new_ids]  # folded under their cause
    news.failures.sort(key=lambda r: (_order(r.severity), r.diagnosis, r.id))
    news.recoveries = sorted((e for e in entries if e.id in state.announced and e.outcome == "passed"),
                             key=lambda e: e.id)
    recovered = {e.id for e in news.recoveries}
    news.unheld = sorted(i for i in state.held if i not in news.held and (
        i in new_ids or (i in by_id and not _failing(by_id[i]) and by_id[i].outcome == "passed")))
    for check_id, told in sorted(state.announced.items()):
        still = failing.get(check_id)
        if still is None or check_id in new_ids or cause_of(still) is not None:
            continue
        reminder = due(check_id, told, cadence(still.severity), now)
        if reminder is not None:
            news.reminders.append((still, reminder))
    news.reminders.sort(key=lambda pair: (_order(pair[0].severity), pair[0].diagnosis, pair[0].id))
    news.announced = set(state.announced) - recovered
    return news


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


def _reminder(record: CheckRecord, reminder: Due, explains: int, catalogue: Catalogue,
              now: datetime) -> dict[str, Any]:
    entry = catalogue.diagnoses.get(record.diagnosis)
    return {"id": record.id, "diagnosis": record.diagnosis, "severity": record.severity, "target": record.target,
            "title": entry.title if entry else (record.message.splitlines() or [""])[0],
            "first_announced": reminder.first.isoformat(timespec="seconds"),
            "last_told": reminder.told.isoformat(timespec="seconds"),
            "failing_for_s": round(reminder.failing_for_s(now)), "still": reminder.text(now), "explains": explains}


def _consequence(record: CheckRecord, cause: str) -> dict[str, Any]:
    return {"id": record.id, "diagnosis": record.diagnosis, "severity": record.severity, "target": record.target,
            "explained_by": cause}


def _recovery(entry: Entry, told: Told | None, now: datetime) -> dict[str, Any]:
    recovery: dict[str, Any] = {"id": entry.id, "diagnosis": entry.diagnosis, "severity": entry.severity,
                                "target": entry.target}
    if told is not None:
        recovery["failed_for_s"] = round((now - told.first).total_seconds())
    return recovery


def fold(failures: Sequence[CheckRecord]) -> list[tuple[CheckRecord, list[CheckRecord]]]:
    """Each failure of the notice with the failures of the notice it explains (followed to the cause
    nothing else in the notice explains), in the notice's order; a consequence is in its cause's list
    only, and a chain that loops is no folding."""
    by_id = {r.id: r for r in failures}

    def cause(record: CheckRecord) -> CheckRecord:
        seen, current = {record.id}, record
        while current.explained_by in by_id:
            if current.explained_by in seen:
                return record  # a loop: nobody's consequence
            current = by_id[current.explained_by]
            seen.add(current.id)
        return current

    folded: dict[str, list[CheckRecord]] = {}
    tops: list[CheckRecord] = []
    for record in failures:
        root = cause(record)
        if root is record:
            tops.append(record)
        else:
            folded.setdefault(root.id, []).append(record)
    return [(top, folded.get(top.id, [])) for top in tops]


def slack_escape(text: str) -> str:
    """Text shown as written in a Slack message: its three control characters escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _name(item: Mapping[str, Any]) -> str:
    """How a notice names a check: its diagnosis and target (`DB2 main`)."""
    return f"{item['diagnosis']} {_clip(str(item['target'] or '-'), 120)}"


@dataclass
class Unit:
    """One piece of a notice, said whole in one message: its text (redacted) and what it says."""

    text: str
    heading: str = ""  # the heading it is listed under, repeated in each message that lists it
    gap: bool = False  # a blank line before it
    failures: list[dict[str, Any]] = field(default_factory=list)  # told in this piece
    explained: list[dict[str, Any]] = field(default_factory=list)  # consequences named in this piece
    recoveries: list[dict[str, Any]] = field(default_factory=list)
    reminders: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Message:
    """One message of a notice, and what it says."""

    text: str  # plain text (raw: escaped for Slack when sent there)
    part: int
    parts: int
    failures: list[dict[str, Any]]
    explained: list[dict[str, Any]]
    recoveries: list[dict[str, Any]]
    reminders: list[dict[str, Any]] = field(default_factory=list)
    not_said: int = 0  # the new failures, reminders and recoveries no message of this notice says (last message)

    @property
    def failure_ids(self) -> list[str]:
        """The new failures said, each on its own or folded under its cause."""
        return [f["id"] for f in self.failures] + [e["id"] for e in self.explained]

    @property
    def reminder_ids(self) -> list[str]:
        return [r["id"] for r in self.reminders]

    @property
    def recovery_ids(self) -> list[str]:
        return [r["id"] for r in self.recoveries]


def _fold(cause: Mapping[str, Any], consequences: Sequence[Mapping[str, Any]], redact: Callable[[str], str],
          heading: str) -> tuple[Unit | None, list[Unit]]:
    """The consequences named under their cause: the first "explains N more: ..." line (said with the
    cause, in its unit) and the continuation lines that do not fit in it, each naming its cause again."""
    if not consequences:
        return None, []
    units: list[Unit] = []
    prefix = f"   explains {len(consequences)} more: "
    names: list[str] = []
    said: list[dict[str, Any]] = []
    for consequence in consequences:
        name = _name(consequence)
        if names and len(prefix) + len(", ".join(names)) + 2 + len(name) > FOLD_LINE:
            units.append(Unit(redact(prefix + ", ".join(names)), heading=heading, explained=said))
            prefix, names, said = f"   ({_name(cause)}, continued) explains also: ", [], []
        names.append(name)
        said.append(dict(consequence))
    units.append(Unit(redact(prefix + ", ".join(names)), heading=heading, explained=said))
    return units[0], units[1:]


def _units(failures: Sequence[tuple[dict[str, Any], list[dict[str, Any]]]], recoveries: Sequence[dict[str, Any]],
           redact: Callable[[str], str], reminders: Sequence[dict[str, Any]] = ()) -> list[Unit]:
    """The notice's pieces, in order: the first DETAILED failures in full, the others in one line each,
    each with the failures it explains folded under it; then the reminders; then the recoveries."""
    units: list[Unit] = []
    for number, (failure, consequences) in enumerate(failures, start=1):
        detailed = number <= DETAILED
        heading = "" if detailed else "MORE NEW FAILURES (one line each; in full in the run's report):"
        if detailed:
            lines = [
                f"{number}. [{failure['severity']}] {_name(failure)}: {_clip(failure['title'], 200)}",
                f"   target:   {_clip(failure['system'] or '-', 300)} ({_clip(failure['id'], 300)})",
                f"   observed: {_clip(failure['observed'], 600)}",
                f"   expected: {_clip(failure['expected'], 300)}",
            ]
            if failure.get("outlived"):
                lines.append(f"   note:     {_clip(failure['outlived'], 400)}")
            if failure["next_steps"]:
                lines.append("   NEXT STEPS REQUIRED:")
                lines += [f"   - {_clip(step, 300)}" for step in failure["next_steps"][:8]]
                if len(failure["next_steps"]) > 8:
                    lines.append(f"   - ... {len(failure['next_steps']) - 8} more in the run's report")
            if failure["runbook"]:
                lines.append(f"   runbook:  {_clip('; '.join(failure['runbook']), 300)}")
            lines.append(f"   CONTACT:  {_clip(failure['who_to_call'], 500)}")
        else:
            lines = [f"{number}. [{failure['severity']}] {_name(failure)}: {_clip(failure['title'], 200)}"
                     + (" (outlived its cause)" if failure.get("outlived") else "") + f" ({_clip(failure['id'], 300)})"]
        unit = Unit(redact("\n".join(lines)), heading=heading, gap=detailed, failures=[dict(failure)])
        first, more = _fold(failure, consequences, redact, heading)
        if first is not None:  # the first line of its consequences is said with the cause
            unit.text += "\n" + first.text
            unit.explained = first.explained
        units += [unit, *more]
    for reminder in reminders:
        explains = f" (explains {reminder['explains']} more)" if reminder["explains"] else ""
        units.append(Unit(redact(f"- [{reminder['severity']}] {_name(reminder)}: {_clip(reminder['title'], 200)}: "
                                 f"{reminder['still']}{explains} ({_clip(reminder['id'], 300)})"),
                          heading="STILL FAILING:", reminders=[dict(reminder)]))
    for recovery in recoveries:
        after = (f" after failing for {duration_text(recovery['failed_for_s'])}"
                 if "failed_for_s" in recovery else "")
        units.append(Unit(redact(f"- {_name(recovery)} passes again{after} ({_clip(recovery['id'], 300)})"),
                          heading="RECOVERED:", recoveries=[dict(recovery)]))
    return units


def _header(env: LoadedEnvironment, failures: Sequence[tuple[dict[str, Any], list[dict[str, Any]]]],
            recoveries: Sequence[dict[str, Any]], now: datetime, still_failing: int, part: str,
            first: bool, reminders: Sequence[dict[str, Any]] = ()) -> list[str]:
    name, kind = env.name, env.model.kind
    stamp = now.strftime("%Y-%m-%d %H:%M:%S UTC")
    if not failures and reminders:
        severity = min((r["severity"] for r in reminders), key=_order)
        lines = ["🔁 STILL FAILING" + part, ""]
        if first:
            names = "; ".join(f"{_name(r)} {r['still']}" for r in reminders[:3])
            more = f"; and {len(reminders) - 3} more" if len(reminders) > 3 else ""
            lines.append(f"Issue: {len(reminders)} failure(s) announced before still fail: {names}{more}")
        lines += [f"Severity: {severity.capitalize()}", f"Environment: {name} ({kind})", f"Time: {stamp}"]
        if first and recoveries:
            lines.append(f"Recovered: {len(recoveries)}")
        return lines
    if not failures:
        lines = ["✅ RECOVERED" + part, ""]
        if first:
            lines.append(f"Issue: {len(recoveries)} check(s) announced before pass again")
        lines += ["Severity: resolved", f"Environment: {name} ({kind})", f"Time: {stamp}"]
        if first and still_failing:
            lines.append(f"Still failing, announced before: {still_failing}")
        return lines
    everything = [f for failure, consequences in failures for f in (failure, *consequences)]
    severity = min((f["severity"] for f in everything), key=_order)
    lines = ["🔴 ESCALATION REQUIRED" + part, ""]
    if first:
        issues = "; ".join(f"{_name(f)} {_clip(f['title'], 100)}" for f, _ in failures[:3])
        more = f"; and {len(failures) - 3} more" if len(failures) > 3 else ""
        lines.append(f"Issue: {issues}{more}")
    lines += [f"Severity: {severity.capitalize()}", f"Environment: {name} ({kind})", f"Time: {stamp}"]
    if first:
        systems = list(dict.fromkeys(_clip(f["system"] or "-", 200) for f, _ in failures))
        shown = "; ".join(systems)
        if len(shown) > 1_000:
            shown = _clip(shown, 1_000) + f" (of {len(systems)} systems)"
        explained = len(everything) - len(failures)
        lines += [
            "",
            "DETAILS:",
            f"- Affected Systems: {shown}",
            f"- New failures: {len(everything)}"
            + (f" ({explained} explained by another one, folded under it)" if explained else "")
            + (f"; recovered: {len(recoveries)}" if recoveries else "")
            + (f"; reminded, still failing: {len(reminders)}" if reminders else "")
            + (f"; still failing, announced before: {still_failing}" if still_failing else ""),
        ]
    return lines


def _render(header: list[str], units: Sequence[Unit], footer: list[str]) -> str:
    lines = list(header)
    heading = ""
    for unit in units:
        if unit.heading and unit.heading != heading:
            lines += ["", unit.heading]
        elif unit.gap:
            lines.append("")
        heading = unit.heading
        lines.append(unit.text)
    return "\n".join([*lines, "", *footer])


def _size(text: str) -> int:
    """A message's length as sent: Slack's escaping makes it longest."""
    return len(slack_escape(text))


def notice_messages(env: LoadedEnvironment, failures: Sequence[tuple[dict[str, Any], list[dict[str, Any]]]],
                    recoveries: Sequence[dict[str, Any]], now: datetime, still_failing: int, report: str,
                    redact: Callable[[str], str] = str, reminders: Sequence[dict[str, Any]] = ()) -> list[Message]:
    """The notice, as runbook 000's escalation template reads (plain text, one line per field), in
    messages of at most MAX_TEXT characters each (as sent, escaped for Slack), at most MAX_MESSAGES;
    `failures`: each new failure with those it explains."""

    def header(part: int, parts: int) -> list[str]:
        label = f" (part {part} of {parts})" if parts > 1 else ""
        return [redact(line) for line in
                _header(env, failures, recoveries, now, still_failing, label, first=part == 1, reminders=reminders)]

    def footer(not_said: int) -> list[str]:
        lines = []
        if not_said:
            lines += [f"NOT IN THIS NOTICE: {not_said} more new failure(s), reminder(s) or recovery(ies): told by the "
                      "next run's notice; all are in the run's report", ""]
        return [*lines, redact(f"Report: {report}"),
                f"Escalated by: healthsuite {__version__} (pytest --env {env.name} --notify)"]

    units = _units(failures, recoveries, redact, reminders)
    total = sum(len(u.failures) + len(u.recoveries) + len(u.reminders) for u in units)
    widest = 10 ** len(str(MAX_MESSAGES))  # the part numbers' room, measured before the count is known
    packed: list[list[Unit]] = [[]]
    left: list[Unit] = []
    for index, unit in enumerate(units):
        first = len(packed) == 1
        base = header(1 if first else 2, widest)
        if _size(_render(base, [*packed[-1], unit], footer(total))) > MAX_TEXT and packed[-1]:
            if len(packed) == MAX_MESSAGES:
                left = list(units[index:])
                break
            packed.append([])
            base = header(2, widest)
        overflow = _size(_render(base, [unit], footer(total))) - MAX_TEXT
        if overflow > 0:  # one piece longer than a message: it says its first line at least
            unit.text = unit.text[: max(len(unit.text.split("\n", 1)[0]), len(unit.text) - overflow - 10)] + " …"
        packed[-1].append(unit)
    not_said = sum(len(u.failures) + len(u.recoveries) + len(u.reminders) for u in left)
    messages = []
    for number, group in enumerate(packed, start=1):
        last = number == len(packed)
        text = _render(header(number, len(packed)), group, footer(not_said if last else 0))
        messages.append(Message(
            text, number, len(packed),
            failures=[f for u in group for f in u.failures], explained=[e for u in group for e in u.explained],
            recoveries=[r for u in group for r in u.recoveries], reminders=[r for u in group for r in u.reminders],
            not_said=not_said if last else 0,
        ))
    return messages


def payload(hook: Webhook, message: Message, env: LoadedEnvironment, now: datetime,
            report: str) -> dict[str, Any]:
    """What a webhook receives, every string redacted: Slack's `{"text": ...}` (escaped for Slack), or
    the message's parts as data."""
    if hook.format == "slack":
        return {"text": slack_escape(env.redactor.redact(message.text))}
    failures = message.failures or message.explained or message.reminders
    severity = min((f["severity"] for f in failures), key=_order) if failures else "resolved"
    kind = "escalation" if message.failures or message.explained else "reminder" if message.reminders else "recovery"
    body = {
        "source": f"healthsuite {__version__}",
        "kind": kind,
        "environment": {"name": env.name, "kind": env.model.kind},
        "time": now.isoformat(timespec="seconds"),
        "part": message.part,
        "parts": message.parts,
        "severity": severity,
        "failures": message.failures,
        "explained": message.explained,  # each under its cause (explained_by), in this message
        "reminders": message.reminders,  # announced before, still failing (`still`: for how long, since when)
        "recoveries": message.recoveries,
        "not_announced": message.not_said,
        "report": report,
        "text": message.text,
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


def tls_verify(env: LoadedEnvironment) -> ssl.SSLContext | bool:
    """How the environment verifies TLS (http.verify_tls, http.ca_bundle), for a webhook or a ping."""
    settings = env.model.http
    if not settings.verify_tls:
        return False
    context = ssl.create_default_context()
    if settings.ca_bundle is not None:
        context.load_verify_locations(cafile=str(env.resolve_path(settings.ca_bundle)))
    return context


def read_bounded(chunks: Iterable[bytes], limit: int = ANSWER_LIMIT) -> bytes:
    """The first `limit` bytes of a streamed answer; nothing past them is read."""
    kept: list[bytes] = []
    size = 0
    for chunk in chunks:
        kept.append(chunk[: limit - size])
        size += len(kept[-1])
        if size >= limit:
            break
    return b"".join(kept)


@dataclass
class Delivery:
    """How the messages to one receiver went: `accepted` of them, in order, were answered 2xx."""

    accepted: int = 0
    http_status: int | None = None
    error: str = ""
    done: bool = False


def _deliver(client: httpx.Client, receiver: Receiver, bodies: Sequence[bytes], until: float, timeout_s: float,
             redact: Callable[[str], str], delivery: Delivery, lock: threading.Lock) -> None:
    """Post `bodies` one after the other, stopping at the first not accepted or when time is up."""
    import httpx

    headers = {"content-type": "application/json", "user-agent": USER_AGENT, "accept-encoding": "identity",
               **receiver.headers}
    for body in bodies:
        left = until - time.monotonic()
        if left <= 0:
            error = f"no answer within {timeout_s:g} s"
            break
        try:
            with client.stream("POST", receiver.url, content=body, headers=headers,
                               timeout=httpx.Timeout(min(timeout_s, left))) as response:
                status, reason = response.status_code, response.reason_phrase
                answer = b"" if 200 <= status < 300 else read_bounded(response.iter_raw())
        except httpx.TimeoutException:
            error = f"no answer within {timeout_s:g} s"
            break
        except (httpx.HTTPError, OSError, ValueError) as exc:
            error = redact(f"{type(exc).__name__}: {exc}")
            break
        with lock:
            delivery.http_status = status
        if not 200 <= status < 300:
            said = " ".join(answer[:400].decode("utf-8", "replace").split())[:200]
            error = redact(f"HTTP {status} {reason}" + (f": {said}" if said else ""))
            break
        with lock:
            delivery.accepted += 1
    else:
        error = ""
    with lock:
        delivery.error, delivery.done = error, True


def send(targets: Sequence[Receiver], bodies: Sequence[Sequence[bytes]], verify: ssl.SSLContext | bool,
         redact: Callable[[str], str], timeout_s: float = NOTIFY_TIMEOUT_S) -> list[dict[str, Any]]:
    """Post each receiver's messages (`bodies[i]` to `targets[i]`, in order), every receiver at once;
    after `timeout_s` those still out are reported as not answering and left behind (daemon threads,
    each bounded by its own timeouts too), and what they accept later is not counted. Each receiver's
    result says how many of its messages it accepted (`accepted`, the first ones)."""
    deliveries = [Delivery() for _ in targets]
    lock = threading.Lock()
    until = time.monotonic() + timeout_s

    def work(receiver: Receiver, messages: Sequence[bytes], delivery: Delivery) -> None:
        import httpx  # only a run that notifies pays for it

        try:
            with httpx.Client(verify=verify, trust_env=False, follow_redirects=False) as client:
                _deliver(client, receiver, messages, until, timeout_s, redact, delivery, lock)
        except Exception as exc:  # noqa: BLE001 - a notice never breaks the run
            with lock:
                delivery.error, delivery.done = redact(f"{type(exc).__name__}: {exc}"), True

    threads = []
    for receiver, messages, delivery in zip(targets, bodies, deliveries, strict=True):
        if receiver.problem:
            delivery.error, delivery.done = redact(receiver.problem), True
            continue
        thread = threading.Thread(target=work, args=(receiver, messages, delivery), daemon=True,
                                  name=f"healthsuite-notify-{receiver.hook.name}")
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(max(0.0, until - time.monotonic()))
    results = []
    for receiver, messages, delivery in zip(targets, bodies, deliveries, strict=True):
        with lock:
            seen = Delivery(delivery.accepted, delivery.http_status, delivery.error, delivery.done)
        error = seen.error if seen.done else f"no answer within {timeout_s:g} s"
        status = ("sent" if seen.accepted == len(messages) else "partly sent" if seen.accepted else "failed")
        result: dict[str, Any] = {"name": receiver.hook.name, "format": receiver.hook.format}
        if seen.http_status is not None:
            result["http_status"] = seen.http_status
        result.update(status=status, messages=len(messages), accepted=seen.accepted)
        if status != "sent":
            result["error"] = error
        results.append(result)
    return results


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
        failure = _failure(top, catalogue, env)
        if top.id in news.released:
            failure["outlived"] = news.released[top.id]
        failures.append((failure, [_consequence(c, top.id) for c in consequences]))
    explains: dict[str, int] = {}
    for entry in entries:
        if _failing(entry) and isinstance(entry, CheckRecord) and entry.explained_by:
            explains[entry.explained_by] = explains.get(entry.explained_by, 0) + 1
    reminders = [_reminder(r, due_, explains.get(r.id, 0), catalogue, now) for r, due_ in news.reminders]
    recoveries = [_recovery(e, before.announced.get(e.id), now) for e in news.recoveries]
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
