"""Under `-n`, every check of one target goes to one worker, and each worker gets its whole share at once.

- One unit of work per target (healthsuite.runner.workunits): the checks of a page share its one GET, the
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

from healthsuite.runner.workunits import Aliases, assign_units, unit_of, units, worker_number


class TargetScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist is untyped here
    """`loadscope` with one scope per target, distributed in full when collection completes."""

    collection: list[str] | None  # set by LoadScopeScheduling; None until the first schedule()

    def __init__(self, config: pytest.Config, log: Any, aliases: Aliases) -> None:
        super().__init__(config, log)
        self.aliases = aliases
        # checks handed to each node and not finished yet: LoadScope recounts them over all of a node's
        # units whenever it asks (after every finished check), which is quadratic when a node holds its
        # whole share (seconds of the controller's time at a thousand targets)
        self._pending: dict[Any, int] = {}

    @property
    def tests_finished(self) -> bool:
        if not self.collection_is_completed or self.workqueue:
            return False
        return all(pending < 2 for pending in self._pending.values())  # as LoadScope: its last one is running

    @property
    def has_pending(self) -> bool:
        return bool(self.workqueue) or any(self._pending.values())

    def add_node(self, node: Any) -> None:
        super().add_node(node)
        self._pending[node] = 0

    def remove_node(self, node: Any) -> str | None:
        self._pending.pop(node, None)
        crashitem: str | None = super().remove_node(node)
        return crashitem

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        nodeid = self.registered_collections[node][item_index]
        self.assigned_work[node][self._split_scope(nodeid)][nodeid] = True
        self._pending[node] -= 1
        self._reschedule(node)

    def _assign_work_unit(self, node: Any) -> None:
        unit = next(iter(self.workqueue.values()))
        self._pending[node] += sum(1 for done in unit.values() if not done)
        super()._assign_work_unit(node)

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid, self.aliases)

    def _reschedule(self, node: Any) -> None:
        """After each finished check: stop the node when nothing is left to hand out, else give it
        one more unit (only units of a worker that never came up, or of one that crashed, are left)."""
        if node.shutting_down:
            return
        if not self.workqueue:
            node.shutdown()
            return
        self._assign_work_unit(node)

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
        grouped = units(self.collection, self.aliases)  # unit -> indices, the same on every node
        for unit, indices in grouped.items():
            self.workqueue[unit] = {self.collection[index]: False for index in indices}
        owner = assign_units(grouped, self.numnodes)
        for node in self.nodes:
            number = worker_number(node.gateway.id)
            mine = [unit for unit in grouped if owner[unit] == number]
            if not mine:
                continue
            assigned = self.assigned_work[node]
            for unit in mine:
                assigned[unit] = self.workqueue.pop(unit)
                self._pending[node] += len(grouped[unit])
            node.send_runtest_some(sorted(index for unit in mine for index in grouped[unit]))
        # units of a worker that never came up, if any, go to whoever asks first; then every node
        # is told to stop after its share
        for node in self.nodes:
            self._reschedule(node)
