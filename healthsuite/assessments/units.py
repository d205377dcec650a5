"""Quantities as a person reads them in a finding."""

from __future__ import annotations

MIB = 1024 * 1024


def size(n: float) -> str:
    """Bytes as a person reads them (binary units, as redis-cli's *_human fields)."""
    for unit, factor in (("GiB", 1024**3), ("MiB", MIB), ("KiB", 1024)):
        if n >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n:.0f} B"
