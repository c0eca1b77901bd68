"""core/outcome_writer.py: both ways of handing a run's outcomes to the store."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from core.outcome_writer import OutcomeWriter


class Sink:
    def __init__(self, fail_on: int | None = None) -> None:
        self.batches: list[tuple[int, list[int]]] = []
        self.fail_on = fail_on

    def write(self, outcomes: Sequence[int]) -> None:
        if self.fail_on is not None and self.fail_on in outcomes:
            raise OSError(28, "No space left on device")
        self.batches.append((threading.get_ident(), list(outcomes)))


@pytest.mark.parametrize("threaded", [True, False], ids=["thread", "caller"])
def test_every_outcome_is_written_once_in_order(threaded: bool) -> None:
    sink = Sink()
    writer = OutcomeWriter(sink.write, batch=7, name="test-writer", threaded=threaded)
    for outcome in range(100):
        writer.put(outcome)
    writer.close()
    assert [o for _, batch in sink.batches for o in batch] == list(range(100))
    assert all(len(batch) <= 7 for _, batch in sink.batches)
    me = threading.get_ident()
    if threaded:
        assert all(ident != me for ident, _ in sink.batches)
    else:  # at once, one call an outcome, on the caller's thread
        assert sink.batches == [(me, [o]) for o in range(100)]


@pytest.mark.parametrize("threaded", [True, False], ids=["thread", "caller"])
def test_a_failed_write_stops_the_writing_and_close_raises_it(threaded: bool) -> None:
    sink = Sink(fail_on=5)
    writer = OutcomeWriter(sink.write, batch=1, name="test-writer", threaded=threaded)
    for outcome in range(10):
        writer.put(outcome)  # never raises into the run's event loop
    with pytest.raises(OSError, match="No space left"):
        writer.close()
    written = [o for _, batch in sink.batches for o in batch]
    assert written == [0, 1, 2, 3, 4]  # nothing after the failure
