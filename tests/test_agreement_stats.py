"""Agreement statistics: published worked examples, a second implementation, and real annotator data.

Each statistic in core.agreement is checked three ways: against a worked example whose value was
published (source cited at the test), against statsmodels / krippendorff / scipy on random data with
missing ratings, and on real multi-annotator data from ../shared/realdata that nobody here wrote.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections import Counter
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import krippendorff
import numpy as np
import pytest
from scipy import stats
from statsmodels.stats import inter_rater

from core.agreement import (
    BCA_MAX_ITEMS,
    FIRST,
    ORIENTATION,
    SECOND,
    TIE,
    ItemSums,
    JudgmentLabels,
    PairUnit,
    best_worst_choice,
    bootstrap_ci,
    bootstrap_cis,
    by_annotator,
    choice_ratings,
    cohen_kappa,
    cohen_kappa_matrix,
    cohen_kappa_pair_sums,
    cohen_kappa_sums,
    double_entry,
    fleiss_kappa,
    fleiss_kappa_sums,
    implied_pairwise_labels,
    item_of_unit,
    kendall_tau,
    kendall_w,
    krippendorff_alpha_nominal,
    krippendorff_alpha_sums,
    pairwise_ratings,
    percent_agreement,
    percent_agreement_sums,
    rank_positions,
    verdict,
)

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
requires_realdata = pytest.mark.skipif(
    not REALDATA.is_dir(),
    reason=f"real annotator data not found at {REALDATA} (CI puts shared/ beside the repo)")

Ratings = dict[Hashable, dict[str, Hashable]]


def _from_contingency(table: dict[tuple[str, str], int]) -> tuple[dict[int, str], dict[int, str]]:
    """Two annotators' labels rebuilt from a published 2x2 (or larger) table of counts."""
    labels_a: dict[int, str] = {}
    labels_b: dict[int, str] = {}
    for (label_a, label_b), count in table.items():
        for _ in range(count):
            unit = len(labels_a)
            labels_a[unit], labels_b[unit] = label_a, label_b
    return labels_a, labels_b


def _from_category_counts(table: list[list[int]]) -> Ratings:
    """Ratings rebuilt from a subjects x categories table of how many raters chose each category."""
    ratings: Ratings = {}
    for subject, counts in enumerate(table):
        labels = [category for category, count in enumerate(counts) for _ in range(count)]
        ratings[subject] = {f"rater{index}": label for index, label in enumerate(labels)}
    return ratings


def _random_ratings(seed: int, n_units: int = 120, n_raters: int = 5, n_labels: int = 3,
                    missing: float = 0.3) -> Ratings:
    """Random labels with structure (a per-unit favourite label) and missing ratings."""
    rng = np.random.default_rng(seed)
    ratings: Ratings = {}
    for unit in range(n_units):
        favourite = int(rng.integers(n_labels))
        ratings[f"u{unit}"] = {
            f"r{rater}": (favourite if rng.random() < 0.6 else int(rng.integers(n_labels)))
            for rater in range(n_raters) if rng.random() >= missing}
    return ratings


# --- labels implied by a judgment -----------------------------------------------------------------------


def test_best_worst_with_three_candidates_labels_every_pair() -> None:
    judgment = JudgmentLabels("ann", "p1", shown=("c1", "c2", "c3"), best="c2", worst="c3")
    assert implied_pairwise_labels(judgment) == {
        ("p1", ("c1", "c2")): SECOND,  # c2 (the higher id) is best
        ("p1", ("c2", "c3")): FIRST,  # best over worst
        ("p1", ("c1", "c3")): FIRST,  # c1 over the worst
    }


def test_best_worst_with_four_candidates_leaves_the_middle_pair_unlabelled() -> None:
    judgment = JudgmentLabels("ann", "p1", shown=("c4", "c1", "c3", "c2"), best="c3", worst="c1")
    labels = implied_pairwise_labels(judgment)
    assert labels == {
        ("p1", ("c3", "c4")): FIRST,
        ("p1", ("c1", "c3")): SECOND,
        ("p1", ("c2", "c3")): SECOND,
        ("p1", ("c1", "c4")): SECOND,
        ("p1", ("c1", "c2")): SECOND,
    }
    assert ("p1", ("c2", "c4")) not in labels  # two middle candidates: nothing implied, not a tie
    assert len(labels) == 2 * 4 - 3


