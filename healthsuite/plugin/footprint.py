"""What a check item holds in memory. At thousands of targets the items are most of a run's memory, and
they live for all of it (pytest keeps `session.items`), so

- items parametrized alike (AV1 and AV3 of one page) share one call spec, and each part of a call
  spec that is the same for every item of a function (the parameter's scope, no marks) is held once
  (`CallSpecs`, as pytest makes each item);
- once collection is over, an item without extra `-k` names shares one empty set (`after_collection`);
- once a check has run under the lean protocol (plugin.protocol), it lets go of what only its run
  read: its keywords, markers, report properties and report sections (`after_run`), as pytest's own
  protocol lets go of a test's fixture request and arguments.

Nothing here changes what any report or output says: the reports are made before `after_run`, and
what is shared is never written to once shared (pytest's CallSpec is a frozen dataclass whose parts
it reads only; the shared empty containers are immutable, so a late writer fails loudly rather than
writing into every item at once).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable
from types import MappingProxyType
from typing import Any

import pytest

NO_EXTRA_KEYWORDS: frozenset[str] = frozenset()
NO_KEYWORDS: MappingProxyType[str, Any] = MappingProxyType({})
NO_MARKERS: tuple[pytest.Mark, ...] = ()
NO_PROPERTIES: tuple[tuple[str, object], ...] = ()
NO_SECTIONS: tuple[tuple[str, str, str], ...] = ()


class CallSpecs:
    """One call spec per set of parameters, one copy of each of its shared parts; emptied once
    collection is over (the items hold what they share)."""

    def __init__(self) -> None:
        self._known: dict[Hashable, Any] = {}

    def shared(self, callspec: Any) -> Any:
        """`callspec` (pytest's CallSpec), or the equal one an earlier item holds: the parameters
        compared by identity (the environment's target objects), the rest by value. The parameters
        stay referenced here, so no identity in a key is reused while it is known."""
        marks, arg2scope = callspec.marks, callspec._arg2scope
        marks_key, scopes_key = tuple(map(id, marks)), tuple(arg2scope.items())
        key = (tuple((name, id(value)) for name, value in callspec.params.items()),
               tuple(callspec.indices.items()), scopes_key, tuple(callspec._idlist), marks_key)
        known = self._known.get(key)
        if known is None:
            known = self._known[key] = dataclasses.replace(
                callspec,
                _arg2scope=self._known.setdefault(("scopes", scopes_key), arg2scope),
                marks=self._known.setdefault(("marks", marks_key), marks),
            )
        return known

    def clear(self) -> None:
        self._known.clear()


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
