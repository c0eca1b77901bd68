"""Annotation rules shared by every face: display order, marking, ranking, drafts, saving, pace.

`AnnotationSession` walks one annotator through their queue; the TUI only shows its state and
forwards keys, so every rule (what a digit means, what a valid judgment is, what counts as
unsaved work, how time per item is measured) lives here.
"""

from __future__ import annotations

import random
import re
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from core.config import ANNOTATION_MODES, Config
from core.errors import JudgmentError
from core.models import Candidate, Item, Judgment, Progress, Provenance
from core.prompt_view import PromptView, prompt_view, suggested_labels
from core.store import Store

MAX_CANDIDATES_SHOWN = 9  # the default of annotation.max_candidates: one digit key each


@dataclass(frozen=True)
class AnnotationMode:
    """One way of judging an item on the annotation screen (annotation.mode in prefer.toml)."""

    name: str
    summary: str  # docs/annotating.md explains each mode under this sentence


# Declare once, register: the screen, the config check and the docs read this registry.
MODES: dict[str, AnnotationMode] = {
    "best-worst": AnnotationMode(
        "best-worst", "press the number of the best response, then of the worst"),
    "rank": AnnotationMode(
        "rank", "type every response's number in order of preference, = between tied ones"),
}
assert tuple(MODES) == ANNOTATION_MODES, "core.config.ANNOTATION_MODES and MODES disagree"

# The outcomes an annotator may record instead of a preference (each needs a reason, yields no
# pair, and counts in agreement as an outcome of its own).
NO_PREFERENCE_KINDS: tuple[str, ...] = ("no_difference", "cannot_judge")

PAUSE_S = 300.0  # a gap between two keys longer than this is a pause, not work on the item


def display_order(item: Item, annotator: str, seed: int, randomise: bool,
                  limit: int | None = None) -> tuple[Candidate, ...]:
    """Candidates in the order one annotator sees them: shuffled per (annotator, prompt), seeded.

    The same annotator always sees the same order for a prompt; another annotator sees another.
    `limit` is annotation.max_candidates (imports refuse items above it, so it cuts nothing).
    """
    candidates = list(item.candidates[:limit] if limit else item.candidates)
    if randomise:
        random.Random(f"{seed}:{annotator}:{item.prompt.prompt_id}").shuffle(candidates)
    return tuple(candidates)


def label_width(count: int) -> int:
    """Digits typed per label: one up to 9 candidates, two above (01, 02, ... 12)."""
    return 1 if count <= 9 else 2


def label_text(label: int, count: int) -> str:
    """How a label is shown and typed: `3`, or `03` when there are more than 9 candidates."""
    return f"{label:0{label_width(count)}d}"


@dataclass
class LabelEntry:
    """Digits typed towards one candidate label, on every screen that picks candidates by
    number (annotation, adjudication): one digit a label up to 9 candidates, two above."""

    count: int
    typed: str = ""  # the first digit of a two-digit label, while waiting for the second

    def type(self, digit: str) -> int | None:
        """Add one typed digit: the label once complete (the entry starts over), else None."""
        self.typed += digit
        if len(self.typed) < label_width(self.count):
            return None
        label, self.typed = int(self.typed), ""
        return label

    def clear(self) -> None:
        self.typed = ""


@dataclass(frozen=True)
class Marks:
    """Best and worst as labels 1..k of the displayed order."""

    count: int
    best: int | None = None
    worst: int | None = None

    @property
    def complete(self) -> bool:
        return self.best is not None and self.worst is not None

    @property
    def empty(self) -> bool:
        return self.best is None and self.worst is None

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
    check_reason(justification, min_chars)


def check_reason(text: str, min_chars: int) -> None:
    if len(text.strip()) < min_chars:
        raise JudgmentError(
            f"write a justification of at least {min_chars} characters "
            f"({len(text.strip())} so far)"
        )


# --- rank mode ---------------------------------------------------------------------------------

_RANK_TOKEN = re.compile(r"\d+(?:\s*=\s*\d+)*")


