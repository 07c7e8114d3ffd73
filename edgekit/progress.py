"""Progress reporting. The library reports through this protocol; RichProgress draws it on stderr (the CLI,
and the Python API by default: ``progress=False`` silences it)."""

from __future__ import annotations

import contextlib
import time
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
    """Progress on stderr: live rich bars on a terminal; in a log (CI, a pipe) one line per finished step instead
    of redrawn bars. rich is imported when one is made, not with this module. When an error ends the run, the
    bars are cleared so its one-paragraph message is what stays on screen."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bars

        self._console = Console(stderr=True)
        self._live = self._console.is_terminal
        self._bars = Bars(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=self._console, transient=False)
        self._tasks: dict[str, Any] = {}
        self._started: dict[str, tuple[str, float]] = {}  # a log's steps: description, start time

    def __enter__(self) -> RichProgress:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if not self._tasks:
            return
        if exc_type is not None:
            self._bars.live.transient = True
        self._bars.stop()

    def start(self, key: str, description: str, total: int | None = None) -> None:
        if not self._live:
            self._started[key] = (description, time.perf_counter())
            return
        if not self._tasks:  # the display starts with the first task, so an early error prints only itself
            self._bars.start()
        self._tasks[key] = self._bars.add_task(description, total=total)

    def update(self, key: str, completed: int, total: int | None = None, description: str | None = None) -> None:
        if not self._live:
            if description and key in self._started:
                self._started[key] = (description, self._started[key][1])
            return
        task = self._tasks.get(key)
        if task is not None:
            self._bars.update(task, completed=completed, total=total, **({"description": description} if description else {}))

    def finish(self, key: str) -> None:
        if not self._live:
            if key in self._started:
                description, started = self._started.pop(key)
                self._console.print(f"done: {description} ({time.perf_counter() - started:.1f} s)", markup=False,
                                    highlight=False)
            return
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
