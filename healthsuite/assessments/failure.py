"""A failing check's message: a sentence a person can act on at 3 a.m.

Built from the catalogue entry of the check's diagnosis: what was checked, observed against
expected, the likely causes, the documented remediation, the runbook section, and who to call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from healthsuite.catalogue.advice import AdviceContext, tailor_causes, tailor_steps
from healthsuite.catalogue.diagnoses import Area, Catalogue, Diagnosis, Severity
from healthsuite.model.environment import Contact
from healthsuite.probes.errors import ProbeError


@dataclass(frozen=True)
class Finding:
    """The outcome of one assertion: ok or not, observed against expected, and what it means."""

    ok: bool
    observed: str
    expected: str
    meaning: str = ""  # e.g. what an HTTP 502 means
    causes: tuple[str, ...] = ()  # specific to this observation, listed before the diagnosis's own
    remediation: tuple[str, ...] = ()
    facts: Mapping[str, object] = field(default_factory=dict)  # extra structured data for reports
    # the severity this observation deserves when it differs from the check's (NET5: a certificate
    # inside the 30-day window fails one level below the one inside 7 days); None keeps the check's
    severity: Severity | None = None


def probe_failure(error: ProbeError, catalogue: Catalogue, expected: str) -> Finding:
    """A transport error as a failed finding: never a pass, never a traceback."""
    kind = catalogue.failure_kinds.get(error.kind) or catalogue.failure_kinds.get("other")
    means = kind.means.format(address=error.address) if kind else error.kind_name
    return Finding(
        ok=False,
        observed=f"{error.kind_name}: {means} ({error.detail})",
        expected=expected,
        causes=kind.causes if kind else (),
        remediation=kind.remediation.get(error.service, ()) if kind else (),
        facts={"failure_kind": error.kind, "address": error.address},
    )


def _unique(items: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item and item not in seen:
            seen.append(item)
    return seen


def _one_line(text: str) -> str:
    """A contact's number on one line: line breaks and other control characters become one space."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def _ways(phone: str | None, pager: str | None) -> list[str]:
    """A contact's numbers, as the escalation line names them: `phone +1 555 0100`, `pager DB-ONCALL`."""
    return [f"{kind} {_one_line(value)}" for kind, value in (("phone", phone), ("pager", pager))
            if value and _one_line(value)]


def _reach(who: str, phone: str | None, pager: str | None) -> str:
    """A contact with its numbers: `DBA <dba@example.com>, phone +1 555 0100, pager DB-ONCALL`."""
    return ", ".join([who, *_ways(phone, pager)])


def escalation_line(
    entry: Diagnosis, severity: Severity, catalogue: Catalogue, contacts: Mapping[Area, Contact]
) -> str:
    """Who to tell and how fast. Only critical and high failures call anyone (runbook 000, "When to
    Escalate"): a medium one is a ticket for the area's owner, a low one waits for the planned review,
    whatever the area's own urgency.

    Only people someone configured are named. When the environment names a contact for the area
    (`escalation.<area>`), the line names that contact (after the catalogue's role, with its `phone` and
    `pager` when given, each on one line whatever it holds) and no one else: a
    second contact it does not give is said to be missing, never filled in with the matrix's role (a
    platform with no CTO is not told to call one). Without a contact for the area, the line gives the
    catalogue's roles as roles (runbook 000's matrix, or a diagnoses file's `escalation_areas`) and says
    that no contact is configured."""
    tier = catalogue.severity_tiers[severity]
    area = catalogue.escalation_matrix[entry.escalation]
    contact = contacts.get(entry.escalation)
    head = f"{severity}: {tier.tier.lower()} ({tier.within}). {area.area}: "
    key = f"escalation.{entry.escalation}"
    if contact is None:
        who = f"{area.primary} (a role of the escalation matrix; no contact configured under `{key}`)"
        channel = ""
    else:
        who = f"{area.primary} ({_reach(contact.primary, contact.phone, contact.pager)})"
        channel = f"; channel {contact.channel}" if contact.channel else ""
    if severity in ("critical", "high"):
        if contact is None:
            then = (f"call {area.primary} and {area.secondary} at once" if area.within == "immediately"
                    else f"call {area.primary}, then {area.secondary} if no answer within {area.within}")
            return f"{head}{then} (roles of the escalation matrix; no contact configured under `{key}`)"
        if not contact.secondary:
            missing = f"no second contact configured (`{key}.secondary`)"
            if area.within == "immediately":
                return f"{head}call {who} at once; {missing}{channel}"
            return f"{head}call {who}; if no answer within {area.within}: {missing}{channel}"
        ways = _ways(contact.secondary_phone, contact.secondary_pager)
        if contact.secondary == area.secondary:  # the role named as is: only its numbers in brackets
            secondary = f"{area.secondary} ({', '.join(ways)})" if ways else area.secondary
        else:
            secondary = f"{area.secondary} ({', '.join([contact.secondary, *ways])})"
        if area.within == "immediately":
            return f"{head}call {who} and {secondary} at once{channel}"
        return f"{head}call {who}, then {secondary} if no answer within {area.within}{channel}"
    if severity == "medium":
        return f"{head}open a ticket for {who}; no call needed{channel}"
    return f"{head}note it for {who} at the next planned review; no call needed{channel}"