@dataclass(frozen=True)
class Ranking:
    """What the annotator typed in rank mode, parsed: groups of labels, best first.

    `problem` says why it cannot be saved yet (a label out of range or twice, a label
    missing); `groups` holds what could be read so far, for the echo.
    """

    text: str
    count: int
    groups: tuple[tuple[int, ...], ...]
    problem: str | None
    # The problem as a message id and its values, for screens that speak other languages:
    # unexpected(char), no_such(label), twice(label), missing(labels), all_tied.
    problem_code: str | None = None
    problem_values: tuple[tuple[str, str], ...] = ()

    @property
    def complete(self) -> bool:
        return self.problem is None

    @property
    def empty(self) -> bool:
        return not self.text.strip()

    def echo(self) -> str:
        """The ranking as read: `3 > 1 = 4 > 2`."""
        return " > ".join(" = ".join(label_text(n, self.count) for n in group)
                          for group in self.groups)


def parse_ranking(text: str, count: int) -> Ranking:
    """Read `3 1=4 2`: numbers in order of preference, `=` between tied ones, spaces between
    places. Every label 1..count must appear exactly once, in at least two places."""
    groups: list[tuple[int, ...]] = []
    problem: tuple[str, str, dict[str, str]] | None = None  # (code, English, values)
    seen: set[int] = set()
    rest = text.strip()
    while rest:
        match = _RANK_TOKEN.match(rest)
        if match is None:
            problem = ("unexpected", f"unexpected '{rest[0]}': type numbers, spaces and =",
                       {"char": rest[0]})
            break
        group = tuple(int(n) for n in re.findall(r"\d+", match.group()))
        for label in group:
            if not 1 <= label <= count:
                problem = problem or ("no_such", f"there is no response {label}",
                                      {"label": str(label)})
            elif label in seen:
                problem = problem or ("twice", f"response {label} is ranked twice",
                                      {"label": str(label)})
            seen.add(label)
        groups.append(group)
        rest = rest[match.end():].lstrip()
    if problem is None:
        missing = [n for n in range(1, count + 1) if n not in seen]
        if missing:
            labels = ", ".join(str(n) for n in missing)
            problem = ("missing", "still to place: " + labels, {"labels": labels})
        elif len(groups) < 2:
            problem = ("all_tied", "all tied: nothing is preferred (use 'no meaningful "
                       "difference' instead)", {})
    if problem is None:
        return Ranking(text, count, tuple(groups), None)
    code, english, values = problem
    return Ranking(text, count, tuple(groups), english, code, tuple(values.items()))


# --- drafts and time -----------------------------------------------------------------------------
# Why there is no item to show, as a message id (the screens' catalogue, tui/locales, under
# "queue.<id>") with its values, and in English for callers without a catalogue.
EMPTY_QUEUE_ENGLISH: dict[str, str] = {
    "not_assigned": "Nothing is assigned to you ({annotator}) yet.\nAsk the project's admin to "
                    "assign you items (prefer assign --annotators {annotator}), then open this "
                    "screen again. Ctrl+Q quits.",
    "empty": "Nothing to rank yet: this project has no item with two or more candidate "
             "responses.\nAsk the project's admin to import prompts with candidates (prefer "
             "import) or to generate candidates (prefer generate). Ctrl+Q quits.",
    "none_openable": "Nothing to show right now: {left} of your {total} items are not ranked "
                     "yet but none could be opened.\nCtrl+Q quits; open this screen again.",
    "done": "Nothing left to rank: all {total} items in your queue have a judgment.\nCtrl+Z "
            "goes back to change one, Ctrl+R lists them all, Ctrl+Q quits.",
}


def empty_queue_reason(progress: Progress) -> tuple[str, dict[str, str]]:
    """Why the annotation screen has no item to show: nothing assigned to this annotator,
    nothing to annotate in the project yet, or everything ranked (id, values)."""
    if progress.assigning and progress.total == 0:
        return "not_assigned", {"annotator": progress.annotator}
    if progress.total == 0:
        return "empty", {}
    if progress.judged < progress.total:
        return "none_openable", {"left": f"{progress.total - progress.judged:,}",
                                 "total": f"{progress.total:,}"}
    return "done", {"total": f"{progress.total:,}"}


def empty_queue_message(progress: Progress) -> str:
    """`empty_queue_reason` in English."""
    key, values = empty_queue_reason(progress)
    return EMPTY_QUEUE_ENGLISH[key].format(**values)


SAVED_ENGLISH = {"saved": "Saved.", "revised": "Change saved.",
                 "unchanged": "Unchanged: nothing to save."}


def saved_outcome(stored: Judgment, judgment_before: str | None) -> str:
    """What a save did: "saved" (a first judgment), "revised", or "unchanged" (the store kept
    the judgment as it was and counts no revision)."""
    if judgment_before is not None and stored.judgment_id == judgment_before:
        return "unchanged"
    return "revised" if stored.supersedes else "saved"


