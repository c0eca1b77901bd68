"""The quality report (`prefer report`): scale, filters, balance, confounds, agreement, staleness.

Reads the kept pairs of the latest build (core/store/quality.py) and turns them into findings,
each with a plain-language warning that says what to do when it crosses its threshold
(`[report]` in prefer.toml). `quality_report` rebuilds the pairs first, so the report always
matches the current judgments. No UI here: the terminal and the HTML page draw it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core import agreement_report as agreement_stats
from core.balance import BalanceSummary, summarize
from core.config import Config
from core.judge import ObviousItems, judge_checks
from core.models import SourceFilter
from core.pairs import build_pairs
from core.progress import ProgressReport, phase, silent
from core.project import Project
from core.refresh import SourcesSection, sources_section
from core.store.api import Store
from core.store.quality import FORMATTING_PATTERNS, RATIO_BUCKETS, RATIO_QUANTILES, QualityFacts
from core.token_lengths import (
    LLAMAFACTORY_CUTOFF_LEN,
    TRL_MAX_LENGTH,
    TokenLengths,
    load_tokenizer,
    token_lengths,
)

# Fewer pairs than this behind a figure: too few to call it a pattern, no warning.
MIN_PAIRS_FOR_WARNING = 20
# A dimension this far (share points) under its target gets a warning with the pairs it needs.
BALANCE_SLACK = 0.05
# Bootstrap resamples of the agreement summary (`prefer agreement` gives the full intervals).
AGREEMENT_RESAMPLES = 200
AGREEMENT_MIN_ITEMS = 10

SCALE_BANDS: tuple[tuple[int, str, str], ...] = (
    (500, "too few", "too few for a consistent change"),
    (2000, "narrow", "usable for a narrow change"),
    (5000, "recommended", "in the recommended range (2,000-3,000 for most goals)"),
)
FEATURE_LABELS = {"lists": "lists", "headings": "headings", "code": "code blocks",
                  "tables": "tables"}


@dataclass(frozen=True)
class Scale:
    kept: int
    verdict: str  # too few, narrow, recommended, comprehensive
    sentence: str
    contradictions: int  # pairs dropped because another pair prefers the opposite


@dataclass(frozen=True)
class Filters:
    """What the latest build made and dropped (None fields: no build recorded)."""

    build_id: str | None
    built_at: datetime | None
    built_by: str | None
    strategy: str | None
    items: int | None
    pairs_built: int
    kept: int
    dropped: dict[str, int]  # filter -> pairs, in the order the filters run
    balanced_out: int
    held_back_disputed: int
    held_back_flagged: int
    balance_by: str | None = None
    balance_plan: dict[str, float] | None = None
    minimal: int = 0  # kept pairs alike but for a change that carries meaning (core/difference.py)
    minimal_by_reason: dict[str, int] = field(default_factory=dict)
    trivial: int = 0  # near_identical drops that differ only in whitespace, punctuation, case


@dataclass(frozen=True)
class Balance:
    dimension: BalanceSummary
    language: BalanceSummary
    source: BalanceSummary  # the file each prompt was imported from
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RatioBin:
    label: str  # chosen length / rejected length, e.g. "1 to 2"
    pairs: int


@dataclass(frozen=True)
class LengthBias:
    pairs: int
    chosen_longer: int
    same_length: int
    rejected_longer: int
    chosen_longer_share: float | None
    rejected_longer_share: float | None
    quantiles: dict[str, float]  # "p10", "p25", "median", "p75", "p90" of chosen/rejected
    histogram: tuple[RatioBin, ...]
    median_chars_chosen: float | None
    median_chars_rejected: float | None


@dataclass(frozen=True)
class FormattingRow:
    feature: str  # lists, headings, code, tables
    label: str
    only_chosen: int
    only_rejected: int
    both: int
    neither: int

    @property
    def one_sided(self) -> int:
        return self.only_chosen + self.only_rejected

    @property
    def chosen_share(self) -> float | None:
        """Of the pairs where only one side has the feature, the share where it is chosen."""
        return self.only_chosen / self.one_sided if self.one_sided else None


@dataclass(frozen=True)
class SideRow:
    """How often a generation variant or a source is the chosen or the rejected side."""

    kind: str  # variant or source
    value: str | None  # None: imported (variant) or unknown (source)
    label: str
    only_chosen: int  # pairs where only the chosen side comes from it
    only_rejected: int
    both: int  # both sides come from it: says nothing about which wins

    @property
    def pairs(self) -> int:
        return self.only_chosen + self.only_rejected + self.both

    @property
    def chosen_share(self) -> float | None:
        return self.only_chosen / self.pairs if self.pairs else None

    @property
    def rejected_share(self) -> float | None:
        return self.only_rejected / self.pairs if self.pairs else None


@dataclass(frozen=True)
class Confounds:
    length: LengthBias
    formatting: tuple[FormattingRow, ...]
    variants: tuple[SideRow, ...]
    sources: tuple[SideRow, ...]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AgreementRow:
    scope: str  # "overall" or a dimension
    alpha: float | None  # Krippendorff's alpha on the pairwise labels
    low: float | None
    high: float | None
    items: int
    verdict: str


@dataclass(frozen=True)
class AgreementSummary:
    judgments: int
    annotators: int
    items_with_two_or_more: int
    overall: AgreementRow | None
    by_dimension: tuple[AgreementRow, ...] = ()
    warnings: list[str] = field(default_factory=list)
    # Judgments per outcome (preference, no difference, cannot judge, skipped): overall, per
    # dimension, per annotator; and the agreement on the outcome itself (None while every
    # judgment names a preference, or no item has two outcomes).
    outcomes: tuple[agreement_stats.OutcomeRow, ...] = ()
    outcome_agreement: AgreementRow | None = None

    @property
    def has_no_preference_outcomes(self) -> bool:
        return any(row.no_difference or row.cannot_judge for row in self.outcomes)


@dataclass(frozen=True)
class Staleness:
    kept: int
    max_age_days: int
    older_than_max_age: int
    oldest_judged_at: datetime | None
    judged_at_unknown: int
    current_guideline_version: str
    older_guideline_version: int
    stale: int  # by age, by guideline version, or both
    unknown_guideline_version: int
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class QualityReport:
    project: str
    generated_at: datetime
    scale: Scale
    filters: Filters
    balance: Balance
    confounds: Confounds
    agreement: AgreementSummary
    staleness: Staleness
    scale_warnings: list[str] = field(default_factory=list)
    token_lengths: TokenLengths | None = None  # with a tokenizer (core/token_lengths.py)
    judge: ObviousItems | None = None  # None: nothing judged by `prefer judge`
    sources: SourcesSection | None = None  # who decided, turns, changes at refresh
    # `--source`: the pair figures are of the pairs these sources decided (all when inactive).
    source_filter: SourceFilter = field(default_factory=SourceFilter)

    @property
    def warnings(self) -> list[str]:
        """Every warning, most basic first (scale, balance, confounds, agreement, staleness,
        then the judge's obvious items)."""
        return [*self.scale_warnings, *self.balance.warnings, *self.confounds.warnings,
                *self.agreement.warnings, *self.staleness.warnings,
                *(self.judge.warnings if self.judge else [])]


# --- entry points ---------------------------------------------------------------------------

def quality_report(store: Store, project: Project, actor: str, *, strategy: str | None = None,
                   now: datetime | None = None, tokenizer: Path | None = None,
                   max_length: int = TRL_MAX_LENGTH,
                   cutoff_len: int = LLAMAFACTORY_CUTOFF_LEN,
                   progress: ProgressReport = silent,
                   sources: SourceFilter = SourceFilter()) -> QualityReport:
    """Rebuild the pairs from the current judgments, then report on the kept ones (with
    `tokenizer`, a tokenizer.json, their token lengths against max_length and cutoff_len; with
    `sources`, only the pairs those sources decided, as `--source` limits pairs and export)."""
    if tokenizer is not None:
        load_tokenizer(tokenizer)  # a bad file is refused before the build
    with phase(progress, "Building pairs"):
        build_pairs(store, project.config, actor, strategy=strategy)
    with phase(progress, "Checking pairs and agreement (bootstrap)"):
        report = build_report(store, project.config, project, now=now, sources=sources)
    if tokenizer is None:
        return report
    with phase(progress, "Counting tokens"):
        return replace(report, token_lengths=token_lengths(
            store, tokenizer, max_length=max_length, cutoff_len=cutoff_len, sources=sources))


def build_report(store: Store, config: Config, project: Project,
                 now: datetime | None = None,
                 sources: SourceFilter = SourceFilter()) -> QualityReport:
    """The report on the pairs the store holds now (no rebuild; see `quality_report`)."""
    now_utc = now or _utc_now()  # stored times are naive UTC
    version = project.guideline_version()
    facts: QualityFacts = store.quality_facts(now_utc - timedelta(days=config.report.max_age_days),
                                              version, sources)
    filters = filters_of(facts, limited=sources.active)
    scale = scale_verdict(facts.kept, filters.dropped.get("contradiction", 0))
    return QualityReport(
        project=config.project.name, generated_at=now_utc, scale=scale, filters=filters,
        balance=balance_of(facts, config, applied_plan(filters)),
        confounds=confounds_of(facts, config),
        agreement=agreement_of(store.agreement_rows()),
        staleness=staleness_of(facts, config, version),
        scale_warnings=scale_warnings(scale), judge=judge_checks(store, config),
        sources=sources_section(store), source_filter=sources)


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# --- scale ----------------------------------------------------------------------------------

def scale_verdict(kept: int, contradictions: int = 0) -> Scale:
    """Where `kept` pairs stand against the guidance: under 500 too few, 2,000-3,000 recommended,
    5,000 and more comprehensive (then contradictions matter most)."""
    verdict, words = next(((v, w) for upper, v, w in SCALE_BANDS if kept < upper),
                          ("comprehensive", "comprehensive; check contradictions"))
    sentence = f"{kept:,} kept pairs: {words}."
    if verdict == "too few":
        sentence += f" Aim for 2,000-3,000; the minimum is 500 ({500 - kept:,} to go)."
    elif verdict == "narrow":
        sentence += f" For most goals 2,000-3,000 are recommended ({2000 - kept:,} more)."
    elif verdict == "comprehensive":
        sentence += (f" This build dropped {contradictions:,} pair"
                     f"{'' if contradictions == 1 else 's'} as contradictions.")
    return Scale(kept, verdict, sentence, contradictions)


def scale_warnings(scale: Scale) -> list[str]:
    if scale.kept == 0:
        return ["No kept pairs yet: rank items with `prefer annotate` (and resolve disputed "
                "ones with `prefer adjudicate`); 2,000-3,000 pairs is the usual aim."]
    if scale.verdict == "too few":
        return [f"Only {scale.kept:,} kept pairs: too few for a consistent change in the model. "
                "Annotate more items; 2,000-3,000 pairs is the usual aim."]
    if scale.verdict == "comprehensive" and scale.contradictions:
        return [f"{scale.contradictions:,} pairs contradict other pairs (the same or a nearly "
                "identical prompt, the opposite preference) and were dropped. With this many "
                "pairs, check whether the guidelines say different things in different places."]
    return []


# --- filters --------------------------------------------------------------------------------

# The build's counts of all its pairs and items: not those of some sources (`limited`).
_BUILD_WIDE = ("pairs_built", "dropped", "balanced_out", "items", "held_back_disputed",
               "held_back_flagged", "minimal", "minimal_by_reason", "trivial")


def filters_of(facts: QualityFacts, limited: bool = False) -> Filters:
    """The latest build's counts; the pairs table's statuses where the build says nothing, or
    where the facts are `limited` to some sources' pairs (the build counted all of them)."""
    statuses = {k: v for k, v in facts.statuses.items() if k != "kept"}
    counts: dict[str, Any] = {}
    build_id = built_at = built_by = strategy = None
    if facts.latest_build is not None:
        build_id, built_by, built_at, strategy, _settings, counts_text = facts.latest_build
        try:
            parsed = json.loads(counts_text or "{}")
            counts = parsed if isinstance(parsed, dict) else {}
        except ValueError:
            counts = {}
    if limited:
        counts = {k: v for k, v in counts.items() if k not in _BUILD_WIDE}
    dropped = {str(k): int(v) for k, v in (counts.get("dropped") or statuses).items()
               if k != "balanced_out"}
    balanced_out = int(counts.get("balanced_out", statuses.get("balanced_out", 0)) or 0)
    kept = facts.kept
    plan = counts.get("balance_plan")
    return Filters(
        build_id=build_id, built_at=built_at, built_by=built_by, strategy=strategy,
        items=_int_or_none(counts.get("items")),
        pairs_built=int(counts.get("pairs_built") or kept + sum(dropped.values()) + balanced_out),
        kept=kept, dropped=dropped, balanced_out=balanced_out,
        held_back_disputed=int(counts.get("held_back_disputed") or 0),
        held_back_flagged=int(counts.get("held_back_flagged") or 0),
        balance_by=counts.get("balance_by"),
        minimal=int(counts.get("minimal") or 0),
        minimal_by_reason={str(k): int(v) for k, v in (counts.get("minimal_by_reason") or {}).items()},
        trivial=int(counts.get("trivial") or 0),
        balance_plan={str(k): float(v) for k, v in plan.items()} if isinstance(plan, dict)
        else None)


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


# --- balance --------------------------------------------------------------------------------

def applied_plan(filters: Filters) -> tuple[str, dict[str, float]] | None:
    """The balance plan the latest build applied (`prefer balance --apply`): (by, targets)."""
    if filters.balance_by and filters.balance_plan:
        return filters.balance_by, filters.balance_plan
    return None


def balance_of(facts: QualityFacts, config: Config,
               applied: tuple[str, dict[str, float]] | None = None) -> Balance:
    """Kept pairs by dimension, language and source, against the targets of the balance plan
    the build applied, else prefer.toml's dimension targets (equal shares where none is set)."""
    by, targets = applied or ("dimension", config.balance.targets)
    where = ("the applied balance plan (`prefer balance --apply`)" if applied
             else "prefer.toml [balance.targets]")
    dims = summarize("dimension", facts.by_dimension,
                     targets if by == "dimension" else config.balance.targets,
                     universe=config.project.dimensions)
    languages = summarize("language", facts.by_language, targets if by == "language" else {})
    sources = summarize("source", facts.by_prompt_source, targets if by == "source" else {})
    warnings = []
    if dims.total >= MIN_PAIRS_FOR_WARNING:
        for row in dims.rows:
            if row.target - row.share <= BALANCE_SLACK:
                continue
            if row.needed is None:
                warnings.append(f"{row.value} cannot reach its target of {row.target:.0%} by "
                                "adding pairs while other dimensions have pairs: lower its "
                                f"target in {where}.")
                continue
            warnings.append(
                f"{row.value} has {row.share:.0%} of the pairs against a target of "
                f"{row.target:.0%}: it needs {row.needed:,} more pairs to reach "
                f"{row.target:.0%}. Add prompts of this dimension (or downsample the others "
                "with `prefer balance`), or the model will learn little about it.")
    return Balance(dims, languages, sources, warnings)


# --- confounds ------------------------------------------------------------------------------

def confounds_of(facts: QualityFacts, config: Config) -> Confounds:
    settings = config.report
    length = _length(facts)
    formatting = tuple(FormattingRow(name, FEATURE_LABELS.get(name, name), *facts.formatting[name])
                       for name in FORMATTING_PATTERNS if name in facts.formatting)
    variants = tuple(SideRow("variant", v, _variant_label(v), c, r, b)
                     for v, c, r, b in facts.by_variant)
    sources = tuple(SideRow("source", v, _source_label(v), c, r, b)
                    for v, c, r, b in facts.by_source)
    warnings = [*length_warnings(length, settings.length_bias_warn),
                *formatting_warnings(formatting, settings.formatting_warn),
                *side_warnings(variants, settings.predictor_warn),
                *side_warnings(sources, settings.predictor_warn)]
    return Confounds(length, formatting, variants, sources, warnings)


def _length(facts: QualityFacts) -> LengthBias:
    names = [_quantile_name(q) for q in RATIO_QUANTILES]
    histogram = facts.ratio_histogram or (0,) * len(RATIO_BUCKETS)
    return LengthBias(
        pairs=facts.kept, chosen_longer=facts.chosen_longer, same_length=facts.same_length,
        rejected_longer=facts.rejected_longer,
        chosen_longer_share=facts.chosen_longer / facts.kept if facts.kept else None,
        rejected_longer_share=facts.rejected_longer / facts.kept if facts.kept else None,
        quantiles=dict(zip(names, facts.ratio_quantiles, strict=False)),
        histogram=tuple(RatioBin(label, n) for label, n in zip(RATIO_BUCKETS, histogram,
                                                                strict=True)),
        median_chars_chosen=facts.median_chars_chosen,
        median_chars_rejected=facts.median_chars_rejected)


def _quantile_name(q: float) -> str:
    return "median" if q == 0.5 else f"p{round(q * 100)}"


def length_warnings(length: LengthBias, threshold: float) -> list[str]:
    """Warn when one side is the longer one in more than `threshold` of the pairs."""
    if length.pairs < MIN_PAIRS_FOR_WARNING:
        return []
    if length.chosen_longer_share is not None and length.chosen_longer_share > threshold:
        return [f"Chosen is longer than rejected in {length.chosen_longer_share:.0%} of "
                f"{length.pairs:,} pairs: the model may learn that longer is better. Add pairs "
                "where the shorter answer wins, or check the guidelines."]
    if length.rejected_longer_share is not None and length.rejected_longer_share > threshold:
        return [f"Rejected is longer than chosen in {length.rejected_longer_share:.0%} of "
                f"{length.pairs:,} pairs: the model may learn that shorter is better. Add pairs "
                "where the longer answer wins, or check the guidelines."]
    return []


def formatting_warnings(rows: tuple[FormattingRow, ...], threshold: float) -> list[str]:
    """Warn when a feature sits on one side in more than `threshold` of the pairs where only
    one side has it."""
    out = []
    for row in rows:
        share = row.chosen_share
        if row.one_sided < MIN_PAIRS_FOR_WARNING or share is None:
            continue
        if share > threshold:
            out.append(
                f"Only the chosen answer has {row.label} in {share:.0%} of the {row.one_sided:,} "
                f"pairs where one side has {row.label}: the model may learn that {row.label} "
                f"make an answer better. Add pairs where the answer without {row.label} wins, "
                "or check the guidelines.")
        elif 1 - share > threshold:
            out.append(
                f"Only the rejected answer has {row.label} in {1 - share:.0%} of the "
                f"{row.one_sided:,} pairs where one side has {row.label}: the model may learn "
                f"to avoid {row.label}. Add pairs where the answer with {row.label} wins, or "
                "check the guidelines.")
    return out


def side_warnings(rows: tuple[SideRow, ...], threshold: float) -> list[str]:
    """Warn when a variant or a source is almost always on the same side: obvious pairs."""
    out = []
    for row in rows:
        if row.pairs < MIN_PAIRS_FOR_WARNING:
            continue
        for side, share in (("Chosen", row.chosen_share), ("Rejected", row.rejected_share)):
            if share is not None and share > threshold:
                out.append(
                    f"{side} comes from {row.label} in {share:.0%} of the {row.pairs:,} pairs it "
                    "appears in: these pairs are obvious and teach little. Pair it against "
                    "answers of the same kind, or generate harder alternatives.")
    return out


def _variant_label(variant: str | None) -> str:
    return "imported answers (no variant)" if variant is None else f"the '{variant}' variant"


def _source_label(source: str | None) -> str:
    if source is None:
        return "answers of unknown source"
    if source.startswith("run:"):
        return f"generation run {source.removeprefix('run:')}"
    return f"the file {os.path.basename(source)}"


# --- agreement ------------------------------------------------------------------------------

def agreement_of(rows: dict[str, list[tuple]]) -> AgreementSummary:
    """Krippendorff's alpha overall and per dimension, from core.agreement_report."""
    report = agreement_stats.agreement_report(rows, by=["dimension"],
                                              min_shared=AGREEMENT_MIN_ITEMS,
                                              resamples=AGREEMENT_RESAMPLES)
    outcomes = tuple(report.outcomes)
    if report.items_with_two_or_more == 0:
        return AgreementSummary(
            report.judgments, len(report.annotators), 0, None,
            warnings=["No item was judged by two annotators, so nobody knows whether the "
                      "guidelines are read the same way. Give some items to two people: "
                      "`prefer assign --overlap 0.2`."] if report.judgments else [],
            outcomes=outcomes)
    headline = [r for r in report.rows if r.statistic == agreement_stats.HEADLINE]
    rows_out = [AgreementRow(r.scope.removeprefix("dimension="), _finite(r.value),
                             _finite(r.low), _finite(r.high), r.items, r.verdict)
                for r in headline]
    outcome_agreement = next(
        (AgreementRow("outcome", _finite(r.value), _finite(r.low), _finite(r.high), r.items,
                      r.verdict)
         for r in report.rows if r.scope == "overall" and r.statistic == "outcome_alpha"), None)
    overall = next(r for r in rows_out if r.scope == "overall")
    by_dimension = tuple(r for r in rows_out if r.scope != "overall")
    warnings = []
    if overall.verdict == "ambiguous":
        warnings.append(f"Annotators agree weakly (Krippendorff's alpha {overall.alpha:.2f} over "
                        f"{overall.items:,} items; below 0.5): the guidelines leave room for "
                        "different readings. Look at `prefer disagreements`, then make the "
                        "guidelines more precise.")
    weak = [r.scope for r in by_dimension if r.verdict == "ambiguous"]
    if weak and overall.verdict != "ambiguous":
        warnings.append(f"Annotators agree weakly on {', '.join(weak)} (alpha below 0.5): make "
                        "the guidelines for that more precise (`prefer agreement --by "
                        "dimension` gives details).")
    return AgreementSummary(report.judgments, len(report.annotators),
                            report.items_with_two_or_more, overall, by_dimension, warnings,
                            outcomes, outcome_agreement)


def _finite(value: float) -> float | None:
    return value if value is not None and math.isfinite(value) else None


# --- staleness ------------------------------------------------------------------------------

def staleness_of(facts: QualityFacts, config: Config, current_version: str) -> Staleness:
    max_age = config.report.max_age_days
    unknown = facts.guideline_versions.get(None, 0)
    older = sum(n for v, n in facts.guideline_versions.items()
                if v is not None and v != current_version)
    warnings = []
    if facts.judged_before_cutoff:
        warnings.append(
            f"{facts.judged_before_cutoff:,} pairs ({facts.judged_before_cutoff / facts.kept:.0%})"
            f" were judged more than {max_age} days ago: what counted as a good answer then may "
            "not now. Have experts look at them again, or raise report.max_age_days in "
            "prefer.toml if they still hold.")
    if older:
        warnings.append(
            f"{older:,} pairs ({older / facts.kept:.0%}) were judged under an older version of "
            "guidelines.md: they may contradict what the guidelines say today. Have experts "
            "judge those items again under the current guidelines.")
    return Staleness(facts.kept, max_age, facts.judged_before_cutoff, facts.oldest_judged_at,
                     facts.judged_at_unknown, current_version, older, facts.stale, unknown,
                     warnings)


# --- JSON -----------------------------------------------------------------------------------

def report_to_dict(report: QualityReport) -> dict[str, Any]:
    """The report as JSON-ready values (NaN as null, times as ISO text), warnings included."""
    out = _plain(report)
    out["warnings"] = report.warnings
    confounds = out["confounds"]
    for row, source in zip(confounds["formatting"], report.confounds.formatting, strict=True):
        row["chosen_share"] = source.chosen_share
    for key in ("variants", "sources"):
        for row, side in zip(confounds[key], getattr(report.confounds, key), strict=True):
            row.update(pairs=side.pairs, chosen_share=side.chosen_share,
                       rejected_share=side.rejected_share)
    for key in ("dimension", "language", "source"):
        out["balance"][key]["balanced_total"] = getattr(report.balance, key).balanced_total
    return out


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
