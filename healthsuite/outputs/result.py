"""One run's result: built once when the run ends, and the only thing every output reads.

The plugin collects the checks' records while the run goes (outputs.records.RecordBook) and, at the end,
builds a `RunResult` from them (`build`): the environment, every check's record with its stable
identity, the causes (which failure explains which), a platform incident, the exchanges' latencies and
the run's facts, the exit status. The JSON report is its serialisation (outputs.json_report); JUnit,
HTML, Prometheus, Nagios, notices, the heartbeat, history and the terminal summary are functions of it, so they
tell one verdict the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..catalogue.causes import group as group_causes
from .records import FAILING, CheckRecord, Entry, RecordBook, SpooledRecord

# the exit status of a run in which nothing failed but a target was not judged (not_judged): none of
# pytest's (0-5); --allow-skips makes it 0, and --nagios says UNKNOWN
NOT_JUDGED_STATUS = 6
# a skip that means the check could not judge its target: a variable or secret that is not set
# (templates.MissingVariable), input it could not read. Not "no ... declared", a refused mutating check,
# outside business hours, a deselection: those are the file's or the user's choice.
NOT_JUDGED_SKIP = re.compile(
    r"\b(?:is|are) not set\b|\bcannot be read\b|\bcould not be read\b|\bunreadable\b|\bpermission denied\b",
    re.IGNORECASE,
)
NOT_JUDGED_REASONS = 5  # distinct skip reasons kept per target
PLATFORM_STATUS_DIAGNOSIS = "AV5"
# failures a provider's incident cannot explain, even on a host it serves: a certificate's dates, the
# DNS records' shape, a CORS policy, the TLS version or redirect, the deployed version
NOT_FROM_AN_INCIDENT = frozenset({"NET3", "NET5", "NET6", "NET7", "DEP2"})


@dataclass(frozen=True)
class RunEnvironment:
    """The environment a run checked, as the report names it."""

    name: str
    kind: str = ""
    file: str = ""
    selected_by: str = ""
    allow_mutating: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "file": self.file, "selected_by": self.selected_by,
                "allow_mutating": self.allow_mutating}


@dataclass
class RunResult:
    """Everything a run decided. `entries` is every check (by id): whole records for failing ones,
    spooled lines (outputs.records.SpooledRecord) for those that passed or were skipped."""

    environment: RunEnvironment
    started: datetime
    finished: datetime
    exit_status: int
    book: RecordBook
    entries: list[Entry]
    reports_dir: Path
    redact: Callable[[str], str] = str
    probe_latency_s: dict[str, float] = field(default_factory=dict)
    probe_hints: dict[str, dict[str, str]] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)  # the deadline, the exchanges, the protocol
    causes: list[dict[str, Any]] = field(default_factory=list)
    platform_incident: dict[str, Any] | None = None
    # targets none of whose checks was judged: all skipped, for an unset variable or unreadable input
    # (not_judged); with skips_allowed (--allow-skips) that does not change the verdict
    not_judged: list[dict[str, Any]] = field(default_factory=list)
    skips_allowed: bool = False
    # filled as the outputs run, in their order (outputs.publish)
    notices: dict[str, Any] | None = None
    heartbeat: dict[str, Any] | None = None  # the pings' outcomes (outputs.heartbeat)
    report_path: Path | None = None

    @property
    def duration_s(self) -> float:
        return (self.finished - self.started).total_seconds()

    def failing(self) -> list[CheckRecord]:
        """The checks that failed, had an error or warned (always whole records), by id."""
        return [e for e in self.entries if isinstance(e, CheckRecord) and e.outcome in FAILING]

    def record(self, check_id: str) -> CheckRecord | None:
        return next((e for e in self.entries if isinstance(e, CheckRecord) and e.id == check_id), None)


def build(
    *,
    environment: RunEnvironment,
    book: RecordBook,
    started: datetime,
    finished: datetime,
    exit_status: int,
    reports_dir: Path,
    redact: Callable[[str], str] = str,
    probe_latency_s: Mapping[str, float] | None = None,
    probe_hints: Mapping[str, Mapping[str, str]] | None = None,
    run: Mapping[str, Any] | None = None,
    provider_hosts: Mapping[str, Sequence[str]] | None = None,
    allow_skips: bool = False,
) -> RunResult:
    """The run's result, judged once: which failures a provider's incident or another failure explains,
    and which targets were not judged. A run in which nothing failed (`exit_status` 0) but a target was
    not judged ends with NOT_JUDGED_STATUS, unless `allow_skips`; the report's `run` section lists them."""
    entries = book.entries()
    incident = platform_incident(entries, provider_hosts)
    causes = group_causes(entries)
    unjudged = not_judged(entries, book, redact)
    if unjudged and not allow_skips and exit_status == 0:
        exit_status = NOT_JUDGED_STATUS
    facts = dict(run or {})
    facts["not_judged"] = unjudged
    facts["skips_allowed"] = allow_skips
    return RunResult(
        environment=environment, started=started, finished=finished, exit_status=exit_status, book=book,
        entries=entries, reports_dir=reports_dir, redact=redact,
        probe_latency_s={k: float(v) for k, v in (probe_latency_s or {}).items()},
        probe_hints={k: dict(v) for k, v in (probe_hints or {}).items()},
        run=facts, causes=causes, platform_incident=incident, not_judged=unjudged, skips_allowed=allow_skips,
    )


