"""Progress reporting. The library reports through this protocol; RichProgress draws it on stderr (the CLI,
and the Python API by default: ``progress=False`` silences it)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol


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


class RichProgress:
    """Progress drawn with rich on stderr (rich is imported when one is made, not with this module)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bars

        self._bars = Bars(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=Console(stderr=True), transient=False)
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> RichProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._tasks:
            self._bars.stop()

    def start(self, key: str, description: str, total: int | None = None) -> None:
        # the display starts with the first task, so an early error prints nothing but itself
        if not self._tasks:
            self._bars.start()
        self._tasks[key] = self._bars.add_task(description, total=total)

    def update(self, key: str, completed: int, total: int | None = None, description: str | None = None) -> None:
        task = self._tasks.get(key)
        if task is not None:
            self._bars.update(task, completed=completed, total=total, **({"description": description} if description else {}))

    def finish(self, key: str) -> None:
        task = self._tasks.get(key)
        if task is not None:
            total = self._bars.tasks[task].total
            self._bars.update(task, completed=total if total else 1, total=total or 1)


@contextlib.contextmanager
def progress_for(progress: Progress | bool | None) -> Iterator[Progress]:
    """The Progress an API call reports to: the caller's own, none (False), or rich bars on stderr (None / True,
    the default, as the CLI draws them)."""
    if progress is False:
        yield NullProgress()
    elif progress is None or progress is True:
        with RichProgress() as bars:
            yield bars
    else:
        yield progress
