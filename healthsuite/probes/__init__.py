"""Probes observe; checks assert. A probe returns a plain observation with `error` set when it met
a transport failure, and never raises for one."""

from .errors import ProbeError
from .session import ProbeSession

__all__ = ["ProbeError", "ProbeSession"]
