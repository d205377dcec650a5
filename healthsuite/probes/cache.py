"""Probe once per run: a session-level memo keyed by (observation, target)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class ProbeCache:
    """Thread-safe: concurrent callers of the same key wait for the one probe in flight."""

    def __init__(self) -> None:
        self._results: dict[Hashable, Any] = {}
        self._locks: dict[Hashable, threading.Lock] = {}  # of the probes in flight only
        self._guard = threading.Lock()
        self.runs: Counter[Hashable] = Counter()

    def get(self, key: Hashable, probe: Callable[[], T]) -> T:
        try:
            return self._results[key]  # type: ignore[no-any-return]  # probed already: no lock needed
        except KeyError:
            pass
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._results:
                self._results[key] = probe()
                self.runs[key] += 1
                with self._guard:
                    self._locks.pop(key, None)
            return self._results[key]  # type: ignore[no-any-return]
