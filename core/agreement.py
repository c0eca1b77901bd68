"""Inter-annotator agreement: the labels judgments imply, agreement statistics and bootstrap intervals.

Plain functions over plain Python data (no store access), so the CLI, the TUI and the tests all call the
same code. A dataset is trusted only when its annotators agree: kappa or alpha >= 0.7 is strong, 0.5-0.7
moderate, and below 0.5 the guidelines are ambiguous (`verdict`).

Labels
------
A judgment (`JudgmentLabels`) is one annotator's decision on one item, made among the candidate ids it was
shown. It is in one of two modes:

* best/worst mode (`ranking` is None): `best` and `worst` name shown candidates (either may be None).
* rank mode (`ranking` is given): a ranking of exactly the shown candidates as a tuple of groups, best
  group first; candidates in one group are tied. `(("c3",), ("c1", "c2"), ("c4",))` reads: c3 best, c1 and
  c2 tied, c4 worst.

`implied_pairwise_labels` turns one judgment into one label per unordered candidate pair it decides:

* The unit is `PairUnit(item_id, (low_id, high_id))`, a named tuple equal to the plain tuple
  `(item_id, (low_id, high_id))`, with `low_id < high_id` in Python string order (so "c10" < "c9").
  Orientation is canonical: it never depends on display order, on the annotator or on who won.
* The value is "first" when `low_id` is preferred, "second" when `high_id` is preferred, "tie" when the
  judgment ties them.
* Best/worst mode: best > every other shown candidate, and every other shown candidate > worst (the pair
  best-worst is labelled once). A pair of two middle candidates (neither best nor worst) gets NO label:
  the judgment implies nothing about it, and it is not a tie. With `worst` None only the best's pairs are
  labelled, with `best` None only the worst's, with both None (a skip) none. With k shown candidates and
  both marks there are 2k - 3 labels (k = 2: 1, k = 3: 3, k = 4: 5).
* Rank mode: a pair from two different groups takes the order of the groups; a pair inside one group is
  "tie". All k(k - 1)/2 pairs are labelled.

`best_worst_choice` gives the choice labels (unit = item id, value = candidate id): in best/worst mode
`best` and `worst` as given; in rank mode the sole candidate of the first and of the last group, or None
when that end group holds tied candidates. `pairwise_ratings` and `choice_ratings` collect the labels of
many judgments into the ratings shape every statistic reads, `{unit: {annotator: label}}`; an annotator
absent from a unit (or a None label) is a missing rating.

Statistics
----------
Each statistic returns a float, NaN when undefined (no data, or a chance term giving 0/0, as when everyone
uses a single label). The kappas, alpha and percent agreement are also available as `ItemSums`: per-item
rows whose column sums determine the statistic, so `bootstrap_ci` and `bootstrap_cis` compute a resample of
items as one weighted sum (a matrix product) instead of recounting labels.
"""

from __future__ import annotations

import inspect
import math
import types
import warnings
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import chain, combinations
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar

import numpy as np

if TYPE_CHECKING:
    from scipy import sparse, stats
else:
    class _OnFirstUse(types.ModuleType):
        """A scipy module imported when first used: scipy.stats costs ~75 MiB of memory, and
        every prefer command imports this module (`prefer serve` and `prefer annotate` too),
        while only agreement statistics use it."""

        def __getattr__(self, name: str) -> Any:
            import importlib

            module = importlib.import_module(self.__name__)
            return getattr(module, name)

    sparse = _OnFirstUse("scipy.sparse")
    stats = _OnFirstUse("scipy.stats")

FIRST = "first"
SECOND = "second"
TIE = "tie"
# The two pairwise labels that exchange when a unit's candidates are taken the other way round.
ORIENTATION = (FIRST, SECOND)

STRONG_AGREEMENT = 0.7
MODERATE_AGREEMENT = 0.5
Verdict = Literal["strong", "moderate", "ambiguous", "too few items", "undefined"]

BCA_MAX_ITEMS = 5_000  # "auto" uses BCa up to this many items; its jackknife costs O(items^2)
MIN_VALID_RESAMPLE_SHARE = 0.5  # below this share of defined resamples the interval is NaN
DENSE_ROWS_MAX_CELLS = 4_000_000  # ItemSums rows are a dense array (BLAS) up to this size, sparse beyond
BATCH_CELLS = 2_000_000  # resampled item positions generated per scipy batch, to bound memory

Ratings = Mapping[Hashable, Mapping[str, Hashable]]
LabelsByUnit = Mapping[Hashable, Hashable]
ItemOf = Callable[[Hashable], Hashable]
Unit = TypeVar("Unit")
_Entries = tuple[np.ndarray, int | np.ndarray, float | np.ndarray]  # unit indices, column(s), value(s)


class PairUnit(NamedTuple):
    """The unit of a pairwise label: an item and a candidate pair ordered as (low_id, high_id)."""

    item_id: str
    pair: tuple[str, str]


