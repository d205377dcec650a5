"""The garbage collector held off during start-up (healthsuite.runner.collector): resume() gives back
exactly what pause() took, and nothing else."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from healthsuite.runner import collector


@pytest.fixture(autouse=True)
def _collector_as_it_was() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    collector.resume()
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_resume_enables_what_pause_disabled_once() -> None:
    gc.enable()
    collector.pause()
    assert not gc.isenabled() and collector.paused()
    collector.pause()  # already paused: the second changes nothing
    collector.resume()
    assert gc.isenabled() and not collector.paused()
    gc.disable()  # someone else's choice afterwards: a second resume() leaves it alone
    collector.resume()
    assert not gc.isenabled()


def test_a_collector_disabled_before_stays_disabled() -> None:
    gc.disable()
    collector.pause()
    assert not collector.paused()
    collector.resume()
    assert not gc.isenabled()
