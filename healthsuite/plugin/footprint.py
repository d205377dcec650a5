"""What a check item holds in memory. At thousands of targets the items are most of a run's memory, and
they live for all of it (pytest keeps `session.items`), so

- items parametrized alike (AV1 and AV3 of one page) share one call spec, and each part of a call
  spec that is the same for every item of a function (the parameter's scope, no marks) is held once
  (plugin.pytest_internals.CallSpecs, as pytest makes each item);
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

from types import MappingProxyType
from typing import Any

import pytest

NO_EXTRA_KEYWORDS: frozenset[str] = frozenset()
NO_KEYWORDS: MappingProxyType[str, Any] = MappingProxyType({})
NO_MARKERS: tuple[pytest.Mark, ...] = ()
NO_PROPERTIES: tuple[tuple[str, object], ...] = ()
NO_SECTIONS: tuple[tuple[str, str, str], ...] = ()


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
