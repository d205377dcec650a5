"""What every throwaway server of the tests shares: `with Server(...) as server:` starts it and removes it
(its processes and its directory) when the block ends, also when starting it failed half-way."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class ThrowawayServer(ABC):
    host: str
    port: int

    @abstractmethod
    def start(self) -> Self: ...

    @abstractmethod
    def remove(self) -> None: ...

    @abstractmethod
    def is_running(self) -> bool: ...

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
