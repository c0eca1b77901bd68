"""A reviewer's walk through unresolved disagreements and flags, over a store.

`ReviewSession` is to the adjudication screen what `AnnotationSession` is to the annotation
screen: it holds the rules (what a digit means, what may be saved, who is shown under which
name), and the TUI only shows its state and forwards keys.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace

from core.adjudication import ends, pseudonym
from core.annotation import Marks, label_text
from core.config import Config
from core.errors import JudgmentError
from core.models import Adjudication, Candidate, Disagreement, Flag, Item, ItemJudgment
from core.store import Store


@dataclass(frozen=True)
class AnnotatorColumn:
    """One annotator's decisions on the item, in the labels 1..k the reviewer sees."""

    name: str  # "Annotator A", or the real name when names are shown
    best: int | None
    worst: int | None
    ranking: str | None  # "3 > 1 = 2 > 4" for a ranking with ties
    pairs: tuple[str, ...]  # pairwise labels from other tools: "2 > 3", "1 = 4"
    justifications: tuple[str, ...]
    dimensions: tuple[str, ...]


@dataclass(frozen=True)
class ReviewScreenful:
    """Everything the adjudication screen shows for one item."""

    disagreement: Disagreement
    item: Item
    shown: tuple[Candidate, ...]  # stored order, labelled 1..k
    columns: tuple[AnnotatorColumn, ...]
    flags: tuple[tuple[str, Flag], ...]  # (who, flag) for every open flag
    marks: Marks
    previous: Adjudication | None

    @property
    def needs_decision(self) -> bool:
        """Annotators disagree, so saving needs a best and a worst (flags alone need a note)."""
        return bool(self.disagreement.differs_on)


def check_adjudication(screen: ReviewScreenful, note: str, min_chars: int) -> None:
    """Raise JudgmentError when the reviewer's decision may not be saved yet."""
    marks = screen.marks
    if screen.needs_decision or marks.best is not None:
        if marks.best is None:
            raise JudgmentError("press the number of the best response first")
        if marks.worst is None:
            raise JudgmentError("press the number of the worst response")
    if len(note.strip()) < min_chars:
        raise JudgmentError(f"write a resolution note of at least {min_chars} characters "
                            f"({len(note.strip())} so far)")


# A number an annotator wrote that names a response: after a word for "response" (in the
# languages the screens speak), "#", "best" or "worst", or in a ranking like "3 > 1 = 4".
_NAMED_NUMBER = re.compile(
    r"(?P<lead>\b(?:responses?|answers?|candidates?|options?|replies|reply|antworten|antwort|"
    r"kandidat(?:en)?|réponses?|reponses?|respuestas?|candidatos?|opci[oó]n(?:es)?|best|worst|"
    r"beste|schlechteste|meilleure|pire|mejor|peor|no\.|nr\.|n°)\s*#?\s*|#)(?P<n>\d{1,2})\b"
    r"|(?P<n2>\d{1,2})(?=\s*[>=<]\s*\d)|(?<=[>=<])\s*(?P<n3>\d{1,2})\b",
    re.IGNORECASE)


def translate_labels(text: str, their_order: tuple[str, ...], labels: dict[str, int]) -> str:
    """An annotator's justification with the response numbers they saw (their display order)
    rewritten as `their→yours` in the reader's numbering: "Response 8 follows policy" read by a
    reviewer who shows that candidate as 5 becomes "Response 8→5 follows policy". Numbers that
    name no response are left alone."""

    def swap(match: re.Match[str]) -> str:
        group = next(g for g in ("n", "n2", "n3") if match.group(g) is not None)
        number = int(match.group(group))
        if not 1 <= number <= len(their_order):
            return match.group(0)
        ours = labels.get(their_order[number - 1])
        if ours is None:
            return match.group(0)
        start, end = match.span(group)
        whole = match.group(0)
        offset = match.start(0)
        # As each screen shows labels: two digits (01-12) above 9 candidates.
        return (f"{whole[:start - offset]}{match.group(group)}→{label_text(ours, len(labels))}"
                f"{whole[end - offset:]}")

    return _NAMED_NUMBER.sub(swap, text)


def _label_of(shown: tuple[Candidate, ...]) -> dict[str, int]:
    return {c.candidate_id: n for n, c in enumerate(shown, start=1)}


