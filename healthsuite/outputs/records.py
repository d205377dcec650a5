"""A run's checks as records: the setup, call and teardown reports of each check folded into one.

A passing or skipped check is spooled to a temporary file as its report line at once (healthsuite.outputs.
json_report writes the lines as they are); a failing one stays whole, for every output to read.
"""

from __future__ import annotations

import functools
import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any

MAINTENANCE = "maintenance"  # failed while a maintenance window covered it (healthsuite.plugin.maintenance)
# passed after retry: passed, on an attempt after a transport failure (probes.retry); a warning, not a failure
RETRIED = "retried"
# warned: failed below --fail-on
OUTCOMES = ("passed", "failed", "error", "warned", MAINTENANCE, "skipped", RETRIED)
FAILING = ("failed", "error", "warned")  # the outcomes that are a failure to tell (a warning too)


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
    # against the previous runs (healthsuite.outputs.history): new | persisting | flapping | recovered, or ""
    change: str = ""
    failing_since: str = ""
    failing_runs: int = 0
    explained_by: str = ""  # the id of the failing check whose failure explains this one (healthsuite.catalogue.causes)
    # a failure's advice as data, the words of its message (healthsuite.assessments.failure.FailureBlock); the report
    # writes them only when the check recorded them
    causes: tuple[str, ...] = ()
    remediation: tuple[str, ...] = ()
    escalation: str = ""
    # the environment-file key of the target's kind (pages, endpoints, databases...): a page and an
    # endpoint may share a name, so (diagnosis, target_kind, target, check) is a check's identity
    target_kind: str = ""
    # the window a check failed in (outcome maintenance): its name, reason and end (`until`, UTC ISO 8601)
    maintenance: dict[str, str] | None = None
    # every attempt of the retried exchanges it read (JSON text: a list of {attempt, outcome, error,
    # duration_s, waited_s, exchange}); "" when each exchange took one attempt
    attempts_json: str = ""

    @property
    def attempts(self) -> int:
        """The most attempts any of its exchanges took (1: none was retried)."""
        return attempts_of(self.attempts_json)

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
        if self.maintenance:
            fields["maintenance"] = dict(self.maintenance)
        fields["facts"] = self.facts
        if self.attempts_json:
            fields["attempts"] = json.loads(self.attempts_json)
        return fields


def attempts_of(attempts_json: str) -> int:
    """The highest attempt number in a record's attempts (1 when there are none)."""
    if not attempts_json:  # every exchange took one attempt: most checks, nothing to decode
        return 1
    try:
        return max((int(a.get("attempt", 1)) for a in json.loads(attempts_json or "[]")), default=1)
    except (ValueError, TypeError, AttributeError):
        return 1


