"""The parts of Allure's results directory that are healthsuite's own: the failure categories
(`categories.json`) and the history carried over from the previous report.

Categories. Allure puts a failed result in every category whose `messageRegex` matches its status
message WHOLE (Java's `Pattern.matches`), and lists a result under each category it matches. A
failing check's message is its failure block; the line that says what was wrong is `  observed:`,
so the categories read that line only (the causes and remediation below it name every kind of
trouble). Its rules, in order, first match wins (each category's regex excludes the rules before its
own, so a result lands in one category):

- DNS: NXDOMAIN, SERVFAIL, a DNS check's answer (its line ends `[resolver ...]`), `DNS resolution failed`
- a probe's transport error, by its kind's words (healthsuite.probes.errors) where probes write them
  (the line's start, or after `url: ` or `-> `; then `: `, ` (`, ` after `): `timed out: ...`,
  `https://x/: connection refused (...)`: Timeout, Connection refused, TLS, Permission,
  Authentication, Other transport errors. Words quoted in the line (a log line that says "timed
  out", an error page's "Connection refused") do not count
- HTTP answer: the server answered, with an HTTP status the check did not want (`HTTP 502 Bad Gateway`)
- TLS again: a certificate that does not verify or expires soon, a handshake refused
- Assertion on a value: any other failing check (a count, a share, a duration over its limit)

History. `allure generate` draws its trends from `history/` in the results directory, which it only
writes into the report it generates: the convention is to copy the previous report's `history/` into
the results before generating. `carry_history` does that at the end of a run (option
`--allure-history` / ini `healthsuite_allure_history` names the previous report directory).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..probes.errors import KIND_NAMES as KIND_NAMES

# the observed line of a failure block (healthsuite.assessments.failure.compose); its text up to the line's end
OBSERVED = r".*\n {2}observed: +[^\n]*?"
# how the probes and assessments phrase a probe error: at the line's start or after `url: ` or `-> `,
# then `: detail`, ` (detail)`, ` after 3000 ms`, ` x3` (PERF2's samples), `,` `;` or the line's end
_KIND_BEFORE = r"(?:(?<=  )|(?<=: )|(?<=-> ))"
_KIND_AFTER = r"(?:: | \(| after | x\d|,|;|\n)"


def _kinds(*kinds: str) -> str:
    """A probe error of one of `kinds`, in its words as written (lower case, where a probe error is
    written): "12 timeout lines ... request timed out after 10000 ms" quotes a log, and is no timeout."""
    return _KIND_BEFORE + "(?:" + "|".join(re.escape(KIND_NAMES[kind]) for kind in kinds) + ")" + _KIND_AFTER


# (category, rule over the observed line), in the order they are tried
RULES: tuple[tuple[str, str], ...] = (
    # a DNS check's line ends with the resolver asked: `[resolver 10.0.0.2:53]`, `[system resolver (...)]`
    ("DNS", r"\bNXDOMAIN\b|\bSERVFAIL\b|\[(?:system )?resolver[ (]|" + _kinds("dns")),
    ("Timeout", _kinds("timeout")),
    ("Connection refused", _kinds("refused")),
    ("TLS", _kinds("tls")),
    ("Permission", _kinds("permission_denied")),
    ("Authentication", _kinds("auth_failed")),
    ("Other transport errors",
     _kinds("reset", "protocol", "database_missing", "too_many_connections", "not_a_database", "other")),
    ("HTTP answer", r"\bHTTP [1-5]\d\d\b"),
    ("TLS", r"\bcertificate\b|no TLS handshake|although TLS 1\.0 to 1\.3 were offered"),
)
DESCRIPTIONS = {
    "DNS": "the name does not resolve (NXDOMAIN, SERVFAIL, no answer), resolves slowly or to the wrong records",
    "Timeout": "nothing answered in time",
    "Connection refused": "nothing accepted the connection: the service is down or listens elsewhere",
    "TLS": "the TLS handshake failed, or a certificate does not verify or expires soon",
    "Permission": "the account connected but may not read what the check reads",
    "Authentication": "the service refused the credentials",
    "Other transport errors": "the connection was reset, or the other end spoke another protocol",
    "HTTP answer": "the server answered, with an HTTP status or answer the check did not expect",
    "Assertion on a value": "the probe got an answer, and a value in it is not the expected one",
}
FALLBACK = "Assertion on a value"


def _first_match(rule: str, earlier: Sequence[str]) -> str:
    """Lookaheads at the message's start: its observed line matches `rule` and none of `earlier`."""
    excluded = f"(?!{OBSERVED}(?:{'|'.join(earlier)}))" if earlier else ""
    return f"{excluded}(?={OBSERVED}(?:{rule}))"


def categories() -> list[dict[str, Any]]:
    """Allure's categories.json: each failure in one category, by what its observed line says went wrong."""
    found: list[dict[str, Any]] = []
    for name in dict.fromkeys(owner for owner, _ in RULES):
        # this category's rules, each with the rules before it, which it must not match
        alternatives = [_first_match(rule, [r for _, r in RULES[:index]])
                        for index, (owner, rule) in enumerate(RULES) if owner == name]
        found.append({"name": name, "description": DESCRIPTIONS[name], "matchedStatuses": ["failed", "broken"],
                      "messageRegex": f"(?s)(?:{'|'.join(alternatives)}).*"})
    found.append({
        "name": FALLBACK,
        "description": DESCRIPTIONS[FALLBACK],
        "matchedStatuses": ["failed"],
        "messageRegex": f"(?s){_first_match('', [r for _, r in RULES])}.*",  # an observed line, none of the rules
    })
    return found


def category_of(message: str, status: str = "failed") -> list[str]:
    """The categories a status message lands in, matched as Allure matches them (the whole message)."""
    return [c["name"] for c in categories()
            if status in c["matchedStatuses"] and re.fullmatch(c["messageRegex"], message)]


HISTORY = "history"


def history_source(previous: Path) -> Path | None:
    """The history folder of a previous `allure generate` output: `previous/history`, or `previous`
    itself when it is one (holds history.json); None when there is none yet (a first run)."""
    for candidate in (previous / HISTORY, previous):
        if (candidate / "history.json").is_file() or (candidate / "history-trend.json").is_file():
            return candidate
    return None


def carry_history(previous: Path, results: Path) -> list[Path]:
    """Copy the previous report's history (history_source) into `results/history`, so that the next
    `allure generate results` continues its trends; the files copied ([] when there was none)."""
    source = history_source(previous)
    if source is None:
        return []
    target = results / HISTORY
    if source.resolve() == target.resolve():
        return sorted(target.glob("*.json"))
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for item in sorted(source.glob("*.json")):
        if item.is_file():
            shutil.copyfile(item, target / item.name)
            copied.append(target / item.name)
    return copied
