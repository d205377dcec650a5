"""Log files (LOG1-LOG4): read the recent window from the END of the file, bounded.

The file is read backwards in 1 MiB blocks; the read stops at the first lines older than the window
(after a few more, for lines written slightly out of order) or after `max_bytes`, and says which.
A last line without its newline (a writer mid-line) is read if it parses, else left out. Rotated files
are not followed. The file is only opened for reading; nothing is written or locked.

`read_new` (LOG1-LOG4, `judge: since_previous_run`) reads only what follows where the previous run of
the environment stopped: each run keeps, per log and diagnosis, a `ReadMark` (the file's identity, the
offset after its last complete line, a digest of its first bytes, the newest line judged) through
ProbeSession.learn, and the next run starts there. The file is read from its start when it is not the
one marked (rotated: another inode; truncated: shorter than the mark; rewritten: other first bytes). A
first run has no mark and reads the window, and says so; in every case nothing older than the window is
judged. A last line without its newline is left for the next run.

A PostgreSQL log's FATAL lines that a clean shutdown writes (`terminating connection due to
administrator command` for each session after `received fast shutdown request`, `the database system
is shutting down` or `is starting up` to clients arriving meanwhile) are counted apart, as expected:
a line is one when the nearest server-state line before it is a clean shutdown's (`received fast|smart
shutdown request`, `database system is shut down`, `database system was shut down at`); the same
message after `ready to accept connections` (pg_terminate_backend) or a crash counts as FATAL.

The probe counts (errors, timeouts, PANIC/FATAL, 5xx, slow requests); the assessments judge."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal
from zoneinfo import ZoneInfo

from ..catalogue.diagnoses import Service
from ..model.logs import LogSource
from ..model.regexes import Budget, RegexTooSlow, bounded_match, bounded_search
from .errors import ProbeError, classify

if TYPE_CHECKING:
    from .session import ProbeSession

BLOCK = 1024 * 1024
OLD_LINES_TOLERATED = 50  # lines older than the window read before stopping (out-of-order writers)
EXAMPLES = 5
EXCERPT = 300
FILE_SERVICE: Service = "file"

ERROR_LEVELS = {"error", "err", "critical", "crit", "fatal", "panic", "alert", "emerg", "emergency", "severe"}
TIMEOUT = re.compile(r"timeout|timed out|ETIMEDOUT|deadline exceeded", re.IGNORECASE)
ERROR_WORD = re.compile(r"\b(?:ERROR|CRITICAL|FATAL|PANIC)\b")

_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b")
_NUMBER = re.compile(r"\d+")

_NGINX = re.compile(r'^(?P<addr>\S+) \S+ \S+ \[(?P<ts>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) '
                    r"(?P<bytes>\S+)(?P<rest>.*)$")
_FLOAT = re.compile(r"^\d+(?:\.\d+)?$")
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                                       "Dec"), start=1)}
_NGINX_TS = re.compile(r"^(\d\d)/(\w{3})/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$")
_PG_LEVELS = "DEBUG[1-5]?|INFO|NOTICE|WARNING|ERROR|LOG|FATAL|PANIC|STATEMENT|DETAIL|HINT|CONTEXT|LOCATION|QUERY"
# the server-state lines of a PostgreSQL log, and the FATAL messages a clean shutdown (and the restart
# after it) writes: expected when the nearest state line before them is a clean shutdown's
_PG_CLEAN_STATE = re.compile(
    r"^(?:received (?:fast|smart) shutdown request|database system is shut down|database system was shut down at )"
)
_PG_OTHER_STATE = re.compile(
    r"^(?:database system is ready to accept connections|received immediate shutdown request|"
    r"terminating any other active server processes|all server processes terminated; reinitializing|"
    r"database system was interrupted|database system was not properly shut down|"
    r".* was terminated by signal \d+)"
)
_PG_SHUTDOWN_FATAL = re.compile(
    r"^(?:terminating .*due to administrator command|the database system is shutting down|"
    r"the database system is starting up)$"
)
HEAD_BYTES = 1024  # the first bytes of a file whose digest tells it from a rewritten one
TAIL_SCAN = 64 * 1024  # how far back from the end a run looks for the last complete line
READ_UNTIL = "read_until"  # the hint a log check learns (ProbeSession.learn), per diagnosis
_POSTGRES = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)(?: (?P<tz>[A-Za-z][A-Za-z0-9/_+-]*|[+-]\d\d(?::?\d\d)?))? "
    r"\[(?P<pid>\d+)\]\S* (?:.*? )??(?P<level>" + _PG_LEVELS + r"):\s+(?P<message>.*)$"
)


def normalise(message: str) -> str:
    """A message with its variable parts replaced, so that repeats of one error count together."""
    text = _UUID.sub("<id>", message)
    text = _HEX.sub("<hex>", text)
    return _NUMBER.sub("<n>", text).strip()[:200]


@dataclass(frozen=True)
class Entry:
    """One parsed line."""

    ts: datetime
    level: str  # upper case; "" when the format has none
    message: str
    status: int | None = None
    request_time_s: float | None = None
    request: str = ""


@dataclass
class Tally:
    """What the window holds, counted for every log diagnosis at once."""

    lines: int = 0
    errors: int = 0
    error_messages: Counter[str] = field(default_factory=Counter)
    error_examples: list[str] = field(default_factory=list)
    timeouts: int = 0
    timeout_examples: list[str] = field(default_factory=list)
    timeout_messages: Counter[str] = field(default_factory=Counter)
    fatal: int = 0  # PANIC and FATAL, those of a clean shutdown excepted
    fatal_levels: Counter[str] = field(default_factory=Counter)
    fatal_messages: Counter[str] = field(default_factory=Counter)
    fatal_examples: list[str] = field(default_factory=list)
    shutdown_fatal: int = 0  # FATAL lines a clean shutdown (or the restart after it) writes: not counted above
    shutdown_fatal_examples: list[str] = field(default_factory=list)
    # read backwards: FATAL lines of a clean shutdown's kind whose server state is not known yet, and the
    # newest server-state line read ("clean": a clean shutdown's; "other"; "": none)
    pending_fatal: list[tuple[str, str]] = field(default_factory=list)
    server_state: str = ""
    requests: int = 0
    status_5xx: int = 0
    statuses_5xx: Counter[int] = field(default_factory=Counter)
    status_5xx_examples: list[str] = field(default_factory=list)
    timed_requests: int = 0  # requests whose line carries $request_time
    slow: int = 0
    slowest: list[tuple[float, str]] = field(default_factory=list)
    matched: int = 0  # lines a declared check's pattern was found in (read_window's `pattern`)
    matched_examples: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReadMark:
    """Where a run stopped reading a log file (the hint the next run starts from)."""

    device: int
    inode: int
    offset: int  # after the last complete line read
    head: str  # digest of the file's first head_len bytes
    head_len: int
    at: str  # when the run read (ISO)
    newest: str = ""  # the newest line judged (ISO), "" when none
    clean_shutdown: bool = False  # the newest server-state line by then was a clean shutdown's (PostgreSQL)

    def dumps(self) -> str:
        return json.dumps({"device": self.device, "inode": self.inode, "offset": self.offset, "head": self.head,
                           "head_len": self.head_len, "at": self.at, "newest": self.newest,
                           "clean_shutdown": self.clean_shutdown}, sort_keys=True)

    @classmethod
    def loads(cls, text: str | None) -> ReadMark | None:
        """The mark a previous run kept; None when there is none or it cannot be read (a first run)."""
        if not text:
            return None
        try:
            value = json.loads(text)
            mark = cls(int(value["device"]), int(value["inode"]), int(value["offset"]), str(value["head"]),
                       int(value["head_len"]), str(value["at"]), str(value.get("newest") or ""),
                       bool(value.get("clean_shutdown", False)))
            if datetime.fromisoformat(mark.at).tzinfo is None:
                return None
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return None
        return mark if mark.offset >= 0 and 0 <= mark.head_len <= HEAD_BYTES else None

    @property
    def when(self) -> datetime:
        return datetime.fromisoformat(self.at)


Judged = Literal["window", "first_run", "since_previous_run", "rotated"]


@dataclass(frozen=True)
class LogObservation:
    address: str
    format: str
    window_min: float
    since: datetime
    now: datetime
    file_size: int = 0
    bytes_read: int = 0
    bounded: bool = False  # stopped at max_bytes before reaching the window's start
    reached_start: bool = False  # read back to the window's start (or the file's)
    parsed: int = 0  # lines of the declared format read (in the window or older)
    unparsed: int = 0  # lines with no readable timestamp in the format (continuations excluded)
    partial_last_line: bool = False
    oldest_ts: datetime | None = None
    newest_ts: datetime | None = None
    tally: Tally = field(default_factory=Tally)
    error: ProbeError | None = None
    # what was judged: the window (`judge: window`), the window of a first run, the lines since the
    # previous run's mark, or the whole file (within the window) after a rotation since that mark
    judged: Judged = "window"
    previous: ReadMark | None = None
    start_offset: int = 0  # where the judged lines begin in the file
    mark: ReadMark | None = None  # where this read stopped (the next run's start)

    @property
    def since_previous(self) -> bool:
        """The lines judged begin where the previous run stopped (or at a rotated file's start), not at
        the window's start (which still bounds them)."""
        return self.judged in ("since_previous_run", "rotated") and self.previous is not None and \
            self.previous.when > self.since

    def span(self) -> str:
        """Which lines were judged, for an observation: `in the last 60 min`, `since the previous run at ...`."""
        window = f"in the last {self.window_min:g} min"
        if self.judged == "first_run":
            return f"{window} (first run: no previous read of this file to start from)"
        if self.previous is None or self.judged == "window":
            return window
        previous = f"the previous run at {self.previous.when.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
        if not self.since_previous:
            return f"{window} ({previous} is older than the window)"
        if self.judged == "rotated":
            return f"since {previous} (the file was rotated or truncated since: read from its start)"
        return f"since {previous}"

    def scope(self) -> str:
        """Which lines a threshold applies to, for an expectation (the same for every run of a kind)."""
        if self.judged == "window":
            return f"in {self.window_min:g} min"
        return f"among the lines written since the previous run (at most {self.window_min:g} min back)"

    def read_summary(self) -> str:
        read = f"{self.bytes_read / 1024 / 1024:.1f} MiB" if self.bytes_read >= 1024 * 1024 else \
            f"{self.bytes_read / 1024:.0f} KiB"
        lines = f"{self.tally.lines} lines {'judged' if self.judged != 'window' else 'in the window'}"
        if self.bounded:
            return f"{lines}; read stopped at max_bytes ({read})"
        return f"{lines}; {read} read from the end"

    def facts(self) -> dict[str, Any]:
        return {
            "path": self.address,
            "format": self.format,
            "window_min": self.window_min,
            "since": self.since.isoformat(),
            "judged": self.judged,
            "previous_run": self.previous.at if self.previous is not None else None,
            "start_offset": self.start_offset,
            "lines_in_window": self.tally.lines,
            "bytes_read": self.bytes_read,
            "file_size": self.file_size,
            "bounded": self.bounded,
            "unparsed_lines": self.unparsed,
            "newest_line": self.newest_ts.isoformat() if self.newest_ts else None,
        }


def _zone(name: str) -> tzinfo:
    return UTC if name == "UTC" else ZoneInfo(name)


def _aware(ts: datetime, zone: tzinfo) -> datetime:
    return ts.replace(tzinfo=zone) if ts.tzinfo is None else ts


def _iso(text: str, zone: tzinfo) -> datetime:
    return _aware(datetime.fromisoformat(text.strip()), zone)


def _epoch(value: float) -> datetime:
    return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)


