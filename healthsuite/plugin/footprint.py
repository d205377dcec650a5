"""What a check item holds in memory. At thousands of targets the items are most of a run's memory, and
they live for all of it (pytest keeps `session.items`), so

- as soon as pytest has made a function's items (all of them at once, thousands for a check of every
  page), before it makes the next function's (`after_creation`): items parametrized alike (AV3 and
  PERF1 of one page) share one call spec, and each part of a call spec that is the same for every
  item of a function (the parameter's scope, no marks) is held once (plugin.pytest_internals.CallSpecs);
  a check that will run under the lean protocol lets go of the fixture request pytest built for it
  (pytest's own protocol builds one anew for an item that has none, as it does for a rerun); and,
  while no plugin but pytest's own and healthsuite's takes part in collection, an item shares one
  empty set of extra `-k` names. Collection's peak is the items of a module with their transient
  parts, so what is let go here is let go before that peak rather than after it;
- once collection is over, every item without extra `-k` names shares that set (`after_collection`);
- once a check has run under the lean protocol (plugin.protocol), it lets go of what only its run
  read: its keywords, markers, report properties and report sections (`after_run`), as pytest's own
  protocol lets go of a test's fixture request and arguments.

Nothing here changes what any report or output says: the reports are made before `after_run`, and
what is shared is never written to once shared (pytest's CallSpec is a frozen dataclass whose parts
it reads only; the shared empty containers are immutable, so a late writer fails loudly rather than
writing into every item at once).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import MappingProxyType, ModuleType
from typing import Any

import pytest

from healthsuite.plugin.pytest_internals import CallSpecs

NO_EXTRA_KEYWORDS: frozenset[str] = frozenset()
NO_KEYWORDS: MappingProxyType[str, Any] = MappingProxyType({})
NO_MARKERS: tuple[pytest.Mark, ...] = ()
NO_PROPERTIES: tuple[tuple[str, object], ...] = ()
NO_SECTIONS: tuple[tuple[str, str, str], ...] = ()


# plugins known to leave an item's extra `-k` names alone while collection goes on
KNOWN_COLLECTORS = frozenset({"allure_pytest", "hypothesispytest"})
COLLECTION_HOOKS = ("pytest_pycollect_makeitem", "pytest_itemcollected", "pytest_collection_modifyitems",
                    "pytest_collection_finish", "pytest_collection")


def only_known_collectors(config: pytest.Config) -> bool:
    """Whether every plugin taking part in collection is pytest's own, healthsuite's, or one known to
    write no item's extra `-k` names: then an item may share the one empty set as soon as it is made."""
    for hook in COLLECTION_HOOKS:
        for impl in getattr(config.pluginmanager.hook, hook).get_hookimpls():
            plugin = impl.plugin
            name = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
            if not (name.startswith(("_pytest.", "healthsuite.")) or impl.plugin_name in KNOWN_COLLECTORS):
                return False
    return True


def after_creation(items: Sequence[object], callspecs: CallSpecs, lean: Callable[[pytest.Item], bool],
                   share_keyword_matches: bool) -> None:
    """One function's items, just made: what they can share, shared, and what a lean check never reads, let go."""
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        share_callspec(item, callspecs)
        let_go_of_request(item, lean)
        if share_keyword_matches and not item.extra_keyword_matches:
            item.extra_keyword_matches = NO_EXTRA_KEYWORDS  # type: ignore[assignment]


def share_callspec(item: pytest.Item, callspecs: CallSpecs) -> None:
    """A parametrized item's call spec, the one items parametrized alike share."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        item.callspec = callspecs.shared(callspec)  # type: ignore[attr-defined]


def let_go_of_request(item: pytest.Item, lean: Callable[[pytest.Item], bool]) -> None:
    """A check that will run under the lean protocol lets go of its fixture request: its run protocol
    builds none, and pytest's builds one anew when it needs one."""
    if getattr(item, "_request", None) and lean(item):
        item._request = False  # type: ignore[attr-defined]
        item.funcargs = None  # type: ignore[attr-defined]


def after_collection(items: list[pytest.Item]) -> None:
    """What collection alone read, shared: `-k` has selected by the time collection is over."""
    for item in items:
        if not item.extra_keyword_matches:
            item.extra_keyword_matches = NO_EXTRA_KEYWORDS  # type: ignore[assignment]


def after_run(item: pytest.Function) -> None:
    """A check that ran under the lean protocol, once its reports are made: what only its run read.

    Its keywords went into its reports' keyword sets when its run began; its markers were read by its
    checks and reports; its properties (the catalogue's words, what it observed) are in its reports and
    record; its report sections are per phase. Nothing reads them after its last report."""
    item.keywords = NO_KEYWORDS  # type: ignore[assignment]
    item.own_markers = NO_MARKERS  # type: ignore[assignment]
    item.user_properties = NO_PROPERTIES  # type: ignore[assignment]
    item._report_sections = NO_SECTIONS  # type: ignore[assignment]
