"""Where a model run's outcomes (generation, judging) go: to the store, without the run's event
loop waiting for it.

Two ways, chosen by the caller:

- On a thread of its own (`threaded=True`, any store, e.g. through `prefer serve`): the event
  loop only appends to a list; the thread is woken when the list was empty, gathers for GATHER_S
  what arrives meanwhile, and hands it to the store in one call (at most `batch` outcomes a
  call). So at hundreds of answers a second the store is called, and syncs to disk, once per
  group rather than once per answer.
- On the caller's thread (`threaded=False`), for a store whose write returns at once: the local
  store's generation journal writes to the page cache and fsyncs on its own thread
  (core/store/generation_journal.py). Each outcome is written as it arrives, so it survives the
  process's death from then on, and no thread switch is paid per group (at latency 0 those cost
  the event loop 15-20% of its throughput, docs/benchmarks.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

# The writer gathers outcomes this long after the first arrives, so those that arrive meanwhile
# share one store call and one fsync (group commit): at hundreds of answers a second, an fsync
# each (0.1-0.2 ms of CPU on this VM, measured) took CPU from the event loop's core. An answer
# is durable at most this much later; killed inside that window, the resumed run asks for it
# again.
GATHER_S = 0.01

Outcome = TypeVar("Outcome")


class OutcomeWriter(Generic[Outcome]):
    """Sends outcomes to `write`: on its own thread, whatever has arrived in one call, or at
    once on the caller's thread. A write that fails stops the writing; `close` raises it."""

    def __init__(self, write: Callable[[Sequence[Outcome]], object], *, batch: int,
                 name: str, threaded: bool = True) -> None:
        self.write = write
        self.batch = batch
        self.items: list[Outcome] = []
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.closing = False
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        if threaded:
            self.thread = threading.Thread(target=self._run, name=name, daemon=True)
            self.thread.start()

    def _run(self) -> None:
        while True:
            self.wake.wait()
            if not self.closing:
                time.sleep(GATHER_S)
            with self.lock:
                taken, self.items = self.items[:self.batch], self.items[self.batch:]
                if not self.items and not self.closing:  # closing: never wait again
                    self.wake.clear()
                closing = self.closing
            if taken:
                try:
                    self.write(taken)
                except BaseException as exc:  # surfaced by close(); nothing else may write
                    self.error = exc
                    return
            elif closing:
                return

    def put(self, outcome: Outcome) -> None:
        if self.thread is None:
            if self.error is None:
                try:
                    self.write((outcome,))
                except Exception as exc:  # surfaced by close(), as the thread's would be
                    self.error = exc
            return
        with self.lock:
            self.items.append(outcome)
            if len(self.items) == 1:
                self.wake.set()

    def close(self) -> None:
        """Write what waits, stop the thread, and raise the error a write met, if any."""
        if self.thread is not None:
            with self.lock:
                self.closing = True
                self.wake.set()
            self.thread.join()
        if self.error is not None:
            raise self.error
