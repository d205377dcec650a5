"""Under `-n`, every check of one target goes to one worker, and each worker gets its whole share at once.

- One unit of work per target (healthsuite.workunits): the checks of a page share its one GET, the
  checks of a database its one connection, so a run probes each (target, observation) once and
  opens one connection per database however many workers there are (no connection storm against
  production).
- The whole share at once: a worker starts its probes right after its collection (it computes the
  same share), so a run costs about its slowest probe; xdist's `load` would hand out checks a few at
  a time and a worker could only probe as its checks arrive.

xdist's own `loadgroup` cannot group like this here: it tags node ids, which pytest 9 no longer lets
a plugin change, and workers never see a `--dist` switched by a plugin. A scheduler is the
controller's alone.
"""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from .workunits import Aliases, assign, unit_of, worker_number


class TargetScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist is untyped here
    """`loadscope` with one scope per target, distributed in full when collection completes."""

    collection: list[str] | None  # set by LoadScopeScheduling; None until the first schedule()

    def __init__(self, config: pytest.Config, log: Any, aliases: Aliases) -> None:
        super().__init__(config, log)
        self.aliases = aliases

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid, self.aliases)

    def schedule(self) -> None:
        assert self.collection_is_completed
        if self.collection is not None:  # a node was added or restarted: hand out what is left
            for node in self.nodes:
                self._reschedule(node)
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = list(next(iter(self.registered_collections.values())))
        if not self.collection:
            return
        for nodeid in self.collection:
            self.workqueue.setdefault(unit_of(nodeid, self.aliases), {})[nodeid] = False
        owner = assign(self.collection, self.numnodes, self.aliases)
        position = {nodeid: index for index, nodeid in enumerate(self.collection)}  # the same on every node
        for node in self.nodes:
            number = worker_number(node.gateway.id)
            mine = [unit for unit in self.workqueue if owner[unit] == number]
            if not mine:
                continue
            assigned = self.assigned_work.setdefault(node, {})
            for unit in mine:
                assigned[unit] = self.workqueue.pop(unit)
            node.send_runtest_some(sorted(position[nodeid] for unit in mine for nodeid in assigned[unit]))
        # units of a worker that never came up, if any, go to whoever asks first; then every node
        # is told to stop after its share
        for node in self.nodes:
            self._reschedule(node)
