"""core.heap: the collector's full walks skip what long-lived work set aside."""

from __future__ import annotations

import gc

from core.heap import set_survivors_aside


def test_survivors_are_set_aside_and_garbage_collected_first() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the collector frees it

    collected: list[int] = []
    garbage = Node()
    gc.callbacks.append(lambda phase, info: collected.append(info["collected"])
                        if phase == "stop" else None)
    try:
        del garbage
        kept = Node()
        frozen_before = gc.get_freeze_count()
        set_survivors_aside()
        assert sum(collected) >= 1  # the cycle dropped before was collected, not frozen
        assert gc.get_freeze_count() > frozen_before
        assert gc.is_tracked(kept)
        assert all(obj is not kept for obj in gc.get_objects())  # later walks skip it
    finally:
        gc.callbacks.pop()
        gc.unfreeze()
