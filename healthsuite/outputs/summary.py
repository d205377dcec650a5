"""The terminal summary of a run: the table by category and severity, the failures by cause, the report.

`lines(result)` gives each line with its style; the plugin writes them after pytest's own summary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from ..catalogue.diagnoses import SEVERITIES
from . import timing
from .history import Change
from .records import FAILING, MAINTENANCE, OUTCOMES, RETRIED, CheckRecord, in_window_text
from .result import NOT_JUDGED_STATUS, RunResult, target_name

CONSEQUENCES_SHOWN = 12  # consequences listed under their cause in the terminal (all are in the report)
Line = tuple[str, dict[str, bool]]  # text, and the terminal's markup (red, green, yellow, bold)


def outcome_table(entries: Iterable[Any]) -> list[str]:
    """The run by category (rows) and severity (failures), e.g. `database     24 passed  3 failed (2 critical)`."""
    rows: dict[str, Counter[str]] = {}
    failing_by: dict[str, Counter[str]] = {}
    for entry in entries:
        rows.setdefault(entry.category, Counter())[entry.outcome] += 1
        if entry.outcome in FAILING:
            failing_by.setdefault(entry.category, Counter())[entry.severity] += 1
    lines = []
    width = max((len(c) for c in rows), default=8)
    for category in sorted(rows, key=lambda c: (-sum(failing_by.get(c, Counter()).values()), c)):
        counts = rows[category]
        parts = [f"{counts[o]:3} {o}" for o in OUTCOMES if counts[o]]
        severities = failing_by.get(category)
        detail = ", ".join(f"{severities[s]} {s}" for s in SEVERITIES if severities and severities[s])
        lines.append(f"  {category:{width}}  {'  '.join(parts)}" + (f"  ({detail})" if detail else ""))
    return lines


def failure_line(record: CheckRecord) -> str:
    first_line = record.message.splitlines()[0] if record.message else ""
    change = Change(record.change, record.failing_since, record.failing_runs).describe()
    return (
        f"{record.outcome.upper():6} {record.severity:8} {record.diagnosis:6} "
        f"{record.target or '-'}: {record.observed or first_line}"
        + (f" [{change}]" if record.change else "")
        + (" [likely part of the platform incident]" if record.likely_platform_incident else "")
    )


def lines(result: RunResult) -> list[Line]:
    """The summary's lines, most severe failure first, each cause once with its consequences under it."""
    name = result.environment.name
    order: dict[str, int] = {severity: index for index, severity in enumerate(SEVERITIES)}
    failing = sorted(result.failing(), key=lambda r: (order.get(r.severity, 9), r.diagnosis, r.id))
    out: list[Line] = [(f"healthsuite: {name}", {"section": True})]
    out += [(line, {}) for line in outcome_table(result.entries)]
    for item in result.not_judged:  # skipped is not green (outputs.result.not_judged)
        reasons = "; ".join(str(r) for r in item["reasons"])
        out.append((f"healthsuite: NOT JUDGED {target_name(item)}: all {item['checks']} checks skipped: {reasons}",
                    {"yellow": result.skips_allowed, "red": not result.skips_allowed, "bold": True}))
    if result.not_judged:
        verdict = ("skips are allowed (--allow-skips): the run is judged by what ran" if result.skips_allowed
                   else f"exit status {NOT_JUDGED_STATUS} unless a check failed; --allow-skips (ini "
                   "healthsuite_allow_skips) accepts it")
        count = len(result.not_judged)
        out.append((f"healthsuite: {count} target{'s' if count != 1 else ''} not judged: {verdict}", {}))
    if failing:
        out.append(("healthsuite: failing diagnoses by cause, most severe first", {"subsection": True}))
    consequences: dict[str, list[CheckRecord]] = {}
    for record in failing:
        if record.explained_by:
            consequences.setdefault(record.explained_by, []).append(record)
    for record in (r for r in failing if not r.explained_by):
        out.append((failure_line(record), {"red": record.severity in ("critical", "high")}))
        explained = consequences.get(record.id, [])
        if explained:
            out.append((f"       explains {len(explained)} other failure(s):", {}))
        for other in explained[:CONSEQUENCES_SHOWN]:
            out.append((f"         {other.severity:8} {other.diagnosis:6} {other.target or '-'}", {}))
        if len(explained) > CONSEQUENCES_SHOWN:
            hidden = len(explained) - CONSEQUENCES_SHOWN
            out.append((f"         and {hidden} more (the report's causes section)", {}))
    in_window = [e for e in result.entries if isinstance(e, CheckRecord) and e.outcome == MAINTENANCE]
    if in_window:
        out.append(("healthsuite: failed during a maintenance window (expected there: not announced, not "
                     "failing the run)", {"subsection": True}))
    for record in sorted(in_window, key=lambda r: (order.get(r.severity, 9), r.diagnosis, r.id)):
        out.append((f"{failure_line(record)} [{in_window_text(record.maintenance)}]", {"yellow": True}))
    incident = result.platform_incident
    if incident is not None:
        pages = ", ".join(f"{p['target']} ({p['observed']})" for p in incident["status_pages"])
        out.append((f"healthsuite: PLATFORM INCIDENT reported by {pages}: {incident['note']}",
                    {"yellow": True, "bold": True}))
    recovered = [e for e in result.entries if e.change == "recovered"]
    if recovered:
        names = ", ".join(f"{e.diagnosis} {e.target or '-'}" for e in recovered[:10])
        more = f" and {len(recovered) - 10} more" if len(recovered) > 10 else ""
        out.append((f"healthsuite: recovered since the last run: {names}{more}", {"green": True}))
    retried = [e for e in result.entries if e.outcome == RETRIED]
    if retried:  # passed, but only on a later attempt: a warning (healthsuite.probes.retry)
        names = ", ".join(f"{e.diagnosis} {e.target or '-'} ({e.attempts} attempts)" for e in retried[:10])
        more = f" and {len(retried) - 10} more" if len(retried) > 10 else ""
        out.append((f"healthsuite: passed after retry (a transport failure, then an answer): {names}{more}",
                    {"yellow": True}))
    if "time" in result.run:  # where the time went: the targets' answers or the tool's limits
        out.append((timing.line(result.run["time"]), {}))
    outcomes = Counter(entry.outcome for entry in result.entries)
    summary = ", ".join(f"{outcomes[o]} {o}" for o in OUTCOMES if outcomes[o])
    where = f"report {result.report_path}" if result.report_path is not None else "no JSON report written"
    out.append((f"healthsuite: {name}: {summary}; {where}", {}))
    return out
