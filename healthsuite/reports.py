"""The JSON report: one record per check and a summary by category and severity.

Written once per run by the controller (never by xdist workers) to `reports/<env>-<timestamp>.json`
and copied to `reports/latest.json`.
"""

from __future__ import annotations

import functools
import json
import mmap
import os
import re
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from . import __version__
from .causes import group as group_causes

OUTCOMES = ("passed", "failed", "error", "warned", "skipped")  # warned: failed below --fail-on
SCHEMA_VERSION = 1  # docs/report.schema.json
REPORT_MODE = 0o640  # owner and group read, whatever the umask; others not: reports name hosts and failures


@dataclass(slots=True)  # thousands of them live for the whole run: no __dict__ each
class CheckRecord:
    id: str  # the pytest node id
    diagnosis: str
    category: str
    severity: str
    target: str = ""
    outcome: str = "passed"  # passed | failed | error | skipped
    observed: str = ""
    expected: str = ""
    duration_s: float = 0.0
    message: str = ""
    runbook: list[str] | tuple[str, ...] = ()  # shared by the checks of one diagnosis
    # structured observations (e.g. PERF1's timing phases), kept as the JSON text the check recorded: it
    # is written into the report as it is, never decoded and encoded again
    facts_json: str = "{}"
    likely_platform_incident: bool = False  # set when AV5 saw the provider report an incident
    # the hosts a failing check's exchanges went to (not written: only a platform incident reads them)
    hosts: tuple[str, ...] = ()
    # against the previous runs (healthsuite.history): new | persisting | flapping | recovered, or ""
    change: str = ""
    failing_since: str = ""
    failing_runs: int = 0
    explained_by: str = ""  # the id of the failing check whose failure explains this one (healthsuite.causes)
    # a failure's advice as data, the words of its message (healthsuite.failure.FailureBlock); the report
    # writes them only when the check recorded them
    causes: tuple[str, ...] = ()
    remediation: tuple[str, ...] = ()
    escalation: str = ""

    @property
    def facts(self) -> dict[str, Any]:
        try:
            value = json.loads(self.facts_json)
        except ValueError:
            return {"unparsed": self.facts_json}
        return value if isinstance(value, dict) else {"unparsed": self.facts_json}

    def as_dict(self) -> dict[str, Any]:
        """The record as the report writes it (`facts` decoded)."""
        fields = {name: getattr(self, name) for name in RECORD_FIELDS}
        fields.update({name: list(getattr(self, name)) if name != "escalation" else self.escalation
                       for name in ADVICE_FIELDS if getattr(self, name)})
        fields["facts"] = self.facts
        return fields


RECORD_FIELDS = (
    "id", "diagnosis", "category", "severity", "target", "outcome", "observed", "expected", "duration_s", "message",
    "runbook",
)


ADVICE_FIELDS = ("causes", "remediation", "escalation")


def _advice(text: str) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """The `advice` property (checkapi.Expect): causes, remediation steps, escalation line."""
    try:
        value = json.loads(text)
        return (tuple(map(str, value.get("causes", ()))), tuple(map(str, value.get("remediation", ()))),
                str(value.get("escalation", "")))
    except (ValueError, AttributeError, TypeError):
        return (), (), ""


@functools.lru_cache(maxsize=1024)
def _runbook(joined: str) -> tuple[str, ...]:
    """The runbook sections of a diagnosis, parsed once and shared by its checks."""
    return tuple(r for r in joined.split(" | ") if r)


@dataclass(frozen=True, slots=True)
class SpooledRecord:
    """A finished check that passed or was skipped: its report line is in the book's spool file, and
    only what the summary counts stays in memory."""

    id: str
    diagnosis: str
    category: str
    severity: str
    target: str
    outcome: str
    offset: int
    length: int
    likely_platform_incident: bool = False  # never: only failing checks are marked
    change: str = ""  # "recovered" at most: a passing check


Entry = CheckRecord | SpooledRecord


