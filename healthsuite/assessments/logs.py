"""Judge log windows (LOG1-LOG4) and host resources (PERF8). Pure: observation + thresholds -> Finding.

The lines judged are those the probe read: the window, or the lines written since the previous run
(probes.logs.read_new); every observation says which (LogObservation.span). A failing finding names
what failed in `facts["identity"]` (the kind of problem and, for errors, the most frequent message
with its variable parts replaced), so that the history tells a different failure of the same check
from the same one going on (outputs.history)."""

from __future__ import annotations

from typing import Any

from ..probes.host import HostObservation
from ..probes.logs import LogObservation
from .failure import Finding


def unreadable(obs: LogObservation | HostObservation, what: str) -> Finding:
    """The file or path could not be read at all: never a pass."""
    assert obs.error is not None
    address = obs.address if isinstance(obs, LogObservation) else obs.path
    return Finding(
        ok=False,
        observed=f"{address}: {obs.error.detail}",
        expected=f"{what} {address} exists and is readable by the user running the checks",
        meaning="the check cannot judge what it cannot read",
        remediation=(
            "Check the path in the environment file (relative paths are relative to that file).",
            "Check that the user running the checks can read it (`ls -l`, group `adm` for /var/log).",
        ),
        facts={"path": address, "failure_kind": obs.error.kind, "identity": ["unreadable"]},
    )


def _format_mismatch(obs: LogObservation) -> Finding | None:
    """Lines were read, but none was of the declared format: the counts would be a false pass."""
    if obs.parsed or not obs.unparsed:
        return None
    return Finding(
        ok=False,
        observed=f"none of the {obs.unparsed} lines read from {obs.address} is in the declared format {obs.format!r}",
        expected=f"lines in the {obs.format} format with a readable timestamp",
        meaning="the declared format (or json field names, regex, ts_format) does not match the file",
        remediation=(
            "Compare a line of the file (`tail -1 <log>`) with the declared format and fields, and fix the "
            "environment file.",
        ),
        facts={**obs.facts(), "identity": ["format mismatch"]},
    )


def _bound_note(obs: LogObservation) -> str:
    if not obs.bounded:
        return ""
    return (
        f"; read bounded at {obs.bytes_read / 1024 / 1024:.1f} MiB (max_bytes) before the start of the lines to "
        "judge, so counts are a lower bound"
    )


def _examples(lines: list[str]) -> str:
    return " | ".join(lines[:3])


def errors(obs: LogObservation, max_error_lines: float) -> Finding:
    """LOG1: error lines in the window under the threshold; the most frequent errors listed."""
    mismatch = _format_mismatch(obs)
    if mismatch is not None:
        return mismatch
    tally = obs.tally
    top = [{"message": message, "count": count} for message, count in tally.error_messages.most_common(5)]
    ok = tally.errors <= max_error_lines
    observed = f"{tally.errors} error lines {obs.span()} ({obs.read_summary()}{_bound_note(obs)})"
    if top:
        observed += "; most frequent: " + "; ".join(f"{t['count']}x {t['message']}" for t in top[:3])
    facts: dict[str, Any] = {**obs.facts(), "error_lines": tally.errors, "top_errors": top,
                             "examples": tally.error_examples}
    if not ok:
        facts["identity"] = ["error lines", *[t["message"] for t in top[:1]]]
    return Finding(
        ok=ok,
        observed=observed,
        expected=f"at most {max_error_lines:g} error lines (level error/critical/fatal) {obs.scope()}",
        meaning=(
            f"the application logged {tally.errors} errors recently; the most frequent is {top[0]['message']!r} "
            f"({top[0]['count']} times)"
            if top and not ok
            else ""
        ),
        facts=facts,
    )


