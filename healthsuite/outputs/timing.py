"""Where a run's time went: its floor (the slowest exchange), start-up, the exchanges, what came after
them, and whether the targets or the tool's limits decided it, so that a reader tells "target slow" from
"tool slow". The probe pool of each process measures (healthsuite.runner.pool.Prefetcher.timing); this
merges the processes' figures into the report's `run.time` and says it in one line."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

LIMIT_SHARE = 0.2  # a limit decided the run when it held an exchange back this share of the exchange time
LIMIT_NAMES = {"max_per_host": "the per-host limit", "max_concurrency": "the global limit"}


def merge(processes: Sequence[Mapping[str, Any]], wall_s: float) -> dict[str, Any]:
    """One run's time from each process's pool figures (one process, or each xdist worker's)."""
    if not processes:
        return {"wall_s": round(wall_s, 3), "exchanges": 0, "decided_by": "no exchange was made"}
    slowest = max(processes, key=lambda p: float(p.get("slowest_s", 0.0)))
    busiest = max(processes, key=lambda p: int(p.get("busiest_host_exchanges", 0)))
    startup = max(float(p.get("startup_s", 0.0)) for p in processes)
    exchanges = max(float(p.get("exchanges_s", 0.0)) for p in processes)
    waited: dict[str, dict[str, Any]] = {}
    for name in LIMIT_NAMES:
        held = [p.get("waited", {}).get(name, {}) for p in processes]
        longest = max(held, key=lambda h: float(h.get("longest_s", 0.0)))
        waited[name] = {"jobs": sum(int(h.get("jobs", 0)) for h in held),
                        "longest_s": float(longest.get("longest_s", 0.0)), "where": str(longest.get("where", ""))}
    per_host = int(busiest.get("max_per_host", 0))
    distinct = int(busiest.get("busiest_host_exchanges", 0))
    time: dict[str, Any] = {
        "wall_s": round(wall_s, 3),
        "startup_s": round(startup, 3),
        "exchanges_s": round(exchanges, 3),
        "after_exchanges_s": round(max(0.0, wall_s - startup - exchanges), 3),
        "floor_s": round(startup + float(slowest.get("slowest_s", 0.0)), 3),
        "slowest_exchange": {"target": slowest.get("slowest_target", ""), "seconds": slowest.get("slowest_s", 0.0)},
        "exchanges": sum(int(p.get("exchanges", 0)) for p in processes),
        "repeated_samples": sum(int(p.get("repeated", 0)) for p in processes),
        "peak_in_flight": max(int(p.get("peak_in_flight", 0)) for p in processes),
        "busiest_host": {
            "host": busiest.get("busiest_host", ""),
            "distinct_exchanges": distinct,
            "max_per_host": per_host,
            "waves": math.ceil(distinct / per_host) if per_host else 0,
        },
        "held_by_limits": waited,
    }
    time["decided_by"] = decided_by(time)
    return time


def decided_by(time: Mapping[str, Any]) -> str:
    """The targets' answers, or the limit that held an exchange back longest, when that wait was a fair
    share of the exchange time."""
    exchanges = float(time.get("exchanges_s", 0.0))
    held = time.get("held_by_limits", {})
    name, longest = max(((n, float(h.get("longest_s", 0.0))) for n, h in held.items()),
                        key=lambda pair: pair[1], default=("", 0.0))
    if name and exchanges > 0 and longest >= LIMIT_SHARE * exchanges:
        return name
    return "targets"


def line(time: Mapping[str, Any]) -> str:
    """`healthsuite: time 6.9 s: start-up 0.8 s, exchanges 5.6 s (slowest 2.5 s: endpoints/x), after them
    0.5 s; decided by the per-host limit (6): 12 exchanges waited, up to 2.5 s, at app.example (14
    distinct exchanges there: 3 waves)`."""
    text = f"healthsuite: time {time['wall_s']:.1f} s"
    if not time.get("exchanges"):
        return text + ": no exchange was made"
    slowest = time["slowest_exchange"]
    text += (
        f": start-up {time['startup_s']:.1f} s, exchanges {time['exchanges_s']:.1f} s (slowest "
        f"{float(slowest['seconds']):.1f} s: {slowest['target']}), after them {time['after_exchanges_s']:.1f} s"
    )
    decided = time.get("decided_by", "targets")
    if decided == "targets":
        return text + "; decided by the targets' answers, not by the limits"
    held = time["held_by_limits"][decided]
    busiest = time["busiest_host"]
    limit = f"{LIMIT_NAMES.get(decided, decided)} ({decided})"
    text += f"; decided by {limit}: {held['jobs']} exchanges waited, up to {held['longest_s']:.1f} s"
    if decided == "max_per_host" and held.get("where"):
        text += f", at {held['where']}"
        if busiest.get("host") == held["where"]:
            text += f" ({busiest['distinct_exchanges']} distinct exchanges there: {busiest['waves']} waves of "
            text += f"{busiest['max_per_host']})"
    return text
