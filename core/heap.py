"""Python's garbage collector and long-lived work: collect once, then set the survivors aside.

Python's full (oldest-generation) collection walks every object the collector tracks. A process
that holds much for long (the annotation app with its widgets; a model run with its plan of
every request, the store and the HTTP clients) pays for that walk in whatever work it
interrupts: 80-115 ms a time with the app loaded, inside the frame that shows the next item;
about as much inside a generation run of a few seconds, and more as its plan grows.

`set_survivors_aside` collects now, when nothing waits for the process, and moves what survives
into the collector's permanent generation (`gc.freeze`), which later collections skip. Nothing
is lost: after a collection nothing left is garbage, and reference counting still frees frozen
objects that are dropped (only a cycle among them would stay until the process ends).
"""

from __future__ import annotations

import gc


def set_survivors_aside() -> None:
    """Collect cyclic garbage now and exclude what survives from later collections."""
    gc.collect()
    gc.freeze()
