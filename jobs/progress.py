"""Progress display: a rich bar on a terminal, silence when piped or under a service."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

console = Console(stderr=True)


class Advance(Protocol):
    def __call__(self, completed: int) -> None: ...


@contextmanager
def byte_progress(label: str, total: int) -> Iterator[Advance]:
    if not console.is_terminal:
        yield lambda completed: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(label, total=total)
        yield lambda completed: progress.update(task, completed=completed)
