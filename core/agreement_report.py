"""The agreement report: statistics of core.agreement over a project's judgments.

Reads the store's bulk rows once, forms the labels (see core.agreement for how), and computes:
overall agreement with 95% bootstrap intervals (resampling items), Cohen's kappa for every
annotator pair with enough items in common, breakdowns by behaviour dimension and language, and
per-annotator figures a reviewer uses to spot someone rushing or misreading the guidelines.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from core import agreement as ag

HEADLINE = "krippendorff_alpha"
# What an annotator concluded about an item: a preference (best/worst or a ranking), "no
# meaningful difference", or "cannot judge". `outcome_alpha` is the agreement on this label, so
# the two outcomes without a preference count as categories of their own; skips are no outcome.
PREFERENCE = "preference"
OUTCOMES: tuple[str, ...] = (PREFERENCE, "no_difference", "cannot_judge")
OUTCOME_OF_KIND = {"ranked": PREFERENCE, "no_difference": "no_difference",
                   "cannot_judge": "cannot_judge"}
# The judgment kinds counted in the outcome tables, in the order they are shown.
COUNTED_KINDS: tuple[str, ...] = ("ranked", "no_difference", "cannot_judge", "skipped")


@dataclass(frozen=True)
class StatRow:
    """One statistic of one scope ("overall", "dimension=tone", ...), with its 95% interval."""

    scope: str
    statistic: str
    value: float
    low: float
    high: float
    items: int
    verdict: str


@dataclass(frozen=True)
class PairRow:
    annotator_a: str
    annotator_b: str
    kappa: float | None
    low: float
    high: float
    shared_items: int
    verdict: str


@dataclass(frozen=True)
class AnnotatorRow:
    annotator: str
    items_done: int
    median_seconds: float | None
    skip_share: float
    flag_share: float
    kappa_with: dict[str, float | None]
    adjudicated_agreement: float | None  # share of adjudicated items where best and worst match
    adjudicated_items: int
    gold_accuracy: float | None  # share of calibration items answered as expected
    gold_items: int
    no_difference: int = 0  # judgments "no meaningful difference"
    cannot_judge: int = 0  # judgments "cannot judge"


@dataclass(frozen=True)
class OutcomeRow:
    """How many current judgments of one scope ended in each outcome ("overall",
    "dimension=tone", "annotator=alice", ...)."""

    scope: str
    ranked: int  # a preference: best/worst or a ranking
    no_difference: int
    cannot_judge: int
    skipped: int


@dataclass
class AgreementReport:
    judgments: int
    annotators: list[str]
    items_with_two_or_more: int
    rows: list[StatRow] = field(default_factory=list)
    pairs: list[PairRow] = field(default_factory=list)
    per_annotator: list[AnnotatorRow] = field(default_factory=list)
    rankings: list[StatRow] = field(default_factory=list)
    outcomes: list[OutcomeRow] = field(default_factory=list)


def collect_labels(rows: dict[str, list[tuple]]) -> tuple[
        list[ag.JudgmentLabels], dict[ag.PairUnit, dict[str, str]]]:
    """Judgments as JudgmentLabels, and the pairwise ratings from them and from pairwise rows.

    Same labels as `ag.pairwise_ratings` (a test checks it); best/worst judgments take an
    inlined path because this runs over every judgment of a project.
    """
    judgments = []
    ranked = []
    ratings: dict[ag.PairUnit, dict[str, str]] = {}
    first, second, unit_of = ag.FIRST, ag.SECOND, ag.PairUnit
    for annotator, prompt_id, kind, shown, best, worst, groups, _dims, _secs in rows["judgments"]:
        if kind == "no_difference":
            # "No meaningful difference" is an outcome of its own: every pair of the item rated
            # a tie, so an annotator who chose one response disagrees with it. "Cannot judge"
            # rates nothing (it is counted per annotator instead).
            ordered = sorted(shown)
            for i, low in enumerate(ordered):
                for high in ordered[i + 1:]:
                    ratings.setdefault(unit_of(prompt_id, (low, high)), {})[annotator] = ag.TIE
            continue
        if kind != "ranked":
            continue
        if groups:
            ranking = tuple(tuple(g) for g in groups)
            judgment = ag.JudgmentLabels(annotator, prompt_id, tuple(shown), None, None, ranking)
            ranked.append(judgment)
            judgments.append(judgment)
            continue
        judgments.append(_unchecked(annotator, prompt_id, tuple(shown), best, worst))
        for other in shown:
            if best is not None and other != best:
                low, high = (best, other) if best < other else (other, best)
                ratings.setdefault(unit_of(prompt_id, (low, high)), {})[annotator] = (
                    first if best == low else second)
            if worst is not None and other not in (best, worst):
                low, high = (other, worst) if other < worst else (worst, other)
                ratings.setdefault(unit_of(prompt_id, (low, high)), {})[annotator] = (
                    first if other == low else second)
    for unit, labels in ag.pairwise_ratings(ranked).items():
        ratings.setdefault(unit, {}).update(labels)
    for annotator, prompt_id, first_id, second_id, winner in rows["pairwise"]:
        low, high = sorted((first_id, second_id))
        unit = ag.PairUnit(prompt_id, (low, high))
        if winner == "tie":
            label = ag.TIE
        else:
            preferred = first_id if winner == "first" else second_id
            label = ag.FIRST if preferred == low else ag.SECOND
        ratings.setdefault(unit, {}).setdefault(annotator, label)
    return judgments, ratings


def _unchecked(annotator: str, item_id: str, shown: tuple[str, ...], best: str | None,
               worst: str | None) -> ag.JudgmentLabels:
    """A JudgmentLabels from a stored judgment, without re-validating what the store checked."""
    judgment = object.__new__(ag.JudgmentLabels)
    for name, value in (("annotator", annotator), ("item_id", item_id), ("shown", shown),
                        ("best", best), ("worst", worst), ("ranking", None)):
        object.__setattr__(judgment, name, value)
    return judgment


def outcome_ratings(rows: dict[str, list[tuple]]) -> dict[str, dict[str, str]]:
    """`{item: {annotator: outcome}}` of every current judgment with an outcome (not skips)."""
    ratings: dict[str, dict[str, str]] = {}
    for annotator, prompt_id, kind, *_rest in rows["judgments"]:
        outcome = OUTCOME_OF_KIND.get(kind)
        if outcome is not None:
            ratings.setdefault(prompt_id, {})[annotator] = outcome
    return ratings


def outcome_counts(rows: dict[str, list[tuple]], by: Sequence[str] = ()) -> list[OutcomeRow]:
    """Judgments per outcome: overall, per value of each `by` key (dimension, language,
    annotator), in that order, values sorted."""
    meta = {prompt_id: {"dimension": dim or "unspecified", "language": lang or "unknown"}
            for prompt_id, dim, lang in rows["items"]}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTED_KINDS, 0))
    for annotator, prompt_id, kind, *_rest in rows["judgments"]:
        if kind not in COUNTED_KINDS:
            continue
        counts["overall"][kind] += 1
        for key in by:
            value = annotator if key == "annotator" else meta.get(prompt_id, {}).get(key, "unknown")
            counts[f"{key}={value}"][kind] += 1
    scopes = ["overall"] + [scope for key in by for scope in sorted(
        s for s in counts if s.startswith(key + "="))]
    return [OutcomeRow(scope, **counts[scope]) for scope in scopes]


def _subset(ratings: dict[ag.PairUnit, dict[str, str]], items: set[str]
            ) -> dict[ag.PairUnit, dict[str, str]]:
    return {unit: labels for unit, labels in ratings.items() if unit.item_id in items}


def _items_rated_twice(ratings: dict[Any, dict[str, Any]]) -> set[Hashable]:
    return {ag.item_of_unit(unit) for unit, labels in ratings.items() if len(labels) >= 2}


def _scope_sums(ratings: dict[ag.PairUnit, dict[str, str]],
                choices: dict[str, dict[Hashable, dict[str, Any]]],
                outcomes: dict[str, dict[str, str]] | None = None) -> dict[str, ag.ItemSums]:
    with_ties = ag.percent_agreement_sums(ratings, with_ties=True)
    has_ties = any(label == ag.TIE for labels in ratings.values() for label in labels.values())
    sums: dict[str, ag.ItemSums] = {
        "percent_agreement": with_ties,
        # Without a single tie both figures are the same: skip the second count.
        "percent_agreement_without_ties": (ag.percent_agreement_sums(ratings, with_ties=False)
                                           if has_ties else with_ties),
        # Orientation-free (double entry): a unit's "first" is only the candidate with the lower
        # id, so the chance terms must not depend on which one that is (core/agreement.py).
        "krippendorff_alpha": ag.krippendorff_alpha_sums(ratings, swap=ag.ORIENTATION),
        "fleiss_kappa": ag.fleiss_kappa_sums(ratings, swap=ag.ORIENTATION),
    }
    for name, choice in choices.items():
        sums[f"{name}_choice_alpha"] = ag.krippendorff_alpha_sums(choice, item_of=None)
    if outcomes is not None:
        sums["outcome_alpha"] = ag.krippendorff_alpha_sums(outcomes, item_of=None)
    return sums


def _scope_rows(scope: str, sums: dict[str, ag.ItemSums],
                intervals: dict[str, ag.BootstrapInterval], min_items: int) -> list[StatRow]:
    out = []
    for name, stat in sums.items():
        value = stat.value() if stat.n_units else math.nan
        interval = intervals.get(f"{scope}\x1f{name}")
        n = len(stat.items)
        shown_verdict = (ag.verdict(value, n, min_items)
                         if name in (HEADLINE, "fleiss_kappa") or name.endswith("_alpha") else "")
        out.append(StatRow(scope, name, value, interval.low if interval else math.nan,
                           interval.high if interval else math.nan, n, shown_verdict))
    return out


def agreement_report(rows: dict[str, list[tuple]], *, by: Sequence[str] = (), min_shared: int = 10,
                     seed: int = 42, resamples: int = 2000) -> AgreementReport:
    """Compute the report from `store.agreement_rows()`."""
    judgments, ratings = collect_labels(rows)
    annotators = sorted({r[0] for r in rows["judgments"]} | {r[0] for r in rows["pairwise"]})
    choices = {"best": ag.choice_ratings(judgments, "best"),
               "worst": ag.choice_ratings(judgments, "worst")}
    # The outcome agreement only where some judgment has no preference: with preferences alone
    # it is undefined (one category) and would only add a row of dashes.
    outcomes = outcome_ratings(rows)
    with_outcomes = any(label != PREFERENCE for labels in outcomes.values()
                        for label in labels.values())
    # Items two or more people judged: by their pairwise labels, or by their outcomes (two
    # "cannot judge" rate no pair, yet agree).
    shared = _items_rated_twice(ratings) | (
        {item for item, labels in outcomes.items() if len(labels) >= 2} if with_outcomes
        else set())
    report = AgreementReport(judgments=len(rows["judgments"]) + len(rows["pairwise"]),
                             annotators=annotators, items_with_two_or_more=len(shared),
                             outcomes=outcome_counts(rows, [*by, "annotator"]))
    scopes: dict[str, dict[str, ag.ItemSums]] = {
        "overall": _scope_sums(ratings, choices, outcomes if with_outcomes else None)}

    meta = {prompt_id: {"dimension": dim or "unspecified", "language": lang or "unknown"}
            for prompt_id, dim, lang in rows["items"]}
    for key in by:
        groups: dict[str, set[str]] = defaultdict(set)
        for item in shared:
            groups[meta.get(str(item), {}).get(key, "unknown")].add(str(item))
        for value, items in sorted(groups.items()):
            subset_choices = {name: {i: c for i, c in choice.items() if i in items}
                              for name, choice in choices.items()}
            subset_outcomes = ({i: o for i, o in outcomes.items() if i in items}
                               if with_outcomes else None)
            scopes[f"{key}={value}"] = _scope_sums(_subset(ratings, items), subset_choices,
                                                   subset_outcomes)

    # Annotator pairs: kappa on the pairwise labels of the items both judged.
    per_annotator = ag.by_annotator(ratings)
    items_of = {a: {ag.item_of_unit(u) for u in units} for a, units in per_annotator.items()}
    pair_sums = ag.cohen_kappa_pair_sums(per_annotator, min_shared=1, swap=ag.ORIENTATION)
    eligible = {pair: sums for pair, sums in pair_sums.items()
                if len(items_of[pair[0]] & items_of[pair[1]]) >= min_shared}

    # One bootstrap for everything: the same resampled datasets behind every interval.
    everything = {f"{scope}\x1f{name}": stat for scope, sums in scopes.items()
                  for name, stat in sums.items()}
    everything.update({f"pair\x1f{a}\x1f{b}": stat for (a, b), stat in eligible.items()})
    all_items = sorted(shared, key=str)
    intervals = ag.bootstrap_cis(all_items, everything, seed, n_resamples=resamples) \
        if all_items else {}
    for scope, sums in scopes.items():
        report.rows.extend(_scope_rows(scope, sums, intervals, min_shared))
    for a, b in combinations(annotators, 2):
        shared = len(items_of.get(a, set()) & items_of.get(b, set()))
        value = eligible[(a, b)].value() if (a, b) in eligible else None
        interval = intervals.get(f"pair\x1f{a}\x1f{b}")
        report.pairs.append(PairRow(
            a, b, value, interval.low if interval else math.nan,
            interval.high if interval else math.nan, shared,
            ag.verdict(value if value is not None else math.nan, shared, min_shared)))

    report.per_annotator = _annotator_rows(rows, annotators, report.pairs)
    report.rankings = _ranking_rows(rows, min_shared)
    return report


def _annotator_rows(rows: dict[str, list[tuple]], annotators: list[str],
                    pairs: list[PairRow]) -> list[AnnotatorRow]:
    adjudicated = {p: (b, w) for p, b, w in rows["adjudications"]}
    gold = {p: (b, w) for p, b, w in rows["gold"]}
    flags = dict(rows["flags"])
    out = []
    for name in annotators:
        mine = [r for r in rows["judgments"] if r[0] == name]
        ranked = [r for r in mine if r[2] == "ranked"]
        pairwise_items = {r[1] for r in rows["pairwise"] if r[0] == name}
        seconds = [r[8] for r in ranked if r[8] is not None]
        touched = len(mine) + len(pairwise_items - {r[1] for r in mine})
        kappa_with = {}
        for pair in pairs:
            if name in (pair.annotator_a, pair.annotator_b):
                other = pair.annotator_b if pair.annotator_a == name else pair.annotator_a
                kappa_with[other] = pair.kappa
        on_adjudicated = [r for r in ranked if r[1] in adjudicated]
        matched = [r for r in on_adjudicated if (r[4], r[5]) == adjudicated[r[1]]]
        on_gold = [r for r in ranked if r[1] in gold]
        right = [r for r in on_gold if r[4] == gold[r[1]][0]
                 and (gold[r[1]][1] is None or r[5] == gold[r[1]][1])]
        out.append(AnnotatorRow(
            annotator=name, items_done=len(ranked) + len(pairwise_items - {r[1] for r in ranked}),
            median_seconds=statistics.median(seconds) if seconds else None,
            skip_share=sum(r[2] == "skipped" for r in mine) / len(mine) if mine else 0.0,
            flag_share=flags.get(name, 0) / touched if touched else 0.0,
            kappa_with=kappa_with,
            adjudicated_agreement=len(matched) / len(on_adjudicated) if on_adjudicated else None,
            adjudicated_items=len(on_adjudicated),
            gold_accuracy=len(right) / len(on_gold) if on_gold else None,
            gold_items=len(on_gold),
            no_difference=sum(r[2] == "no_difference" for r in mine),
            cannot_judge=sum(r[2] == "cannot_judge" for r in mine)))
    return out


def _ranking_rows(rows: dict[str, list[tuple]], min_items: int) -> list[StatRow]:
    """Kendall's tau (items with two rankers, mean) and W (items with 3+ rankers, mean)."""
    by_item: dict[str, list[dict[str, float]]] = defaultdict(list)
    for _annotator, prompt_id, kind, _shown, _b, _w, groups, _d, _s in rows["judgments"]:
        if kind == "ranked" and groups:
            by_item[prompt_id].append(ag.rank_positions([list(g) for g in groups]))
    taus = [ag.kendall_tau(r[0], r[1]) for r in by_item.values() if len(r) == 2]
    taus += [ag.kendall_tau(a, b) for r in by_item.values() if len(r) > 2
             for a, b in combinations(r, 2)]
    ws = [ag.kendall_w(r) for r in by_item.values() if len(r) >= 3]
    out = []
    for name, values, n in (("kendall_tau_mean", taus, len([r for r in by_item.values()
                                                            if len(r) >= 2])),
                            ("kendall_w_mean", ws, len(ws))):
        finite = [v for v in values if math.isfinite(v)]
        if values:
            value = statistics.fmean(finite) if finite else math.nan
            out.append(StatRow("rankings", name, value, math.nan, math.nan, n,
                               ag.verdict(value, n, min_items)))
    return out