class RecordBook:
    """Folds the setup/call/teardown reports of each check into one record.

    A check that finished (its teardown report came) and passed or was skipped is written to a spool
    file at once, as its report line, and only its counts stay in memory: at thousands of checks the
    records were a good part of the run's memory, and writing the report at the end copies the lines.
    Failing checks stay whole (the terminal lists them; a platform incident marks them)."""

    def __init__(self, redact: Callable[[str], str] = lambda text: text) -> None:
        self._records: dict[str, Entry] = {}
        self._redact = redact
        self._spool: IO[bytes] | None = None
        self._spool_end = 0
        self._spool_read = False  # read since the last write: the next write seeks back to the end

    def add_phase(
        self,
        nodeid: str,
        when: str,
        outcome: str,
        duration: float,
        properties: dict[str, str],
        message: str,
    ) -> None:
        entry = self._records.get(nodeid)
        if isinstance(entry, SpooledRecord):
            return  # finished already (a report after teardown, e.g. from a rerun plugin, changes nothing)
        record = entry
        if record is None:
            record = CheckRecord(
                id=nodeid,
                diagnosis=properties.get("diagnosis", ""),
                category=properties.get("category", ""),
                severity=properties.get("severity", ""),
                target=properties.get("target", ""),
                runbook=_runbook(properties.get("runbook", "")),
            )
            self._records[nodeid] = record
        record.duration_s = round(record.duration_s + duration, 6)
        record.observed = properties.get("observed", record.observed)
        record.expected = properties.get("expected", record.expected)
        record.severity = properties.get("severity", record.severity)
        if "facts" in properties:
            record.facts_json = properties["facts"]
        if "advice" in properties:
            record.causes, record.remediation, record.escalation = _advice(properties["advice"])
        if "hosts" in properties:
            record.hosts = tuple(properties["hosts"].split())
        if "change" in properties:
            record.change = properties["change"]
            record.failing_since = properties.get("failing_since", "")
            record.failing_runs = int(properties.get("failing_runs", "0") or 0)
        if outcome == "passed" and when == "call" and properties.get("verdict") == "warning":
            record.outcome = "warned"  # it failed, below the run's --fail-on bar (healthsuite.verdicts)
            record.message = message
        elif outcome == "skipped":
            if record.outcome == "passed":
                record.outcome = "skipped"
                record.message = message
        elif outcome == "failed":
            if when == "call":
                record.outcome = "failed"
            elif record.outcome != "failed":
                record.outcome = "error"  # setup or teardown failed: the check itself did not run
            record.message = message if not record.message or when == "call" else record.message
        if when == "teardown" and record.outcome in ("passed", "skipped"):
            self._records[nodeid] = self._spooled(record)

    def _spooled(self, record: CheckRecord) -> SpooledRecord:
        if self._spool is None:
            self._spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        line = _check_line(record, self._redact).encode("utf-8")
        if self._spool_read:  # a seek flushes the buffer: only when a read moved the position
            self._spool.seek(self._spool_end)
            self._spool_read = False
        self._spool.write(line)
        offset, self._spool_end = self._spool_end, self._spool_end + len(line)
        return SpooledRecord(record.id, record.diagnosis, record.category, record.severity, record.target,
                             record.outcome, offset, len(line), change=record.change)

    def spooled_line(self, entry: SpooledRecord) -> str:
        assert self._spool is not None
        self._spool_read = True
        self._spool.seek(entry.offset)
        return self._spool.read(entry.length).decode("utf-8")

    def entries(self) -> list[Entry]:
        """Every check, by id: whole records and spooled ones."""
        return sorted(self._records.values(), key=lambda r: r.id)

    def records(self) -> list[CheckRecord]:
        """The checks kept whole (those that failed, had an error, or never finished), by id."""
        return sorted((r for r in self._records.values() if isinstance(r, CheckRecord)), key=lambda r: r.id)

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None


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
        # against the previous runs of the environment (healthsuite.history)
        "changes": dict(sorted(Counter(r.change for r in records if r.change).items())),
    }


PLATFORM_STATUS_DIAGNOSIS = "AV5"
# failures a provider's incident cannot explain, even on a host it serves: a certificate's dates, the
# DNS records' shape, a CORS policy, the TLS version or redirect, the deployed version
NOT_FROM_AN_INCIDENT = frozenset({"NET3", "NET5", "NET6", "NET7", "DEP2"})


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