class Parser:
    """Turns one line of a declared format into an Entry (None when the line is not of the format)."""

    def __init__(self, source: LogSource) -> None:
        self.source = source
        self.zone = _zone(source.timezone)
        self.regex = re.compile(source.regex) if source.regex else None  # checked at load (model.regexes)
        self.budget = Budget()  # every search of one read, together
        self.has_level = bool(self.regex and "level" in self.regex.groupindex)

    def parse(self, line: str) -> Entry | None:
        try:
            entry: Entry | None = getattr(self, f"_{self.source.format}")(line)
            return entry
        except (ValueError, TypeError, OverflowError, KeyError, AttributeError, RecursionError):
            return None

    def _json(self, line: str) -> Entry | None:
        record = json.loads(line)
        if not isinstance(record, dict):
            return None
        raw_ts = record.get(self.source.timestamp_field)
        if isinstance(raw_ts, bool) or raw_ts is None:
            return None
        ts = _epoch(float(raw_ts)) if isinstance(raw_ts, (int, float)) else _iso(str(raw_ts), self.zone)
        level_value = record.get(self.source.level_field)
        if isinstance(level_value, (int, float)) and not isinstance(level_value, bool):
            # pino/bunyan numeric levels: 50 error, 60 fatal
            level = "FATAL" if level_value >= 60 else "ERROR" if level_value >= 50 else "INFO"
        else:
            level = str(level_value or "").upper()
        message = record.get(self.source.message_field)
        text = message if isinstance(message, str) else line
        return Entry(ts, level, text)

    def _regex(self, line: str) -> Entry | None:
        assert self.regex is not None
        match = bounded_match(self.regex, line, self.budget)
        if match is None:
            return None
        raw_ts = match.group("ts")
        fmt = self.source.ts_format
        ts = _aware(datetime.strptime(raw_ts, fmt), self.zone) if fmt else _iso(raw_ts, self.zone)
        level = (match.group("level") or "").upper() if self.has_level else ""
        return Entry(ts, level, match.group("message") or "")

    def _nginx(self, line: str) -> Entry | None:
        match = _NGINX.match(line)
        if match is None:
            return None
        t = _NGINX_TS.match(match.group("ts"))
        if t is None:
            return None
        day, month, year, hour, minute, second, sign, off_h, off_m = t.groups()
        offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (-1 if sign == "-" else 1)
        ts = datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second),
                      tzinfo=timezone(offset))
        rest = match.group("rest").split()
        request_time = float(rest[-1]) if rest and _FLOAT.match(rest[-1]) else None
        status = int(match.group("status"))
        return Entry(ts, "", line, status=status, request_time_s=request_time, request=match.group("request"))

    def _postgres(self, line: str) -> Entry | None:
        match = _POSTGRES.match(line)
        if match is None:
            return None
        tz = match.group("tz")
        ts = datetime.fromisoformat(match.group("ts"))
        if tz in ("UTC", "GMT", "Z"):
            ts = ts.replace(tzinfo=UTC)
        elif tz and tz[0] in "+-":
            ts = datetime.fromisoformat(match.group("ts") + (tz if len(tz) > 3 else tz + ":00"))
        else:  # an abbreviation (CET, EST) is ambiguous: the source's declared zone is used
            ts = ts.replace(tzinfo=self.zone)
        return Entry(ts, match.group("level"), match.group("message"))