@dataclass(frozen=True)
class FailureBlock:
    """What a failure block advises, tailored (healthsuite.catalogue.advice): the message shows it, and the
    JSON report and JUnit carry it as data (`causes`, `remediation`, `escalation`), the same words."""

    causes: tuple[str, ...]
    steps: tuple[str, ...]
    runbook: tuple[str, ...]
    escalation: str


def failure_block(
    entry: Diagnosis,
    finding: Finding,
    *,
    severity: Severity,
    catalogue: Catalogue,
    contacts: Mapping[Area, Contact],
    context: AdviceContext | None = None,
    runbook_base_url: str | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> FailureBlock:
    """The likely causes and steps tailored to the target and what was seen, the runbook references
    (links when a base URL is known) and who to tell. `thresholds`: those in force for the diagnosis
    (the environment's `thresholds.<ID>`), which its texts show."""
    context = context or AdviceContext()
    entry = entry.in_force(thresholds) if thresholds else entry
    return FailureBlock(
        causes=tuple(tailor_causes([*finding.causes, *entry.causes], context)),
        steps=tuple(tailor_steps([*finding.remediation, *entry.remediation], context)),
        runbook=tuple(catalogue.runbook_refs(entry, runbook_base_url)),
        escalation=escalation_line(entry, severity, catalogue, contacts),
    )


def compose(
    entry: Diagnosis,
    finding: Finding,
    *,
    severity: Severity,
    target: str,
    catalogue: Catalogue,
    contacts: Mapping[Area, Contact],
    context: AdviceContext | None = None,
    runbook_base_url: str | None = None,
    block: FailureBlock | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> str:
    """The failure block: what was checked, observed against expected, and `block` (failure_block's,
    computed here when not given). The title and `checked` line show the thresholds in force: the
    entry's own (an environment's catalogue is rendered with its thresholds, Catalogue.in_force), or
    `thresholds` when given."""
    entry = entry.in_force(thresholds) if thresholds else entry
    if block is None:
        block = failure_block(entry, finding, severity=severity, catalogue=catalogue, contacts=contacts,
                              context=context, runbook_base_url=runbook_base_url)
    lines = [
        f"{entry.id} {entry.title} [{severity}, {entry.category}]",
        f"  checked:     {entry.verifies}",
        f"  target:      {target}",
        f"  observed:    {finding.observed}",
        f"  expected:    {finding.expected}",
    ]
    if finding.meaning:
        lines.append(f"  meaning:     {finding.meaning}")
    if block.causes:
        lines.append("  likely causes:")
        lines.extend(f"    - {cause}" for cause in block.causes)
    if block.steps:
        lines.append("  what to do:")
        lines.extend(f"    {number}. {step}" for number, step in enumerate(block.steps, start=1))
    lines.append(f"  runbook:     {'; '.join(block.runbook)}")
    lines.append(f"  escalate:    {block.escalation}")
    return "\n".join(lines)


def combine(findings: Iterable[Finding]) -> Finding:
    """Several assertions of one diagnosis (NET6: protocol and redirect) as one finding.

    It fails when any fails; observed/expected list every part; meaning, causes, remediation and the
    severity come from the failing parts."""
    parts = list(findings)
    failing = [f for f in parts if not f.ok]
    facts: dict[str, object] = {}
    for finding in parts:
        facts.update(finding.facts)
    return Finding(
        ok=not failing,
        observed="; ".join(f.observed for f in parts),
        expected="; ".join(f.expected for f in parts),
        meaning=" ".join(f.meaning for f in failing if f.meaning),
        causes=tuple(_unique(c for f in failing for c in f.causes)),
        remediation=tuple(_unique(r for f in failing for r in f.remediation)),
        facts=facts,
        severity=next((f.severity for f in failing if f.severity), None),
    )
