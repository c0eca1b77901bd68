"""Balance: how the kept pairs spread over behaviour dimensions (or languages, or sources) against
target shares, what each one lacks in pairs, and the quotas a downsample keeps.

A dataset that is 80% tone and 5% accuracy aligns tone only. Targets are equal shares unless set
(prefer.toml `[balance.targets]` or `--target`); values left out share what the set ones leave.
Downsampling can only remove pairs, so the quotas are the largest dataset in which every value
is at its target share: N' = min over values of (pairs / target), quota = floor(target * N').
A value with no pairs at all cannot be reached by removing others; it is left out of N' and
reported as a deficit instead of emptying the dataset.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from core.config import BALANCE_BY
from core.errors import BadInputError


@dataclass(frozen=True)
class BalanceRow:
    value: str
    pairs: int
    share: float  # of all kept pairs
    target: float
    needed: int | None  # more pairs to reach the target, others unchanged (None: unreachable)
    quota: int  # pairs a downsample to the targets keeps


@dataclass(frozen=True)
class BalanceSummary:
    by: str
    total: int
    rows: tuple[BalanceRow, ...]

    @property
    def balanced_total(self) -> int:
        return sum(row.quota for row in self.rows)


def parse_targets(text: str, allowed: Sequence[str] | None = None) -> dict[str, float]:
    """`accuracy=0.3,tone=0.15` (shares, or percentages with %) as {value: share}."""
    targets: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, raw = part.partition("=")
        name, raw = name.strip(), raw.strip()
        if not sep or not name or not raw:
            raise BadInputError(f"--target: '{part}' is not NAME=SHARE",
                                hint="for example: --target accuracy=0.3,tone=0.15")
        try:
            share = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
        except ValueError:
            raise BadInputError(f"--target: '{raw}' (for {name}) is not a number") from None
        if not 0.0 <= share <= 1.0:
            raise BadInputError(f"--target: the share of {name} must be from 0 to 1, got {share}")
        if allowed is not None and name not in allowed:
            raise BadInputError(f"--target: '{name}' is not one of: {', '.join(allowed)}")
        targets[name] = share
    if sum(targets.values()) > 1.0 + 1e-9:
        raise BadInputError("--target: the shares add up to more than 1")
    return targets


def resolve_targets(values: Sequence[str], explicit: Mapping[str, float]) -> dict[str, float]:
    """A share for every value: the explicit ones, the rest sharing what is left equally."""
    rest = [v for v in values if v not in explicit]
    left = max(0.0, 1.0 - sum(explicit.values()))
    targets = {v: float(explicit[v]) for v in values if v in explicit}
    for value in rest:
        targets[value] = left / len(rest)
    return {v: targets[v] for v in values}


def needed_pairs(pairs: int, total: int, target: float) -> int | None:
    """Pairs to add to a value so it reaches `target`, the others unchanged: (n + x) / (N + x) = t.

    None when adding can never get there (a target of 100% while other values have pairs)."""
    if target <= 0 or (total and pairs / total >= target - 1e-12):
        return 0
    if target >= 1.0:
        return None
    return max(0, math.ceil((target * total - pairs) / (1.0 - target) - 1e-9))


def quotas(counts: Mapping[str, int], targets: Mapping[str, float]) -> dict[str, int]:
    """Pairs of each value a downsample keeps so every value sits at its target share."""
    reachable = [counts[v] / t for v, t in targets.items() if t > 0 and counts.get(v, 0) > 0]
    if not reachable:
        return {v: 0 for v in counts}
    size = min(reachable)
    return {v: min(counts.get(v, 0), math.floor(targets.get(v, 0.0) * size + 1e-9))
            for v in counts}


def summarize(by: str, counts: Mapping[str, int], explicit: Mapping[str, float],
              universe: Sequence[str] = ()) -> BalanceSummary:
    """Shares, targets, pairs needed and quotas of each value (those in `universe` even at 0)."""
    if by not in BALANCE_BY:
        raise BadInputError(f"--by: '{by}' is not one of: {', '.join(BALANCE_BY)}")
    values = list(dict.fromkeys([*universe, *sorted(counts), *explicit]))
    full = {v: int(counts.get(v, 0)) for v in values}
    targets = resolve_targets(values, explicit)
    total = sum(full.values())
    keep = quotas(full, targets)
    rows = tuple(
        BalanceRow(value=v, pairs=full[v], share=(full[v] / total if total else 0.0),
                   target=targets[v], needed=needed_pairs(full[v], total, targets[v]),
                   quota=keep.get(v, 0))
        for v in values)
    return BalanceSummary(by=by, total=total, rows=rows)