def _is_error(entry: Entry, format_: str, has_level: bool) -> bool:
    if entry.level:
        return entry.level.lower() in ERROR_LEVELS
    if format_ == "regex" and has_level:
        return False
    return ERROR_WORD.search(entry.message) is not None


def _example(examples: list[str], line: str) -> None:
    excerpt = line[:EXCERPT]
    if len(examples) < EXAMPLES and excerpt not in examples:
        examples.append(excerpt)


def _count(tally: Tally, entry: Entry, line: str, parser: Parser, slow_s: float) -> None:
    tally.lines += 1
    fmt = parser.source.format
    if fmt == "postgres":
        _server_state(tally, entry)
    if fmt == "nginx":
        tally.requests += 1
        if entry.status is not None and entry.status >= 500:
            tally.status_5xx += 1
            tally.statuses_5xx[entry.status] += 1
            _example(tally.status_5xx_examples, line)
        if entry.request_time_s is not None:
            tally.timed_requests += 1
            if entry.request_time_s > slow_s:
                tally.slow += 1
                tally.slowest.append((entry.request_time_s, entry.request[:120]))
                if len(tally.slowest) > 4 * EXAMPLES:
                    tally.slowest = sorted(tally.slowest, reverse=True)[:EXAMPLES]
        return
    if fmt == "postgres" and entry.level in ("FATAL", "PANIC"):
        if entry.level == "FATAL" and _PG_SHUTDOWN_FATAL.match(entry.message):
            tally.pending_fatal.append((entry.message, line))  # its server state is read further back
        else:
            _fatal(tally, entry.level, entry.message, line)
    elif _is_error(entry, fmt, parser.has_level):
        tally.errors += 1
        tally.error_messages[normalise(entry.message)] += 1
        _example(tally.error_examples, line)
    if TIMEOUT.search(entry.message):
        tally.timeouts += 1
        tally.timeout_messages[normalise(entry.message)] += 1
        _example(tally.timeout_examples, line)