def skip_reason(entry: Entry, book: RecordBook, redact: Callable[[str], str] = str) -> str:
    """Why a skipped check was skipped (its message; a spooled one's is read back from the spool)."""
    if isinstance(entry, SpooledRecord):
        try:
            return str(json.loads(book.spooled_line(entry)).get("message", ""))  # redacted when spooled
        except (ValueError, AttributeError):
            return ""
    return redact(entry.message)


def not_judged(entries: Sequence[Entry], book: RecordBook, redact: Callable[[str], str] = str) -> list[dict[str, Any]]:
    """The targets none of whose checks was judged: every check of the target was skipped, and a skip
    was for an unset variable or secret or input that could not be read (NOT_JUDGED_SKIP). A target
    whose checks were skipped only because nothing was declared, or that was deselected, is not one.
    Each: its `target` and `target_kind`, how many `checks`, and the distinct skip `reasons`."""
    groups: dict[tuple[str, str], list[Entry]] = {}
    for entry in entries:
        groups.setdefault((entry.target_kind, entry.target), []).append(entry)
    found: list[dict[str, Any]] = []
    for (kind, target), group in groups.items():
        if any(entry.outcome != "skipped" for entry in group):
            continue
        reasons: list[str] = []
        for entry in group:
            reason = skip_reason(entry, book, redact)
            if NOT_JUDGED_SKIP.search(reason) and reason not in reasons:
                reasons.append(reason)
        if reasons:
            found.append({"target": target, "target_kind": kind, "checks": len(group),
                          "reasons": reasons[:NOT_JUDGED_REASONS]})
    return found


def target_name(item: Mapping[str, Any]) -> str:
    """A not-judged target as a person reads it: `databases main`, or `the environment`."""
    kind, target = str(item.get("target_kind", "")), str(item.get("target", ""))
    return f"{kind} {target}".strip() or "the environment"


def serves(patterns: Sequence[str], host: str) -> bool:
    """`host` is one of `patterns`: a name exactly, or `*.example.com` for any name under it."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        pattern = pattern.lower().rstrip(".")
        if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


def platform_incident(
    records: Sequence[Entry], provider_hosts: Mapping[str, Sequence[str]] | None = None
) -> dict[str, Any] | None:
    """When AV5 read a provider's status and it reports an incident, mark the failures that could come
    from it: checks whose exchanges went to a host the provider serves (`provider_hosts`, by status
    page target), other than those an incident cannot explain. A status page that could not be read
    marks nothing: a possible incident is not an incident.

    Returns the report's `platform_incident` section (None when no status page reported one)."""
    reporting = [
        r for r in records
        if isinstance(r, CheckRecord) and r.diagnosis == PLATFORM_STATUS_DIAGNOSIS and r.outcome == "failed"
        and "indicator" in r.facts  # the status was read (an unreadable page records no indicator)
    ]
    if not reporting:
        return None
    hosts = [h for r in reporting for h in (provider_hosts or {}).get(r.target, ())]
    others = [
        r for r in records
        if isinstance(r, CheckRecord)  # failing ones are always whole
        and r.outcome in ("failed", "error") and r.diagnosis != PLATFORM_STATUS_DIAGNOSIS
        and r.diagnosis not in NOT_FROM_AN_INCIDENT and any(serves(hosts, host) for host in r.hosts)
    ]
    for record in others:
        record.likely_platform_incident = True
    return {
        "status_pages": [{"target": r.target, "observed": r.observed} for r in reporting],
        "provider_hosts": sorted(set(hosts)),
        "affected_checks": [r.id for r in others],
        "note": (
            f"{len(others)} other failing check(s) reached a host the provider serves and are likely part of "
            "its incident: check the provider's status page before debugging the application"
        ),
    }
