"""The CLI's face for core.progress: Rich bars and spinners on stderr.

    with progress_display(quiet) as report:
        counts = import_file(store, path, ..., progress=report)

Shown only when stderr is a terminal and `--quiet` is not given, so stdout stays data (for
`--json` and pipes) and logs stay clean. Each task label gets one line: a bar with counts, rate
and time left when the total is known, a spinner with the elapsed time when it is not; a
finished task's line stays, completed, so the user sees what took how long.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from core.progress import ProgressReport, Step, phase, silent
from core.text import printable
from tui.commands.common import stderr

QuietOption = Annotated[bool, typer.Option(
    "--quiet", "-q", help="No progress on stderr (it is also off when stderr is not a "
                          "terminal).")]


class _Count(ProgressColumn):
    """`done/total unit` (bytes as sizes), or `done unit` while the total is unknown."""

    _bytes = DownloadColumn()
    _of = MofNCompleteColumn()

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", "")
        if task.fields.get("phase"):
            return Text("")
        if unit == "bytes":
            return self._bytes.render(task)
        if task.total is None:
            return Text(f"{int(task.completed)} {unit}".rstrip() if task.completed else "")
        counted = self._of.render(task)
        return counted.append(f" {unit}") if unit else counted


def showing_progress(quiet: bool, console: Console | None = None) -> bool:
    """Whether a command shows progress: not --quiet, and stderr is a terminal."""
    return not quiet and (console or stderr).is_terminal


@contextmanager
def progress_display(quiet: bool = False, console: Console | None = None
                     ) -> Iterator[ProgressReport]:
    """A ProgressReport that draws on `console` (stderr), or `silent` when progress is off."""
    console = console or stderr
    if not showing_progress(quiet, console):
        yield silent
        return
    bars = Progress(
        SpinnerColumn(finished_text="✓"), TextColumn("{task.description}"),
        BarColumn(bar_width=30), TaskProgressColumn(), _Count(),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
    )
    tasks: dict[str, TaskID] = {}

    def report(step: Step) -> None:
        task = tasks.get(step.label)
        if task is None:
            task = tasks[step.label] = bars.add_task(printable(step.label), total=step.total,
                                                     unit=step.unit, phase=step.total is None)
        done = step.done
        total = step.total
        if step.finished and total is None:
            total = done = max(done, 1)  # a finished phase shows as complete
        bars.update(task, completed=done, total=total)
        if step.finished:
            bars.stop_task(task)

    with bars:
        yield report


@contextmanager
def working(label: str, quiet: bool = False) -> Iterator[ProgressReport]:
    """One phase of unknown length, shown as a spinner with the elapsed time (and the report,
    for the core function to add its own tasks under it)."""
    with progress_display(quiet) as report, phase(report, label):
        yield report
