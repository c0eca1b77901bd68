"""When annotators disagree on an item: the rule, as plain functions over plain data.

The store fetches the current judgments of an item (`ItemJudgment`) and calls these functions;
pair building applies the same rule in SQL (core/store/adjudication.py), and a test checks that
both agree.

What a judgment implies (`implied_preferences`), as (preferred, less preferred) candidate ids:
- best/worst: the best over every other shown candidate, every other shown candidate over the
  worst (with only a best, just the first; with only a worst, just the second);
- a ranking (groups, best first, tied candidates in one group): every pair from two different
  groups, in the order of the groups; tied candidates imply nothing;
- a pairwise label from another tool: the winner over the other; a tie implies nothing.

Two annotators disagree on an item when they name different bests, or different worsts, or when
one implies A over B and the other B over A ("opposite pairs"). A ranking names a best (worst)
only when its first (last) group holds one candidate; a pairwise label names neither.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from itertools import combinations, product

from core.errors import JudgmentError
from core.models import Disagreement, Flag, ItemJudgment

BEST = "best"
WORST = "worst"
OPPOSITE = "opposite pairs"
FLAGGED = "flagged"


def ends(judgment: ItemJudgment) -> tuple[str | None, str | None]:
    """The best and the worst a judgment names (None where it names none)."""
    if judgment.source != "judgment":
        return None, None
    best, worst = judgment.best_candidate_id, judgment.worst_candidate_id
    if judgment.groups:
        first, last = judgment.groups[0], judgment.groups[-1]
        if best is None and len(first) == 1 and len(judgment.groups) > 1:
            best = first[0]
        if worst is None and len(last) == 1 and len(judgment.groups) > 1:
            worst = last[0]
    return best, worst


def implied_preferences(judgment: ItemJudgment) -> set[tuple[str, str]]:
    """(preferred, less preferred) candidate id pairs one judgment implies."""
    if judgment.source == "pairwise":
        first, second = judgment.shown[0], judgment.shown[1]
        return {"first": {(first, second)}, "second": {(second, first)}}.get(judgment.winner or "",
                                                                            set())
    if judgment.groups:
        return {(high, low) for upper, lower in combinations(judgment.groups, 2)
                for high, low in product(upper, lower)}
    best, worst = judgment.best_candidate_id, judgment.worst_candidate_id
    implied: set[tuple[str, str]] = set()
    if best is not None:
        implied |= {(best, other) for other in judgment.shown if other != best}
    if worst is not None:
        implied |= {(other, worst) for other in judgment.shown if other not in (best, worst)}
    return implied


def differences(judgments: Iterable[ItemJudgment]) -> tuple[str, ...]:
    """What the annotators of one item differ on: some of "best", "worst", "opposite pairs"."""
    bests: dict[str, set[str]] = {}
    worsts: dict[str, set[str]] = {}
    implied: dict[str, set[tuple[str, str]]] = {}
    for judgment in judgments:
        best, worst = ends(judgment)
        if best is not None:
            bests.setdefault(judgment.annotator, set()).add(best)
        if worst is not None:
            worsts.setdefault(judgment.annotator, set()).add(worst)
        implied.setdefault(judgment.annotator, set()).update(implied_preferences(judgment))
    found = []
    if _two_annotators_differ(bests):
        found.append(BEST)
    if _two_annotators_differ(worsts):
        found.append(WORST)
    if any({(low, high) for high, low in implied[a]} & implied[b]
           for a, b in combinations(implied, 2)):
        found.append(OPPOSITE)
    return tuple(found)


def _two_annotators_differ(named: dict[str, set[str]]) -> bool:
    return any(x != y for a, b in combinations(named, 2) for x in named[a] for y in named[b])


def summarise(prompt_id: str, prompt: str, judgments: Sequence[ItemJudgment], open_flags: int,
              adjudicated: bool) -> Disagreement | None:
    """The item as `prefer disagreements` lists it, or None when there is nothing to look at."""
    differs_on = differences(judgments)
    if not differs_on and not open_flags:
        return None
    return Disagreement(prompt_id, prompt, len({j.annotator for j in judgments}), differs_on,
                        open_flags, adjudicated)


def in_review_order(items: Iterable[Disagreement]) -> list[Disagreement]:
    """Unresolved items first, each group in the order given (import order)."""
    return sorted(items, key=lambda d: not d.unresolved)


def pseudonym(index: int) -> str:
    """"Annotator A", "Annotator B", … "Annotator Z", "Annotator AA", … for 0, 1, …"""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return f"{PSEUDONYM_PREFIX}{letters}"


PSEUDONYM_PREFIX = "Annotator "


def pseudonym_letters(name: str) -> str | None:
    """The letters of a `pseudonym` ("B" of "Annotator B"), for a screen that says "Annotator"
    in its own language; None for any other name."""
    letters = name.removeprefix(PSEUDONYM_PREFIX)
    return letters if letters != name and letters.isalpha() and letters.isupper() else None


def new_flag(annotator: str, prompt_id: str, note: str) -> Flag:
    """An annotator's flag on an item, ready to save; the note says what is wrong."""
    if not note.strip():
        raise JudgmentError("write what is wrong with this item")
    return Flag("f_" + uuid.uuid4().hex, annotator, prompt_id, note.strip())
