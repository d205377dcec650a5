"""What every throwaway server of the tests shares: `with Server(...) as server:` starts it and removes it
(its processes and its directory) when the block ends, also when starting it failed half-way."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from types import TracebackType
from typing import Self

from healthsuite.testing.ports import LOOPBACK, free_port, port_is_free


class ThrowawayServer(ABC):
    host: str
    port: int

    @abstractmethod
    def start(self) -> Self: ...

    @abstractmethod
    def remove(self) -> None: ...

    @abstractmethod
    def is_running(self) -> bool: ...

    def start_on_port(self, start_once: Callable[[], None], *, port_was_chosen: bool) -> None:
        """`start_once` on self.port. A port chosen here (free_port) that another process took first,
        before the start or during it ("Address already in use"), is swapped for another free one, up
        to three tries; a port the caller asked for is tried once."""
        attempts = 3 if port_was_chosen else 1
        for attempt in range(attempts):
            if not port_is_free(LOOPBACK, self.port):
                if attempt + 1 < attempts:
                    self.port = free_port(LOOPBACK)
                    continue
                raise RuntimeError(f"port {LOOPBACK}:{self.port} is already in use")
            try:
                start_once()
                return
            except RuntimeError as exc:
                if attempt + 1 < attempts and "Address already in use" in str(exc):
                    self.port = free_port(LOOPBACK)  # lost a race for the port: try another
                    continue
                raise

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.remove()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.remove()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<{type(self).__name__} {self.host}:{self.port} {state}>"