@dataclass(frozen=True)
class JudgmentLabels:
    """What agreement needs from one judgment: who, on which item, what was shown and what was chosen.

    Give `ranking` for rank mode (`best`/`worst` then must be None or match its end groups), or `best`
    and/or `worst` for best/worst mode. Inconsistent input raises ValueError when constructed.
    """

    annotator: str
    item_id: str
    shown: tuple[str, ...]
    best: str | None = None
    worst: str | None = None
    ranking: tuple[tuple[str, ...], ...] | None = None

    def __post_init__(self) -> None:
        where = f"item {self.item_id!r}, annotator {self.annotator!r}"
        shown_ids = set(self.shown)
        if len(shown_ids) != len(self.shown):
            raise ValueError(f"{where}: a candidate is shown twice in {self.shown}")
        for mark, candidate in (("best", self.best), ("worst", self.worst)):
            if candidate is not None and candidate not in shown_ids:
                raise ValueError(f"{where}: {mark} {candidate!r} was not shown")
        if self.best is not None and self.best == self.worst:
            raise ValueError(f"{where}: {self.best!r} is both best and worst")
        if self.ranking is None:
            return
        ranked = [candidate for group in self.ranking for candidate in group]
        if not self.ranking or any(not group for group in self.ranking):
            raise ValueError(f"{where}: the ranking is empty or has an empty group")
        if len(ranked) != len(set(ranked)) or set(ranked) != shown_ids:
            raise ValueError(f"{where}: the ranking must name each shown candidate exactly once")
        ranked_best, ranked_worst = _ranking_ends(self.ranking)
        if self.best is not None and self.best != ranked_best:
            raise ValueError(f"{where}: best {self.best!r} is not the ranking's sole top candidate")
        if self.worst is not None and self.worst != ranked_worst:
            raise ValueError(f"{where}: worst {self.worst!r} is not the ranking's sole bottom candidate")


def _ranking_ends(ranking: Sequence[Sequence[str]]) -> tuple[str | None, str | None]:
    """The sole candidate of the first and of the last group; None where that group is a tie."""
    top = ranking[0][0] if len(ranking[0]) == 1 else None
    bottom = ranking[-1][0] if len(ranking) > 1 and len(ranking[-1]) == 1 else None
    return top, bottom


def implied_pairwise_labels(judgment: JudgmentLabels) -> dict[PairUnit, str]:
    """Pairwise labels one judgment implies, keyed by canonical `PairUnit` (rules in the module docstring).

    Values are "first" (the lower candidate id is preferred), "second" or "tie"; undecided pairs are absent.
    """
    decided: list[tuple[str, str, bool]] = []  # (preferred or tied, other, tied)
    if judgment.ranking is not None:
        for position, group in enumerate(judgment.ranking):
            decided.extend((candidate, other, True) for candidate, other in combinations(group, 2))
            for lower_group in judgment.ranking[position + 1:]:
                decided.extend((preferred, other, False) for preferred in group for other in lower_group)
    else:
        best, worst = judgment.best, judgment.worst
        if best is not None:
            decided.extend((best, other, False) for other in judgment.shown if other != best)
        if worst is not None:
            decided.extend((other, worst, False) for other in judgment.shown if other not in (worst, best))
    labels: dict[PairUnit, str] = {}
    for preferred, other, tied in decided:
        if preferred < other:
            pair, label = (preferred, other), FIRST
        else:
            pair, label = (other, preferred), SECOND
        labels[tuple.__new__(PairUnit, (judgment.item_id, pair))] = TIE if tied else label
    return labels


def best_worst_choice(judgment: JudgmentLabels) -> tuple[str | None, str | None]:
    """The chosen best and worst candidate ids (None where none is chosen, or a tie holds that end)."""
    if judgment.ranking is not None:
        return _ranking_ends(judgment.ranking)
    return judgment.best, judgment.worst


def _one_judgment_each(judgments: Iterable[JudgmentLabels]) -> Iterable[JudgmentLabels]:
    """The judgments, refusing a second one by an annotator on an item (pass current judgments only)."""
    seen: set[tuple[str, str]] = set()
    for judgment in judgments:
        key = (judgment.annotator, judgment.item_id)
        if key in seen:
            raise ValueError(f"{judgment.annotator!r} judged item {judgment.item_id!r} twice; "
                             "pass only each annotator's current judgment")
        seen.add(key)
        yield judgment


def pairwise_ratings(judgments: Iterable[JudgmentLabels]) -> dict[PairUnit, dict[str, str]]:
    """The implied pairwise labels of many judgments as ratings: `{PairUnit: {annotator: label}}`."""
    ratings: dict[PairUnit, dict[str, str]] = {}
    for judgment in _one_judgment_each(judgments):
        for unit, label in implied_pairwise_labels(judgment).items():
            ratings.setdefault(unit, {})[judgment.annotator] = label
    return ratings


def choice_ratings(judgments: Iterable[JudgmentLabels],
                   choice: Literal["best", "worst"]) -> dict[str, dict[str, str]]:
    """The best (or worst) choices of many judgments as ratings: `{item_id: {annotator: candidate_id}}`.

    Candidate ids are usually unique to an item, so the pooled chance agreement of a kappa or alpha on these
    labels is near 0 and the statistic near percent agreement; the pairwise labels are chance-corrected.
    """
    ratings: dict[str, dict[str, str]] = {}
    for judgment in _one_judgment_each(judgments):
        best, worst = best_worst_choice(judgment)
        chosen = best if choice == "best" else worst
        if chosen is not None:
            ratings.setdefault(judgment.item_id, {})[judgment.annotator] = chosen
    return ratings


def by_annotator(ratings: Ratings) -> dict[str, dict[Hashable, Hashable]]:
    """Ratings regrouped per annotator, `{annotator: {unit: label}}`: the input of the Cohen functions."""
    regrouped: dict[str, dict[Hashable, Hashable]] = {}
    for unit, labels in ratings.items():
        for annotator, label in labels.items():
            regrouped.setdefault(annotator, {})[unit] = label
    return regrouped


def item_of_unit(unit: Hashable) -> Hashable:
    """The item a unit belongs to: `item_id` for a `PairUnit`, the unit itself otherwise.

    The default grouping of the `*_sums` builders, so the bootstrap resamples items, not candidate pairs.
    """
    return unit.item_id if isinstance(unit, PairUnit) else unit


# --- encoding and per-item sums -------------------------------------------------------------------------


