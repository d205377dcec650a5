"""Logs (LOG1-LOG4) and hosts (PERF8): what a team declares about a log file and a host.

A log file is read from its end, backwards, and only as far as the recent window (`window_min`) or
`max_bytes`, whichever comes first: a 1 GB log is never loaded whole. By default (`judge:
since_previous_run`) a check judges only the lines written since the previous run of the environment
read the file (the window is then how far back it ever looks), so a failure ends with its fault;
`judge: window` judges the whole window every run. Rotated files (`app.log.1`, `.gz`) are not read:
declare the live file (a file rotated since the previous run is read from its start)."""

from __future__ import annotations

import re
from typing import ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from .regexes import problem_of as regex_problem
from .targets import Target
from .types import Text, rule_error

DEFAULT_WINDOW_MIN = 60.0
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class LogSource(Target):
    """A log file read from its end, bounded in time and memory."""

    path: Text = Field(description="The live log file; relative paths are relative to the environment file.")
    format: Literal["json", "regex", "nginx", "postgres"] = Field(
        "json",
        description="json: one JSON object a line; regex: lines matched by `regex`; nginx: the combined access "
        "format with $request_time as the last field (log_format timed '$remote_addr - $remote_user "
        "[$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" "
        "$request_time'; without it LOG3 judges 5xx only); postgres: the default log_line_prefix '%m [%p] '.",
    )
    timestamp_field: str = Field("timestamp", description="json: the field holding the time (ISO 8601 or epoch).")
    level_field: str = Field("level", description="json: the field holding the level (error, fatal, 50, ...).")
    message_field: str = Field("message", description="json: the field holding the message.")
    regex: str | None = Field(
        None,
        description="regex: a pattern with named groups `ts` and `message` (and optional `level`), "
        r"e.g. '^(?P<ts>\S+ \S+) (?P<level>\w+) (?P<message>.*)$'.",
    )
    ts_format: str | None = Field(
        None, description="regex: strptime format of the `ts` group, e.g. '%Y-%m-%d %H:%M:%S' (default: ISO 8601)."
    )
    window_min: float = Field(
        DEFAULT_WINDOW_MIN,
        gt=0,
        le=7 * 24 * 60,
        description="How far back a check looks, in minutes (default 60): the window judged, and the limit of "
        "`judge: since_previous_run`.",
    )
    judge: Literal["since_previous_run", "window"] = Field(
        "since_previous_run",
        description="since_previous_run (default): judge only the lines written since the previous run of this "
        "environment read the file (a first run, or one after a run that did not read it, judges the last "
        "`window_min`; a file rotated or truncated since is read from its start; never more than `window_min` back); "
        "window: judge the last `window_min` minutes every run, whatever earlier runs saw.",
    )
    max_bytes: int = Field(
        DEFAULT_MAX_BYTES,
        ge=4096,
        le=4 * 1024 * 1024 * 1024,
        description="Read at most this many bytes from the end of the file (default 64 MiB); the report says "
        "when the read stopped there before reaching the window's start.",
    )
    timezone: str = Field(
        "UTC", description="IANA zone of timestamps written without an offset, e.g. Africa/Nairobi (default UTC)."
    )

    kind_label: ClassVar[str] = "log"
    collection: ClassVar[str] = "logs"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise rule_error(f"unknown time zone {value!r}", "write an IANA name, e.g. UTC or Europe/Paris") from None
        return value

    @model_validator(mode="after")
    def _regex_fits_format(self) -> LogSource:
        if self.format != "regex":
            if self.regex is not None or self.ts_format is not None:
                raise rule_error(
                    f"`regex`/`ts_format` are only read with format: regex (this log is {self.format})",
                    "remove them, or set format: regex",
                )
            return self
        if self.regex is None:
            raise rule_error(
                "format: regex needs a `regex`",
                r"e.g. regex: '^(?P<ts>\S+ \S+) (?P<level>\w+) (?P<message>.*)$'",
            )
        refused = regex_problem(self.regex)
        if refused is not None:
            raise rule_error(f"`regex` is {refused[0]}" if refused[0].startswith("not ") else
                             f"`regex`: {refused[0]}", refused[1])
        groups = re.compile(self.regex).groupindex
        missing = [name for name in ("ts", "message") if name not in groups]
        if missing:
            raise rule_error(
                f"`regex` lacks the named group(s) {', '.join(missing)}",
                "name the time (?P<ts>...) and the message (?P<message>...); (?P<level>...) is optional",
            )
        return self


class HostResources(Target):
    """PERF8: free disk of a path and available memory of the machine the suite runs on."""

    path: Text = Field("/", validate_default=True, description="A path on the disk to judge (default /).")
    min_free_disk_pct: float | None = Field(
        None, ge=0, le=100, description="Overrides thresholds.PERF8.min_free_disk_pct for this host."
    )
    min_available_memory_pct: float | None = Field(
        None, ge=0, le=100, description="Overrides thresholds.PERF8.min_available_memory_pct for this host."
    )

    kind_label: ClassVar[str] = "host"
    collection: ClassVar[str] = "hosts"
