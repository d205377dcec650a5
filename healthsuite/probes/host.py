"""The host the suite runs on (PERF8): free disk of a path (`df`) and available memory (`free`).

Disk: `shutil.disk_usage` (the space available to unprivileged users, as `df` shows it). Memory:
`MemAvailable` of /proc/meminfo (Linux), the kernel's estimate of what can be allocated without
swapping. Nothing is written."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ..catalogue.diagnoses import Service
from .errors import ProbeError, classify

MEMINFO = Path("/proc/meminfo")
FILE_SERVICE: Service = "file"


@dataclass(frozen=True)
class HostObservation:
    path: str
    disk_total_bytes: int = 0
    disk_free_bytes: int = 0
    memory_total_kb: int | None = None
    memory_available_kb: int | None = None
    memory_unavailable: str = ""  # why memory was not read (not Linux, unreadable)
    error: ProbeError | None = None  # the disk could not be read

    @property
    def disk_free_pct(self) -> float:
        return 100.0 * self.disk_free_bytes / self.disk_total_bytes if self.disk_total_bytes else 0.0

    @property
    def memory_available_pct(self) -> float | None:
        if not self.memory_total_kb or self.memory_available_kb is None:
            return None
        return 100.0 * self.memory_available_kb / self.memory_total_kb


def meminfo(path: Path = MEMINFO) -> dict[str, int]:
    """/proc/meminfo as kB values by field name."""
    values: dict[str, int] = {}
    with open(path, encoding="ascii", errors="replace") as handle:
        for line in handle.read(64 * 1024).splitlines():
            name, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                values[name.strip()] = int(parts[0])
    return values


def resources(path: Path) -> HostObservation:
    address = str(path)
    try:
        usage = shutil.disk_usage(path)
    except OSError as exc:
        return HostObservation(address, error=classify(exc, FILE_SERVICE, address))
    total_kb = available_kb = None
    why = ""
    try:
        info = meminfo()
        total_kb, available_kb = info.get("MemTotal"), info.get("MemAvailable")
        if total_kb is None or available_kb is None:
            why = "/proc/meminfo has no MemTotal/MemAvailable (kernel older than 3.14?)"
    except OSError as exc:
        why = f"{MEMINFO} is not readable ({exc.strerror or exc}); memory is judged on Linux only"
    return HostObservation(
        address,
        disk_total_bytes=usage.total,
        disk_free_bytes=usage.free,
        memory_total_kb=total_kb,
        memory_available_kb=available_kb,
        memory_unavailable=why,
    )
