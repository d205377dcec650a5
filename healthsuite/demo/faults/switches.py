"""The demo's switches: per-path faults (status, delay, body) and named modes, shared between the
server threads and whoever breaks the demo (tests, `python -m healthsuite.demo break`).

Modes are registered by the module that serves them (`register_modes`), so each part of the demo
(booking, payments, auth, metrics, the stand-ins for external APIs) declares its own switches.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

# Switches beyond per-path faults, with their allowed values (the first is the healthy one).
MODES: dict[str, tuple[str, ...]] = {
    "cors": ("correct", "reflect", "wildcard", "none"),  # NET7: reflect any origin, `*`, or no CORS headers
    "http": ("redirect", "serve"),  # NET6: plain HTTP redirects to HTTPS, or serves the site
    "platform": ("none", "minor", "major", "critical"),  # AV5: the status API's indicator
    "version": ("current", "old"),  # DEP2: the build that is served
    "pool": ("ok", "exhausted"),  # DB4: the backend's connection pool
}


@dataclass(frozen=True)
class Fault:
    """How one path misbehaves; None fields keep the normal behaviour."""

    status: int | None = None
    delay_s: float = 0.0
    body: str | None = None
    content_type: str | None = None


class Faults:
    """Thread-safe map from path to fault, shared between the server thread and the tests; it also
    counts the requests each path received (`requests["GET /"]`), to show what a run sent."""

    def __init__(self) -> None:
        self._faults: dict[str, Fault] = {}
        self._modes: dict[str, str] = {}
        self._slow_s = 0.0
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()

    def set_mode(self, name: str, value: str) -> None:
        if value not in MODES[name]:
            raise ValueError(f"mode {name} is one of {', '.join(MODES[name])}, not {value!r}")
        with self._lock:
            self._modes[name] = value

    def mode(self, name: str) -> str:
        with self._lock:
            return self._modes.get(name, MODES[name][0])

    def set_slow(self, delay_s: float) -> None:
        """Delay every answer of the app (its stand-ins for external APIs included) and of its plain-HTTP
        port by `delay_s`, on top of any per-path fault: the demo's `slow` switch. 0 turns it off."""
        if delay_s < 0:
            raise ValueError("delay_s must be >= 0")
        with self._lock:
            self._slow_s = float(delay_s)

    def slow_s(self) -> float:
        with self._lock:
            return self._slow_s

    def count(self, method: str, path: str) -> None:
        with self._lock:
            self.requests[f"{method} {path}"] += 1

    def set(self, path: str, fault: Fault) -> None:
        with self._lock:
            self._faults[path] = fault

    def clear(self, path: str | None = None) -> None:
        with self._lock:
            if path is None:
                self._faults.clear()
                self._modes.clear()
                self._slow_s = 0.0
            else:
                self._faults.pop(path, None)

    def get(self, path: str) -> Fault | None:
        with self._lock:
            return self._faults.get(path)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {
                **{path: asdict(fault) for path, fault in self._faults.items()},
                "modes": dict(self._modes),
                "switches": {"slow_s": self._slow_s},
            }


def register_modes(modes: dict[str, tuple[str, ...]]) -> None:
    """Declare switches: name -> allowed values, the first being the healthy one."""
    for name, values in modes.items():
        if name in MODES and MODES[name] != values:
            raise ValueError(f"demo mode {name!r} is registered twice")
        MODES[name] = values
