"""Progress of long work, reported by core through one callback; the faces decide how it looks.

A core function that may take more than about two seconds takes `progress: ProgressReport =
silent` and reports `Step`s through it, usually via a `Tracker`:

    def build(store, ..., progress: ProgressReport = silent) -> ...:
        with Tracker(progress, "Building pairs", total=len(items), unit="items") as track:
            for item in items:
                ...
                track.advance()

A step with `total=None` is a phase of unknown length (a spinner and the elapsed time); a step
with a total is a bar. `finished=True` closes the task. Reports are rate-limited by the Tracker
(at most one every `min_interval` seconds, plus the last), so a tight loop pays nearly nothing.

The CLI's renderer is tui/progress.py (`progress_display`); the TUI may pass its own callback.
Callbacks must be cheap and must not raise: they run on the worker's thread.

Under `prefer serve` a store operation runs in the server and the socket carries one answer per
call, so what the client can show is what it does itself: bytes uploaded, bytes of an export
read back, the phases it walks through, and a spinner with the elapsed time while the server
works (see `phase`). LocalStore reports its inner phases to `LocalStore.progress` in embedded
mode only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType


@dataclass(frozen=True)
class Step:
    """One report: `done` of `total` units of the task named `label` (total None: unknown)."""

    label: str
    done: int = 0
    total: int | None = None
    unit: str = ""  # "rows", "bytes", "pairs", "resamples": how the renderer words the count
    finished: bool = False


ProgressReport = Callable[[Step], None]


def silent(step: Step) -> None:
    """The default report: nothing shown (tests, --quiet, no terminal)."""


class Tracker:
    """Counts one task's work and reports it, at most every `min_interval` seconds."""

    def __init__(self, report: ProgressReport, label: str, total: int | None = None,
                 unit: str = "", min_interval: float = 0.1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.report = report
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self._min_interval = min_interval
        self._clock = clock
        self._last = float("-inf")
        self._closed = False
        self._send(force=True)

    def _send(self, force: bool = False, finished: bool = False) -> None:
        now = self._clock()
        if force or finished or now - self._last >= self._min_interval:
            self._last = now
            self.report(Step(self.label, self.done, self.total, self.unit, finished))

    def advance(self, count: int = 1) -> None:
        """`count` more units done."""
        self.done += count
        self._send()

    def update(self, done: int, total: int | None = None) -> None:
        """Set the units done (and the total, when it became known)."""
        self.done = done
        if total is not None:
            self.total = total
        self._send()

    def finish(self) -> None:
        """Close the task (reported once, however often called)."""
        if not self._closed:
            self._closed = True
            if self.total is not None:
                self.done = max(self.done, self.total)
            self._send(finished=True)

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.finish()


@contextmanager
def phase(report: ProgressReport, label: str) -> Iterator[None]:
    """A task of unknown length around a block: a spinner and the elapsed time while it runs."""
    tracker = Tracker(report, label)
    try:
        yield
    finally:
        tracker.finish()