def _codes(values: list[Hashable], excluded: Hashable | None = None,
           preset: Sequence[Hashable] = ()) -> tuple[np.ndarray, list[Hashable]]:
    """Integer codes of values numbered in order of first appearance (after `preset`, numbered
    first whether they occur or not); None and `excluded` get -1."""
    first_seen = dict.fromkeys(chain(preset, values))
    first_seen.pop(None, None)
    if excluded is not None:
        first_seen.pop(excluded, None)
    distinct = list(first_seen)
    code_of: dict[Hashable, int] = dict(zip(distinct, range(len(distinct)), strict=True))
    code_of[None] = -1
    if excluded is not None:
        code_of[excluded] = -1
    return np.fromiter(map(code_of.__getitem__, values), dtype=np.int64, count=len(values)), distinct


@dataclass(frozen=True)
class _LabelCounts:
    """Ratings as counts per (unit, label) cell: all that the multi-rater statistics need."""

    units: list[Hashable]
    cell_unit: np.ndarray  # unit index of each non-empty (unit, label) cell
    cell_label: np.ndarray  # label code of each cell
    cell_count: np.ndarray  # ratings in the cell (float)
    ratings_per_unit: np.ndarray
    n_labels: int
    labels: list[Hashable]  # the label of each code


def _count_labels(ratings: Ratings, excluded_label: Hashable | None = None,
                  preset: Sequence[Hashable] = ()) -> _LabelCounts:
    """Number the labels (`preset` first) and count them per unit, skipping None labels and
    `excluded_label`."""
    units = list(ratings)
    labels_per_unit = np.fromiter(map(len, ratings.values()), dtype=np.int64, count=len(units))
    codes, labels = _codes(list(chain.from_iterable(labels.values() for labels in ratings.values())),
                           excluded_label, preset)
    rated = codes >= 0
    rating_unit = np.repeat(np.arange(len(units), dtype=np.int64), labels_per_unit)[rated]
    n_labels = max(len(labels), 1)
    cells, cell_count = np.unique(rating_unit * n_labels + codes[rated], return_counts=True)
    return _LabelCounts(units=units, cell_unit=cells // n_labels, cell_label=cells % n_labels,
                        cell_count=cell_count.astype(np.float64),
                        ratings_per_unit=np.bincount(rating_unit, minlength=len(units)), n_labels=n_labels,
                        labels=labels)


@dataclass(frozen=True, eq=False)
class ItemSums:
    """A statistic written as `finish(column sums of per-item rows)`, so resampling items is a weighted sum.

    Every agreement statistic here is a function of sums over units (agreeing pairs, label totals,
    coincidences). Summing them per item gives one row per item, and a resample that draws item i w_i times
    has the statistic `finish(w @ rows)`. Calling an ItemSums on items (repeats allowed) gives the statistic
    over that multiset; `value()` gives it over all items. `items` holds the items with at least one unit
    that counts for the statistic, `n_units` the number of such units.
    """

    items: tuple[Hashable, ...]
    rows: np.ndarray | sparse.csr_array
    finish: Callable[[np.ndarray], np.ndarray]
    n_units: int
    _row_of_item: dict[Hashable, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_row_of_item", {item: row for row, item in enumerate(self.items)})

    def value(self) -> float:
        """The statistic over every item once."""
        return self(self.items)

    def __call__(self, items: Iterable[Hashable]) -> float:
        """The statistic over a multiset of items (a bootstrap resample may repeat an item)."""
        rows = self.rows_for(list(items))
        return float(self.finish(_weighted_totals(np.ones((1, rows.shape[0])), rows))[0])

    def rows_for(self, items: Sequence[Hashable]) -> np.ndarray | sparse.csr_array:
        """The rows of `items` in that order; an item without counted units gets a row of zeros."""
        absent = len(self.items)
        positions = np.fromiter((self._row_of_item.get(item, absent) for item in items), dtype=np.int64,
                                count=len(items))
        if isinstance(self.rows, np.ndarray):
            return np.vstack([self.rows, np.zeros((1, self.rows.shape[1]))])[positions]
        return sparse.vstack([self.rows, sparse.csr_array((1, self.rows.shape[1]))], format="csr")[positions]


def _weighted_totals(weights: np.ndarray, rows: np.ndarray | sparse.csr_array) -> np.ndarray:
    """weights (resamples, n) @ rows (n, columns) as a dense array; BLAS when rows are dense."""
    contiguous_weights = np.ascontiguousarray(weights, dtype=np.float64)
    if isinstance(rows, np.ndarray):
        return contiguous_weights @ rows
    return np.asarray(rows.T @ contiguous_weights.T).T


def _sum_rows(row_of_unit: np.ndarray, n_rows: int, entries: Sequence[_Entries],
              n_columns: int) -> np.ndarray | sparse.csr_array:
    """Add per-unit entries (unit indices, columns, values) into rows; units with row -1 are left out."""
    row_parts, column_parts, value_parts = [], [], []
    for unit_index, column, value in entries:
        rows = row_of_unit[unit_index]
        kept = rows >= 0
        row_parts.append(rows[kept])
        column_parts.append(np.broadcast_to(column, unit_index.shape)[kept])
        value_parts.append(np.broadcast_to(value, unit_index.shape)[kept])
    matrix = sparse.coo_array((np.concatenate(value_parts), (np.concatenate(row_parts),
                                                              np.concatenate(column_parts))),
                              shape=(n_rows, n_columns)).tocsr()
    return matrix.toarray() if n_rows * n_columns <= DENSE_ROWS_MAX_CELLS else matrix


def _item_sums(units: Sequence[Hashable], unit_used: np.ndarray, entries: Sequence[_Entries], n_columns: int,
               finish: Callable[[np.ndarray], np.ndarray], item_of: ItemOf | None) -> ItemSums:
    """Group the entries of the used units by item (`item_of`, or each unit its own item when None)."""
    used_units = np.flatnonzero(unit_used)
    used_unit_ids = [units[index] for index in used_units]
    item_codes, items = _codes(used_unit_ids if item_of is None else list(map(item_of, used_unit_ids)))
    row_of_unit = np.full(len(units), -1, dtype=np.int64)
    row_of_unit[used_units] = item_codes
    return ItemSums(items=tuple(items), rows=_sum_rows(row_of_unit, len(items), entries, n_columns),
                    finish=finish, n_units=len(used_units))


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator elementwise, NaN where the denominator is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator != 0, numerator / np.where(denominator != 0, denominator, 1), np.nan)


