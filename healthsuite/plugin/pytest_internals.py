"""The one module that imports pytest's internals (`_pytest`), for what pytest offers no public way to do.

- `CallInfo`: the lean protocol (protocol) runs a check's phases and hands pytest the same call
  information its own protocol builds, so reports, `--lf` and every reporter see what they expect.
- `determine_setup`: the rootdir pytest would choose without option values that name our own files
  (configure), the same rule pytest applies.
- `mangle_test_address`, `xml_key`: JUnit's classname and name exactly as pytest's junitxml writes them,
  and its stash key, for the JUnit rewrite (handover).
- `Expression`: parse `-m` as pytest does, to name markers it does not know (selection).

- `rewrite_only_the_plugin`: pytest loads every module of a distribution that declares a plugin through
  its assertion-rewriting import hook; the machinery's own asserts are type invariants, not tests.

- `CallSpecs`: items parametrized alike share one call spec (its scope and marks parts held once), read
  through the call spec's private fields (plugin.footprint).

If pytest changes one of these, this module is the only place to mend.
"""

import sys
from collections.abc import Hashable
from typing import Any

from _pytest.assertion.rewrite import AssertionRewritingHook
from _pytest.config.findpaths import determine_setup
from _pytest.junitxml import mangle_test_address, xml_key
from _pytest.mark.expression import Expression
from _pytest.runner import CallInfo

__all__ = [
    "CallInfo", "CallSpecs", "Expression", "determine_setup", "mangle_test_address", "rewrite_only_the_plugin",
    "xml_key",
]


def rewrite_only_the_plugin(package: str, plugin: str) -> None:
    """Keep pytest's assertion rewriting to `plugin` (the plugin's own modules, which pytest also marks
    one by one as it imports them) instead of all of `package`, which pytest marks because the
    distribution declares a `pytest11` entry point. The rest of the machinery then loads through
    Python's own import system: start-up is shorter (measured about 40 ms at the plugin's import) and
    its asserts, type invariants, cost what a plain assert costs. Test modules and conftest files are
    rewritten as before. Nothing changes when pytest runs without its hook (`--assert=plain`)."""
    for finder in sys.meta_path:
        if isinstance(finder, AssertionRewritingHook) and package in finder._must_rewrite:
            finder._must_rewrite.discard(package)
            finder.mark_rewrite(plugin)  # clears the hook's cache of decisions too


class CallSpecs:
    """One call spec per set of parameters, one copy of each of its shared parts; emptied once
    collection is over (the items hold what they share).

    Known call specs are found by the identity of their first parameter's value (an int per call spec,
    not a key of tuples: at thousands of targets the keys alone were megabytes while collection went on),
    and the first of a kind is kept itself, its scope and marks parts swapped for the shared ones (equal
    values, so nothing that reads it sees a change) rather than copied."""

    def __init__(self) -> None:
        self._known: dict[int, Any] = {}  # id(first parameter value) -> a call spec, or a list of them
        self._parts: dict[Hashable, Any] = {}

    def shared(self, callspec: Any) -> Any:
        """`callspec` (pytest's CallSpec), or the equal one an earlier item holds: the parameters
        compared by identity (the environment's target objects), the rest by value. The parameters
        stay referenced here, so no identity in a key is reused while it is known."""
        key = id(next(iter(callspec.params.values()), None))
        known = self._known.get(key)
        if known is not None:
            for candidate in known if isinstance(known, list) else (known,):
                if candidate is callspec or _alike(candidate, callspec):
                    return candidate
        arg2scope, marks = callspec._arg2scope, callspec.marks
        object.__setattr__(  # pytest's CallSpec is frozen: the equal shared parts, set as its constructor does
            callspec, "_arg2scope", self._parts.setdefault(("scopes", tuple(arg2scope.items())), arg2scope))
        object.__setattr__(callspec, "marks", self._parts.setdefault(("marks", tuple(map(id, marks))), marks))
        if known is None:
            self._known[key] = callspec
        elif isinstance(known, list):
            known.append(callspec)
        else:
            self._known[key] = [known, callspec]
        return callspec

    def clear(self) -> None:
        self._known.clear()
        self._parts.clear()


def _alike(one: Any, other: Any) -> bool:
    """Two call specs of the same parameters (by identity, in the same order) and the same indices,
    scopes, ids and marks (by identity)."""
    if list(one.params) != list(other.params) or any(
        value is not other.params[name] for name, value in one.params.items()
    ):
        return False
    if list(one.indices.items()) != list(other.indices.items()):
        return False
    if list(one._arg2scope.items()) != list(other._arg2scope.items()) or list(one._idlist) != list(other._idlist):
        return False
    return len(one.marks) == len(other.marks) and all(a is b for a, b in zip(one.marks, other.marks, strict=True))
