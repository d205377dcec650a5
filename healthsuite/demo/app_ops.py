"""The demo's part for /metrics (PERF3), latency (PERF2), Redis health faults (CACHE2, PERF7) and the
calendar and Sentry stand-ins (EXT1-EXT3).

CONTRACT (wired by the owner into healthsuite.demo.app.create_app and healthsuite.demo.stack):
- `routes(faults) -> list[BaseRoute]`: served by the demo app (stand-ins for external APIs under a
  prefix such as /__paystack, reached by overriding their base URL in environments/demo.yaml);
- `register_modes({...})` from healthsuite.demo.faults at import, for the switches these routes read;
- `FAULTS: dict[str, str]`: diagnosis ID -> what `--break ID` does;
- `inject(diagnosis, stack) -> Callable[[], None]`: makes the fault real on a running DemoStack
  (its `faults`, `redis`, `postgres`, `directory`) and returns what undoes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.routing import BaseRoute

from .faults import Faults

FAULTS: dict[str, str] = {}


def routes(faults: Faults) -> list[BaseRoute]:
    return []


def inject(diagnosis: str, stack: Any) -> Callable[[], None]:
    raise ValueError(f"no demo fault for {diagnosis} here")