def _row_dot(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Row-wise dot products of two (resamples, columns) arrays."""
    return np.einsum("ij,ij->i", left, right)


# --- orientation-free (double-entry) statistics --------------------------------------------------------
#
# A pairwise unit (item, (low, high)) is oriented by sorted candidate id, which is arbitrary: the same
# judgments under other ids label some units "first" where they said "second". Percent agreement does not
# care, but every chance-corrected statistic does, through the pooled share of each label. Given
# `swap=(FIRST, SECOND)`, a statistic is computed on the double-entered data instead: every unit once as
# it is and once mirrored (its two candidates the other way round, "first" and "second" exchanged), the
# exchangeable-dyad method of Griffin & Gonzalez (1995, Psychological Bulletin 118(3), 430-439). The pooled
# shares of "first" and "second" are then equal whatever the ids, and the statistic is invariant to them.
# On two-candidate items without ties, Fleiss' kappa of the double-entered labels is Kendall & Babington
# Smith's (1940, Biometrika 31, 324-345) coefficient of agreement for paired comparisons, u = 2P - 1 (P the
# share of agreeing rater pairs); alpha differs only by its small-sample correction (two raters per item:
# u + (1 - P) / n). Mirroring only doubles sums, so it is done
# on the column totals: count columns double, label columns become c + c[swapped].


def double_entry(ratings: Mapping[PairUnit, Mapping[str, str]]) -> dict[PairUnit, dict[str, str]]:
    """Pairwise ratings with every unit also entered mirrored: `(item, (high, low))` with "first" and
    "second" exchanged. The plain statistics of this are the orientation-free ones (`swap=ORIENTATION`
    computes the same from the totals without building it)."""
    flipped = {FIRST: SECOND, SECOND: FIRST}
    mirrored: dict[PairUnit, dict[str, str]] = {unit: dict(labels) for unit, labels in ratings.items()}
    for unit, labels in ratings.items():
        mirror = tuple.__new__(PairUnit, (unit[0], (unit[1][1], unit[1][0])))
        mirrored[mirror] = {annotator: flipped.get(label, label) for annotator, label in labels.items()}
    return mirrored


def _swap_permutation(labels: Sequence[Hashable], swap: tuple[Hashable, Hashable] | None
                      ) -> np.ndarray | None:
    """Column permutation exchanging the two labels of `swap` (None: no mirroring)."""
    if swap is None:
        return None
    permutation = np.arange(max(len(labels), 1))
    first, second = labels.index(swap[0]), labels.index(swap[1])
    permutation[first], permutation[second] = second, first
    return permutation


def _mirrored(totals: np.ndarray, count_columns: int, label_blocks: Sequence[int],
              permutation: np.ndarray | None) -> np.ndarray:
    """Column totals of the double-entered data: the first `count_columns` doubled, each block of
    label columns (starting at the offsets in `label_blocks`) added to its swapped self."""
    if permutation is None:
        return totals
    out = totals.copy()
    out[:, :count_columns] *= 2
    width = len(permutation)
    for start in label_blocks:
        block = totals[:, start:start + width]
        out[:, start:start + width] = block + block[:, permutation]
    return out


# --- percent agreement ----------------------------------------------------------------------------------


def percent_agreement_sums(ratings: Ratings, with_ties: bool = True,
                           item_of: ItemOf | None = item_of_unit) -> ItemSums:
    """`percent_agreement` as per-item sums (columns: agreeing label pairs, label pairs)."""
    counts = _count_labels(ratings, excluded_label=None if with_ties else TIE)
    raters = counts.ratings_per_unit.astype(np.float64)
    entries = [(counts.cell_unit, 0, counts.cell_count * (counts.cell_count - 1) / 2),
               (np.arange(len(counts.units)), 1, raters * (raters - 1) / 2)]

    def finish(totals: np.ndarray) -> np.ndarray:
        return _ratio(totals[:, 0], totals[:, 1])

    return _item_sums(counts.units, counts.ratings_per_unit >= 2, entries, 2, finish, item_of)


def percent_agreement(ratings: Ratings, with_ties: bool = True) -> float:
    """Share of agreeing label pairs among all pairs of labels two annotators gave the same unit.

    Pooled over pairs: a unit with m labels contributes m(m-1)/2 pairs, so units with more raters weigh
    more. With `with_ties=False` every "tie" label is set aside first, so a pair in which either label is a
    tie is dropped (with two raters: the unit is dropped). NaN when no unit has two (counted) labels.
    """
    return percent_agreement_sums(ratings, with_ties=with_ties, item_of=None).value()


# --- Cohen's kappa --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _AnnotatorCodes:
    """Each annotator's labelled units (sorted unit codes) and label codes, numbered once for everyone."""

    units: list[Hashable]
    by_annotator: dict[str, tuple[np.ndarray, np.ndarray]]
    n_labels: int
    labels: list[Hashable] = field(default_factory=list)  # label of each code

    def shared(self, annotator_a: str, annotator_b: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Codes of the units both labelled, and A's and B's label codes on them."""
        units_a, labels_a = self.by_annotator[annotator_a]
        units_b, labels_b = self.by_annotator[annotator_b]
        shared_units, index_a, index_b = np.intersect1d(units_a, units_b, assume_unique=True,
                                                        return_indices=True)
        return shared_units, labels_a[index_a], labels_b[index_b]


def _encode_annotators(ratings_by_annotator: Mapping[str, LabelsByUnit],
                       preset: Sequence[Hashable] = ()) -> _AnnotatorCodes:
    """Number units and labels (`preset` labels first) once across all annotators (None labels are
    dropped)."""
    unit_codes, units = _codes(list(chain.from_iterable(ratings_by_annotator.values())))
    label_codes, labels = _codes(list(chain.from_iterable(labels.values()
                                                          for labels in ratings_by_annotator.values())),
                                 preset=preset)
    encoded: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    start = 0
    for annotator, labels_of_unit in ratings_by_annotator.items():
        stop = start + len(labels_of_unit)
        rated = label_codes[start:stop] >= 0
        annotator_units, annotator_labels = unit_codes[start:stop][rated], label_codes[start:stop][rated]
        order = np.argsort(annotator_units, kind="stable")
        encoded[annotator] = (annotator_units[order], annotator_labels[order])
        start = stop
    return _AnnotatorCodes(units=units, by_annotator=encoded, n_labels=max(len(labels), 1),
                           labels=labels)


def _cohen_from_codes(codes_a: np.ndarray, codes_b: np.ndarray, n_labels: int) -> float:
    """Cohen's kappa of two aligned label-code arrays: (n O - E) / (n^2 - E), E = sum_c A_c B_c."""
    n_shared = float(len(codes_a))
    agreements = float(np.count_nonzero(codes_a == codes_b))
    chance_products = float(np.dot(np.bincount(codes_a, minlength=n_labels).astype(np.float64),
                                   np.bincount(codes_b, minlength=n_labels).astype(np.float64)))
    denominator = n_shared * n_shared - chance_products
    return (n_shared * agreements - chance_products) / denominator if denominator else math.nan


def cohen_kappa(labels_a: LabelsByUnit, labels_b: LabelsByUnit) -> float:
    """Cohen's kappa of two annotators over the units both labelled (dicts unit -> label).

    kappa = (p_o - p_e) / (1 - p_e): p_o the share of shared units with equal labels, p_e the sum over labels
    of the product of the two annotators' shares of that label. NaN with no shared unit, or when p_e = 1
    (both used one and the same label throughout).
    """
    codes = _encode_annotators({"a": labels_a, "b": labels_b})
    shared_units, codes_a, codes_b = codes.shared("a", "b")
    return _cohen_from_codes(codes_a, codes_b, codes.n_labels) if len(shared_units) else math.nan


@dataclass(frozen=True)
class PairKappa:
    """Cohen's kappa of one annotator pair.

    `kappa` is None when the pair shares fewer than `min_shared` units, NaN when undefined; `n_shared`
    counts the units both annotators labelled.
    """

    annotator_a: str
    annotator_b: str
    kappa: float | None
    n_shared: int


def cohen_kappa_matrix(ratings_by_annotator: Mapping[str, LabelsByUnit],
                       min_shared: int = 1) -> dict[tuple[str, str], PairKappa]:
    """Cohen's kappa for every annotator pair, keyed (a, b) with a < b; None below `min_shared` shared units.

    Input is `{annotator: {unit: label}}` (see `by_annotator`). Every pair appears in the result.
    """
    codes = _encode_annotators(ratings_by_annotator)
    matrix: dict[tuple[str, str], PairKappa] = {}
    for annotator_a, annotator_b in combinations(sorted(codes.by_annotator), 2):
        shared_units, codes_a, codes_b = codes.shared(annotator_a, annotator_b)
        kappa = None
        if len(shared_units) >= max(min_shared, 1):
            kappa = _cohen_from_codes(codes_a, codes_b, codes.n_labels)
        matrix[(annotator_a, annotator_b)] = PairKappa(annotator_a, annotator_b, kappa, len(shared_units))
    return matrix


def cohen_kappa_pair_sums(ratings_by_annotator: Mapping[str, LabelsByUnit], min_shared: int = 1,
                          item_of: ItemOf | None = item_of_unit,
                          swap: tuple[Hashable, Hashable] | None = None
                          ) -> dict[tuple[str, str], ItemSums]:
    """`cohen_kappa` as per-item sums for every annotator pair with at least `min_shared` shared units.

    Columns: shared units, agreements, A's count of each label, B's count of each label. Keys as in
    `cohen_kappa_matrix`; units and labels are numbered once for all pairs. With `swap`, the kappa of
    the double-entered labels (orientation-free, see above).
    """
    codes = _encode_annotators(ratings_by_annotator, preset=swap or ())
    unit_items = codes.units if item_of is None else list(map(item_of, codes.units))
    item_codes, items = _codes(unit_items)
    n_labels = codes.n_labels
    permutation = _swap_permutation(codes.labels, swap)

    def finish(raw: np.ndarray) -> np.ndarray:
        totals = _mirrored(raw, 2, (2, 2 + n_labels), permutation)
        n_shared = totals[:, 0]
        chance_products = _row_dot(totals[:, 2:2 + n_labels], totals[:, 2 + n_labels:])
        return _ratio(n_shared * totals[:, 1] - chance_products, n_shared * n_shared - chance_products)

    pair_sums: dict[tuple[str, str], ItemSums] = {}
    for annotator_a, annotator_b in combinations(sorted(codes.by_annotator), 2):
        shared_units, codes_a, codes_b = codes.shared(annotator_a, annotator_b)
        if len(shared_units) < min_shared:
            continue
        pair_items, row_of_shared = np.unique(item_codes[shared_units], return_inverse=True)
        shared_index = np.arange(len(shared_units))
        entries = [(shared_index, 0, 1.0), (shared_index, 1, (codes_a == codes_b).astype(np.float64)),
                   (shared_index, 2 + codes_a, 1.0), (shared_index, 2 + n_labels + codes_b, 1.0)]
        rows = _sum_rows(row_of_shared.reshape(-1), len(pair_items), entries, 2 + 2 * n_labels)
        pair_sums[(annotator_a, annotator_b)] = ItemSums(items=tuple(items[code] for code in pair_items),
                                                         rows=rows, finish=finish, n_units=len(shared_units))
    return pair_sums


def cohen_kappa_sums(labels_a: LabelsByUnit, labels_b: LabelsByUnit,
                     item_of: ItemOf | None = item_of_unit) -> ItemSums:
    """`cohen_kappa` of two annotators as per-item sums (see `cohen_kappa_pair_sums`)."""
    return cohen_kappa_pair_sums({"a": labels_a, "b": labels_b}, min_shared=0, item_of=item_of)[("a", "b")]


# --- Fleiss' kappa and Krippendorff's alpha -------------------------------------------------------------


def fleiss_kappa_sums(ratings: Ratings, raters_per_unit: int | None = None,
                      item_of: ItemOf | None = item_of_unit,
                      swap: tuple[Hashable, Hashable] | None = None) -> ItemSums:
    """`fleiss_kappa` as per-item sums (columns: units, each unit's share of agreeing rater pairs,
    each unit's share of each label)."""
    counts = _count_labels(ratings, preset=swap or ())
    raters = counts.ratings_per_unit.astype(np.float64)
    if raters_per_unit is not None and raters_per_unit < 2:
        raise ValueError(f"Fleiss' kappa needs at least 2 raters per unit, not {raters_per_unit}")
    used = raters >= 2 if raters_per_unit is None else raters == raters_per_unit
    cell_raters = raters[counts.cell_unit]
    with np.errstate(divide="ignore", invalid="ignore"):
        agreeing_share = counts.cell_count * (counts.cell_count - 1) / (cell_raters * (cell_raters - 1))
        label_share = counts.cell_count / cell_raters
    entries = [(np.arange(len(counts.units)), 0, 1.0), (counts.cell_unit, 1, agreeing_share),
               (counts.cell_unit, 2 + counts.cell_label, label_share)]
    permutation = _swap_permutation(counts.labels, swap)

    def finish(raw: np.ndarray) -> np.ndarray:
        totals = _mirrored(raw, 2, (2,), permutation)
        observed = _ratio(totals[:, 1], totals[:, 0])
        shares = totals[:, 2:] / np.where(totals[:, :1] != 0, totals[:, :1], 1)
        chance = _row_dot(shares, shares)
        return _ratio(observed - chance, 1 - chance)

    return _item_sums(counts.units, used, entries, 2 + counts.n_labels, finish, item_of)


def fleiss_kappa(ratings: Ratings, raters_per_unit: int | None = None) -> float:
    """Fleiss' kappa (Fleiss 1971), generalised to units with different numbers of raters.

    Over the units with 2 or more ratings (or, with `raters_per_unit`, exactly that many), each unit
    weighing the same whatever its number of raters r_i (Gwet 2014, Handbook of Inter-Rater
    Reliability, 4th ed., ch. 5, Fleiss' generalised kappa): kappa = (P - P_e) / (1 - P_e), P the
    mean over units of the share of agreeing rater pairs, sum_c r_ic (r_ic - 1) / (r_i (r_i - 1)),
    and P_e = sum_c pi_c^2, pi_c the mean over units of the share r_ic / r_i of label c. When every
    unit has the same number of raters this is exactly Fleiss' kappa. NaN when no unit counts, or
    P_e = 1.
    """
    return fleiss_kappa_sums(ratings, raters_per_unit=raters_per_unit, item_of=None).value()


def krippendorff_alpha_sums(ratings: Ratings, item_of: ItemOf | None = item_of_unit,
                            swap: tuple[Hashable, Hashable] | None = None) -> ItemSums:
    """`krippendorff_alpha_nominal` as per-item sums (columns: pairable values, coincidence diagonal, n_c).

    With `swap`, the alpha of the double-entered labels (orientation-free, see above)."""
    counts = _count_labels(ratings, preset=swap or ())
    permutation = _swap_permutation(counts.labels, swap)
    raters = counts.ratings_per_unit.astype(np.float64)
    cell_raters = raters[counts.cell_unit]
    with np.errstate(divide="ignore", invalid="ignore"):
        coincidences = counts.cell_count * (counts.cell_count - 1) / (cell_raters - 1)
    diagonal = np.where(cell_raters >= 2, coincidences, 0.0)
    entries = [(np.arange(len(counts.units)), 0, raters), (counts.cell_unit, 1, diagonal),
               (counts.cell_unit, 2 + counts.cell_label, counts.cell_count)]

    def finish(raw: np.ndarray) -> np.ndarray:
        totals = _mirrored(raw, 2, (2,), permutation)
        n_pairable = totals[:, 0]
        squared_totals = _row_dot(totals[:, 2:], totals[:, 2:])
        observed_disagreement = (n_pairable - 1) * (n_pairable - totals[:, 1])
        return 1 - _ratio(observed_disagreement, n_pairable * n_pairable - squared_totals)

    return _item_sums(counts.units, counts.ratings_per_unit >= 2, entries, 2 + counts.n_labels, finish,
                      item_of)


def krippendorff_alpha_nominal(ratings: Ratings) -> float:
    """Krippendorff's alpha for nominal labels; any number of raters per unit, missing ratings allowed.

    From the coincidence matrix of the pairable units (2+ ratings; units with fewer do not count):
    alpha = 1 - (n - 1) (n - sum_c o_cc) / (n^2 - sum_c n_c^2), n the number of pairable values
    (Krippendorff 2011). NaN when no unit is pairable or all pairable values are one label.
    """
    return krippendorff_alpha_sums(ratings, item_of=None).value()


# --- rankings -------------------------------------------------------------------------------------------


def rank_positions(ranking: Sequence[Sequence[str]]) -> dict[str, float]:
    """Rank of each candidate in a ranking given as groups, 1 = best; tied candidates share their mean."""
    positions: dict[str, float] = {}
    ranked_before = 0
    for group in ranking:
        positions.update(dict.fromkeys(group, ranked_before + (len(group) + 1) / 2))
        ranked_before += len(group)
    return positions


def _aligned_ranks(rankings: Sequence[Mapping[str, float]]) -> np.ndarray:
    """Rankings of the same objects as a (rankers, objects) array in one object order; else ValueError."""
    objects = sorted(rankings[0])
    if any(set(ranking) != set(objects) for ranking in rankings):
        raise ValueError("every ranking must rank the same objects")
    return np.asarray([[ranking[name] for name in objects] for ranking in rankings], dtype=np.float64)


def kendall_tau(rank_a: Mapping[str, float], rank_b: Mapping[str, float]) -> float:
    """Kendall's tau-b (scipy) of two full rankings of the same objects, `{object: rank}`, ties allowed.

    NaN with fewer than 2 objects or when either ranking ties everything.
    """
    ranks = _aligned_ranks([rank_a, rank_b])
    if ranks.shape[1] < 2:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.kendalltau(ranks[0], ranks[1], variant="b").statistic)


def kendall_w(rankings: Sequence[Mapping[str, float]]) -> float:
    """Kendall's W (coefficient of concordance) of m rankings of the same n objects, corrected for ties.

    Values are ranked within each ranking (ascending; ties get mid-ranks). W = 12 S / (m^2 (n^3 - n) - m T):
    S the sum of squared deviations of the objects' rank sums from their mean, T the sum over rankings and
    tie groups of t^3 - t. Meant for items with 3+ rankers (for two, use `kendall_tau`); NaN with fewer than
    2 rankings or objects, or when every ranking ties everything.
    """
    if len(rankings) < 2:
        return math.nan
    values = _aligned_ranks(rankings)
    n_rankers, n_objects = values.shape
    if n_objects < 2:
        return math.nan
    rank_sums = stats.rankdata(values, method="average", axis=1).sum(axis=0)
    squared_deviations = float(((rank_sums - rank_sums.mean()) ** 2).sum())
    tie_correction = 0.0
    for ranking_values in values:
        tie_sizes = np.unique(ranking_values, return_counts=True)[1].astype(np.float64)
        tie_correction += float((tie_sizes**3 - tie_sizes).sum())
    denominator = n_rankers**2 * (n_objects**3 - n_objects) - n_rankers * tie_correction
    return 12 * squared_deviations / denominator if denominator else math.nan


# --- bootstrap and verdict ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BootstrapInterval:
    """A bootstrap confidence interval, the method that produced it and how many resamples it rests on.

    `low`/`high` are NaN (method "none") when the statistic is undefined on the data or on too many
    resamples; `valid_resamples` counts the resamples on which it was defined.
    """

    low: float
    high: float
    confidence: float
    method: Literal["BCa", "percentile", "none"]
    n_resamples: int
    valid_resamples: int


Statistic = Callable[[list[Unit]], float] | ItemSums
def _seed_parameter() -> str:
    return "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"


def _scipy_bootstrap(positions: np.ndarray, statistic: Callable[..., np.ndarray], batch: int,
                     **options: Any) -> Any:
    """scipy.stats.bootstrap over item positions with its warnings silenced (degeneracy is handled here)."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        return stats.bootstrap((positions,), statistic, vectorized=True, batch=batch, **options)


def _joint_statistic(units: Sequence[Unit], statistics: Sequence[Statistic]) -> Callable[..., np.ndarray]:
    """One vectorised statistic of resampled item positions returning every statistic, shape (k, ...).

    Each resample becomes draw counts per item once; the rows of every `ItemSums` (gathered in `units`
    order, dense ones side by side) then give all column sums in one matrix product. Any other callable
    is called on the list of items of each resample.
    """
    n_units = len(units)
    dense_blocks: list[np.ndarray] = []
    dense_columns: dict[int, slice] = {}
    sparse_rows: dict[int, sparse.csr_array] = {}
    for index, statistic in enumerate(statistics):
        if isinstance(statistic, ItemSums):
            rows = statistic.rows_for(units)
            if isinstance(rows, np.ndarray):
                first_column = sum(block.shape[1] for block in dense_blocks)
                dense_columns[index] = slice(first_column, first_column + rows.shape[1])
                dense_blocks.append(rows)
            else:
                sparse_rows[index] = rows
    stacked_rows = np.hstack(dense_blocks) if dense_blocks else np.zeros((n_units, 0))
    needs_counts = bool(dense_columns or sparse_rows)

    def joint(drawn: np.ndarray, axis: int = -1) -> np.ndarray:
        resamples = drawn.reshape(-1, drawn.shape[-1])
        values = np.empty((len(statistics), len(resamples)))
        if needs_counts:
            offsets = np.arange(len(resamples))[:, None] * n_units
            counts = np.bincount((resamples + offsets).ravel(), minlength=len(resamples) * n_units)
            draw_counts = counts.reshape(len(resamples), n_units).astype(np.float64)
            dense_totals = _weighted_totals(draw_counts, stacked_rows)
        for index, statistic in enumerate(statistics):
            if index in dense_columns:
                values[index] = statistic.finish(dense_totals[:, dense_columns[index]])
            elif index in sparse_rows:
                values[index] = statistic.finish(_weighted_totals(draw_counts, sparse_rows[index]))
            else:
                values[index] = [statistic([units[position] for position in resample])
                                 for resample in resamples]
        return values.reshape((len(statistics), *drawn.shape[:-1]))

    return joint


def _selected(joint: Callable[..., np.ndarray], indices: list[int]) -> Callable[..., np.ndarray]:
    """The joint statistic restricted to some of its statistics (still shape (k', ...))."""

    def selected(drawn: np.ndarray, axis: int = -1) -> np.ndarray:
        return joint(drawn)[indices]

    return selected


def _interval_from(distribution: np.ndarray, method: Literal["BCa", "percentile"], positions: np.ndarray,
                   statistic: Callable[..., np.ndarray], batch: int,
                   seeded: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """scipy's interval(s) from an already drawn distribution (k, resamples); BCa runs its jackknife here."""
    result = _scipy_bootstrap(positions, statistic, batch, n_resamples=0, method=method,
                              bootstrap_result=types.SimpleNamespace(bootstrap_distribution=distribution),
                              **seeded)
    return np.atleast_1d(result.confidence_interval.low), np.atleast_1d(result.confidence_interval.high)


def bootstrap_cis(units: Sequence[Unit], statistics: Mapping[str, Statistic], seed: int,
                  confidence: float = 0.95, n_resamples: int = 2000,
                  method: Literal["auto", "BCa", "percentile"] = "auto") -> dict[str, BootstrapInterval]:
    """`bootstrap_ci` for several statistics from the same resamples of the same items, in one pass.

    Much faster than a call per statistic (drawing resamples is the costly part), and the intervals of,
    say, every annotator pair's kappa then come from the same resampled datasets. Each interval equals the
    one `bootstrap_ci` gives for that statistic alone with the same units and seed.
    """
    names = list(statistics)
    n_units = len(units)
    intervals = {name: BootstrapInterval(math.nan, math.nan, confidence, "none", n_resamples, 0)
                 for name in names}
    if n_units < 2:
        return intervals
    positions = np.arange(n_units)
    joint = _joint_statistic(units, [statistics[name] for name in names])
    batch = max(1, BATCH_CELLS // n_units)
    seeded = {"confidence_level": confidence, _seed_parameter(): np.random.default_rng(seed)}
    estimates = joint(positions)
    distributions = np.asarray(_scipy_bootstrap(positions, joint, batch, n_resamples=n_resamples,
                                                method="percentile", **seeded).bootstrap_distribution)
    use_bca = method == "BCa" or (method == "auto" and n_units <= BCA_MAX_ITEMS)
    fully_defined: list[int] = []
    enough_resamples = max(2, MIN_VALID_RESAMPLE_SHARE * n_resamples)
    for index, name in enumerate(names):
        defined = distributions[index][np.isfinite(distributions[index])]
        intervals[name] = replace(intervals[name], valid_resamples=len(defined))
        if not math.isfinite(estimates[index]) or len(defined) < enough_resamples:
            continue
        if use_bca and len(defined) == n_resamples:
            fully_defined.append(index)  # their BCa jackknives run together below
            continue
        for chosen in ("BCa", "percentile") if use_bca else ("percentile",):
            lows, highs = _interval_from(defined[None, :], chosen, positions, _selected(joint, [index]),
                                         batch, seeded)
            if np.isfinite(lows[0]) and np.isfinite(highs[0]):
                intervals[name] = replace(intervals[name], low=float(lows[0]), high=float(highs[0]),
                                          method=chosen)
                break
    if fully_defined:
        lows, highs = _interval_from(distributions[fully_defined], "BCa", positions,
                                     _selected(joint, fully_defined), batch, seeded)
        for index, low, high in zip(fully_defined, lows, highs, strict=True):
            chosen: Literal["BCa", "percentile"] = "BCa"
            if not (np.isfinite(low) and np.isfinite(high)):  # degenerate for BCa: fall back to percentile
                chosen = "percentile"
                (low,), (high,) = _interval_from(distributions[index][None, :], chosen, positions,
                                                 _selected(joint, [index]), batch, seeded)
            intervals[names[index]] = replace(intervals[names[index]], low=float(low), high=float(high),
                                              method=chosen)
    return intervals


def bootstrap_ci(units: Sequence[Unit], statistic: Statistic, seed: int, confidence: float = 0.95,
                 n_resamples: int = 2000,
                 method: Literal["auto", "BCa", "percentile"] = "auto") -> BootstrapInterval:
    """Bootstrap confidence interval of `statistic` by resampling ITEMS (`units`) with replacement.

    `statistic` is any function of a list of items (recomputed on each resample, which repeats items) or
    an `ItemSums` (fast: a resample is one weighted sum of its per-item rows); with an ItemSums pass
    `sums.items` as `units`, or any items (one without counted units adds nothing but is drawn like the
    rest). Resampling is `scipy.stats.bootstrap` seeded with `seed`: equal inputs give equal intervals.

    Method: "BCa" (bias-corrected and accelerated) or "percentile"; "auto" is BCa up to `BCA_MAX_ITEMS`
    items and percentile above, where BCa's jackknife costs O(items^2) and its correction is negligible.
    When BCa fails (degenerate data: every resample equal, undefined jackknife values) the percentile
    interval is returned; `method` in the result says which. Resamples on which the statistic is NaN
    (e.g. a kappa on a resample with a single label) are dropped and the interval comes from the rest;
    below `MIN_VALID_RESAMPLE_SHARE` of `n_resamples` the interval is NaN, as it is when the statistic is
    NaN on all items or there are fewer than 2 items.
    """
    return bootstrap_cis(units, {"statistic": statistic}, seed, confidence=confidence,
                         n_resamples=n_resamples, method=method)["statistic"]


def verdict(value: float, n_items: int, min_items: int) -> Verdict:
    """What an agreement value says about the guidelines.

    "too few items" when `n_items < min_items` (checked first), "undefined" for NaN, else "strong" for
    value >= 0.7, "moderate" for 0.5 <= value < 0.7, and "ambiguous" (the guidelines need work) below 0.5.
    """
    if n_items < min_items:
        return "too few items"
    if math.isnan(value):
        return "undefined"
    if value >= STRONG_AGREEMENT:
        return "strong"
    if value >= MODERATE_AGREEMENT:
        return "moderate"
    return "ambiguous"
