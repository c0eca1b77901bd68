"""How judgments become preference pairs (the rule; the SQL that applies it is in the store).

From one judgment of k candidates with a best B and a worst W:
- B is preferred to every other candidate the annotator was shown (k - 1 pairs);
- every candidate other than B and W is preferred to W (k - 2 pairs).
So k = 2 gives 1 pair, k = 3 gives 3, k = 4 gives 5. When several annotators judged a prompt,
their current judgments must agree on B and W; otherwise the prompt is held back for
adjudication and counted. Pairs with an empty field or identical texts never reach an export.
"""

from __future__ import annotations

from core.models import Judgment


def pairs_from_judgment(judgment: Judgment) -> list[tuple[str, str]]:
    """(chosen candidate id, rejected candidate id) pairs implied by one ranked judgment."""
    best, worst = judgment.best_candidate_id, judgment.worst_candidate_id
    if judgment.kind != "ranked" or best is None or worst is None:
        return []
    pairs = [(best, other) for other in judgment.shown_order if other != best]
    pairs += [(middle, worst) for middle in judgment.shown_order if middle not in (best, worst)]
    return pairs
