"""A notice's words: runbook 000's "Escalation Communication Template" for each failure, reminder and
recovery, split into messages within MAX_TEXT characters (at most MAX_MESSAGES), and each webhook's
payload (Slack's text escaped for Slack; json as raw data), every string through the redactor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from .. import __version__
from ..assessments.failure import escalation_line
from ..catalogue.diagnoses import Catalogue, Severity
from ..catalogue.durations import duration_text
from ..environment.loaded import LoadedEnvironment
from ..model.notify import Webhook
from .announcement import severity_order
from .notice_state import Told
from .records import CheckRecord, Entry
from .reminders import Due

DETAILED = 10  # failures told in full in one notice; the others in one line each
MAX_TEXT = 12_000  # characters of a message's text, as sent (Slack truncates a message at 40,000)
MAX_MESSAGES = 5  # messages of one notice; what does not fit is announced by the next run
FOLD_LINE = 1_000  # characters of one "explains N more: ..." line


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


def failure_item(record: CheckRecord, catalogue: Catalogue, env: LoadedEnvironment) -> dict[str, Any]:
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


def reminder_item(record: CheckRecord, reminder: Due, explains: int, catalogue: Catalogue,
              now: datetime) -> dict[str, Any]:
    entry = catalogue.diagnoses.get(record.diagnosis)
    return {"id": record.id, "diagnosis": record.diagnosis, "severity": record.severity, "target": record.target,
            "title": entry.title if entry else (record.message.splitlines() or [""])[0],
            "first_announced": reminder.first.isoformat(timespec="seconds"),
            "last_told": reminder.told.isoformat(timespec="seconds"),
            "failing_for_s": round(reminder.failing_for_s(now)), "still": reminder.text(now), "explains": explains}


def consequence_item(record: CheckRecord, cause: str) -> dict[str, Any]:
    return {"id": record.id, "diagnosis": record.diagnosis, "severity": record.severity, "target": record.target,
            "explained_by": cause}


def recovery_item(entry: Entry, told: Told | None, now: datetime) -> dict[str, Any]:
    recovery: dict[str, Any] = {"id": entry.id, "diagnosis": entry.diagnosis, "severity": entry.severity,
                                "target": entry.target}
    if told is not None:
        recovery["failed_for_s"] = round((now - told.first).total_seconds())
    return recovery


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
        severity = min((r["severity"] for r in reminders), key=severity_order)
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
    severity = min((f["severity"] for f in everything), key=severity_order)
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
    severity = min((f["severity"] for f in failures), key=severity_order) if failures else "resolved"
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
