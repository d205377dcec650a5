"""The order checks run in, when an environment has more targets than one block: a block of targets at a time,
every check of the block (availability, performance, ...) before the next block's.

Why: the probe pool answers targets in the order the checks need them. Run module by module, the first
module's checks (AV1 of every page) wait for every target's exchange, and every other module's checks (AV3,
PERF1 of every page) then run only after the last exchange: at 5000 pages, 10,000 checks and seconds of CPU
after the last answer. A block at a time, each block's checks run while the next block's exchanges are out,
and only the last block's are left after the last answer. Within a block, and for an environment of one
block (the usual size), the order is pytest's: module by module, as collected.
"""

from __future__ import annotations

import pytest

from healthsuite.checkapi import target_of

BLOCK = 64  # targets whose checks run together


@pytest.hookimpl(trylast=True)  # after every other plugin's order (pytest's fixture-scope grouping included)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    blocks = in_blocks(items)
    if blocks is not None:
        items[:] = blocks


def in_blocks(items: list[pytest.Item]) -> list[pytest.Item] | None:
    """`items` a block of BLOCK targets at a time (None: one block or fewer, the order stays). A test that is
    not a check, or a check of no target, keeps its place relative to the checks before it."""
    block_of: dict[int, int] = {}
    keys: list[int] = []
    block = 0
    for item in items:
        target = target_of(item)
        if target is not None:
            block = block_of.setdefault(id(target), len(block_of) // BLOCK)
        keys.append(block)
    if len(block_of) <= BLOCK:
        return None
    order = sorted(range(len(items)), key=keys.__getitem__)  # stable: pytest's order within a block
    return [items[i] for i in order]