def test_rank_mode_labels_every_pair_and_ties_within_a_group() -> None:
    judgment = JudgmentLabels("ann", "p1", shown=("c1", "c2", "c3", "c4"),
                              ranking=(("c3",), ("c1", "c2"), ("c4",)))
    assert implied_pairwise_labels(judgment) == {
        ("p1", ("c1", "c2")): TIE,
        ("p1", ("c1", "c3")): SECOND,
        ("p1", ("c2", "c3")): SECOND,
        ("p1", ("c3", "c4")): FIRST,
        ("p1", ("c1", "c4")): FIRST,
        ("p1", ("c2", "c4")): FIRST,
    }
    assert best_worst_choice(judgment) == ("c3", "c4")
    tied_top = JudgmentLabels("ann", "p1", shown=("c1", "c2", "c3"), ranking=(("c1", "c2"), ("c3",)))
    assert best_worst_choice(tied_top) == (None, "c3")
    assert rank_positions(judgment.ranking or ()) == {"c3": 1.0, "c1": 2.5, "c2": 2.5, "c4": 4.0}


def test_orientation_is_canonical_whatever_the_display_order_or_annotator() -> None:
    shown_orders = [("c9", "c10", "c2"), ("c2", "c9", "c10"), ("c10", "c2", "c9")]
    label_sets = [implied_pairwise_labels(JudgmentLabels(annotator, "p", shown, best="c9", worst="c2"))
                  for annotator, shown in zip(("a", "b", "c"), shown_orders, strict=True)]
    assert label_sets[0] == label_sets[1] == label_sets[2]
    # Python string order: "c10" < "c2" < "c9"; the first id of every key is the lower one.
    assert set(label_sets[0]) == {("p", ("c10", "c9")), ("p", ("c2", "c9")), ("p", ("c10", "c2"))}
    assert label_sets[0][("p", ("c10", "c9"))] == SECOND
    assert label_sets[0][("p", ("c10", "c2"))] == FIRST
    assert all(isinstance(unit, PairUnit) and unit.pair[0] < unit.pair[1] for unit in label_sets[0])


def test_two_candidates_and_partial_marks() -> None:
    only_best = implied_pairwise_labels(JudgmentLabels("a", "p", ("x", "y"), best="y"))
    assert only_best == {("p", ("x", "y")): SECOND}
    only_worst = implied_pairwise_labels(JudgmentLabels("a", "p", ("x", "y", "z"), worst="x"))
    assert only_worst == {("p", ("x", "y")): SECOND, ("p", ("x", "z")): SECOND}
    assert implied_pairwise_labels(JudgmentLabels("a", "p", ("x", "y", "z"))) == {}


@pytest.mark.parametrize("bad", [
    {"shown": ("a", "b"), "best": "c"},
    {"shown": ("a", "b"), "best": "a", "worst": "a"},
    {"shown": ("a", "a")},
    {"shown": ("a", "b", "c"), "ranking": (("a",), ("b",))},
    {"shown": ("a", "b"), "ranking": (("a",), ("b",)), "best": "b"},
])
def test_inconsistent_judgments_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        JudgmentLabels("ann", "p", **bad)


def test_ratings_from_judgments_and_one_judgment_per_annotator_and_item() -> None:
    judgments = [JudgmentLabels("ann1", "p", ("a", "b", "c"), best="a", worst="c"),
                 JudgmentLabels("ann2", "p", ("c", "b", "a"), best="b", worst="c")]
    ratings = pairwise_ratings(judgments)
    assert ratings[PairUnit("p", ("a", "b"))] == {"ann1": FIRST, "ann2": SECOND}
    assert ratings[PairUnit("p", ("b", "c"))] == {"ann1": FIRST, "ann2": FIRST}
    assert choice_ratings(judgments, "best") == {"p": {"ann1": "a", "ann2": "b"}}
    assert choice_ratings(judgments, "worst") == {"p": {"ann1": "c", "ann2": "c"}}
    assert item_of_unit(PairUnit("p", ("a", "b"))) == "p" and item_of_unit("p") == "p"
    with pytest.raises(ValueError, match="twice"):
        pairwise_ratings([*judgments, judgments[0]])


# --- published worked examples --------------------------------------------------------------------------


def test_cohen_kappa_wikipedia_worked_examples() -> None:
    # Wikipedia, "Cohen's kappa", Simple example: 50 grant proposals, A and B say yes/no:
    # yes/yes 20, A yes B no 5, A no B yes 10, no/no 15 -> p_o = 0.7, p_e = 0.5, kappa = 0.4.
    labels_a, labels_b = _from_contingency({("yes", "yes"): 20, ("yes", "no"): 5, ("no", "yes"): 10,
                                            ("no", "no"): 15})
    assert round(cohen_kappa(labels_a, labels_b), 3) == 0.400
    assert round(percent_agreement({u: {"A": labels_a[u], "B": labels_b[u]} for u in labels_a}), 3) == 0.700
    # Same article, "Same percentages but different numbers": both tables have p_o = 0.60, but
    # 45/15/25/15 gives kappa = 0.1304 and 25/35/5/35 gives kappa = 0.2593.
    first_table = _from_contingency({("yes", "yes"): 45, ("yes", "no"): 15, ("no", "yes"): 25,
                                     ("no", "no"): 15})
    second_table = _from_contingency({("yes", "yes"): 25, ("yes", "no"): 35, ("no", "yes"): 5,
                                      ("no", "no"): 35})
    assert round(cohen_kappa(*first_table), 3) == 0.130
    assert round(cohen_kappa(*second_table), 3) == 0.259