def agreement_summary(rows: dict[str, list[tuple]], *, seed: int = 42,
                      resamples: int = 200) -> dict[str, Any]:
    """The overall figures an export manifest and the quality report carry: who judged, how many
    items several people judged, and the headline statistics with their 95% intervals."""
    # Only items two or more people judged carry agreement: leave the rest out before the
    # Python work (on a million judgments with few shared items this is most of them).
    raters: dict[Any, set[str]] = defaultdict(set)
    for row in (*rows["judgments"], *rows["pairwise"]):
        raters[row[1]].add(row[0])
    shared = {item for item, who in raters.items() if len(who) >= 2}
    subset = {**rows, "judgments": [r for r in rows["judgments"] if r[1] in shared],
              "pairwise": [r for r in rows["pairwise"] if r[1] in shared]}
    report = agreement_report(subset, seed=seed, resamples=resamples)
    overall = {row.statistic: {"value": None if math.isnan(row.value) else round(row.value, 4),
                               "low": None if math.isnan(row.low) else round(row.low, 4),
                               "high": None if math.isnan(row.high) else round(row.high, 4),
                               "items": row.items, "verdict": row.verdict}
               for row in report.rows if row.scope == "overall"}
    annotators = {r[0] for r in (*rows["judgments"], *rows["pairwise"])}
    return {"judgments": len(rows["judgments"]) + len(rows["pairwise"]),
            "annotators": len(annotators),
            "items_judged_by_two_or_more": report.items_with_two_or_more,
            "headline": HEADLINE, "overall": overall}
