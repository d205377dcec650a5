"""Log files (LOG1-LOG4): read the recent window from the END of the file, bounded.

The file is read backwards in 1 MiB blocks; the read stops at the first lines older than the window
(after a few more, for lines written slightly out of order) or after `max_bytes`, and says which.
A last line without its newline (a writer mid-line) is read if it parses, else left out. Rotated files
are not followed. The file is only opened for reading; nothing is written or locked.

The probe counts (errors, timeouts, PANIC/FATAL, 5xx, slow requests); the assessments judge."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..catalogue import Service
from ..model.logs import LogSource
from .errors import ProbeError, classify

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
    fatal: int = 0  # PANIC and FATAL
    fatal_levels: Counter[str] = field(default_factory=Counter)
    fatal_examples: list[str] = field(default_factory=list)
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

    def read_summary(self) -> str:
        read = f"{self.bytes_read / 1024 / 1024:.1f} MiB" if self.bytes_read >= 1024 * 1024 else \
            f"{self.bytes_read / 1024:.0f} KiB"
        if self.bounded:
            return f"{self.tally.lines} lines in the window; read stopped at max_bytes ({read})"
        return f"{self.tally.lines} lines in the window; {read} read from the end"

    def facts(self) -> dict[str, Any]:
        return {
            "path": self.address,
            "format": self.format,
            "window_min": self.window_min,
            "since": self.since.isoformat(),
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
        self.regex = re.compile(source.regex) if source.regex else None
        self.has_level = bool(self.regex and "level" in self.regex.groupindex)

    def parse(self, line: str) -> Entry | None:
        try:
            entry: Entry | None = getattr(self, f"_{self.source.format}")(line)
            return entry
        except (ValueError, TypeError, OverflowError, KeyError, AttributeError):
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
        match = self.regex.search(line)
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
        tally.fatal += 1
        tally.fatal_levels[entry.level] += 1
        _example(tally.fatal_examples, line)
    elif _is_error(entry, fmt, parser.has_level):
        tally.errors += 1
        tally.error_messages[normalise(entry.message)] += 1
        _example(tally.error_examples, line)
    if TIMEOUT.search(entry.message):
        tally.timeouts += 1
        _example(tally.timeout_examples, line)


def read_window(path: Path, source: LogSource, *, slow_request_s: float = 3.0,
                now: datetime | None = None, pattern: re.Pattern[str] | None = None) -> LogObservation:
    """Count the lines of the last `window_min` minutes, reading backwards from the end of the file;
    with `pattern`, also the lines it is found in (`tally.matched`: a declared check's `file` probe)."""
    now = now or datetime.now(UTC)
    since = now - timedelta(minutes=source.window_min)
    address = str(path)
    base = LogObservation(address, source.format, source.window_min, since, now)
    if not path.is_file():
        detail = "no such file" if not path.exists() else "not a regular file"
        return replace(base, error=ProbeError("other", FILE_SERVICE, address, detail))
    parser = Parser(source)
    tally = Tally()
    unparsed = parsed = old = bytes_read = 0
    partial = bounded = reached_start = False
    oldest: datetime | None = None
    newest: datetime | None = None
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            position = size
            carry = b""
            first_block = True
            stop = False
            while not stop:
                if position == 0:
                    reached_start = True
                    break
                if bytes_read >= source.max_bytes:
                    bounded = True
                    break
                n = min(BLOCK, position, source.max_bytes - bytes_read)
                position -= n
                handle.seek(position)
                data = handle.read(n) + carry
                bytes_read += n
                pieces = data.split(b"\n")
                # the first piece may be the end of a line that starts in the previous block
                carry = pieces[0] if position > 0 else b""
                body = pieces[1:] if position > 0 else pieces
                for index in range(len(body) - 1, -1, -1):
                    raw = body[index]
                    last_of_file = first_block and index == len(body) - 1
                    if not raw.strip():
                        continue
                    line = raw.decode("utf-8", "replace").rstrip("\r")
                    entry = parser.parse(line)
                    if entry is None:
                        if last_of_file:
                            partial = True  # a line still being written
                        elif not line[:1].isspace():  # continuation lines (tracebacks, statements) are not lines
                            unparsed += 1
                        continue
                    parsed += 1
                    if entry.ts < since:
                        old += 1
                        if old >= OLD_LINES_TOLERATED:
                            reached_start = stop = True
                            break
                        continue
                    old = 0
                    newest = max(newest, entry.ts) if newest else entry.ts
                    oldest = min(oldest, entry.ts) if oldest else entry.ts
                    _count(tally, entry, line, parser, slow_request_s)
                    if pattern is not None and pattern.search(line):
                        tally.matched += 1
                        _example(tally.matched_examples, line)
                first_block = False
    except OSError as exc:
        return replace(base, error=classify(exc, FILE_SERVICE, address))
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
    )