def timeouts(obs: LogObservation, max_timeout_lines: float) -> Finding:
    """LOG2: lines naming a timeout in the window under the threshold."""
    mismatch = _format_mismatch(obs)
    if mismatch is not None:
        return mismatch
    tally = obs.tally
    ok = tally.timeouts <= max_timeout_lines
    observed = f"{tally.timeouts} timeout lines {obs.span()} ({obs.read_summary()}{_bound_note(obs)})"
    if tally.timeout_examples and not ok:
        observed += f"; e.g. {_examples(tally.timeout_examples)}"
    facts: dict[str, Any] = {**obs.facts(), "timeout_lines": tally.timeouts, "examples": tally.timeout_examples}
    if not ok:
        facts["identity"] = ["timeout lines", *[m for m, _ in tally.timeout_messages.most_common(1)]]
    return Finding(
        ok=ok,
        observed=observed,
        expected=f"at most {max_timeout_lines:g} lines matching timeout|timed out|ETIMEDOUT|deadline exceeded "
        f"{obs.scope()}",
        meaning="" if ok else "a dependency the application calls (external API, database, DNS) is slow or not "
        "answering; the lines name which",
        facts=facts,
    )


def access(obs: LogObservation, max_5xx_pct: float, slow_s: float, max_slow_pct: float) -> Finding:
    """LOG3: the 5xx share and the share of requests slower than `slow_s` under their thresholds."""
    mismatch = _format_mismatch(obs)
    if mismatch is not None:
        return mismatch
    tally = obs.tally
    expected = (
        f"5xx at most {max_5xx_pct:g} % of requests and requests slower than {slow_s:g} s at most "
        f"{max_slow_pct:g} % {obs.scope()}"
    )
    facts: dict[str, Any] = {
        **obs.facts(),
        "requests": tally.requests,
        "status_5xx": tally.status_5xx,
        "statuses_5xx": {str(k): v for k, v in sorted(tally.statuses_5xx.items())},
        "slow_requests": tally.slow,
        "timed_requests": tally.timed_requests,
        "slowest": [{"request_time_s": t, "request": r} for t, r in tally.slowest],
        "examples_5xx": tally.status_5xx_examples,
    }
    if not tally.requests:
        return Finding(ok=True, observed=f"no requests {obs.span()} ({obs.read_summary()})",
                       expected=expected, facts=facts)
    share_5xx = 100.0 * tally.status_5xx / tally.requests
    parts = [f"{share_5xx:.1f} % 5xx ({tally.status_5xx} of {tally.requests} requests"
             + (f": {', '.join(f'{k} x{v}' for k, v in sorted(tally.statuses_5xx.items()))}" if tally.status_5xx
                else "") + ")"]
    problems, identity = [], []
    if share_5xx > max_5xx_pct:
        problems.append("the backend answers errors (or the proxy cannot reach it: 502/504)")
        identity.append("5xx")
    if tally.timed_requests:
        share_slow = 100.0 * tally.slow / tally.timed_requests
        facts["slow_share_pct"] = round(share_slow, 2)
        parts.append(f"{share_slow:.1f} % slower than {slow_s:g} s ({tally.slow} of {tally.timed_requests})")
        if share_slow > max_slow_pct:
            problems.append("responses are slow")
            identity.append("slow requests")
            if tally.slowest:
                parts.append("slowest: " + ", ".join(f"{t:g} s {r}" for t, r in tally.slowest[:3]))
    else:
        parts.append("response times not measured: the lines carry no $request_time as their last field")
    facts["share_5xx_pct"] = round(share_5xx, 2)
    if identity:
        facts["identity"] = identity
    return Finding(
        ok=not problems,
        observed=f"{'; '.join(parts)} {obs.span()}{_bound_note(obs)}",
        expected=expected,
        meaning="; ".join(problems),
        remediation=() if tally.timed_requests else (
            "Add $request_time as the last field of the nginx log_format to judge response times: "
            "log_format timed '$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent "
            "\"$http_referer\" \"$http_user_agent\" $request_time'; then access_log <file> timed;",),
        facts=facts,
    )