def _fatal(tally: Tally, level: str, message: str, line: str) -> None:
    tally.fatal += 1
    tally.fatal_levels[level] += 1
    tally.fatal_messages[normalise(message)] += 1
    _example(tally.fatal_examples, line)


def _server_state(tally: Tally, entry: Entry) -> None:
    """A PostgreSQL LOG line read backwards: a server-state line settles the FATAL lines read before it
    (written after it) as a clean shutdown's, or not."""
    if entry.level != "LOG":
        return
    if _PG_CLEAN_STATE.match(entry.message):
        state = "clean"
    elif _PG_OTHER_STATE.match(entry.message):
        state = "other"
    else:
        return
    _settle(tally, clean=state == "clean")
    if not tally.server_state:
        tally.server_state = state


def _settle(tally: Tally, *, clean: bool) -> None:
    for message, line in tally.pending_fatal:  # newest first, as every example list
        if clean:
            tally.shutdown_fatal += 1
            _example(tally.shutdown_fatal_examples, line)
        else:
            _fatal(tally, "FATAL", message, line)
    tally.pending_fatal.clear()


def read_new(probes: ProbeSession, source: LogSource, path: Path, diagnosis: str, *,
             slow_request_s: float = 3.0, now: datetime | None = None) -> LogObservation:
    """The lines a log check judges: with `judge: since_previous_run`, those written since the previous run
    of the environment read the file for `diagnosis` (its ReadMark, a probe hint), and the mark of this
    read kept for the next run (a read that fails keeps the previous mark); with `judge: window`, the window."""
    if source.judge == "window":
        return read_window(path, source, slow_request_s=slow_request_s, now=now)
    name = f"{READ_UNTIL}:{diagnosis}"
    kept = probes.hint(source, name)
    observation = read_window(path, source, slow_request_s=slow_request_s, now=now, previous=ReadMark.loads(kept),
                              since_previous_run=True)
    if observation.mark is not None:
        probes.learn(source, name, observation.mark.dumps())
    elif kept is not None:
        probes.learn(source, name, kept)
    return observation


