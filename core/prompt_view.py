"""What the annotation screen shows above the candidates: the conversation so far (earlier turns,
to be folded), the last user turn (prominent), and what imported sources say about the item
(pre-labels: "from A/B test (p = 0.01)"), with the best and worst they pre-select.

Core returns the data; the screen decides how it looks (tui/widgets/prompt_view.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.models import Candidate, Item, SourcePreference, Turn
from core.store.api import Store
from core.store.sources import KINDS


@dataclass(frozen=True)
class PreLabel:
    """One source preference as the screen shows it: which candidate over which, and why."""

    chosen_candidate_id: str
    rejected_candidate_id: str
    note: str  # "from A/B test (p = 0.01)"
    trusted: bool


@dataclass(frozen=True)
class PromptView:
    """The prompt of an item as the annotation screen shows it."""

    system: str | None
    earlier_turns: tuple[Turn, ...]  # oldest first; shown folded
    last_user_turn: str  # shown prominently: what the candidates answer
    pre_labels: tuple[PreLabel, ...]
    suggested_best: str | None  # candidate ids the pre-labels pre-select (None: no suggestion)
    suggested_worst: str | None


def _number(value: float) -> str:
    return f"{value:.2g}" if value < 0.01 else f"{value:.2f}".rstrip("0").rstrip(".")


def describe(preference: SourcePreference) -> str:
    """How a pre-label names where it came from and how strong it is."""
    kind = KINDS.get(preference.kind)
    label = kind.label if kind else preference.kind
    details = []
    if preference.p_value is not None:
        details.append(f"p = {_number(preference.p_value)}")
    if preference.score_gap is not None:
        details.append(f"score gap {preference.score_gap:g}")
    if preference.reviewer:
        details.append(f"by {preference.reviewer}")
    if preference.signal and preference.signal != "up-down":
        details.append(preference.signal)
    elif preference.signal:
        details.append("thumbs up vs down")
    text = f"from {label}" + (f" ({', '.join(details)})" if details else "")
    return text + (", trusted" if preference.trusted else "")


def _ends(preferences: Sequence[SourcePreference], shown: set[str]) -> tuple[str | None,
                                                                               str | None]:
    """The candidate every other one loses to, and the one that loses to every other one, among
    the candidates the pre-labels mention (None where the pre-labels do not single one out)."""
    pairs = {(p.chosen_candidate_id, p.rejected_candidate_id) for p in preferences
             if p.chosen_candidate_id in shown and p.rejected_candidate_id in shown}
    if not pairs:
        return None, None
    mentioned = {c for pair in pairs for c in pair}
    best = [c for c in mentioned if all((c, o) in pairs for o in mentioned if o != c)]
    worst = [c for c in mentioned if all((o, c) in pairs for o in mentioned if o != c)]
    return (best[0] if len(best) == 1 else None), (worst[0] if len(worst) == 1 else None)


def prompt_view(store: Store, item: Item) -> PromptView:
    """The item's conversation and pre-labels, read from `store` (the caller may see the item)."""
    preferences = store.source_preferences(item.prompt.prompt_id)
    shown = {c.candidate_id for c in item.candidates}
    best, worst = _ends(preferences, shown)
    labels = tuple(PreLabel(p.chosen_candidate_id, p.rejected_candidate_id, describe(p),
                            p.trusted) for p in preferences)
    return PromptView(item.prompt.system, item.prompt.turns, item.prompt.prompt, labels, best,
                      worst)


def suggested_labels(view: PromptView, shown: Sequence[Candidate]) -> tuple[int | None,
                                                                             int | None]:
    """The on-screen numbers (1..k, in `shown` order) of the pre-selected best and worst."""
    ids = [c.candidate_id for c in shown]
    best = ids.index(view.suggested_best) + 1 if view.suggested_best in ids else None
    worst = ids.index(view.suggested_worst) + 1 if view.suggested_worst in ids else None
    return best, worst


def pre_label_lines(view: PromptView, shown: Sequence[Candidate]) -> list[str]:
    """The pre-labels in the on-screen numbers (1..k, in `shown` order), strongest first:
    "2 over 1, from A/B test (p = 0.01)"."""
    number = {c.candidate_id: n for n, c in enumerate(shown, start=1)}
    return [f"{number[label.chosen_candidate_id]} over {number[label.rejected_candidate_id]}, "
            f"{label.note}" for label in view.pre_labels
            if label.chosen_candidate_id in number and label.rejected_candidate_id in number]