def saved_message(stored: Judgment, judgment_before: str | None) -> str:
    """`saved_outcome` in English."""
    return SAVED_ENGLISH[saved_outcome(stored, judgment_before)]


PACE_MIN_ITEMS = 3  # fewer items give a pace that is mostly noise


@dataclass(frozen=True)
class Draft:
    """Unsaved work on one item, kept when the annotator leaves it (skip, back, quit, hang-up)
    and restored when the item is opened again."""

    prompt_id: str
    best: str | None = None  # candidate ids, so a draft survives any display order
    worst: str | None = None
    ranking_text: str = ""
    justification: str = ""
    dimensions: tuple[str, ...] = ()


def items_per_hour(seconds_per_item: list[float]) -> float | None:
    """A steady pace: an hour over the median time per item (one slow item does not swing it)."""
    if not seconds_per_item:
        return None
    median = statistics.median(seconds_per_item)
    return 3600.0 / median if median > 0 else None


@dataclass(frozen=True)
class SessionSummary:
    """What this session did, for the header and the quit summary."""

    saved: int
    seconds: float  # wall time since the session started
    active_seconds: float  # time on items, long pauses excluded
    pace: float | None
    drafts: tuple[str, ...]  # prompt ids with unsaved work kept as drafts


@dataclass(frozen=True)
class Screenful:
    """Everything the annotation screen shows for one item."""

    item: Item
    shown: tuple[Candidate, ...]
    marks: Marks
    justification: str
    dimensions: tuple[str, ...]
    revising: bool  # an earlier judgment of this item is being changed
    ranking_text: str = ""
    # What was there when the item opened: work differing from it is unsaved.
    opened_with: tuple[Marks, str, tuple[str, ...], str] | None = None
    restored_draft: bool = False
    earlier_kind: str | None = None  # the kind of the judgment being revised
    view: PromptView | None = None  # earlier turns, last user turn, pre-labels (core/prompt_view.py)

    @property
    def count(self) -> int:
        return len(self.shown)

    def ranking(self) -> Ranking:
        return parse_ranking(self.ranking_text, self.count)


@dataclass(frozen=True)
class LoadedItem:
    """What the store says about one item, before the session's drafts and marks are applied
    (AnnotationSession.read): the item, its candidates in this annotator's order, their current
    judgment of it, and its prompt view."""

    item: Item
    shown: tuple[Candidate, ...]
    existing: Judgment | None
    view: PromptView


@dataclass
class _Clock:
    """Time on the current item, with gaps longer than PAUSE_S left out."""

    now: Callable[[], float]
    last: float = 0.0
    spent: float = 0.0

    def restart(self) -> None:
        self.last, self.spent = self.now(), 0.0

    def touch(self) -> float:
        at = self.now()
        gap = at - self.last
        if gap <= PAUSE_S:
            self.spent += max(gap, 0.0)
        self.last = at
        return self.spent


@dataclass(frozen=True)
class _Left:
    """An item left for the next one while its judgment is stored (`move_on`): as it was on
    screen, to reopen it if that save stalls or is refused."""

    screenful: Screenful
    judgment_before: str | None


@dataclass
class _SessionTally:
    saved: int = 0
    seconds_per_item: list[float] = field(default_factory=list)


