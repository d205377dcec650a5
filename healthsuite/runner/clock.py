"""When this process started, on the monotonic clock: what a run spends before its first exchange
(imports, loading the environment, collection) is counted from there; and the run's wall clock."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_IMPORTED_AT = time.monotonic()  # the fallback where /proc cannot tell: when the runner was imported


def process_started() -> float:
    """The monotonic time this process started (Linux: from /proc; elsewhere when this module loaded)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime", encoding="ascii") as uptime:
            up_s = float(uptime.read().split()[0])
        age_s = up_s - int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime, in clock ticks
    except (OSError, ValueError, IndexError):
        return _IMPORTED_AT
    return min(_IMPORTED_AT, time.monotonic() - max(0.0, age_s))


NOW_VARIABLE = "HEALTHSUITE_NOW"  # where the run's wall clock starts (tests of time-bound behaviour)


@dataclass(frozen=True)
class WallClock:
    """The run's wall clock, UTC: the machine's, moved by `offset` when HEALTHSUITE_NOW set its start."""

    offset: timedelta = timedelta(0)
    set_by: str = ""  # what moved it (`HEALTHSUITE_NOW=...`), "" for the machine's clock

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def wall_clock(environ: Mapping[str, str]) -> WallClock:
    """The run's wall clock. `HEALTHSUITE_NOW` (ISO 8601 with an offset; not an option: it exists so that
    time-bound behaviour such as maintenance windows can be run at a chosen time) sets where it starts,
    and it runs on from there; this is the one place it is read. ValueError on a bad value."""
    text = environ.get(NOW_VARIABLE, "").strip()
    if not text:
        return WallClock()
    start = datetime.fromisoformat(text)
    if start.tzinfo is None:
        raise ValueError(f"{text!r} has no offset")
    return WallClock(start - datetime.now(UTC), f"{NOW_VARIABLE}={text}")
