"""Run a command and write what it cost: `python -S -m bench.launch OUT -- COMMAND [ARG ...]`.

OUT gets one JSON object: the command's wall seconds (from its start to its exit), its CPU seconds and its
peak RSS in KiB (wait4's rusage: the command and the processes it reaped, e.g. xdist workers); this process
exits with the command's status.

Why a launcher: a process's ru_maxrss starts from the high-water mark of the process that started it
(vfork and exec keep it), so a bench process larger than the command it measures lends it its size (seen:
128.8 MB for a run whose own peak was 114.8 MB). Started from this small process, the command's ru_maxrss
is its own. Only the standard library, so `-S` keeps its own start short.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -S -m bench.launch OUT -- COMMAND [ARG ...]", file=sys.stderr)
        return 2
    out, command = argv[0], argv[2:]
    started = time.perf_counter()
    process = subprocess.Popen(command)  # the same standard streams, the same process group
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    with open(out, "w", encoding="utf-8") as file:
        json.dump({"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "max_rss_kb": usage.ru_maxrss}, file)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