class AnnotationSession:
    """One annotator's walk through their queue, over a store."""

    def __init__(self, store: Store, config: Config, annotator: str,
                 guideline_version: str, clock: Callable[[], float] = time.monotonic,
                 drafts: dict[str, Draft] | None = None) -> None:
        self.store = store
        self.config = config
        self.annotator = annotator
        self.guideline_version = guideline_version
        self._clock = clock
        self.started = clock()
        self.current: Screenful | None = None
        self._item_clock = _Clock(clock)
        self._item_clock.restart()
        self._back_index: int | None = None  # position in history while going back
        self._tally = _SessionTally()
        # prompt id -> unsaved work; the app keeps it on disk (core/drafts.py)
        self.drafts: dict[str, Draft] = dict(drafts or {})
        self._judgment_before: str | None = None  # the current judgment of the open item
        # why next_item found nothing (empty_queue_reason), worked out on its thread
        self._empty_reason: tuple[str, dict[str, str]] | None = None
        # prompt id -> the item as it was when `move_on` left it, until its save is confirmed
        self._left: dict[str, _Left] = {}

    @property
    def mode(self) -> str:
        return self.config.annotation.mode

    @property
    def saved_this_session(self) -> int:
        return self._tally.saved

    # --- navigation ------------------------------------------------------------------------

    def read(self, prompt_id: str) -> LoadedItem | None:
        """Read what showing `prompt_id` takes from the store (the item, the annotator's current
        judgment of it, its prompt view), changing nothing in the session: a worker may read the
        next item ahead while the annotator judges this one (`read_ahead`)."""
        item = self.store.get_item(prompt_id)
        if item is None:
            return None
        annotation = self.config.annotation
        shown = display_order(item, self.annotator, annotation.order_seed,
                              annotation.randomise_order, annotation.max_candidates)
        existing = self.store.current_judgment(self.annotator, prompt_id)
        return LoadedItem(item, shown, existing, prompt_view(self.store, item))

    def read_ahead(self, after: str) -> LoadedItem | None:
        """The item `next_item` will open once `after` (the item on screen) is saved, read now:
        the queue's next item other than `after` and the items whose saves are still on their
        way (`move_on`: the store lists them as waiting until it commits them). Changes nothing
        in the session; `next_item` uses it only if the queue still names it then."""
        # A snapshot of the keys: the saving thread removes its item once stored.
        on_their_way = tuple(self._left)
        prompt_id = self.store.next_prompt_id(self.annotator, exclude=(after, *on_their_way))
        return self.read(prompt_id) if prompt_id is not None else None

    def _open(self, prompt_id: str, revising_allowed: bool = True,
              loaded: LoadedItem | None = None) -> Screenful | None:
        self.keep_draft()
        if loaded is None or loaded.item.prompt.prompt_id != prompt_id:
            loaded = self.read(prompt_id)
        if loaded is None:
            return None
        item, shown, existing, view = loaded.item, loaded.shown, loaded.existing, loaded.view
        ids = [c.candidate_id for c in shown]
        marks = Marks(len(shown))
        justification = ranking_text = ""
        dimensions: tuple[str, ...] = ()
        self._judgment_before = existing.judgment_id if existing else None
        revising = bool(existing and existing.kind != "skipped" and revising_allowed)
        if existing and revising:
            marks = Marks(len(shown), _label(ids, existing.best_candidate_id),
                          _label(ids, existing.worst_candidate_id))
            justification = existing.justification or ""
            dimensions = existing.dimensions
            if existing.groups:
                ranking_text = " ".join("=".join(label_text(ids.index(c) + 1, len(ids))
                                                 for c in group if c in ids)
                                        for group in existing.groups)
        if not revising:  # what imported sources say is pre-selected, for the expert to confirm
            best, worst = suggested_labels(view, shown)
            if best is not None or worst is not None:
                marks = Marks(len(shown), best, worst if worst != best else None)
        opened_with = (marks, justification, dimensions, ranking_text)
        draft = self.drafts.get(prompt_id)
        if draft is not None:
            marks = Marks(len(shown), _label(ids, draft.best), _label(ids, draft.worst))
            justification, dimensions = draft.justification, draft.dimensions
            ranking_text = draft.ranking_text
        self.current = Screenful(item, shown, marks, justification, dimensions, revising,
                                 ranking_text, opened_with, draft is not None,
                                 existing.kind if existing and revising else None, view)
        self._item_clock.restart()
        return self.current

    def next_item(self, ahead: LoadedItem | None = None) -> Screenful | None:
        """Open the next item of the queue (None when every item is ranked).

        `ahead` is `read_ahead`'s item, read while the annotator judged the current one: it is
        shown only if the queue (asked again now, a few index lookups) still names it next,
        so a queue changed meanwhile (an assignment, a re-queued item, the item judged in
        another session) opens what the queue says instead."""
        self._back_index = None
        skip_now = (self.current.item.prompt.prompt_id,) if self.current else ()
        prompt_id = self.store.next_prompt_id(self.annotator, exclude=skip_now)
        if prompt_id is None and skip_now:
            prompt_id = self.store.next_prompt_id(self.annotator)
        if prompt_id is None:
            self.keep_draft()
            self.current = None
            self._empty_reason = empty_queue_reason(self.progress())
            return None
        return self._open(prompt_id, loaded=ahead)

    def move_on(self, judgment: Judgment, ahead: LoadedItem) -> Screenful | None:
        """Open `ahead` (read ahead after the current item) at once, while `judgment` of the
        current item is stored on another thread (`commit_behind`): the annotator does not wait
        for the store. The current item's work stays a draft until the store confirms it, and
        `go_back_to` reopens the item as it was if the save stalls or is refused.

        The queue is not asked here (no store call): whoever stores the judgment asks it after
        (`queue_next`), and a changed queue is followed then."""
        assert self.current is not None
        assert self.current.item.prompt.prompt_id == judgment.prompt_id
        self._left[judgment.prompt_id] = _Left(self.current, self._judgment_before)
        self._back_index = None
        return self._open(ahead.item.prompt.prompt_id, loaded=ahead)

    def commit_behind(self, judgment: Judgment) -> tuple[Judgment, str]:
        """Store a judgment `move_on` left behind: the stored judgment and what the save did
        (`saved_outcome`, against the item's judgment before it was opened)."""
        left = self._left.get(judgment.prompt_id)
        stored = self.commit(judgment)
        before = left.judgment_before if left is not None else self._judgment_before
        self._left.pop(judgment.prompt_id, None)
        return stored, saved_outcome(stored, before)

    def go_back_to(self, prompt_id: str) -> Screenful:
        """Reopen the item `move_on` left, as it was, while its save is not confirmed (the
        item open now keeps its work as a draft)."""
        left = self._left[prompt_id]
        self.keep_draft()
        self.current, self._judgment_before = left.screenful, left.judgment_before
        self._item_clock.restart()
        return self.current

    def queue_next(self, after: str) -> str | None:
        """The item the queue names next once `after` is judged: asked after `move_on`, it is
        the item that opened unless the queue changed meanwhile."""
        return self.store.next_prompt_id(self.annotator, exclude=(after,))

    def open(self, prompt_id: str) -> Screenful | None:
        """Open one of this annotator's items (from the history screen), to look or revise."""
        return self._open(prompt_id)

    def empty_queue_reason(self) -> tuple[str, dict[str, str]]:
        """Why there is no item to show (see `empty_queue_reason`); worked out by `next_item`
        on the worker's thread, so the screen asks the store nothing."""
        return self._empty_reason or empty_queue_reason(self.progress())

    def empty_queue_message(self) -> str:
        key, values = self.empty_queue_reason()
        return EMPTY_QUEUE_ENGLISH[key].format(**values)

    def saved_outcome(self, stored: Judgment) -> str:
        """What `save` did when it returned `stored` (see `saved_outcome`)."""
        return saved_outcome(stored, self._judgment_before)

    def saved_message(self, stored: Judgment) -> str:
        return SAVED_ENGLISH[self.saved_outcome(stored)]

    def history(self) -> list[str]:
        """Prompt ids this annotator judged, oldest first (each once, at its latest time)."""
        seen: dict[str, None] = {}
        for judgment in self.store.judgments_of(self.annotator):
            if judgment.kind == "skipped":
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

    def touch(self) -> None:
        """A key was pressed on the current item: time on it goes on (pauses excluded)."""
        self._item_clock.touch()

    def press(self, label: int) -> Marks:
        assert self.current is not None
        self.touch()
        self.current = replace(self.current, marks=self.current.marks.press(label))
        return self.current.marks

    def set_ranking_text(self, text: str) -> Ranking:
        """Rank mode: what the annotator has typed so far (kept only digits, spaces and =)."""
        assert self.current is not None
        self.touch()
        kept = "".join(ch for ch in text if ch.isdigit() or ch in " =")
        self.current = replace(self.current, ranking_text=kept)
        return self.current.ranking()

    def set_justification(self, text: str) -> None:
        """Keep what is in the box, so a draft holds it if the item is left unsaved."""
        if self.current is not None and text != self.current.justification:
            self.touch()
            self.current = replace(self.current, justification=text)

    def set_dimensions(self, dimensions: tuple[str, ...]) -> None:
        assert self.current is not None
        unknown = [d for d in dimensions if d not in self.config.project.dimensions]
        if unknown:
            raise JudgmentError(f"unknown dimension: {', '.join(unknown)}")
        self.current = replace(self.current, dimensions=dimensions)

    def ready(self) -> bool:
        """Whether the choice part is complete (best and worst, or a whole ranking)."""
        if self.current is None:
            return False
        if self.mode == "rank":
            return self.current.ranking().complete
        return self.current.marks.complete

    def unsaved(self) -> bool:
        """Whether the current item holds picks, a ranking, tags or text not yet saved."""
        screen = self.current
        if screen is None or screen.opened_with is None:
            return False
        now = (screen.marks, screen.justification.strip(), screen.dimensions,
               screen.ranking_text.strip())
        marks, text, dims, ranking = screen.opened_with
        return now != (marks, text.strip(), dims, ranking.strip())

    def keep_draft(self) -> Draft | None:
        """Keep the current item's unsaved work as a draft (returned), or drop a stale one."""
        screen = self.current
        if screen is None:
            return None
        prompt_id = screen.item.prompt.prompt_id
        if not self.unsaved():
            self.drafts.pop(prompt_id, None)
            return None
        ids = [c.candidate_id for c in screen.shown]
        draft = Draft(prompt_id,
                      ids[screen.marks.best - 1] if screen.marks.best else None,
                      ids[screen.marks.worst - 1] if screen.marks.worst else None,
                      screen.ranking_text, screen.justification, screen.dimensions)
        self.drafts[prompt_id] = draft
        return draft

    def prepare(self, justification: str, outcome: str = "ranked") -> Judgment:
        """The judgment the current item would be saved as, checked; not stored yet.

        `outcome` is "ranked" (a preference), or one of NO_PREFERENCE_KINDS with
        `justification` as the reason. The same Judgment may be sent again until the store
        confirms it: its id is its retry key.
        """
        assert self.current is not None
        screen = self.current
        min_chars = self.config.annotation.min_justification_chars
        ids = [c.candidate_id for c in screen.shown]
        best = worst = None
        groups: tuple[tuple[str, ...], ...] | None = None
        if outcome in NO_PREFERENCE_KINDS:
            check_reason(justification, min_chars)
        elif outcome != "ranked":
            raise JudgmentError(f"unknown outcome {outcome!r}")
        elif self.mode == "rank":
            ranking = screen.ranking()
            if ranking.problem:
                raise JudgmentError(f"ranking: {ranking.problem}")
            check_reason(justification, min_chars)
            groups = tuple(tuple(ids[n - 1] for n in group) for group in ranking.groups)
            best = groups[0][0] if len(groups[0]) == 1 else None
            worst = groups[-1][0] if len(groups[-1]) == 1 else None
        else:
            check_judgment(screen.marks, justification, min_chars)
            assert screen.marks.best is not None and screen.marks.worst is not None
            best, worst = ids[screen.marks.best - 1], ids[screen.marks.worst - 1]
        return Judgment(
            judgment_id="j_" + uuid.uuid4().hex,
            annotator=self.annotator,
            prompt_id=screen.item.prompt.prompt_id,
            kind=outcome,
            shown_order=tuple(ids),
            best_candidate_id=best,
            worst_candidate_id=worst,
            groups=groups,
            dimensions=screen.dimensions,
            justification=justification.strip(),
            guideline_version=self.guideline_version,
            seconds_spent=round(self._item_clock.touch(), 3),
        )

    def commit(self, judgment: Judgment) -> Judgment:
        """Store a prepared judgment (committed before returning); safe to call again after a
        failure, the store keeps it once."""
        stored = self.store.save_judgment(judgment)
        self.drafts.pop(judgment.prompt_id, None)
        if self.current is not None and self.current.item.prompt.prompt_id == judgment.prompt_id:
            self.current = replace(self.current, opened_with=None)
        self._tally.saved += 1
        if judgment.seconds_spent is not None:
            self._tally.seconds_per_item.append(judgment.seconds_spent)
        return stored

    def save(self, justification: str) -> Judgment:
        """Validate and store the judgment of the current item (committed before returning)."""
        return self.commit(self.prepare(justification))

    def skip(self) -> Judgment | None:
        """Record a skip (the item returns at the end of the queue); a revisit records nothing.

        Unsaved work on the item is kept as a draft first."""
        assert self.current is not None
        self.keep_draft()
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
            seconds_spent=round(self._item_clock.touch(), 3),
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
        """Items an hour at this session's median time per item (None before the first save)."""
        return items_per_hour(self._tally.seconds_per_item)

    def summary(self) -> SessionSummary:
        now = self._clock()
        return SessionSummary(self._tally.saved, now - self.started,
                              sum(self._tally.seconds_per_item), self.pace(),
                              tuple(self.drafts))


def _label(ids: list[str], candidate_id: str | None) -> int | None:
    return ids.index(candidate_id) + 1 if candidate_id in ids else None
