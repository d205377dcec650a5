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
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()
        self.runs: Counter[Hashable] = Counter()

    def get(self, key: Hashable, probe: Callable[[], T]) -> T:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._results:
                self._results[key] = probe()
                self.runs[key] += 1
            return self._results[key]  # type: ignore[no-any-return]
