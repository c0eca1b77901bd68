"""What the annotation screen shows above the candidates: the conversation so far (earlier turns,
to be folded), the last user turn (prominent), and what imported sources say about the item
(pre-labels: "from A/B test (p = 0.01)", as message ids the screen words), with the best and
worst they pre-select.

Core returns the data; the screen decides how it looks (tui/widgets/prompt_view.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.models import Candidate, Item, SourcePreference, Turn
from core.store.api import Store


@dataclass(frozen=True)
class PreLabel:
    """One source preference as the screen shows it: which candidate over which, and why, as
    message ids with their values (core keeps no UI words; the screen's catalogue words them:
    "from A/B test (p = 0.01)")."""

    chosen_candidate_id: str
    rejected_candidate_id: str
    kind: str  # the import kind: the screen names it (`pre_label.kind.<kind>`)
    details: tuple[tuple[str, dict[str, str]], ...]  # (id, values): see describe()
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


# The ids of a pre-label's details (tui/locales: `pre_label.<id>`), in the order shown.
DETAIL_IDS = ("p_value", "score_gap", "reviewer", "signal_up_down", "signal_regenerated",
              "signal_edited")


def describe(preference: SourcePreference) -> tuple[tuple[str, dict[str, str]], ...]:
    """How strong a pre-label is, as (id, values) the screen words: its p-value, score gap,
    reviewer and feedback signal."""
    details: list[tuple[str, dict[str, str]]] = []
    if preference.p_value is not None:
        details.append(("p_value", {"p": _number(preference.p_value)}))
    if preference.score_gap is not None:
        details.append(("score_gap", {"gap": f"{preference.score_gap:g}"}))
    if preference.reviewer:
        details.append(("reviewer", {"name": preference.reviewer}))
    if preference.signal:
        signal = preference.signal.replace("-", "_")
        if f"signal_{signal}" in DETAIL_IDS:
            details.append((f"signal_{signal}", {}))
    return tuple(details)


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
    labels = tuple(PreLabel(p.chosen_candidate_id, p.rejected_candidate_id, p.kind, describe(p),
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


def numbered_pre_labels(view: PromptView, shown: Sequence[Candidate]
                        ) -> list[tuple[int, int, PreLabel]]:
    """The pre-labels in the on-screen numbers (1..k, in `shown` order), strongest first:
    (chosen's number, rejected's number, the pre-label), for "2 over 1, from A/B test
    (p = 0.01)"."""
    number = {c.candidate_id: n for n, c in enumerate(shown, start=1)}
    return [(number[label.chosen_candidate_id], number[label.rejected_candidate_id], label)
            for label in view.pre_labels
            if label.chosen_candidate_id in number and label.rejected_candidate_id in number]
