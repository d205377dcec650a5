"""Under `-n`, send every check of one database to one worker, so a run opens one connection per
database however many workers there are (no connection storm against production).

xdist's own `loadgroup` cannot do it here: it tags node ids, which pytest 9 no longer lets a plugin
change, and workers never see a `--dist` switched by a plugin. A scheduler is the controller's alone.
"""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling


class DatabaseScopeScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist is untyped here
    """`load` scheduling, except that the checks of one database form one unit of work."""

    def __init__(self, config: pytest.Config, log: Any, databases: set[str]) -> None:
        super().__init__(config, log)
        self.databases = databases

    def _split_scope(self, nodeid: str) -> str:
        if nodeid.endswith("]"):
            param = nodeid.rpartition("[")[2][:-1].removeprefix("database-")
            if param in self.databases:
                return f"database:{param}"
        return nodeid  # every other check is its own unit, as under `load`