RECORD_FIELDS = (
    "id", "diagnosis", "category", "severity", "target", "target_kind", "outcome", "observed", "expected",
    "duration_s", "message", "runbook",
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


def in_window_text(window: Mapping[str, str] | None) -> str:
    """How every output tells the outcome `maintenance`: `failed during maintenance db-upgrade (until
    2026-12-24T22:00:00+00:00): CHG-1234 upgrade`."""
    window = window or {}
    until = f" (until {window['until']})" if window.get("until") else ""
    reason = f": {window['reason']}" if window.get("reason") else ""
    return f"failed during maintenance {window.get('name', '')}{until}{reason}"


def window_of(text: str) -> dict[str, str]:
    """The `maintenance` property: the window's name, reason and end."""
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


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
    target_kind: str = ""
    attempts: int = 1  # the most attempts any of its exchanges took (a check passed after retry: 2 or more)


Entry = CheckRecord | SpooledRecord
# the spool's write buffer: a line is about 600 bytes, and each flush is a system call that lets the probe
# pool's threads take the interpreter from the main thread (io's default, 8 KiB, flushed every dozen checks)
SPOOL_BUFFER = 64 * 1024


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
                target_kind=properties.get("target_kind", ""),
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
        if when == "call" and "attempts" in properties:
            record.attempts_json = properties["attempts"]
        if "change" in properties:
            record.change = properties["change"]
            record.failing_since = properties.get("failing_since", "")
            record.failing_runs = int(properties.get("failing_runs", "0") or 0)
        if outcome == "passed" and when == "call" and properties.get("verdict") == "warning":
            record.outcome = "warned"  # it failed, below the run's --fail-on bar (healthsuite.plugin.verdicts)
            record.message = message
        elif outcome == "passed" and when == "call" and properties.get("verdict") == MAINTENANCE:
            record.outcome = MAINTENANCE  # it failed inside a maintenance window (healthsuite.plugin.maintenance)
            record.message = message
            record.maintenance = window_of(properties.get("maintenance", ""))
        elif outcome == "passed" and when == "call" and record.attempts_json:
            record.outcome = RETRIED
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
        if when == "teardown" and record.outcome in ("passed", "skipped", RETRIED):
            self._records[nodeid] = self._spooled(record)

    def _spooled(self, record: CheckRecord) -> SpooledRecord:
        if self._spool is None:
            self._spool = tempfile.TemporaryFile(buffering=SPOOL_BUFFER)  # noqa: SIM115 - closed by close()
        line = record_line(record, self._redact).encode("utf-8")
        if self._spool_read:  # a seek flushes the buffer: only when a read moved the position
            self._spool.seek(self._spool_end)
            self._spool_read = False
        self._spool.write(line)
        offset, self._spool_end = self._spool_end, self._spool_end + len(line)
        return SpooledRecord(record.id, record.diagnosis, record.category, record.severity, record.target,
                             record.outcome, offset, len(line), change=record.change,
                             target_kind=record.target_kind, attempts=record.attempts)

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


# json.dumps(value, ensure_ascii=False) builds an encoder on every call: one for every check's line instead
_ENCODER = json.JSONEncoder(ensure_ascii=False)


def record_line(
    record: Entry | Mapping[str, Any], redact: Callable[[str], str], book: RecordBook | None = None
) -> str:
    """One check as one line of JSON, written by json's C encoder; a record's facts are spliced in as
    the JSON text the check recorded (already redacted there), not decoded and encoded again."""
    if isinstance(record, SpooledRecord):
        assert book is not None
        return book.spooled_line(record)
    if not isinstance(record, CheckRecord):
        return json.dumps(redact_data(record, redact), ensure_ascii=False)
    fields = _head_fields(record, redact)
    for name in ADVICE_FIELDS:  # recorded redacted (checkapi.Expect), as facts are
        if getattr(record, name):
            fields[name] = getattr(record, name)
    if record.explained_by:
        fields["explained_by"] = record.explained_by
    if record.maintenance:
        fields["maintenance"] = redact_data(record.maintenance, redact)
    if record.change:  # only a check whose verdict changed, or that keeps failing, says so
        fields["change"] = record.change
        if record.failing_since:
            fields["failing_since"], fields["failing_runs"] = record.failing_since, record.failing_runs
    head = _ENCODER.encode(fields)
    if record.attempts_json:  # recorded redacted (plugin.execution), as facts are
        head = f'{head[:-1]}, "attempts": {record.attempts_json}}}'
    incident = "true" if record.likely_platform_incident else "false"
    return f'{head[:-1]}, "facts": {redact(record.facts_json) or "{}"}, "likely_platform_incident": {incident}}}'


def _head_fields(record: CheckRecord, redact: Callable[[str], str]) -> dict[str, Any]:
    """`redact_data` of the record's RECORD_FIELDS, written out: the same dict (the keys pass through
    `redact` too, as there), without its recursion and type tests on every value of every check."""
    values = (
        redact(record.id), redact(record.diagnosis), redact(record.category), redact(record.severity),
        redact(record.target), redact(record.target_kind), redact(record.outcome), redact(record.observed),
        redact(record.expected), record.duration_s, redact(record.message), [redact(r) for r in record.runbook],
    )
    return dict(zip(map(redact, RECORD_FIELDS), values, strict=True))


def redact_data(value: Any, redact: Callable[[str], str]) -> Any:
    """Every string inside JSON-like data, redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_data(k, redact): redact_data(v, redact) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(v, redact) for v in value]
    return value


