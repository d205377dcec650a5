"""What a throwaway server leaves behind, and its removal: each server works in a private directory of
its own and registers itself, and an ``atexit`` hook removes those still alive at interpreter exit, so
an aborted test run leaks neither processes nor directories.
"""

from __future__ import annotations

import atexit
import os
import tempfile
import threading
from pathlib import Path
from typing import Protocol

__all__ = ["Removable", "register", "unregister", "private_dir"]


class Removable(Protocol):
    def remove(self) -> None: ...


_live: dict[int, tuple[Removable, int]] = {}
_live_lock = threading.Lock()


def register(obj: Removable) -> None:
    with _live_lock:
        _live[id(obj)] = (obj, os.getpid())


def unregister(obj: Removable) -> None:
    with _live_lock:
        _live.pop(id(obj), None)


@atexit.register
def _remove_all_at_exit() -> None:
    """Last-resort cleanup for servers nobody removed (e.g. an aborted test run).

    Only in the process that created them: a forked child exiting must not
    tear down its parent's servers.
    """
    with _live_lock:
        leftovers = [obj for obj, pid in _live.values() if pid == os.getpid()]
    for obj in leftovers:
        try:
            obj.remove()
        except Exception:  # pragma: no cover - best effort at shutdown
            pass


def private_dir(base_dir: Path | None, prefix: str) -> tuple[Path, Path | None]:
    """Create a private directory; return (it, the base_dir it lives in or None)."""
    if base_dir is None:
        return Path(tempfile.mkdtemp(prefix=prefix)), None
    base = Path(base_dir)
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base)), base
