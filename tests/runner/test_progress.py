"""Progress on a long run (healthsuite.runner.progress): the waiting line, when it is due, and the pool's
snapshot of what is out now. The end-to-end runs are in tests/runner/test_progress_run.py."""

from __future__ import annotations

import doctest
import threading
import time

import healthsuite.runner.progress
from healthsuite.plans import Planned
from healthsuite.runner.pool import Prefetcher
from healthsuite.runner.progress import Pacer, waiting_line


def test_the_docstring_examples_hold() -> None:
    failures, tried = doctest.testmod(healthsuite.runner.progress)
    assert tried and not failures


def test_nothing_in_flight_says_nothing() -> None:
    assert waiting_line([], now=10.0) is None


def test_the_longest_running_first_and_one_exchange_singular() -> None:
    assert waiting_line([("pages/home", 8.0)], now=10.0) == "healthsuite: waiting on 1 exchange: pages/home 2.0 s"
    line = waiting_line([("b/two", 9.0), ("a/one", 5.0), ("c/three", 9.5)], now=10.0)
    assert line == "healthsuite: waiting on 3 exchanges: a/one 5.0 s, b/two 1.0 s, c/three 0.5 s"


def test_at_most_five_named_and_the_rest_counted() -> None:
    running = [(f"endpoints/e{n:02}", 100.0 - n) for n in range(8)]
    line = waiting_line(running, now=100.0)
    assert line is not None
    assert line.startswith("healthsuite: waiting on 8 exchanges: endpoints/e07 7.0 s, endpoints/e06 6.0 s, ")
    assert line.endswith("endpoints/e03 3.0 s and 3 more")
    assert "endpoints/e02" not in line


def test_a_target_with_several_exchanges_is_named_once_with_its_longest() -> None:
    line = waiting_line([("auth/api", 9.0), ("auth/api", 6.0), ("auth/api", 8.0)], now=10.0)
    assert line == "healthsuite: waiting on 3 exchanges: auth/api 4.0 s (3 exchanges)"


def test_a_clock_that_has_not_moved_never_shows_a_negative_time() -> None:
    assert waiting_line([("pages/home", 10.5)], now=10.0) == "healthsuite: waiting on 1 exchange: pages/home 0.0 s"


def test_the_first_line_after_a_long_wait_then_at_most_every_interval() -> None:
    pacer = Pacer(first_after_s=5.0, every_s=10.0, max_lines=100)
    assert not pacer.due(waiting_since=0.0, now=4.9)
    assert pacer.due(waiting_since=0.0, now=5.0)
    assert not pacer.due(waiting_since=0.0, now=14.0)
    assert pacer.due(waiting_since=0.0, now=15.5)
    # the next check's wait: not before it too has lasted long enough, nor before the interval
    assert not pacer.due(waiting_since=16.0, now=20.0)
    assert not pacer.due(waiting_since=16.0, now=24.0)
    assert pacer.due(waiting_since=16.0, now=26.0)
    assert pacer.lines == 3


def test_short_waits_never_add_up_to_a_line() -> None:
    pacer = Pacer()
    assert not any(pacer.due(waiting_since=float(n), now=n + 4.0) for n in range(0, 1000, 5))
    assert pacer.lines == 0


def test_a_run_prints_a_bounded_number_of_lines() -> None:
    pacer = Pacer(first_after_s=5.0, every_s=10.0, max_lines=3)
    printed = sum(pacer.due(waiting_since=0.0, now=float(t)) for t in range(0, 10_000))
    assert printed == 3


def test_the_pool_shows_what_is_out_now_and_since_when() -> None:
    release = threading.Event()
    started = threading.Barrier(3)

    def slow() -> None:
        started.wait(5)
        release.wait(10)

    pool = Prefetcher(max_concurrency=4, max_per_host=4)
    try:
        pool.submit(Planned("h", "a", slow), "endpoints/slow", "check-a")
        pool.submit(Planned("h", "b", slow), "payments/webhook", "check-b")
        pool.submit(Planned("h", "c", lambda: None), "pages/home", "check-c")
        assert pool.expedite("check-c", 5)
        started.wait(5)
        running = pool.running()
        assert all(at <= time.monotonic() for _, at in running)
        assert sorted(target for target, _ in running) == ["endpoints/slow", "payments/webhook"]
        release.set()
        assert pool.expedite("check-a", 5) and pool.expedite("check-b", 5)
        assert pool.running() == []
    finally:
        release.set()
        pool.close()
