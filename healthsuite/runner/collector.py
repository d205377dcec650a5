"""Python's cyclic garbage collector held off while a run starts.

Start-up (the imports, the environment's models, collection's items) creates hundreds of thousands of
objects that live for the whole run and almost none that are garbage, while the collector, triggered
by allocations, walked the growing heap again and again: 0.1 to 0.25 s of a 1.3 s start-up on a
thousand targets. The plugin pauses it when it is imported and resumes it when the checks start to
run; by then healthsuite.plugin.handover has frozen the run's long-lived objects out of later
collections. What start-up left as garbage (a few thousand objects) is frozen with them and is
released when they are unfrozen, or when the process ends with the run."""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_paused = [False]  # whether pause() disabled it (and resume() is to enable it again)


def pause() -> None:
    """Disable the collector, unless it already is (then resume() leaves it as it was)."""
    with _lock:
        if gc.isenabled():
            gc.disable()
            _paused[0] = True


def resume() -> None:
    """Enable the collector again if pause() disabled it; calling it again changes nothing."""
    with _lock:
        if _paused[0]:
            _paused[0] = False
            gc.enable()


def paused() -> bool:
    """Whether the collector is held off by pause()."""
    return _paused[0]
