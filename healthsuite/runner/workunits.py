"""Which xdist worker runs which check: every check of one target on one worker, decided up front.

A check's node id ends with its target's parameter id (`...[home]`, `...[page-home]`,
`...[database-main]`); the checks that share a target share its probes (one GET of the home page
serves AV1, AV3, PERF1 and DEP1; one connection serves every check of a database), so they form one
unit of work and go to one worker: each (target, observation) is then probed once per run, not once
per worker that happens to get one of its checks.

The assignment is a pure function of the collected node ids and the number of workers. The
controller's scheduler (healthsuite.plugin.scheduling) sends each worker its whole share at once, and each
worker computes the same share right after its own collection, so it starts its probes before the
controller has even scheduled anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

# the kind prefixes of the ids that name a target of several kinds (plugin._prefixed): `page-home`
# and `home` name the same page, `database-main` and `main` the same database
KIND_PREFIXES = ("page-", "health-", "endpoint-", "database-", "cache-")


Aliases = Mapping[str, str]  # target name -> the name of the unit it joins (targets sharing a request)


def unit_of(nodeid: str, aliases: Aliases | None = None) -> str:
    """The unit of work of a check: its target's name; a test without a parameter is its own unit."""
    if not nodeid.endswith("]") or "[" not in nodeid:
        return nodeid
    param = nodeid.rpartition("[")[2][:-1]
    for prefix in KIND_PREFIXES:
        if param.startswith(prefix):
            param = param[len(prefix) :]
            break
    return f"target:{(aliases or {}).get(param, param)}"


def join_names(groups: Iterable[Iterable[str]]) -> dict[str, str]:
    """Names that share an observation (the health endpoint and a proxied path with the same URL) ->
    one name for all of them, the smallest; transitively, so overlapping groups become one unit."""
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.setdefault(name, name) != name:
            name = parent[name]
        return name

    for group in groups:
        names = sorted(group)
        for name in names[1:]:
            a, b = root(names[0]), root(name)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {name: root(name) for name in parent if root(name) != name}


def units(nodeids: Sequence[str], aliases: Aliases | None = None) -> dict[str, list[int]]:
    """Unit -> indices of its checks, units in the order of their first check."""
    grouped: dict[str, list[int]] = {}
    for index, nodeid in enumerate(nodeids):
        grouped.setdefault(unit_of(nodeid, aliases), []).append(index)
    return grouped


def assign(nodeids: Sequence[str], workers: int, aliases: Aliases | None = None) -> dict[str, int]:
    """Unit -> worker number (0-based), balancing the number of checks (see assign_units)."""
    return assign_units(units(nodeids, aliases), workers)


def assign_units(grouped: Mapping[str, list[int]], workers: int) -> dict[str, int]:
    """Unit -> worker number (0-based) for units as `units()` groups them, balancing the number of checks.

    Largest unit first, each to the worker with the fewest checks so far (the lowest number on a
    tie): deterministic, so the controller and every worker compute the same answer."""
    load = [0] * max(workers, 1)
    owner: dict[str, int] = {}
    order = sorted(grouped, key=lambda unit: (-len(grouped[unit]), grouped[unit][0]))
    for unit in order:
        worker = min(range(len(load)), key=lambda w: (load[w], w))
        owner[unit] = worker
        load[worker] += len(grouped[unit])
    return owner


def share_of(nodeids: Sequence[str], workers: int, worker: int, aliases: Aliases | None = None) -> list[int]:
    """The indices of the checks `worker` will run, in collection order."""
    grouped = units(nodeids, aliases)
    owner = assign_units(grouped, workers)
    return sorted(index for unit, indices in grouped.items() if owner[unit] == worker for index in indices)


def worker_number(worker_id: str) -> int | None:
    """`gw3` -> 3 (xdist's gateway ids); None for anything else."""
    digits = worker_id.removeprefix("gw")
    return int(digits) if worker_id.startswith("gw") and digits.isdigit() else None
