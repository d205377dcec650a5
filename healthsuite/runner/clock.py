"""When this process started, on the monotonic clock: what a run spends before its first exchange
(imports, loading the environment, collection) is counted from there."""

from __future__ import annotations

import os
import time

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
