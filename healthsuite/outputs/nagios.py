"""Nagios/Icinga plugin output: one status line with performance data, then the long output.

By the Monitoring Plugins Development Guidelines: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; a critical
or high failure is CRITICAL, a lower one WARNING; a run that could not judge is UNKNOWN. The output is

    HEALTHSUITE STATE - text | 'label'=value[UOM];[warn];[crit];[min];[max] ...
    long output line
    ...

Nagios reads everything after the first `|` of the status line as performance data, and a `|` in the
long output starts the long performance data (every line after it is read as perfdata). So the one `|`
of the output is the one written here, and no text a check quoted (an HTTP body, a header, a log line,
SQL) can add another: every piece of text goes through `one_line`, which replaces `|` with `¦` and turns
line breaks and control characters into spaces.

Failures are told by cause (healthsuite.catalogue.causes): a failure another one explains (its `explained_by`) is
folded under its cause, counted and a few named, so a stopped database is one cause that explains 28
more, not 29 lines saying "connection refused"; the failures no cause explains follow, one line each.

Skipped is not green: a target none of whose checks was judged (outputs.result.not_judged: all skipped
for an unset variable or unreadable input) makes the state UNKNOWN, unless a critical or high failure
makes it CRITICAL, and is named on the status line and in the long output, unless the run allows skips
(--allow-skips).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ..catalogue.diagnoses import SEVERITIES
from .records import FAILING, MAINTENANCE, OUTCOMES, RETRIED, in_window_text

if TYPE_CHECKING:
    from .result import RunResult

SEVERITY_ORDER = SEVERITIES
OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATE_NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
SERVICE = "HEALTHSUITE"

PIPE_STAND_IN = "\N{BROKEN BAR}"  # what a `|` of quoted text becomes
# a line break or control character of quoted text becomes a space (C0, DEL, C1, the Unicode line and
# paragraph separators): one line stays one line for every reader
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_PLAIN_LABEL = re.compile(r"[A-Za-z0-9_.:/-]+")

NAMED_IN_STATUS = 5  # failing checks named on the status line
CAUSES_IN_STATUS = 3  # causes named on the status line
CONSEQUENCES_NAMED = 5  # consequences named under their cause in the long output
STATUS_TEXT_CHARS = 900  # the status line's text, before its performance data
LINE_CHARS = 400  # one long-output line
# Nagios Core reads at most 8 KiB of a plugin's output: the long output stops, saying so, before that
OUTPUT_BYTES = 8000


class Record(Protocol):
    """What the output reads of a check's record (outputs.records.CheckRecord and SpooledRecord have it;
    a failing one is always a CheckRecord, with its `id`, `observed`, `message` and `explained_by`)."""

    @property
    def diagnosis(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def outcome(self) -> str: ...


def one_line(text: object, limit: int = 0) -> str:
    """`text` as a safe piece of one output line: no `|`, no line break or control character, runs of
    white space as one space; cut to `limit` characters (0: no limit), ending with `...` when cut."""
    line = " ".join(_CONTROL.sub(" ", str(text)).replace("|", PIPE_STAND_IN).split())
    if limit and len(line) > limit:
        line = line[: max(limit - 3, 0)].rstrip() + "..."
    return line


def perf_label(label: str) -> str:
    """A performance data label by the guidelines: plain when it is letters, digits and `_.:/-`, else in
    single quotes with a quote doubled (`'it''s'`); never a `=`-less, `|` or line-breaking one."""
    text = one_line(label)
    if _PLAIN_LABEL.fullmatch(text):
        return text
    return "'" + text.replace("'", "''") + "'"


def perf_value(label: str, value: int | float, uom: str = "", *, warn: str = "", crit: str = "",
               minimum: str = "0", maximum: str = "") -> str:
    """`'label'=value[UOM];[warn];[crit];[min];[max]`, trailing empty fields dropped."""
    number = f"{value:.3f}" if isinstance(value, float) else str(value)
    fields = ";".join([f"{number}{uom}", warn, crit, minimum, maximum]).rstrip(";")
    return f"{perf_label(label)}={fields}"


def _id(record: Record) -> str:
    return str(getattr(record, "id", "") or "")


def _cause_of(record: Record) -> str:
    """The id of the failing check whose failure explains `record` (healthsuite.catalogue.causes), or ""."""
    return str(getattr(record, "explained_by", "") or "")


def _rank(record: Record) -> tuple[int, str, str]:
    severity = SEVERITY_ORDER.index(record.severity) if record.severity in SEVERITY_ORDER else 9
    return severity, record.diagnosis, _id(record)


def _name(record: Record) -> str:
    return one_line(f"{record.diagnosis} {record.target}", 80)


def _said(record: Record, redact: Callable[[str], str]) -> str:
    """What the check saw (its `observed`, else its message's first line), redacted, on one line."""
    observed = str(getattr(record, "observed", "") or "")
    if not observed:
        message = str(getattr(record, "message", "") or "")
        observed = message.strip().splitlines()[0] if message.strip() else ""
    return one_line(redact(observed))


def _short(said: str) -> str:
    """The gist of what a cause saw, for the status line: `connection refused` of `connection refused: ...`."""
    return one_line(re.split(r"[:;]", said, maxsplit=1)[0], 60)


def _names(records: Sequence[Record], shown: int) -> str:
    names = list(dict.fromkeys(_name(r) for r in records))
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _failure_line(record: Record, redact: Callable[[str], str]) -> str:
    said = _said(record, redact)
    line = f"{record.outcome.upper()} {record.severity} {record.diagnosis} {record.target or '-'}"
    return one_line(f"{line}: {said}" if said else line, LINE_CHARS)


def _unjudged_name(item: Mapping[str, Any]) -> str:
    return one_line(f"{item.get('target_kind', '')} {item.get('target', '')}".strip() or "the environment", 80)


def nagios_status(env_name: str, records: Sequence[Record], duration_s: float,
                  redact: Callable[[str], str] = str,
                  why: Callable[[str], str] = lambda cause_id: "",
                  not_judged: Sequence[Mapping[str, Any]] = ()) -> tuple[int, list[str]]:
    """The status code and the lines to print: the status line (text | performance data), then the long
    output: the targets not judged, each cause once with the failures it explains folded under it, then
    the failures no cause explains, most severe first. `why(cause_id)` is the causes section's reason for
    a cause, if any; `not_judged`: the targets none of whose checks was judged (outputs.result.not_judged),
    which make the state UNKNOWN unless a critical or high failure makes it CRITICAL."""
    bad = sorted((r for r in records if r.outcome in FAILING), key=_rank)
    serious = [r for r in bad if r.outcome != "warned" and r.severity in ("critical", "high")]
    retried = sorted((r for r in records if r.outcome == RETRIED), key=_rank)  # passed after retry: a warning
    code = CRITICAL if serious else UNKNOWN if not_judged else WARNING if bad or retried else OK
    outcomes = Counter(r.outcome for r in records)
    by_severity = Counter(r.severity for r in bad)

    ids = {_id(r) for r in bad} - {""}
    explained: dict[str, list[Record]] = {}
    for record in bad:
        if _cause_of(record) in ids:
            explained.setdefault(_cause_of(record), []).append(record)
    causes = [r for r in bad if _id(r) in explained]
    others = [r for r in bad if _id(r) not in explained and _cause_of(r) not in ids]

    in_window = sorted((r for r in records if r.outcome == MAINTENANCE), key=_rank)
    env = one_line(env_name, 80)
    if not bad:
        text = f"{env}: {outcomes['passed'] + len(retried)} checks passed" + (
            f", {len(retried)} of them only after retry ({_names(retried, NAMED_IN_STATUS)})" if retried else "") + (
            f", {outcomes['skipped']} skipped" if outcomes["skipped"] else "")
    else:
        severities = " + ".join(f"{by_severity[s]} {s}" for s in SEVERITY_ORDER if by_severity[s])
        if not severities:
            severities = str(len(bad))
        if causes:
            named = "; ".join(
                f"{_name(c)} ({_short(_said(c, redact))}) explains {len(explained[_id(c)])} more"
                for c in causes[:CAUSES_IN_STATUS])
            hidden = len(causes) - CAUSES_IN_STATUS
            more_causes = f"; and {hidden} more causes" if hidden > 0 else ""
            parts = [f"{len(causes)} cause{'s' if len(causes) != 1 else ''}: {named}{more_causes}"]
            if others:
                parts.append(f"{len(others)} more failing ({_names(others, NAMED_IN_STATUS)})")
            parts.append(f"{severities} failing in all")
            text = f"{env}: {'; '.join(parts)}; {outcomes['passed']} passed"
        else:
            text = f"{env}: {severities} failing ({_names(bad, NAMED_IN_STATUS)}); {outcomes['passed']} passed"
    if in_window:  # failed inside a maintenance window: expected there, not a problem state
        text += f", {len(in_window)} in maintenance"
    if retried and bad:
        text += f"; {len(retried)} passed after retry ({_names(retried, NAMED_IN_STATUS)})"
    if not_judged:
        first = not_judged[0]
        reasons = [str(r) for r in first.get("reasons", ())]
        gist = re.split(r" \(|[:;]", one_line(redact(reasons[0])), maxsplit=1)[0] if reasons else ""
        said = f" ({one_line(gist, 60)})" if gist else ""
        more = f" and {len(not_judged) - 1} more" if len(not_judged) > 1 else ""
        text = (f"{env}: {len(not_judged)} target{'s' if len(not_judged) != 1 else ''} not judged, all checks "
                f"skipped: {_unjudged_name(first)}{said}{more}; " + text.removeprefix(f"{env}: "))
    perfdata = " ".join([
        perf_value("checks", len(records)),
        *(perf_value(o, outcomes[o]) for o in OUTCOMES),
        *(perf_value(s, by_severity[s]) for s in SEVERITY_ORDER),
        perf_value("causes", len(causes)),
        *([perf_value("not_judged", len(not_judged))] if not_judged else []),  # only when a target was not judged
        perf_value("duration", float(duration_s), "s"),
    ])
    status = f"{SERVICE} {STATE_NAMES[code]} - {one_line(text, STATUS_TEXT_CHARS)} | {perfdata}"

    long_output: list[str] = [
        one_line(f"NOT JUDGED {_unjudged_name(item)}: all {item.get('checks', 0)} checks skipped: "
                 + "; ".join(redact(str(r)) for r in item.get("reasons", ())), LINE_CHARS)
        for item in not_judged
    ]
    for cause in causes:
        cause_id = _id(cause)
        reason = one_line(redact(why(cause_id)))
        line = _failure_line(cause, redact)
        long_output.append(one_line(f"CAUSE {line}" + (f" [{reason}]" if reason else ""), LINE_CHARS))
        folded = explained[cause_id]
        long_output.append("  " + one_line(
            f"explains {len(folded)} more failing: {_names(folded, CONSEQUENCES_NAMED)}", LINE_CHARS))
    long_output += [_failure_line(r, redact) for r in others]
    long_output += [one_line(f"{_failure_line(r, redact)} [{redact(in_window_text(getattr(r, 'maintenance', None)))}]",
                             LINE_CHARS) for r in in_window]
    long_output += [one_line(f"PASSED AFTER RETRY {r.severity} {r.diagnosis} {r.target or '-'}: a transport "
                             "failure, then an answer (the report's attempts)", LINE_CHARS) for r in retried]
    return code, [status, *_within_budget(status, long_output)]


def _within_budget(status: str, lines: list[str]) -> list[str]:
    """The long-output lines that fit in what Nagios reads, and a last one saying how many did not."""
    used = len(status.encode()) + 1
    kept: list[str] = []
    for number, line in enumerate(lines):
        size = len(line.encode()) + 1
        if used + size > OUTPUT_BYTES - 120:  # room left for the closing line
            kept.append(f"and {len(lines) - number} more lines: see the JSON report")
            break
        kept.append(line)
        used += size
    return kept


def unknown(reason: str) -> list[str]:
    """The lines of a run that could not judge: one UNKNOWN status line, `reason` on it."""
    return [f"{SERVICE} {STATE_NAMES[UNKNOWN]} - {one_line(reason, 500)}"]


def status(result: RunResult) -> tuple[int, list[str]]:
    """The status code and lines of `result` (every quoted text through the environment's redactor)."""
    reasons = {str(c.get("cause", "")): str(c.get("why", "")) for c in result.causes}
    return nagios_status(result.environment.name, result.entries, result.duration_s, result.redact,
                         lambda cause_id: reasons.get(cause_id, ""),
                         () if result.skips_allowed else result.not_judged)
