"""Watching a server's processes from outside: whether a pid is alive (zombies count as dead), its
children, waiting for them to die, and the tail of the log a server writes.
"""

from __future__ import annotations

import glob
import os
import time
from pathlib import Path

__all__ = ["LOG_TAIL_BYTES", "pid_alive", "children_of", "wait_dead", "log_tail"]

LOG_TAIL_BYTES = 4000


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie.

    Zombies matter here: a daemonised postmaster is re-parented to PID 1,
    which in containers does not always reap, so ``kill(pid, 0)`` alone would
    report a dead server as alive.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: trust kill(0)
    # the state letter follows the ")" closing the command name
    state = stat.rsplit(")", 1)[-1].split()[0:1]
    return state != ["Z"] and state != ["X"]


def children_of(pid: int) -> list[int]:
    kids: list[int] = []
    for stat_path in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat_path).read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if len(fields) > 1 and fields[1] == str(pid):
            kids.append(int(stat_path.split("/")[2]))
    return kids


def wait_dead(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if not any(pid_alive(p) for p in pids):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def log_tail(path: Path, limit: int = LOG_TAIL_BYTES) -> str:
    """The last ``limit`` bytes of ``path``, decoded (or why there are none)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            return fh.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"<no log: {exc}>"
