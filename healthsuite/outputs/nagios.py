"""Nagios/Icinga plugin output: one status line with performance data, then the long output.

By the Monitoring Plugins guidelines: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; a critical or high
failure is CRITICAL, a lower one WARNING; a run that could not judge is UNKNOWN.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .result import RunResult

SEVERITY_ORDER = ("critical", "high", "medium", "low")
OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATE_NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
SERVICE = "HEALTHSUITE"


class Record(Protocol):
    """What a verdict reads of a check's record (reports.CheckRecord and SpooledRecord have it)."""

    @property
    def diagnosis(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def outcome(self) -> str: ...


def nagios_status(env_name: str, records: Sequence[Record], duration_s: float,
                  observed: Callable[[Record], str] = lambda r: "") -> tuple[int, list[str]]:
    """The status code and the lines to print: the status line (text | performance data), then one
    line per failing or warned check, most severe first."""
    bad = [r for r in records if r.outcome in ("failed", "error", "warned")]
    bad.sort(key=lambda r: (SEVERITY_ORDER.index(r.severity) if r.severity in SEVERITY_ORDER else 9, r.diagnosis))
    serious = [r for r in bad if r.outcome != "warned" and r.severity in ("critical", "high")]
    code = CRITICAL if serious else WARNING if bad else OK
    outcomes = Counter(r.outcome for r in records)
    by_severity = Counter(r.severity for r in bad)
    if bad:
        parts = [f"{by_severity[s]} {s}" for s in SEVERITY_ORDER if by_severity[s]]
        names = ", ".join(dict.fromkeys(f"{r.diagnosis} {r.target}".strip() for r in bad[:5]))
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        text = f"{env_name}: {' + '.join(parts)} failing ({names}{more}); {outcomes['passed']} passed"
    else:
        text = f"{env_name}: {outcomes['passed']} checks passed" + (
            f", {outcomes['skipped']} skipped" if outcomes["skipped"] else "")
    perfdata = " ".join([
        f"checks={len(records)};;;0",
        *(f"{o}={outcomes[o]};;;0" for o in ("passed", "failed", "error", "warned", "skipped")),
        *(f"{s}={by_severity[s]};;;0" for s in SEVERITY_ORDER),
        f"duration={duration_s:.3f}s;;;0",
    ])
    lines = [f"{SERVICE} {STATE_NAMES[code]} - {text} | {perfdata}"]
    lines += [f"{r.outcome.upper()} {r.severity} {r.diagnosis} {r.target or '-'}: {observed(r)}".rstrip(": ")
              for r in bad]
    return code, lines


def unknown(reason: str) -> list[str]:
    return [f"{SERVICE} {STATE_NAMES[UNKNOWN]} - {' '.join(reason.split())[:500]}"]


def status(result: RunResult) -> tuple[int, list[str]]:
    """The status code and lines of `result`."""
    return nagios_status(result.environment.name, result.entries, result.duration_s,
                         lambda r: getattr(r, "observed", ""))