def database_log(obs: LogObservation, max_error_lines: float, max_fatal_lines: float) -> Finding:
    """LOG4: no PANIC/FATAL lines (beyond the threshold) and ERROR lines under the threshold."""
    mismatch = _format_mismatch(obs)
    if mismatch is not None:
        return mismatch
    tally = obs.tally
    fatal_ok = tally.fatal <= max_fatal_lines
    errors_ok = tally.errors <= max_error_lines
    levels = ", ".join(f"{level} x{count}" for level, count in sorted(tally.fatal_levels.items()))
    observed = (
        f"{tally.fatal} PANIC/FATAL lines{f' ({levels})' if levels else ''} and {tally.errors} ERROR lines "
        f"{obs.span()} ({obs.read_summary()}{_bound_note(obs)})"
    )
    if tally.shutdown_fatal:
        observed += (f"; {tally.shutdown_fatal} FATAL lines of a clean shutdown not counted "
                     f"(e.g. {_examples(tally.shutdown_fatal_examples[:1])})")
    if not fatal_ok:
        observed += f"; e.g. {_examples(tally.fatal_examples)}"
    elif not errors_ok and tally.error_examples:
        observed += f"; e.g. {_examples(tally.error_examples)}"
    meaning = []
    if not fatal_ok:
        meaning.append(
            "the server crashed (PANIC) and restarted" if tally.fatal_levels.get("PANIC")
            else "the server ended sessions or rejected connections (FATAL: authentication, too many clients, "
            "a session terminated by an administrator, a shutdown that was not clean)"
        )
    identity = []
    if tally.fatal_levels.get("PANIC"):
        identity.append("PANIC")
    if not fatal_ok:
        identity += [f"FATAL: {m}" for m, _ in tally.fatal_messages.most_common(1)]
    if not errors_ok:
        top = tally.error_messages.most_common(1)
        meaning.append("statements fail" + (f", most often {top[0][0]!r}" if top else ""))
        identity += [f"ERROR: {m}" for m, _ in top] or ["ERROR"]
    return Finding(
        ok=fatal_ok and errors_ok,
        observed=observed,
        expected=f"at most {max_fatal_lines:g} PANIC/FATAL lines (a clean shutdown's excepted) and at most "
        f"{max_error_lines:g} ERROR lines {obs.scope()}",
        meaning="; ".join(meaning),
        severity="critical" if tally.fatal_levels.get("PANIC") else None,
        facts={
            **obs.facts(),
            "fatal_lines": tally.fatal,
            "fatal_levels": dict(tally.fatal_levels),
            "fatal_examples": tally.fatal_examples,
            "error_lines": tally.errors,
            "top_errors": [{"message": m, "count": c} for m, c in tally.error_messages.most_common(5)],
            "error_examples": tally.error_examples,
            "shutdown_fatal_lines": tally.shutdown_fatal,
            **({"identity": identity} if identity and not (fatal_ok and errors_ok) else {}),
        },
    )


def host_resources(obs: HostObservation, min_free_disk_pct: float, min_available_memory_pct: float) -> Finding:
    """PERF8: free disk of the path and available memory above their thresholds."""
    gib = 1024**3
    disk_ok = obs.disk_free_pct >= min_free_disk_pct
    parts = [
        f"{obs.disk_free_pct:.1f} % disk free on {obs.path} ({obs.disk_free_bytes / gib:.1f} GiB of "
        f"{obs.disk_total_bytes / gib:.1f} GiB)"
    ]
    memory_pct = obs.memory_available_pct
    memory_ok = memory_pct is None or memory_pct >= min_available_memory_pct
    if memory_pct is not None and obs.memory_total_kb is not None and obs.memory_available_kb is not None:
        parts.append(
            f"{memory_pct:.1f} % memory available ({obs.memory_available_kb / 1024**2:.1f} GiB of "
            f"{obs.memory_total_kb / 1024**2:.1f} GiB)"
        )
    else:
        parts.append(f"memory not judged: {obs.memory_unavailable}")
    meaning = []
    if not disk_ok:
        meaning.append("the disk is nearly full: writes (logs, database, uploads) will start failing")
    if not memory_ok:
        meaning.append("memory is nearly exhausted: the kernel will swap or kill processes (OOM)")
    return Finding(
        ok=disk_ok and memory_ok,
        observed="; ".join(parts),
        expected=f"at least {min_free_disk_pct:g} % disk free and at least {min_available_memory_pct:g} % "
        "memory available (MemAvailable)",
        meaning="; ".join(meaning),
        facts={
            "path": obs.path,
            "disk_free_pct": round(obs.disk_free_pct, 2),
            "disk_free_bytes": obs.disk_free_bytes,
            "disk_total_bytes": obs.disk_total_bytes,
            "memory_available_pct": round(memory_pct, 2) if memory_pct is not None else None,
            "memory_available_kb": obs.memory_available_kb,
            "memory_total_kb": obs.memory_total_kb,
        },
    )
