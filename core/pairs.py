"""How judgments become preference pairs (the rules; the SQL that applies them is in
core/store/pairs.py).

Decision per item: the latest reviewer adjudication, else the annotators' judgments when no two
of them disagree. Items whose annotators disagree without a decision, and items with an open
flag, are held back and counted.

Strategies, for an item with best B, worst W and k candidates shown:
- best-vs-rest (default): B against every other candidate (k - 1 pairs), and every candidate
  other than B and W against W (k - 2 pairs). k = 2 gives 1 pair, 3 gives 3, 4 gives 5.
- best-vs-worst: the one pair (B, W): the clearest signal, the fewest pairs.
- all-ordered: for a reviewer's decision, every (higher, lower) pair of its ranking (tied
  candidates give none), else its best-vs-rest pairs. For annotators who agree, every preference
  any of them implies: each ranking's ordered pairs, each best/worst judgment's best-vs-rest
  pairs, each pairwise label's winner over the other (their union; they never contradict each
  other, or the item is held back). A pair's agreement says how many of them imply it.
A ranking tied at the top names no best and one tied at the bottom no worst: best-vs-rest then
gives the pairs of the end it has (`[[1, 2], 3]`: 1 > 3, 2 > 3; `[1, [2, 3]]`: 1 > 2, 1 > 3).

Filters, applied in this order (a pair is counted under the first that drops it):
empty (a field empty or whitespace only), encoding (control characters or U+FFFD, what invalid
bytes and lone surrogates decode to; stored texts are NFC), truncated (cut off by the generation
length limit, or an imported response ending mid-sentence), near_identical (a trivial pair, or one
at least `pairs.near_identical_threshold` similar whose changes carry no meaning; a minimal pair is
kept: core/difference.py, core/similarity.py), language_mismatch (a
response in another language than its prompt), duplicate (same prompt, system, chosen and
rejected texts as an earlier pair), contradiction (A over B and B over A for the same or a
near-duplicate prompt: both held back). A balance plan (`prefer balance --apply`) then removes
pairs over their dimension's quota ('balanced_out'), lowest agreement first.
"""

from __future__ import annotations

from core.config import PAIR_STRATEGIES, Config
from core.errors import BadInputError
from core.models import Judgment, PairBuild, PairSettings
from core.store.api import Store


def pairs_from_judgment(judgment: Judgment, strategy: str = "best-vs-rest",
                        groups: tuple[tuple[str, ...], ...] | None = None
                        ) -> list[tuple[str, str]]:
    """(chosen, rejected) candidate ids one ranked judgment gives under `strategy`.

    The reference the SQL is tested against; `groups` is the judgment's ranking with ties.
    """
    best, worst = judgment.best_candidate_id, judgment.worst_candidate_id
    if judgment.kind != "ranked":
        return []
    if strategy == "all-ordered" and groups is not None and len(groups) >= 2:
        return [(high, low) for i, upper in enumerate(groups) for lower in groups[i + 1:]
                for high in upper for low in lower]
    if strategy == "best-vs-worst":
        return [(best, worst)] if best is not None and worst is not None and best != worst else []
    # One end missing (its group is a tie): the other end's pairs still count, alike at the top
    # and at the bottom.
    pairs = [(best, other) for other in judgment.shown_order
             if best is not None and other != best]
    pairs += [(middle, worst) for middle in judgment.shown_order
              if worst is not None and middle not in (best, worst)]
    return pairs


def pair_settings(config: Config, strategy: str | None = None) -> PairSettings:
    chosen = strategy or config.pairs.strategy
    if chosen not in PAIR_STRATEGIES:
        raise BadInputError(f"unknown pair strategy '{chosen}'",
                            hint=f"choose one of: {', '.join(PAIR_STRATEGIES)}")
    return PairSettings(strategy=chosen,
                        near_identical_threshold=config.pairs.near_identical_threshold,
                        near_duplicate_prompt_threshold=config.pairs.near_duplicate_prompt_threshold,
                        seed=config.export.seed,
                        minimal_examine_from=config.pairs.minimal_examine_from,
                        minimal_max_changed_tokens=config.pairs.minimal_max_changed_tokens,
                        minimal_max_changed_sentences=config.pairs.minimal_max_changed_sentences)


def build_pairs(store: Store, config: Config, actor: str, *,
                strategy: str | None = None) -> PairBuild:
    """Rebuild the project's pairs (every export and report does this first) and return counts."""
    universe = {"dimension": list(config.project.dimensions)}
    return store.build_pairs(pair_settings(config, strategy), actor, universe)
