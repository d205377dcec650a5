"""The one module that imports pytest's internals (`_pytest`), for what pytest offers no public way to do.

- `CallInfo`: the lean protocol (protocol) runs a check's phases and hands pytest the same call
  information its own protocol builds, so reports, `--lf` and every reporter see what they expect.
- `determine_setup`: the rootdir pytest would choose without option values that name our own files
  (configure), the same rule pytest applies.
- `mangle_test_address`, `xml_key`: JUnit's classname and name exactly as pytest's junitxml writes them,
  and its stash key, for the JUnit rewrite (handover).
- `Expression`: parse `-m` as pytest does, to name markers it does not know (selection).

- `CallSpecs`: items parametrized alike share one call spec (its scope and marks parts held once), read
  through the call spec's private fields (plugin.footprint).

If pytest changes one of these, this module is the only place to mend.
"""

import dataclasses
from collections.abc import Hashable
from typing import Any

from _pytest.config.findpaths import determine_setup
from _pytest.junitxml import mangle_test_address, xml_key
from _pytest.mark.expression import Expression
from _pytest.runner import CallInfo

__all__ = ["CallInfo", "CallSpecs", "Expression", "determine_setup", "mangle_test_address", "xml_key"]


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
