"""Phases of a long run: one rich progress bar each, and the wall time each took."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


class Phases:
    """Times named phases; with a console, shows a progress bar per phase."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console
        self.timings: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str, total: int) -> Iterator[Callable[[int], None]]:
        """Run one phase of ``total`` steps; yield the function that advances its bar."""
        started = time.monotonic()
        if self.console is None:
            yield lambda n: None
        else:
            columns = (
                TextColumn("{task.description:<28}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
            )
            with Progress(*columns, console=self.console, transient=False) as progress:
                task = progress.add_task(name, total=max(1, total))
                yield lambda n: progress.advance(task, n)
                progress.update(task, completed=max(1, total))
        self.timings[name] = self.timings.get(name, 0.0) + time.monotonic() - started