# Wikipedia, "Fleiss' kappa", Worked example: 10 subjects, 14 raters, 5 categories; P-bar = 0.378,
# P_e = 0.213, kappa = 0.210 (the same table as in Fleiss 1971's worked-example format).
FLEISS_WIKIPEDIA_TABLE = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_wikipedia_worked_example() -> None:
    ratings = _from_category_counts(FLEISS_WIKIPEDIA_TABLE)
    assert round(fleiss_kappa(ratings), 3) == 0.210
    # With equal raters per subject, pooled pairwise percent agreement is Fleiss' P-bar.
    assert round(percent_agreement(ratings), 3) == 0.378


def test_krippendorff_alpha_2011_nominal_example_with_missing_data() -> None:
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: nominal data,
    # 4 observers, 12 units, missing values (None); unit 12 has one value and is not pairable.
    # Published: alpha (nominal) = 0.743.
    observers = {
        "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    }
    ratings = {unit: {observer: values[unit] for observer, values in observers.items()
                      if values[unit] is not None} for unit in range(12)}
    assert round(krippendorff_alpha_nominal(ratings), 3) == 0.743
    # A None label counts as missing too.
    with_nones = {unit: {observer: values[unit] for observer, values in observers.items()}
                  for unit in range(12)}
    assert krippendorff_alpha_nominal(with_nones) == pytest.approx(krippendorff_alpha_nominal(ratings))


def test_kendall_w_published_examples() -> None:
    # ProofWiki, "Kendall's Coefficient of Concordance/Examples/Arbitrary Example 1": judges A-D rank
    # competitors X, Y, Z (X: 1 1 2 3, Y: 3 2 3 1, Z: 2 3 1 2); W = 1/16.
    judges = [{"X": 1, "Y": 3, "Z": 2}, {"X": 1, "Y": 2, "Z": 3}, {"X": 2, "Y": 3, "Z": 1},
              {"X": 3, "Y": 1, "Z": 2}]
    assert round(kendall_w(judges), 4) == 0.0625
    # Siegel (1956), Nonparametric Statistics for the Behavioral Sciences, ch. 9: three executives rank six
    # job applicants (X: 1 6 3 2 5 4, Y: 1 5 6 4 2 3, Z: 6 3 2 5 4 1); rank sums 8 14 11 11 11 8, s = 25.5,
    # W = 12 * 25.5 / (3^2 * (6^3 - 6)) = 0.162 (printed as .16).
    executives = [dict(zip("abcdef", ranks, strict=True))
                  for ranks in ([1, 6, 3, 2, 5, 4], [1, 5, 6, 4, 2, 3], [6, 3, 2, 5, 4, 1])]
    assert round(kendall_w(executives), 3) == 0.162
    assert math.isnan(kendall_w(judges[:1]))


def test_kendall_tau_b_published_example_with_ties() -> None:
    # scipy.stats.kendalltau documentation example: x = [12, 2, 1, 12, 2], y = [1, 4, 7, 1, 0]
    # -> tau-b = -0.47140452079103173.
    x = dict(zip("abcde", [12, 2, 1, 12, 2], strict=True))
    y = dict(zip("abcde", [1, 4, 7, 1, 0], strict=True))
    assert round(kendall_tau(x, y), 3) == -0.471
    assert kendall_tau({"a": 1, "b": 2}, {"a": 2, "b": 1}) == -1.0
    with pytest.raises(ValueError):
        kendall_tau({"a": 1, "b": 2}, {"a": 1, "c": 2})


# --- a second implementation on random data with missing ratings ---------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_cohen_kappa_matches_statsmodels(seed: int) -> None:
    ratings = _random_ratings(seed, n_labels=3 + seed % 2)
    per_annotator = by_annotator(ratings)
    matrix = cohen_kappa_matrix(per_annotator, min_shared=1)
    pair_sums = cohen_kappa_pair_sums(per_annotator)
    for annotator_a, annotator_b in itertools.combinations(sorted(per_annotator), 2):
        labels_a, labels_b = per_annotator[annotator_a], per_annotator[annotator_b]
        shared = [unit for unit in labels_a if unit in labels_b]
        categories = sorted({labels_a[unit] for unit in shared} | {labels_b[unit] for unit in shared})
        table = np.zeros((len(categories), len(categories)))
        for unit in shared:
            table[categories.index(labels_a[unit]), categories.index(labels_b[unit])] += 1
        expected = inter_rater.cohens_kappa(table, return_results=False)
        assert cohen_kappa(labels_a, labels_b) == pytest.approx(expected, abs=1e-12)
        pair = matrix[(annotator_a, annotator_b)]
        assert pair.kappa == pytest.approx(expected, abs=1e-12) and pair.n_shared == len(shared)
        assert pair_sums[(annotator_a, annotator_b)].value() == pytest.approx(expected, abs=1e-12)
        assert cohen_kappa_sums(labels_a, labels_b).value() == pytest.approx(expected, abs=1e-12)


def test_cohen_kappa_matrix_min_shared_and_undefined_cases() -> None:
    per_annotator = {"a": {1: "x", 2: "y", 3: "x"}, "b": {1: "x", 2: "y"}, "c": {3: "x", 4: "x"}}
    matrix = cohen_kappa_matrix(per_annotator, min_shared=2)
    assert matrix[("a", "b")].kappa == 1.0 and matrix[("a", "b")].n_shared == 2
    assert matrix[("a", "c")].kappa is None and matrix[("a", "c")].n_shared == 1
    assert matrix[("b", "c")].kappa is None and matrix[("b", "c")].n_shared == 0
    assert math.isnan(cohen_kappa({1: "x", 2: "x"}, {1: "x", 2: "x"}))  # p_e = 1: undefined
    assert math.isnan(cohen_kappa({1: "x"}, {2: "x"}))  # nothing shared


@pytest.mark.parametrize("seed", range(5))
def test_fleiss_kappa_matches_statsmodels(seed: int) -> None:
    ratings = _random_ratings(seed, missing=0.25)
    rater_counts = [len(labels) for labels in ratings.values() if len(labels) >= 2]
    modal_count = max(set(rater_counts), key=lambda count: (rater_counts.count(count), count))
    equal_units = [list(labels.values()) for labels in ratings.values() if len(labels) == modal_count]
    expected = inter_rater.fleiss_kappa(inter_rater.aggregate_raters(np.array(equal_units))[0])
    assert fleiss_kappa(ratings, raters_per_unit=modal_count) == pytest.approx(expected, abs=1e-12)
    assert fleiss_kappa_sums(ratings, raters_per_unit=modal_count).n_units == len(equal_units)
    # Units that all have the same number of raters: the generalised rule is Fleiss' own.
    equal = {unit: labels for unit, labels in ratings.items() if len(labels) == modal_count}
    assert fleiss_kappa(equal) == pytest.approx(expected, abs=1e-12)


def _gwet_generalised_fleiss(ratings: dict[Any, dict[str, Any]]) -> float:
    """Gwet (2014), ch. 5: Fleiss' kappa over units with 2+ ratings, each unit weighing the same."""
    units = [list(labels.values()) for labels in ratings.values() if len(labels) >= 2]
    categories = sorted({label for unit in units for label in unit}, key=str)
    observed = sum(sum(unit.count(c) * (unit.count(c) - 1) for c in categories)
                   / (len(unit) * (len(unit) - 1)) for unit in units) / len(units)
    shares = [sum(unit.count(c) / len(unit) for unit in units) / len(units) for c in categories]
    chance = sum(share * share for share in shares)
    return (observed - chance) / (1 - chance)


@pytest.mark.parametrize("seed", range(5))
def test_fleiss_kappa_over_mixed_rater_counts_follows_the_documented_rule(seed: int) -> None:
    ratings = _random_ratings(seed, missing=0.25)
    counts = Counter(len(labels) for labels in ratings.values() if len(labels) >= 2)
    assert len(counts) >= 2  # the data mixes rater counts
    assert fleiss_kappa(ratings) == pytest.approx(_gwet_generalised_fleiss(ratings), abs=1e-12)
    assert fleiss_kappa_sums(ratings).n_units == sum(counts.values())  # no unit set aside


def test_fleiss_kappa_has_no_silent_tie_between_rater_counts() -> None:
    """As many 2-rater as 3-rater units: every unit counts, none is chosen over another."""
    ratings = {1: {"a": "x", "b": "x"}, 2: {"a": "x", "b": "y"},
               3: {"a": "y", "b": "y", "c": "y"}, 4: {"a": "x", "b": "y", "c": "y"}}
    # P = (1 + 0 + 1 + 1/3) / 4; pi_x = (1 + 1/2 + 0 + 1/3) / 4, pi_y = 1 - pi_x.
    observed = (1 + 0 + 1 + 1 / 3) / 4
    pi_x = (1 + 0.5 + 0 + 1 / 3) / 4
    chance = pi_x**2 + (1 - pi_x) ** 2
    assert fleiss_kappa(ratings) == pytest.approx((observed - chance) / (1 - chance), abs=1e-12)
    assert fleiss_kappa_sums(ratings).n_units == 4


@pytest.mark.parametrize("seed", range(5))
def test_krippendorff_alpha_matches_the_krippendorff_package(seed: int) -> None:
    ratings = _random_ratings(seed, n_labels=2 + seed, missing=0.5)
    raters = sorted({rater for labels in ratings.values() for rater in labels})
    reliability = np.array([[ratings[unit].get(rater, np.nan) for unit in ratings] for rater in raters],
                           dtype=float)
    expected = krippendorff.alpha(reliability_data=reliability, level_of_measurement="nominal")
    assert krippendorff_alpha_nominal(ratings) == pytest.approx(expected, abs=1e-12)
    assert krippendorff_alpha_sums(ratings).value() == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_percent_agreement_matches_counting_every_pair(seed: int) -> None:
    rng = random.Random(seed)
    ratings: Ratings = {f"u{unit}": {f"r{rater}": rng.choice([FIRST, SECOND, TIE]) for rater in range(5)
                                     if rng.random() < 0.6} for unit in range(80)}

    def by_hand(with_ties: bool) -> float:
        pairs = [(x, y) for labels in ratings.values() for x, y in itertools.combinations(labels.values(), 2)
                 if with_ties or TIE not in (x, y)]
        return sum(x == y for x, y in pairs) / len(pairs)

    assert percent_agreement(ratings) == pytest.approx(by_hand(True))
    assert percent_agreement(ratings, with_ties=False) == pytest.approx(by_hand(False))
    assert percent_agreement_sums(ratings, with_ties=False).value() == pytest.approx(by_hand(False))
    assert math.isnan(percent_agreement({"u": {"r1": TIE, "r2": FIRST}}, with_ties=False))


@pytest.mark.parametrize("seed", range(5))
def test_kendall_tau_matches_scipy_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    objects = [f"o{index}" for index in range(12)]
    values_a, values_b = rng.integers(0, 5, 12), rng.integers(0, 5, 12)
    shuffled = rng.permutation(12)  # dict order must not matter
    rank_a = {objects[index]: float(values_a[index]) for index in shuffled}
    rank_b = {objects[index]: float(values_b[index]) for index in range(12)}
    expected = stats.kendalltau(values_a, values_b, variant="b").statistic
    assert kendall_tau(rank_a, rank_b) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_kendall_w_matches_scipy_friedman_with_ties(seed: int) -> None:
    # W = chi2_Friedman / (m (n - 1)), with scipy's tie correction of chi2 matching W's (Kendall 1948).
    rng = np.random.default_rng(seed)
    n_rankers, n_objects = 3 + seed, 6
    scores = rng.integers(0, 4, size=(n_rankers, n_objects)).astype(float)  # ties on purpose
    rankings = [{f"o{index}": score for index, score in enumerate(row)} for row in scores]
    chi_square = stats.friedmanchisquare(*scores.T).statistic
    assert kendall_w(rankings) == pytest.approx(chi_square / (n_rankers * (n_objects - 1)), abs=1e-12)


# --- real annotator data --------------------------------------------------------------------------------


PANDALM_LABELS = {0: TIE, 1: FIRST, 2: SECOND}  # 0 tie, 1 response1 better, 2 response2 better
PANDALM_ANNOTATORS = ("annotator1", "annotator2", "annotator3")


def _pandalm() -> tuple[list[dict[str, Any]], Ratings]:
    rows = json.loads((REALDATA / "pandalm_testset-v1.json").read_text(encoding="utf-8"))
    ratings: Ratings = {row["idx"]: {annotator: PANDALM_LABELS[row[annotator]]
                                     for annotator in PANDALM_ANNOTATORS} for row in rows}
    return rows, ratings


@requires_realdata
def test_pandalm_agreement_matches_statsmodels_and_krippendorff() -> None:
    rows, ratings = _pandalm()
    assert len(ratings) == 999
    codes = np.array([[row[annotator] for annotator in PANDALM_ANNOTATORS] for row in rows])
    # Values obtained: percent agreement 0.9199 (0.9473 without ties); Cohen's kappa annotator1-2 0.8520,
    # 1-3 0.8789, 2-3 0.8617; Fleiss' kappa 0.8642; Krippendorff's alpha 0.8642: strong agreement.
    assert percent_agreement(ratings) == pytest.approx(0.9199, abs=1e-4)
    assert percent_agreement(ratings, with_ties=False) == pytest.approx(0.9473, abs=1e-4)
    per_annotator = by_annotator(ratings)
    for (annotator_a, annotator_b), pair in cohen_kappa_matrix(per_annotator, min_shared=100).items():
        column_a, column_b = PANDALM_ANNOTATORS.index(annotator_a), PANDALM_ANNOTATORS.index(annotator_b)
        table = np.zeros((3, 3))
        np.add.at(table, (codes[:, column_a], codes[:, column_b]), 1)
        assert pair.kappa == pytest.approx(inter_rater.cohens_kappa(table, return_results=False), abs=1e-12)
        assert pair.n_shared == 999 and 0.8 < pair.kappa < 0.9
    fleiss = fleiss_kappa(ratings)
    category_counts = inter_rater.aggregate_raters(codes)[0]
    assert fleiss == pytest.approx(inter_rater.fleiss_kappa(category_counts), abs=1e-12)
    alpha = krippendorff_alpha_nominal(ratings)
    assert alpha == pytest.approx(krippendorff.alpha(reliability_data=codes.T.astype(float),
                                                     level_of_measurement="nominal"), abs=1e-12)
    assert 0.8 < fleiss < 0.9 and 0.8 < alpha < 0.9
    assert verdict(alpha, n_items=len(ratings), min_items=50) == "strong"


@requires_realdata
def test_pandalm_through_judgments_gives_the_same_labels() -> None:
    # Each annotator's verdict as a two-candidate judgment: a win is best/worst, a tie a one-group ranking.
    rows, ratings = _pandalm()
    judgments = []
    for row in rows:
        first, second = f"{row['idx']}-r1", f"{row['idx']}-r2"
        for annotator in PANDALM_ANNOTATORS:
            label = PANDALM_LABELS[row[annotator]]
            if label == TIE:
                judgments.append(JudgmentLabels(annotator, str(row["idx"]), (second, first),
                                                 ranking=((first, second),)))
            else:
                best, worst = (first, second) if label == FIRST else (second, first)
                judgments.append(JudgmentLabels(annotator, str(row["idx"]), (second, first), best=best,
                                                 worst=worst))
    from_judgments = pairwise_ratings(judgments)
    assert {unit.item_id: labels for unit, labels in from_judgments.items()} == {
        str(unit): labels for unit, labels in ratings.items()}
    assert krippendorff_alpha_nominal(from_judgments) == pytest.approx(krippendorff_alpha_nominal(ratings))


def _mt_bench() -> Ratings:
    """Votes on (question, model pair) units, models in canonical order; "first" = the lower model name won.

    One judge (author_0) voted twice on question 128, claude-v1 vs gpt-3.5-turbo, once per display order,
    both "tie"; the unit keeps one vote per judge.
    """
    ratings: Ratings = {}
    for line in (REALDATA / "mt_bench_human_judgments_turn1.jsonl").read_text(encoding="utf-8").splitlines():
        vote = json.loads(line)
        low_model, high_model = sorted((vote["model_a"], vote["model_b"]))
        label = TIE if vote["winner"] == "tie" else (FIRST if vote[vote["winner"]] == low_model else SECOND)
        ratings.setdefault((vote["question_id"], low_model, high_model), {})[vote["judge"]] = label
    return ratings


@requires_realdata
def test_mt_bench_alpha_with_missing_data_matches_krippendorff() -> None:
    ratings = _mt_bench()
    assert len(ratings) == 910 and sum(map(len, ratings.values())) == 1688
    judges = sorted({judge for labels in ratings.values() for judge in labels})
    assert len(judges) == 65
    codes = {TIE: 0, FIRST: 1, SECOND: 2}
    reliability = np.array([[codes[labels[judge]] if judge in labels else np.nan
                             for labels in ratings.values()] for judge in judges], dtype=float)
    alpha = krippendorff_alpha_nominal(ratings)
    expected = krippendorff.alpha(reliability_data=reliability, level_of_measurement="nominal")
    assert alpha == pytest.approx(expected, abs=1e-12)
    assert krippendorff_alpha_sums(ratings).n_units == 484  # units with 2+ votes; the rest do not count
    # Values obtained: alpha 0.4767; percent agreement 0.6411 with ties, 0.8199 without. Zheng et al. (2023)
    # report human-human agreement of about 63% with ties and 81% without on these votes.
    assert alpha == pytest.approx(0.4767, abs=1e-4)
    assert percent_agreement(ratings) == pytest.approx(0.6411, abs=1e-4)
    assert percent_agreement(ratings, with_ties=False) == pytest.approx(0.8199, abs=1e-4)
    assert verdict(alpha, n_items=484, min_items=50) == "ambiguous"


# --- bootstrap intervals --------------------------------------------------------------------------------


@requires_realdata
def test_bootstrap_interval_on_real_data_contains_estimate_repeats_and_narrows() -> None:
    _, ratings = _pandalm()
    sums = fleiss_kappa_sums(ratings)
    interval = bootstrap_ci(sums.items, sums, seed=11)
    assert interval.method == "BCa" and interval.valid_resamples == interval.n_resamples == 2000
    assert interval.low < sums.value() < interval.high
    assert bootstrap_ci(sums.items, sums, seed=11) == interval
    assert bootstrap_ci(sums.items, sums, seed=12) != interval
    few_items = sums.items[:150]
    few_interval = bootstrap_ci(few_items, sums, seed=11)
    assert few_interval.low < sums(few_items) < few_interval.high
    assert few_interval.high - few_interval.low > interval.high - interval.low

    mt_sums = krippendorff_alpha_sums(_mt_bench())
    mt_interval = bootstrap_ci(mt_sums.items, mt_sums, seed=11)
    assert mt_interval.low < mt_sums.value() < mt_interval.high


def test_item_sums_bootstrap_equals_recomputing_the_statistic() -> None:
    # The fast path (weighted sums) must give exactly what recomputing on each resample gives.
    ratings = _random_ratings(3, n_units=40)
    sums = krippendorff_alpha_sums(ratings)

    def recomputed(items: list[Hashable]) -> float:
        resampled = {(copy, item): ratings[item] for copy, item in enumerate(items)}  # repeats stay apart
        return krippendorff_alpha_nominal(resampled)

    for method in ("percentile", "BCa"):
        fast = bootstrap_ci(sums.items, sums, seed=5, n_resamples=200, method=method)
        slow = bootstrap_ci(list(sums.items), recomputed, seed=5, n_resamples=200, method=method)
        assert fast.method == slow.method == method
        assert (fast.low, fast.high) == pytest.approx((slow.low, slow.high), abs=1e-12)


def test_pairwise_units_resample_by_item_and_joint_intervals_match_single_ones() -> None:
    rng = random.Random(4)
    judgments = []
    for item in range(40):
        shown = tuple(f"c{index}" for index in range(4))
        for annotator in ("ann1", "ann2", "ann3"):
            best, worst = rng.sample(shown[:2], 1)[0], rng.sample(shown[2:], 1)[0]
            judgments.append(JudgmentLabels(annotator, f"p{item}", shown, best=best, worst=worst))
    ratings = pairwise_ratings(judgments)
    statistics: dict[str, ItemSums] = {
        "alpha": krippendorff_alpha_sums(ratings), "fleiss": fleiss_kappa_sums(ratings),
        "percent": percent_agreement_sums(ratings),
        **{f"{a}-{b}": pair for (a, b), pair in cohen_kappa_pair_sums(by_annotator(ratings)).items()}}
    assert all(len(sums.items) == 40 for sums in statistics.values())  # items, not the 200 candidate pairs
    items = [f"p{item}" for item in range(40)]
    joint = bootstrap_cis(items, statistics, seed=3, n_resamples=500)
    for name, sums in statistics.items():
        assert joint[name] == bootstrap_ci(items, sums, seed=3, n_resamples=500)
        assert joint[name].low <= sums.value() <= joint[name].high


def test_sparse_rows_give_the_same_values_and_intervals_as_dense(monkeypatch: pytest.MonkeyPatch) -> None:
    # Choice labels are candidate ids, one label set per item: large statistics keep their rows sparse.
    rng = random.Random(8)
    judgments = [JudgmentLabels(annotator, f"p{item}", shown, best=rng.choice(shown))
                 for item in range(50) for shown in [tuple(f"p{item}-c{index}" for index in range(4))]
                 for annotator in ("ann1", "ann2", "ann3") if rng.random() < 0.8]
    best_choices = choice_ratings(judgments, "best")
    per_annotator = by_annotator(best_choices)
    dense = {"alpha": krippendorff_alpha_sums(best_choices), "fleiss": fleiss_kappa_sums(best_choices),
             "kappa": cohen_kappa_sums(per_annotator["ann1"], per_annotator["ann2"])}
    monkeypatch.setattr("core.agreement.DENSE_ROWS_MAX_CELLS", 0)
    sparse_sums = {"alpha": krippendorff_alpha_sums(best_choices), "fleiss": fleiss_kappa_sums(best_choices),
                   "kappa": cohen_kappa_sums(per_annotator["ann1"], per_annotator["ann2"])}
    assert all(not isinstance(sums.rows, np.ndarray) for sums in sparse_sums.values())
    items = [f"p{item}" for item in range(50)]
    dense_intervals = bootstrap_cis(items, dense, seed=2, n_resamples=300)
    sparse_intervals = bootstrap_cis(items, sparse_sums, seed=2, n_resamples=300)
    for name in dense:
        assert sparse_sums[name].value() == pytest.approx(dense[name].value(), abs=1e-12)
        assert (sparse_intervals[name].low, sparse_intervals[name].high) == pytest.approx(
            (dense_intervals[name].low, dense_intervals[name].high), abs=1e-12)


def test_bootstrap_drops_resamples_where_the_statistic_is_undefined() -> None:
    # Only item 0 breaks the "first" monotony; resamples without it have p_e = 1 and an undefined kappa.
    labels_a = {unit: FIRST for unit in range(6)}
    labels_b = {unit: FIRST for unit in range(6)}
    labels_a[0] = labels_b[0] = SECOND
    sums = cohen_kappa_sums(labels_a, labels_b)
    assert sums.value() == 1.0
    interval = bootstrap_ci(sums.items, sums, seed=1, n_resamples=1000)
    assert 500 <= interval.valid_resamples < 1000  # P(item 0 drawn) = 1 - (5/6)^6 = 0.67
    assert (interval.low, interval.high) == (1.0, 1.0)
    assert interval.method == "percentile"  # BCa fails on a constant distribution


def test_bootstrap_undefined_and_degenerate_cases() -> None:
    always_first = cohen_kappa_sums({1: FIRST, 2: FIRST, 3: FIRST}, {1: FIRST, 2: FIRST, 3: FIRST})
    undefined = bootstrap_ci(always_first.items, always_first, seed=1, n_resamples=200)
    assert math.isnan(undefined.low) and math.isnan(undefined.high) and undefined.method == "none"
    assert math.isnan(bootstrap_ci(["only"], lambda items: 1.0, seed=1).low)
    generic = bootstrap_ci(list(range(30)), lambda items: float(np.mean(items)), seed=2, n_resamples=400,
                           method="auto")
    assert generic.method == "BCa" and generic.low < 14.5 < generic.high
    assert BCA_MAX_ITEMS >= 1000  # small and typical overlap sets get BCa under "auto"


def test_verdict_thresholds() -> None:
    assert verdict(0.7, n_items=100, min_items=30) == "strong"
    assert verdict(0.69, n_items=100, min_items=30) == "moderate"
    assert verdict(0.5, n_items=100, min_items=30) == "moderate"
    assert verdict(0.49, n_items=100, min_items=30) == "ambiguous"
    assert verdict(0.95, n_items=10, min_items=30) == "too few items"
    assert verdict(math.nan, n_items=100, min_items=30) == "undefined"


# --- orientation-free statistics on pairwise units ------------------------------------------------------

def _two_candidate_ratings(seed: int, flip: set[int]) -> dict[PairUnit, dict[str, str]]:
    """Labels of 40 two-candidate items by 2-4 raters; the items in `flip` have their candidate
    ids the other way round (what other ids do to the sorted orientation)."""
    rng = random.Random(seed)
    ratings: dict[PairUnit, dict[str, str]] = {}
    for item in range(40):
        lean = rng.random()
        labels = {f"r{k}": (FIRST if rng.random() < lean else SECOND)
                  for k in range(rng.randint(2, 4))}
        if item in flip:
            labels = {a: {FIRST: SECOND, SECOND: FIRST}[v] for a, v in labels.items()}
        ratings[PairUnit(f"i{item}", ("a", "b"))] = labels
    return ratings


@pytest.mark.parametrize("seed", range(4))
def test_pairwise_statistics_do_not_depend_on_orientation(seed: int) -> None:
    """The same judgments under other candidate ids: plain alpha moves, the orientation-free
    (double-entry) alpha, Fleiss' kappa and Cohen's kappa do not."""
    base = _two_candidate_ratings(seed, set())
    flipped = _two_candidate_ratings(seed, set(range(0, 40, 3)))
    assert krippendorff_alpha_nominal(base) != pytest.approx(krippendorff_alpha_nominal(flipped))
    for statistic in (krippendorff_alpha_sums, fleiss_kappa_sums):
        assert statistic(base, swap=ORIENTATION).value() == pytest.approx(
            statistic(flipped, swap=ORIENTATION).value(), abs=1e-12)
    pair = ("r0", "r1")
    kappa_base = cohen_kappa_pair_sums(by_annotator(base), swap=ORIENTATION)[pair].value()
    kappa_flipped = cohen_kappa_pair_sums(by_annotator(flipped), swap=ORIENTATION)[pair].value()
    assert kappa_base == pytest.approx(kappa_flipped, abs=1e-12)
    # The totals-level mirroring is the double-entered data's plain statistic.
    assert krippendorff_alpha_sums(base, swap=ORIENTATION).value() == pytest.approx(
        krippendorff_alpha_nominal(double_entry(base)), abs=1e-12)
    assert fleiss_kappa_sums(base, swap=ORIENTATION).value() == pytest.approx(
        fleiss_kappa(double_entry(base)), abs=1e-12)


def test_orientation_free_fleiss_is_kendalls_u_on_two_candidate_items() -> None:
    """Kendall & Babington Smith (1940): u = 2 sum_items [C(a, 2) + C(m - a, 2)] / (N C(m, 2)) - 1
    for N paired comparisons each judged by m raters, a of them preferring the first."""
    votes = [(3, 0), (2, 1), (0, 3), (1, 2), (3, 0), (2, 1)]  # (prefer first, prefer second), m = 3
    ratings = {PairUnit(f"i{n}", ("a", "b")):
               {f"r{k}": (FIRST if k < first else SECOND) for k in range(first + second)}
               for n, (first, second) in enumerate(votes)}
    m, n_items = 3, len(votes)
    agreeing = sum(math.comb(a, 2) + math.comb(b, 2) for a, b in votes)
    u = 2 * agreeing / (n_items * math.comb(m, 2)) - 1
    assert u == pytest.approx(2 * 12 / 18 - 1)  # 3 + 1 + 3 + 1 + 3 + 1 agreeing rater pairs
    assert fleiss_kappa_sums(ratings, swap=ORIENTATION).value() == pytest.approx(u, abs=1e-12)
