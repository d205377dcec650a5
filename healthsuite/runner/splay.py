"""Splay: a deterministic delay before a scheduled run's first exchange, so that many runs fired by
the same schedule (one CronJob per region, a timer on every host) do not reach the same services
at the same second.

The delay of a run is a function of what the run is, never of chance: the environment's name, the
host's name and an optional key (`--splay-key`, e.g. the region), hashed with SHA-256 (Python's
`hash()` is salted per process and would change every run). One host checking one environment
therefore always starts at the same offset within the window, and its runs stay evenly spaced;
different hosts and environments land at different offsets, spread evenly over the window.
"""

from __future__ import annotations

import hashlib

SPLAY_MAX_S = 3600.0  # a splay window longer than an hour is a mistake of units (minutes for seconds)
RESOLUTION_S = 0.001  # the delay is a whole number of milliseconds


def splay_seconds(environment: str, host: str, key: str, window_s: float) -> float:
    """The delay, in [0, window_s), of the run of `environment` from `host` (with `key`, "" for none).

    >>> splay_seconds("production", "web-1", "", 60) == splay_seconds("production", "web-1", "", 60)
    True
    >>> 0 <= splay_seconds("production", "web-1", "eu-west-1", 60) < 60
    True
    """
    if window_s <= 0:
        return 0.0
    identity = "\0".join((environment, host, key)).encode("utf-8", "surrogatepass")
    fraction = int.from_bytes(hashlib.sha256(identity).digest()[:8], "big") / 2**64  # uniform in [0, 1)
    steps = int(window_s / RESOLUTION_S)
    return min(round(int(fraction * steps) * RESOLUTION_S, 3), max(0.0, window_s - RESOLUTION_S))


def parse_window(value: str) -> float:
    """A splay window in seconds from text: a number in [0, SPLAY_MAX_S]; ValueError says why not."""
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number of seconds") from None
    if not 0 <= seconds <= SPLAY_MAX_S:  # also refuses nan and inf
        raise ValueError(f"{value!r} is outside 0 to {SPLAY_MAX_S:g} seconds")
    return seconds
