"""Text similarity for pair filters: near-identical chosen/rejected, near-duplicate prompts.

Similarity is RapidFuzz's normalised Indel similarity (`fuzz.ratio` / 100: 1 - insertions and
deletions / total length) of texts normalised by `normalise` (NFC, case folded, whitespace
collapsed), so "Call us." and "call  us." are identical and a changed word is a small step.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import numpy as np
from rapidfuzz import fuzz, process

# Each prompt is compared with this many neighbours in sorted order (forwards and on reversed
# text): near-duplicates that differ at the end sort next to each other, those that differ at
# the start sort next to each other reversed. Comparing all pairs would be quadratic.
NEIGHBOURS = 4


def normalise(text: str) -> str:
    """NFC, case folded, runs of whitespace as one space, no leading or trailing space."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def similarities(left: Sequence[str], right: Sequence[str]) -> np.ndarray:
    """Similarity (0..1) of each left[i] with right[i], texts already normalised."""
    if not len(left):
        return np.zeros(0, dtype=np.float64)
    scores = process.cpdist(left, right, scorer=fuzz.ratio, workers=1, dtype=np.float32)
    return np.asarray(scores, dtype=np.float64) / 100.0


def can_reach(left_len: int, right_len: int, threshold: float) -> bool:
    """Whether two texts of these lengths can be `threshold` similar: Indel similarity is at
    most 2 * min / (left + right), since the length difference alone must be inserted."""
    total = left_len + right_len
    return total == 0 or 2 * min(left_len, right_len) / total >= threshold


def near_duplicate_groups(keys: Sequence[str], texts: Sequence[str], threshold: float,
                          neighbours: int = NEIGHBOURS) -> list[str]:
    """A group key per text: texts at least `threshold` similar (after `normalise`) share the
    smallest key among them. Equal normalised texts always share; others are found among each
    text's `neighbours` nearest in sorted and in reversed-sorted order (sorted neighbourhood)."""
    n = len(texts)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    normal = [normalise(t) for t in texts]
    first_of: dict[str, int] = {}
    for i, text in enumerate(normal):
        union(first_of.setdefault(text, i), i)
    distinct = list(first_of.values())
    for reverse in (False, True):
        order = sorted(distinct, key=(lambda i: normal[i][::-1]) if reverse else normal.__getitem__)
        ordered = [normal[i] for i in order]
        for step in range(1, min(neighbours, len(order) - 1) + 1):
            scores = similarities(ordered[:-step], ordered[step:])
            for k in np.nonzero(scores >= threshold)[0]:
                union(order[int(k)], order[int(k) + step])
    smallest: dict[int, str] = {}
    for i in range(n):
        root = find(i)
        if root not in smallest or keys[i] < smallest[root]:
            smallest[root] = keys[i]
    return [smallest[find(i)] for i in range(n)]
