"""The probe cache runs each (observation, target) once, also when checks ask at the same time."""

from __future__ import annotations

import threading
import time

from healthsuite.probes.cache import ProbeCache


def test_concurrent_callers_share_one_probe() -> None:
    cache = ProbeCache()
    calls: list[int] = []

    def probe() -> str:
        calls.append(1)
        time.sleep(0.05)
        return "observation"

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(("http", "GET /"), probe))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["observation"] * 8 and len(calls) == 1
    assert cache.runs == {("http", "GET /"): 1}
    assert cache.get(("http", "GET /health"), lambda: "other") == "other"