def _columns(judgments: list[ItemJudgment], labels: dict[str, int],
             names: dict[str, str]) -> tuple[AnnotatorColumn, ...]:
    def label(candidate_id: str | None) -> int | None:
        return labels.get(candidate_id) if candidate_id is not None else None

    def text(candidate_id: str) -> str:
        label = labels.get(candidate_id)
        return label_text(label, len(labels)) if label is not None else "?"

    columns = []
    for annotator, name in names.items():
        own = [j for j in judgments if j.annotator == annotator]
        if not own:
            continue
        best = worst = None
        ranking = None
        pairs = []
        for judgment in own:
            if judgment.source == "pairwise":
                first, second = (text(c) for c in judgment.shown[:2])
                pairs.append({"first": f"{first} > {second}", "second": f"{second} > {first}"}
                             .get(judgment.winner or "", f"{first} = {second}"))
                continue
            judged_best, judged_worst = ends(judgment)
            best, worst = label(judged_best), label(judged_worst)
            if judgment.groups:
                ranking = " > ".join(" = ".join(text(c) for c in group)
                                     for group in judgment.groups)
        columns.append(AnnotatorColumn(
            name=name, best=best, worst=worst, ranking=ranking, pairs=tuple(pairs),
            justifications=tuple(translate_labels(j.justification, j.shown, labels)
                                 for j in own if j.justification),
            dimensions=tuple(dict.fromkeys(d for j in own for d in j.dimensions))))
    return tuple(columns)


class ReviewSession:
    """One reviewer's walk through the unresolved items, over a store."""

    def __init__(self, store: Store, config: Config, reviewer: str,
                 show_names: bool = False) -> None:
        self.store = store
        self.config = config
        self.reviewer = reviewer
        self.show_names = show_names
        self.current: ReviewScreenful | None = None
        self.unresolved = 0
        self.saved_this_session = 0
        self._skipped: set[str] = set()

    # --- navigation ------------------------------------------------------------------------

    def next_item(self) -> ReviewScreenful | None:
        """Open the next unresolved item (None when nothing is left to resolve).

        Items skipped in this session come after the others; when only they are left, they
        come round again.
        """
        waiting = self.store.disagreements()
        self.unresolved = len(waiting)
        here = self.current.disagreement.prompt_id if self.current else None
        fresh = [d for d in waiting if d.prompt_id not in self._skipped and d.prompt_id != here]
        if not fresh:
            self._skipped.clear()
            fresh = [d for d in waiting if d.prompt_id != here] or waiting
        self.current = self._open(fresh[0]) if fresh else None
        return self.current

    def skip(self) -> ReviewScreenful | None:
        """Leave the current item unresolved and open the next."""
        if self.current is not None:
            self._skipped.add(self.current.disagreement.prompt_id)
        return self.next_item()

    def _open(self, disagreement: Disagreement) -> ReviewScreenful | None:
        item = self.store.get_item(disagreement.prompt_id)
        if item is None:
            return None
        shown = tuple(item.candidates[:self.config.annotation.max_candidates])
        judgments = self.store.item_judgments(disagreement.prompt_id)
        flags = self.store.open_flags(disagreement.prompt_id)
        people = list(dict.fromkeys([j.annotator for j in judgments] +
                                    [f.annotator for f in flags]))
        names = {person: person if self.show_names else pseudonym(n)
                 for n, person in enumerate(people)}
        return ReviewScreenful(
            disagreement=disagreement, item=item, shown=shown,
            columns=_columns(judgments, _label_of(shown), names),
            flags=tuple((names[f.annotator], f) for f in flags),
            marks=Marks(len(shown)),
            previous=self.store.current_adjudication(disagreement.prompt_id))

    # --- decisions -------------------------------------------------------------------------

    def press(self, label: int) -> Marks:
        assert self.current is not None
        self.current = replace(self.current, marks=self.current.marks.press(label))
        return self.current.marks

    def save(self, note: str, guideline_change: str = "") -> Adjudication | None:
        """Store the decision (and resolve the item's open flags with the note).

        Returns the adjudication, or None when only flags were resolved (no best and worst
        were marked on an item the annotators agree on). Committed before returning.
        """
        assert self.current is not None
        screen = self.current
        check_adjudication(screen, note, self.config.annotation.min_justification_chars)
        flag_ids = tuple(flag.flag_id for _, flag in screen.flags)
        stored = None
        if screen.marks.best is not None and screen.marks.worst is not None:
            stored = self.store.save_adjudication(Adjudication(
                adjudication_id="adj_" + uuid.uuid4().hex,
                prompt_id=screen.item.prompt.prompt_id,
                reviewer=self.reviewer,
                note=note.strip(),
                best_candidate_id=screen.shown[screen.marks.best - 1].candidate_id,
                worst_candidate_id=screen.shown[screen.marks.worst - 1].candidate_id,
                guideline_change=guideline_change.strip() or None,
            ), resolve_flags=flag_ids)
        else:
            resolution = note.strip() + (f"\nGuideline change: {guideline_change.strip()}"
                                         if guideline_change.strip() else "")
            for flag_id in flag_ids:
                self.store.resolve_flag(flag_id, self.reviewer, resolution)
        self.saved_this_session += 1
        return stored
