"""Annotation rules shared by every face: display order, marking best and worst, saving.

`AnnotationSession` walks one annotator through their queue; the TUI only shows its state and
forwards keys, so every rule (what a digit means, what a valid judgment is) lives here.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from core.config import Config
from core.errors import JudgmentError
from core.models import Candidate, Item, Judgment, Progress, Provenance
from core.store import Store

MAX_CANDIDATES_SHOWN = 9  # one digit key per candidate


def display_order(item: Item, annotator: str, seed: int, randomise: bool) -> tuple[Candidate, ...]:
    """Candidates in the order one annotator sees them: shuffled per (annotator, prompt), seeded.

    The same annotator always sees the same order for a prompt; another annotator sees another.
    """
    candidates = list(item.candidates[:MAX_CANDIDATES_SHOWN])
    if randomise:
        random.Random(f"{seed}:{annotator}:{item.prompt.prompt_id}").shuffle(candidates)
    return tuple(candidates)


@dataclass(frozen=True)
class Marks:
    """Best and worst as labels 1..k of the displayed order."""

    count: int
    best: int | None = None
    worst: int | None = None

    @property
    def complete(self) -> bool:
        return self.best is not None and self.worst is not None

    def press(self, label: int) -> Marks:
        """The marks after pressing digit `label`: first the best, then (k >= 3) the worst.

        With two candidates the other one is the worst. Pressing the best again clears it;
        pressing a digit when both are set starts over with a new best.
        """
        if not 1 <= label <= self.count:
            return self
        if self.best is None or self.complete:
            if self.count == 2:
                return Marks(2, label, 3 - label)
            return Marks(self.count, label, None)
        if label == self.best:
            return Marks(self.count)
        return Marks(self.count, self.best, label)


def check_judgment(marks: Marks, justification: str, min_chars: int) -> None:
    """Raise JudgmentError when a judgment may not be saved yet."""
    if marks.best is None:
        raise JudgmentError("press the number of the best response first")
    if marks.worst is None:
        raise JudgmentError("press the number of the worst response")
    if marks.best == marks.worst:
        raise JudgmentError("best and worst must be different responses")
    if len(justification.strip()) < min_chars:
        raise JudgmentError(
            f"write a justification of at least {min_chars} characters "
            f"({len(justification.strip())} so far)"
        )


def empty_queue_message(progress: Progress) -> str:
    """What the annotation screen says when there is no item to show, and why: nothing to
    annotate in the project yet, nothing assigned to this annotator, or everything ranked."""
    if progress.assigning and progress.total == 0:
        return (f"Nothing is assigned to you ({progress.annotator}) yet.\n"
                "Ask the project's admin to assign you items "
                f"(prefer assign --annotators {progress.annotator}), then open this screen "
                "again. Press q to quit.")
    if progress.total == 0:
        return ("Nothing to rank yet: this project has no item with two or more candidate "
                "responses.\nAsk the project's admin to import prompts with candidates "
                "(prefer import) or to generate candidates (prefer generate). Press q to quit.")
    if progress.judged < progress.total:
        return (f"Nothing to show right now: {progress.total - progress.judged} of your "
                f"{progress.total} items are not ranked yet but none could be opened.\n"
                "Press q to quit and open this screen again.")
    return (f"Nothing left to rank: all {progress.total} items in your queue have a "
            "judgment.\nPress u to go back and change one, or q to quit.")


def saved_message(stored: Judgment, judgment_before: str | None) -> str:
    """What the screen says after a save: a first judgment, a change, or nothing changed (the
    store keeps the judgment as it was and counts no revision)."""
    if judgment_before is not None and stored.judgment_id == judgment_before:
        return "Unchanged: nothing to save."
    return "Change saved." if stored.supersedes else "Saved."


PACE_MIN_ITEMS = 3  # fewer items give a pace that is mostly noise


def items_per_hour(count: int, started: float, now: float) -> float | None:
    """Pace since `started` (monotonic seconds); None until PACE_MIN_ITEMS are done."""
    elapsed = now - started
    if count < PACE_MIN_ITEMS or elapsed <= 0:
        return None
    return count * 3600.0 / elapsed


@dataclass(frozen=True)
class Screenful:
    """Everything the annotation screen shows for one item."""

    item: Item
    shown: tuple[Candidate, ...]
    marks: Marks
    justification: str
    dimensions: tuple[str, ...]
    revising: bool  # an earlier judgment of this item is being changed


class AnnotationSession:
    """One annotator's walk through their queue, over a store."""

    def __init__(self, store: Store, config: Config, annotator: str,
                 guideline_version: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.config = config
        self.annotator = annotator
        self.guideline_version = guideline_version
        self._clock = clock
        self.started = clock()
        self.saved_this_session = 0
        self.current: Screenful | None = None
        self._shown_at = clock()
        self._back_index: int | None = None  # position in history while going back
        self._judgment_before: str | None = None  # the current judgment of the open item
        self._empty_reason: str | None = None  # why next_item found nothing, read on its thread

    # --- navigation ------------------------------------------------------------------------

    def _open(self, prompt_id: str, revising_allowed: bool = True) -> Screenful | None:
        item = self.store.get_item(prompt_id)
        if item is None:
            return None
        annotation = self.config.annotation
        shown = display_order(item, self.annotator, annotation.order_seed,
                              annotation.randomise_order)
        marks = Marks(len(shown))
        justification = ""
        dimensions: tuple[str, ...] = ()
        existing = self.store.current_judgment(self.annotator, prompt_id)
        self._judgment_before = existing.judgment_id if existing else None
        revising = bool(existing and existing.kind == "ranked" and revising_allowed)
        if existing and revising:
            ids = [c.candidate_id for c in shown]
            best = ids.index(existing.best_candidate_id) + 1 \
                if existing.best_candidate_id in ids else None
            worst = ids.index(existing.worst_candidate_id) + 1 \
                if existing.worst_candidate_id in ids else None
            marks = Marks(len(shown), best, worst)
            justification = existing.justification or ""
            dimensions = existing.dimensions
        self.current = Screenful(item, shown, marks, justification, dimensions, revising)
        self._shown_at = self._clock()
        return self.current

    def next_item(self) -> Screenful | None:
        """Open the next item of the queue (None when every item is ranked)."""
        self._back_index = None
        skip_now = (self.current.item.prompt.prompt_id,) if self.current else ()
        prompt_id = self.store.next_prompt_id(self.annotator, exclude=skip_now)
        if prompt_id is None and skip_now:
            prompt_id = self.store.next_prompt_id(self.annotator)
        if prompt_id is None:
            self.current = None
            self._empty_reason = empty_queue_message(self.progress())
            return None
        return self._open(prompt_id)

    def empty_queue_message(self) -> str:
        """Why there is no item to show (see `empty_queue_message`); worked out by `next_item`
        on the worker's thread, so the screen asks the store nothing."""
        return self._empty_reason or empty_queue_message(self.progress())

    def saved_message(self, stored: Judgment) -> str:
        """What to say after `save` returned `stored` (see `saved_message`)."""
        return saved_message(stored, self._judgment_before)

    def history(self) -> list[str]:
        """Prompt ids this annotator ranked, oldest first (each once, at its latest time)."""
        seen: dict[str, None] = {}
        for judgment in self.store.judgments_of(self.annotator):
            if judgment.kind != "ranked":
                continue
            seen.pop(judgment.prompt_id, None)
            seen[judgment.prompt_id] = None
        return list(seen)

    def previous_item(self) -> Screenful | None:
        """Go back one item in this annotator's history, to look at it or change it."""
        history = self.history()
        if not history:
            return None
        if self._back_index is None:
            index = len(history) - 1
            if self.current and history[index] == self.current.item.prompt.prompt_id:
                index -= 1
        else:
            index = self._back_index - 1
        if index < 0:
            return None
        self._back_index = index
        return self._open(history[index])

    # --- decisions -------------------------------------------------------------------------

    def press(self, label: int) -> Marks:
        assert self.current is not None
        self.current = replace(self.current, marks=self.current.marks.press(label))
        return self.current.marks

    def set_dimensions(self, dimensions: tuple[str, ...]) -> None:
        assert self.current is not None
        unknown = [d for d in dimensions if d not in self.config.project.dimensions]
        if unknown:
            raise JudgmentError(f"unknown dimension: {', '.join(unknown)}")
        self.current = replace(self.current, dimensions=dimensions)

    def save(self, justification: str) -> Judgment:
        """Validate and store the judgment of the current item (committed before returning)."""
        assert self.current is not None
        screen = self.current
        check_judgment(screen.marks, justification, self.config.annotation.min_justification_chars)
        assert screen.marks.best is not None and screen.marks.worst is not None
        judgment = Judgment(
            judgment_id="j_" + uuid.uuid4().hex,
            annotator=self.annotator,
            prompt_id=screen.item.prompt.prompt_id,
            kind="ranked",
            shown_order=tuple(c.candidate_id for c in screen.shown),
            best_candidate_id=screen.shown[screen.marks.best - 1].candidate_id,
            worst_candidate_id=screen.shown[screen.marks.worst - 1].candidate_id,
            dimensions=screen.dimensions,
            justification=justification.strip(),
            guideline_version=self.guideline_version,
            seconds_spent=round(self._clock() - self._shown_at, 3),
        )
        stored = self.store.save_judgment(judgment)
        self.saved_this_session += 1
        return stored

    def skip(self) -> Judgment | None:
        """Record a skip (the item returns at the end of the queue); a revisit records nothing."""
        assert self.current is not None
        screen = self.current
        if screen.revising:
            return None
        judgment = Judgment(
            judgment_id="j_" + uuid.uuid4().hex,
            annotator=self.annotator,
            prompt_id=screen.item.prompt.prompt_id,
            kind="skipped",
            shown_order=tuple(c.candidate_id for c in screen.shown),
            guideline_version=self.guideline_version,
            seconds_spent=round(self._clock() - self._shown_at, 3),
        )
        return self.store.save_judgment(judgment)

    def provenance(self) -> dict[int, Provenance]:
        """How each shown candidate was generated, by label (imported ones are absent).

        Annotators judge blind to the variant; the TUI asks for this only on request.
        """
        if self.current is None:
            return {}
        found = self.store.provenance([c.candidate_id for c in self.current.shown])
        return {label: found[c.candidate_id]
                for label, c in enumerate(self.current.shown, start=1) if c.candidate_id in found}

    # --- progress --------------------------------------------------------------------------

    def progress(self) -> Progress:
        return self.store.progress(self.annotator)

    def pace(self) -> float | None:
        return items_per_hour(self.saved_this_session, self.started, self._clock())

