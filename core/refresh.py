"""`prefer refresh`: the standards behind preference data change (policies, regulation, brand
voice), so teams re-check old decisions. Refresh finds the stale ones and re-queues their items;
the report then says how many decisions changed, by dimension.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from core.errors import BadInputError
from core.models import RefreshCounts, RefreshCriteria, RefreshOutcome, SourceFilter
from core.project import Project
from core.store.api import Store

_DURATION = re.compile(r"(\d+)\s*([hdwy])")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1),
          "y": timedelta(days=365)}


def parse_duration(text: str) -> timedelta:
    """'90d', '12w', '36h' or '1y' as a timedelta; BadInputError otherwise."""
    match = _DURATION.fullmatch(text.strip())
    if not match or int(match.group(1)) == 0:
        raise BadInputError(f"--older-than '{text}': expected a duration such as 90d, 12w, "
                            "36h or 1y")
    return int(match.group(1)) * _UNITS[match.group(2)]


def refresh(store: Store, project: Project, *, actor: str, older_than: str | None = None,
            guideline_before: str | None = None, to: Sequence[str] = (),
            dry_run: bool = False, now: datetime | None = None) -> RefreshCounts:
    """Re-queue items whose current decisions are older than `older_than` (a duration) or were
    made under guidelines before `guideline_before` ('current': the guidelines.md in force)."""
    if older_than is None and guideline_before is None:
        raise BadInputError("say which decisions are stale: --older-than DURATION or "
                            "--guideline-before VERSION", hint="e.g. prefer refresh "
                                                                "--older-than 90d")
    cutoff = None
    if older_than is not None:
        cutoff = (now or datetime.now(UTC).replace(tzinfo=None)) - parse_duration(older_than)
    guideline = guideline_before
    if guideline == "current":
        guideline = project.guideline_version()
    return store.refresh(RefreshCriteria(cutoff, guideline, tuple(to)), dry_run=dry_run,
                         actor=actor)


@dataclass(frozen=True)
class RefreshChanges:
    """Decisions re-made after a refresh, and how many flipped (best or worst, or the ranking,
    changed), overall and per dimension."""

    answered: int = 0
    flipped: int = 0
    by_dimension: dict[str, tuple[int, int]] = field(default_factory=dict)  # (answered, flipped)


def _flipped(outcome: RefreshOutcome) -> bool:
    def order(best: str | None, worst: str | None,
              groups: tuple[tuple[str, ...], ...] | None) -> tuple:
        if groups:
            return tuple(tuple(sorted(g)) for g in groups)
        return ((best,), (worst,))
    return order(outcome.stale_best, outcome.stale_worst, outcome.stale_groups) != \
        order(outcome.new_best, outcome.new_worst, outcome.new_groups)


def changes_at_refresh(outcomes: Sequence[RefreshOutcome]) -> RefreshChanges:
    by_dimension: dict[str, list[int]] = {}
    for outcome in outcomes:
        entry = by_dimension.setdefault(outcome.dimension, [0, 0])
        entry[0] += 1
        entry[1] += _flipped(outcome)
    return RefreshChanges(sum(v[0] for v in by_dimension.values()),
                          sum(v[1] for v in by_dimension.values()),
                          {d: (v[0], v[1]) for d, v in sorted(by_dimension.items())})


@dataclass(frozen=True)
class SourcesSection:
    """The report's part on where decisions came from: pairs by who decided them (experts, or a
    trusted import kind), pairs by the prompt's user turns, what changed at refresh, and how
    often experts confirmed the sources' pre-labels."""

    decided_by: dict[str, int]
    by_turns: dict[str, int]
    refresh: RefreshChanges
    # Per import kind: (pre-labels whose item an expert judged, confirmed, overturned): how
    # often the experts agree with the source.
    pre_labels: dict[str, tuple[int, int, int]] = field(default_factory=dict)


def sources_section(store: Store) -> SourcesSection:
    return SourcesSection(store.pair_counts("decided_by"),
                          store.pair_counts("turns", sources=SourceFilter()),
                          changes_at_refresh(store.refresh_outcomes()),
                          {kind: (judged, confirmed, overturned) for kind, judged, confirmed,
                           overturned in store.pre_label_outcomes()})
