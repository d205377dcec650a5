"""The JSON report: one record per check and a summary by category and severity.

Written once per run by the controller (never by xdist workers) to `reports/<env>-<timestamp>.json`
and copied to `reports/latest.json`.
"""

from __future__ import annotations

import json
import mmap
import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import __version__
from .files import claim, write_atomically, write_temporary
from .records import OUTCOMES, Entry, RecordBook, record_line, redact_data
from .result import RunResult

SCHEMA_VERSION = 1  # docs/report.schema.json


def summarize(records: Iterable[Entry]) -> dict[str, Any]:
    records = list(records)
    totals = Counter(r.outcome for r in records)
    by_category: dict[str, Counter[str]] = defaultdict(Counter)
    by_severity: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        by_category[record.category][record.outcome] += 1
        by_severity[record.severity][record.outcome] += 1

    def table(groups: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
        return {name: {o: groups[name][o] for o in OUTCOMES} for name in sorted(groups)}

    return {
        "total": len(records),
        **{outcome: totals[outcome] for outcome in OUTCOMES},
        "by_category": table(by_category),
        "by_severity": table(by_severity),
        "failed_diagnoses": sorted({r.diagnosis for r in records if r.outcome in ("failed", "error")}),
        # against the previous runs of the environment (healthsuite.outputs.history)
        "changes": dict(sorted(Counter(r.change for r in records if r.change).items())),
    }


def document(result: RunResult) -> dict[str, Any]:
    """The report of `result`; its `checks` are the records themselves (write writes them one by one; a
    spooled record's line is read from the result's book)."""
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": f"healthsuite {__version__}",
        "environment": result.environment.as_dict(),
        "started": result.started.isoformat(timespec="seconds"),
        "finished": result.finished.isoformat(timespec="seconds"),
        "duration_s": round(result.duration_s, 3),
        "exit_status": result.exit_status,
        "summary": summarize(result.entries),
        "platform_incident": result.platform_incident,
        # failures another failure of the run explains: each cause once, with its consequences
        "causes": result.causes,
        "checks": result.entries,
        # how long each prefetched target's probes took (`endpoints/slow`: the longest of its probes);
        # the next run of this environment starts the slowest first
        "probe_latency_s": {key: round(value, 3) for key, value in sorted(result.probe_latency_s.items())},
        # what this run learned about where to probe (a key set's URL): the next run plans it up front
        "probe_hints": {key: dict(value) for key, value in sorted(result.probe_hints.items())},
        # the run's deadline and its exchanges: how many the probe pool made, how many checks made
        # outside it (with examples), whether the deadline ended any
        "run": dict(result.run),
    }
    if result.notices is not None:
        report["notices"] = result.notices
    if result.heartbeat is not None:
        report["heartbeat"] = result.heartbeat
    return report


def write(result: RunResult) -> Path:
    """The report of `result` written into its reports directory (write_report); its path."""
    return write_report(result.reports_dir, result.environment.name, document(result), result.finished,
                        result.redact, result.book)


def previous_probe_hints(directory: Path, env_name: str) -> dict[str, dict[str, str]]:
    """What the last run of `env_name` learned about where to probe (`probe_hints`), as
    previous_probe_latency finds its report ({} when there is none)."""
    for path in _latest_reports(directory, env_name):
        try:
            found = _report_sections(path, ("environment", "probe_hints"))
            if found.get("environment", {}).get("name") == env_name:
                hints = found.get("probe_hints", {})
                return {
                    str(key): {str(k): str(v) for k, v in value.items()}
                    for key, value in hints.items()
                    if isinstance(value, dict)
                }
        except (OSError, ValueError, TypeError, AttributeError):
            continue
    return {}


def previous_probe_latency(directory: Path, env_name: str) -> dict[str, float]:
    """The probe latencies of the last run of `env_name` reported in `directory`: `latest.json` when it
    is that environment's, else its newest `<env>-<timestamp>.json` ({} when there is none, or it
    cannot be read: the run then starts its probes in the checks' order)."""
    for path in _latest_reports(directory, env_name):
        try:
            found = _report_sections(path, ("environment", "probe_latency_s"))
            if found.get("environment", {}).get("name") == env_name:
                return {str(key): float(value) for key, value in found.get("probe_latency_s", {}).items()}
        except (OSError, ValueError, TypeError, AttributeError):
            continue
    return {}


