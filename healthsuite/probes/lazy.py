"""Import a driver on first use: `psycopg = lazy("psycopg")`, under `if not TYPE_CHECKING`.

Why: the drivers (psycopg, redis-py, dnspython, pyOpenSSL, cryptography, PyJWT, prometheus-client)
take about half a second and 60 MB to import. Imported lazily, a run loads only those its selected
checks use (`-m payments` never loads pyOpenSSL), an xdist controller loads none, and a run's probes
import theirs on the probe threads while the slowest probe is still out, not before collection.

    from typing import TYPE_CHECKING
    if TYPE_CHECKING:
        import psycopg          # type checkers see the real module
    else:
        psycopg = lazy("psycopg")
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for a module; the first attribute read imports it (thread-safe: the import system locks)."""

    __slots__ = ("_name", "_submodules", "_module")

    def __init__(self, name: str, submodules: tuple[str, ...] = ()) -> None:
        self._name = name
        self._submodules = submodules
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        module = self._module
        if module is None:
            for submodule in self._submodules:  # a package's modules are its attributes once imported
                importlib.import_module(f"{self._name}.{submodule}")
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}{' (imported)' if self._module is not None else ''}>"


def preload(*modules: Any) -> None:
    """Import lazy modules now. Called before an exchange's deadline starts, so that a driver's import
    (tens of milliseconds, several times that on a loaded machine) never counts against the target."""
    for module in modules:
        if isinstance(module, LazyModule):
            module.__getattr__("__name__")


def lazy(name: str, *submodules: str) -> Any:
    """`lazy("dns", "resolver", "name")`: the package `dns`, with those modules imported along with it."""
    return LazyModule(name, submodules)