def _digest(handle: BinaryIO, length: int) -> str:
    handle.seek(0)
    return hashlib.sha256(handle.read(length)).hexdigest()[:32]


def _complete_end(handle: BinaryIO, floor: int, size: int) -> int:
    """The offset after the file's last complete line (a newline-less tail is a line being written)."""
    start = max(size - TAIL_SCAN, floor)
    handle.seek(start)
    newline = handle.read(size - start).rfind(b"\n")
    if newline >= 0:
        return start + newline + 1
    return floor if start == floor else size  # a line longer than TAIL_SCAN: read it whole


def _start(handle: BinaryIO, stat: os.stat_result, previous: ReadMark | None) -> tuple[Judged, int]:
    """Where a since-previous-run read starts, and why."""
    if previous is None:
        return "first_run", 0
    if (stat.st_dev, stat.st_ino) != (previous.device, previous.inode) or stat.st_size < previous.offset:
        return "rotated", 0
    if _digest(handle, previous.head_len) != previous.head:
        return "rotated", 0  # rewritten in place (copytruncate, then written past the old offset)
    return "since_previous_run", previous.offset


def read_window(path: Path, source: LogSource, *, slow_request_s: float = 3.0,
                now: datetime | None = None, pattern: re.Pattern[str] | None = None,
                previous: ReadMark | None = None, since_previous_run: bool = False) -> LogObservation:
    """Count the lines of the last `window_min` minutes, reading backwards from the end of the file;
    with `pattern`, also the lines it is found in (`tally.matched`: a declared check's `file` probe).
    With `since_previous_run`, only the complete lines after `previous` (read_new), and the observation
    carries the mark of this read."""
    now = now or datetime.now(UTC)
    since = now - timedelta(minutes=source.window_min)
    address = str(path)
    base = LogObservation(address, source.format, source.window_min, since, now, previous=previous)
    if not path.is_file():
        detail = "no such file" if not path.exists() else "not a regular file"
        return replace(base, error=ProbeError("other", FILE_SERVICE, address, detail))
    parser = Parser(source)
    tally = Tally()
    unparsed = parsed = old = bytes_read = 0
    partial = bounded = reached_start = False
    oldest: datetime | None = None
    newest: datetime | None = None
    judged: Judged = "window"
    floor = 0
    mark: ReadMark | None = None
    try:
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            size = handle.seek(0, os.SEEK_END)
            end = size
            if since_previous_run:
                judged, floor = _start(handle, stat, previous)
                end = _complete_end(handle, floor, size)
                partial = end < size
            position = end
            carry = b""
            first_block = True
            stop = False
            while not stop:
                if position == floor:
                    reached_start = True
                    break
                if bytes_read >= source.max_bytes:
                    bounded = True
                    break
                n = min(BLOCK, position - floor, source.max_bytes - bytes_read)
                position -= n
                handle.seek(position)
                data = handle.read(n) + carry
                bytes_read += n
                pieces = data.split(b"\n")
                # the first piece may be the end of a line that starts in the previous block
                carry = pieces[0] if position > floor else b""
                body = pieces[1:] if position > floor else pieces
                for index in range(len(body) - 1, -1, -1):
                    raw = body[index]
                    last_of_file = first_block and index == len(body) - 1
                    if not raw.strip():
                        continue
                    line = raw.decode("utf-8", "replace").rstrip("\r")
                    entry = parser.parse(line)
                    if entry is None:
                        if last_of_file and end == size:
                            partial = True  # a line still being written
                        elif not line[:1].isspace():  # continuation lines (tracebacks, statements) are not lines
                            unparsed += 1
                        continue
                    parsed += 1
                    if entry.ts < since:
                        old += 1
                        if source.format == "postgres":
                            _server_state(tally, entry)  # settles the FATAL lines after it
                        if old >= OLD_LINES_TOLERATED:
                            reached_start = stop = True
                            break
                        continue
                    old = 0
                    newest = max(newest, entry.ts) if newest else entry.ts
                    oldest = min(oldest, entry.ts) if oldest else entry.ts
                    _count(tally, entry, line, parser, slow_request_s)
                    if pattern is not None and bounded_search(pattern, line, parser.budget):
                        tally.matched += 1
                        _example(tally.matched_examples, line)
                first_block = False
            continued = judged == "since_previous_run" and previous is not None
            # FATAL lines whose server state lies before what was read: a clean shutdown's only when the
            # previous run, which read up to here, ended in one
            _settle(tally, clean=continued and reached_start and position == floor and bool(previous and
                                                                                          previous.clean_shutdown))
            if since_previous_run:
                head_len = min(end, HEAD_BYTES)
                state = tally.server_state or ("clean" if continued and previous and previous.clean_shutdown else "")
                newest_text = newest.isoformat() if newest else (previous.newest if continued and previous else "")
                mark = ReadMark(stat.st_dev, stat.st_ino, end, _digest(handle, head_len), head_len,
                                now.isoformat(), newest_text, state == "clean")
    except OSError as exc:
        return replace(base, error=classify(exc, FILE_SERVICE, address))
    except RegexTooSlow as slow:  # never a pass on lines that were not searched
        return replace(base, error=ProbeError("other", FILE_SERVICE, address, str(slow)))
    tally.slowest = sorted(tally.slowest, reverse=True)[:EXAMPLES]
    return replace(
        base,
        file_size=size,
        bytes_read=bytes_read,
        bounded=bounded and not reached_start,
        reached_start=reached_start,
        parsed=parsed,
        unparsed=unparsed,
        partial_last_line=partial,
        oldest_ts=oldest,
        newest_ts=newest,
        tally=tally,
        judged=judged,
        start_offset=floor,
        mark=mark,
    )