def _report_sections(path: Path, keys: Sequence[str]) -> dict[str, Any]:
    """Some top-level sections of a report file, decoded alone: a report of thousands of checks is
    megabytes of JSON, and reading all of it to find its probe latencies cost tens of megabytes for a
    moment. Reports this module writes start each top-level key on a line of its own, so each section is
    found in the mapped file (only the pages around it are read) and decoded from there; any other file
    is decoded whole."""
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            raise ValueError("empty report")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            found: dict[str, Any] = {}
            decoder = json.JSONDecoder()
            for key in keys:
                marker = f"\n  {json.dumps(key)}: ".encode()
                # the environment opens a report; the probe sections close it, after the checks
                at = mapped.find(marker) if key == "environment" else mapped.rfind(marker)
                if at < 0 and found:
                    continue  # a report of this layout without that section (written before it existed)
                if at < 0:
                    document = json.loads(mapped[:])
                    return {k: document[k] for k in keys if k in document} if isinstance(document, dict) else {}
                start = at + len(marker)
                end = mapped.find(b"\n  }", start)
                end = mapped.find(b"\n  \"", start) if end < 0 else end + 4
                text = mapped[start : end if end > start else len(mapped)].decode("utf-8")
                found[key] = decoder.raw_decode(text)[0]
            return found


def _latest_reports(directory: Path, env_name: str) -> Iterator[Path]:
    yield directory / "latest.json"
    pattern = re.compile(rf"{re.escape(env_name)}-(?P<stamp>\d{{8}}T\d{{6}})Z(?:-(?P<n>\d+))?\.json")
    try:
        found = [(m["stamp"], int(m["n"] or 1), p) for p in directory.iterdir() if (m := pattern.fullmatch(p.name))]
    except OSError:
        return
    if found:  # the newest; `...Z-2.json` is the second report written in the same second
        yield max(found, key=lambda entry: entry[:2])[2]


def chunks(
    report: Mapping[str, Any], redact: Callable[[str], str] = lambda text: text, book: RecordBook | None = None
) -> Iterator[str]:
    """The report as indented JSON, but one line per check: as readable and greppable, and written by
    json's C encoder (an indented dump runs the pure-Python one: half a second at two thousand checks),
    in pieces, so that a report of thousands of checks is never one string in memory."""
    yield "{\n"
    for index, (key, value) in enumerate(report.items()):
        yield ",\n" if index else ""
        if key == "checks" and value:
            yield '  "checks": [\n'
            for number, check in enumerate(value):
                yield f"{',' if number else ''}\n    " if number else "    "
                yield record_line(check, redact, book)
            yield "\n  ]"
        elif _long_flat_mapping(value):
            # a long flat mapping (a probe latency per target): one line each, written by the C encoder,
            # as the indented dump would show it, without the pure-Python encoder's pieces in memory
            yield f"  {json.dumps(key)}: {{"
            for number, (name, item) in enumerate(value.items()):
                yield f"{',' if number else ''}\n    {json.dumps(redact(name), ensure_ascii=False)}: "
                yield json.dumps(redact_data(item, redact), ensure_ascii=False)
            yield "\n  }"
        else:
            nested = json.dumps(redact_data(value, redact), indent=2, ensure_ascii=False).replace("\n", "\n  ")
            yield f"  {json.dumps(key)}: {nested}"
    yield "\n}\n"


def _long_flat_mapping(value: object) -> bool:
    return isinstance(value, dict) and len(value) > 100 and all(not isinstance(v, (dict, list)) for v in value.values())


def dumps(
    report: Mapping[str, Any], redact: Callable[[str], str] = lambda text: text, book: RecordBook | None = None
) -> str:
    return "".join(chunks(report, redact, book))


def write_report(
    directory: Path,
    env_name: str,
    report: Mapping[str, Any],
    now: datetime | None = None,
    redact: Callable[[str], str] = lambda text: text,
    book: RecordBook | None = None,
) -> Path:
    """Write `<env>-<UTC timestamp>.json` and `latest.json` (every string through `redact`); return the
    timestamped path. Each is written whole to a temporary file first and then named, so no reader sees half
    a report; the timestamped name is taken only if free (`<env>-<timestamp>-2.json` and so on otherwise),
    so concurrent runs never lose a report."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    tmp = write_temporary(directory, f"{env_name}-{stamp}.json", chunks(report, redact, book))
    try:
        path = directory / f"{env_name}-{stamp}.json"
        counter = 1
        while not claim(tmp, path):  # `...Z-2.json`: the second report of that environment in that second
            counter += 1
            path = directory / f"{env_name}-{stamp}-{counter}.json"
    finally:
        tmp.unlink(missing_ok=True)
    write_atomically(directory / "latest.json", path)
    return path
