"""Progress reporting. The library reports through this protocol; only the CLI draws bars."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, key: str, description: str, total: int | None = None) -> None: ...

    def update(self, key: str, completed: int, total: int | None = None, description: str | None = None) -> None: ...

    def finish(self, key: str) -> None: ...


class NullProgress:
    def start(self, key: str, description: str, total: int | None = None) -> None:
        pass

    def update(self, key: str, completed: int, total: int | None = None, description: str | None = None) -> None:
        pass

    def finish(self, key: str) -> None:
        pass
