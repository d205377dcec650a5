"""The splay's delay (healthsuite.runner.splay): deterministic, within its window, spread over it. Pure:
nothing sleeps here; tests/outputs/test_heartbeat.py runs a real splay."""

from __future__ import annotations

import pytest

from healthsuite.runner.splay import SPLAY_MAX_S, parse_window, splay_seconds

WINDOW = 60.0
RUNS = [(env, f"node-{n}") for env in ("production", "staging") for n in range(10)]  # 20 (environment, host)


def test_twenty_runs_are_spread_over_the_window() -> None:
    delays = [splay_seconds(env, host, "", WINDOW) for env, host in RUNS]
    assert len(set(delays)) == len(RUNS), delays  # no two start together
    assert all(0 <= d < WINDOW for d in delays), delays
    tenths = [int(d // (WINDOW / 10)) for d in delays]
    assert max(tenths.count(t) for t in range(10)) <= 6, sorted(delays)  # not all in one tenth of the window
    assert len(set(tenths)) >= 6, sorted(delays)  # most tenths of the window see a start
    assert max(delays) - min(delays) > WINDOW / 2, sorted(delays)


def test_the_delay_is_the_same_for_the_same_run_and_another_for_another_key() -> None:
    first = splay_seconds("production", "node-1", "eu-west-1", WINDOW)
    assert first == splay_seconds("production", "node-1", "eu-west-1", WINDOW)  # no salted hash()
    assert first != splay_seconds("production", "node-1", "us-east-1", WINDOW)
    assert first == round(first, 3)  # whole milliseconds
    # a known value: the same on every Python and every machine (SHA-256, not hash())
    assert splay_seconds("production", "node-1", "", 100.0) == 33.772


def test_a_window_scales_the_delay_and_zero_is_no_delay() -> None:
    assert splay_seconds("production", "node-1", "", 0) == 0.0
    small, large = (splay_seconds("production", "node-1", "", w) for w in (10.0, 1000.0))
    assert small < 10 and large < 1000 and abs(large / 100 - small) < 0.01 + 1e-9
    assert 0 <= splay_seconds("production", "node-1", "", 0.0005) < 0.0005 + 1e-12


@pytest.mark.parametrize("text", ["abc", "-1", "3601", "nan", "inf", ""])
def test_a_bad_window_says_why(text: str) -> None:
    with pytest.raises(ValueError, match="seconds"):
        parse_window(text)


def test_a_good_window_is_read() -> None:
    assert parse_window("0") == 0.0 and parse_window("60") == 60.0 and parse_window(f"{SPLAY_MAX_S:g}") == SPLAY_MAX_S