def build_report(
    *,
    environment: dict[str, Any],
    records: Sequence[Entry],
    started: datetime,
    finished: datetime,
    exit_status: int,
    probe_latency_s: Mapping[str, float] | None = None,
    run: Mapping[str, Any] | None = None,
    probe_hints: Mapping[str, Mapping[str, str]] | None = None,
    provider_hosts: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The report; its `checks` are the records themselves (write_report writes them one by one; a
    spooled record's line is read from `book`'s spool)."""
    incident = platform_incident(records, provider_hosts)
    causes = group_causes(records)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": f"healthsuite {__version__}",
        "environment": environment,
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "duration_s": round((finished - started).total_seconds(), 3),
        "exit_status": exit_status,
        "summary": summarize(records),
        "platform_incident": incident,
        # failures another failure of the run explains: each cause once, with its consequences
        "causes": causes,
        "checks": records,
        # how long each prefetched target's probes took (`endpoints/slow`: the longest of its probes);
        # the next run of this environment starts the slowest first
        "probe_latency_s": {key: round(value, 3) for key, value in sorted((probe_latency_s or {}).items())},
        # what this run learned about where to probe (a key set's URL): the next run plans it up front
        "probe_hints": {key: dict(value) for key, value in sorted((probe_hints or {}).items())},
        # the run's deadline and its exchanges: how many the probe pool made, how many checks made
        # outside it (with examples), whether the deadline ended any
        "run": dict(run or {}),
    }


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


def _check_line(
    record: Entry | Mapping[str, Any], redact: Callable[[str], str], book: RecordBook | None = None
) -> str:
    """One check as one line of JSON, written by json's C encoder; a record's facts are spliced in as
    the JSON text the check recorded (already redacted there), not decoded and encoded again."""
    if isinstance(record, SpooledRecord):
        assert book is not None
        return book.spooled_line(record)
    if not isinstance(record, CheckRecord):
        return json.dumps(redact_data(record, redact), ensure_ascii=False)
    fields = {name: getattr(record, name) for name in RECORD_FIELDS}
    fields = redact_data(fields, redact)
    for name in ADVICE_FIELDS:  # recorded redacted (checkapi.Expect), as facts are
        if getattr(record, name):
            fields[name] = getattr(record, name)
    if record.explained_by:
        fields["explained_by"] = record.explained_by
    if record.change:  # only a check whose verdict changed, or that keeps failing, says so
        fields["change"] = record.change
        if record.failing_since:
            fields["failing_since"], fields["failing_runs"] = record.failing_since, record.failing_runs
    head = json.dumps(fields, ensure_ascii=False)
    incident = "true" if record.likely_platform_incident else "false"
    return f'{head[:-1]}, "facts": {redact(record.facts_json) or "{}"}, "likely_platform_incident": {incident}}}'


def redact_data(value: Any, redact: Callable[[str], str]) -> Any:
    """Every string inside JSON-like data, redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_data(k, redact): redact_data(v, redact) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(v, redact) for v in value]
    return value


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
                yield _check_line(check, redact, book)
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


def _write_temporary(directory: Path, name: str, parts: Iterable[str] | Path) -> Path:
    """Write the text `parts` (or copy the file `parts`) to a new hidden temporary file in `directory`, mode
    REPORT_MODE; return its path (the caller moves it into place)."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        os.fchmod(fd, REPORT_MODE)  # mkstemp's is 0600: the scheduler's group could not read the report
        if isinstance(parts, Path):
            with os.fdopen(fd, "wb") as handle, open(parts, "rb") as source:
                shutil.copyfileobj(source, handle)
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.writelines(parts)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _write_atomically(path: Path, parts: Iterable[str] | Path) -> None:
    """Write the text `parts` (or copy the file `parts`) to a temporary file, then move it to `path`."""
    tmp = _write_temporary(path.parent, path.name, parts)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _claim(tmp: Path, path: Path) -> bool:
    """Give the complete file `tmp` the name `path` unless that name exists (False then): a hard link fails
    rather than replace, so two runs finishing in the same second never overwrite each other's report, and
    the name never shows a half-written file. Where hard links are refused, the name is reserved with
    O_CREAT|O_EXCL and the file moved onto it."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError:  # e.g. a file system without hard links
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, REPORT_MODE))
        except FileExistsError:
            return False
        os.replace(tmp, path)
        return True
    tmp.unlink()
    return True


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
    tmp = _write_temporary(directory, f"{env_name}-{stamp}.json", chunks(report, redact, book))
    try:
        path = directory / f"{env_name}-{stamp}.json"
        counter = 1
        while not _claim(tmp, path):  # `...Z-2.json`: the second report of that environment in that second
            counter += 1
            path = directory / f"{env_name}-{stamp}-{counter}.json"
    finally:
        tmp.unlink(missing_ok=True)
    _write_atomically(directory / "latest.json", path)
    return path
