"""Work that must wait until a screen has drawn what changed.

Textual's `call_after_refresh`, called from a screen's own message handler, does not wait for
the refresh that handler's changes ask for: the changed widgets tell the screen they need a
layout and a repaint by messages they send when they go idle, after the screen has already found
itself clean and run its callbacks. So a focus move or a toast meant to follow the frame that
shows the next item landed in that frame instead, and turned it into a repaint of the whole
screen (measured: ~35 ms of the ~80 ms from save to next item at 1,000 prompts).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from textual.screen import Screen
from textual.timer import Timer

from core.heap import set_survivors_aside

# When no layout follows (nothing changed size, or another screen is on top and this one is not
# drawn), the callbacks run after this long instead: later than a frame, never lost.
FALLBACK_S = 0.25


class AfterFrame:
    """Runs callbacks once `screen` has laid out and drawn a frame after they were queued."""

    def __init__(self, screen: Screen[Any]) -> None:
        self.screen = screen
        self._pending: list[Callable[[], object]] = []
        self._fallback: Timer | None = None
        # Not immediate: the callbacks arrive as a message, after what the screen already holds.
        screen.screen_layout_refresh_signal.subscribe(screen, self._laid_out)

    def call(self, callback: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """Run `callback(*args, **kwargs)` after the next frame that lays the screen out."""
        self._pending.append(partial(callback, *args, **kwargs))
        if self._fallback is None:
            self._fallback = self.screen.set_timer(FALLBACK_S, self._run)

    @property
    def pending(self) -> bool:
        """Whether callbacks wait for the next frame."""
        return bool(self._pending)

    def _laid_out(self, _screen: Screen[Any]) -> None:
        self._run()

    def _run(self) -> None:
        if self._fallback is not None:
            self._fallback.stop()
            self._fallback = None
        pending, self._pending = self._pending, []
        for callback in pending:
            callback()


def collect_between_items() -> None:
    """Collect now, while the expert reads the item just drawn, and set the survivors aside
    (core.heap): a full collection fell inside the save -> next item frame on 3 of 60 items
    (measured with `gc.callbacks`, 1,000 prompts), the whole of the p99; after, none did (p99
    153 -> 50 ms)."""
    set_survivors_aside()
