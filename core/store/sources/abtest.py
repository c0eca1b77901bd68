"""`abtest`: two variants of a response compared on live traffic. A result implies a preference
(winner > loser) only when its p-value is at most `--max-p`; ties and results that are not
significant are counted and reported.

The p-value is the file's `p_value`, else computed with SciPy from the counts: with `n_a` and
`n_b` (users shown each variant) Fisher's exact test of wins_a/n_a against wins_b/n_b, else a
two-sided binomial test of wins_a against wins_b (head-to-head votes, 50/50 under no preference).
"""

from __future__ import annotations

from typing import Any

from core.models import SourceOptions
from core.store.sources.common import (
    Bad,
    Collected,
    Implied,
    SourceKind,
    conversation,
    number,
    read_rows,
    text,
)

WINNERS = ("a", "b", "tie")


def _count(values: dict[str, Any], name: str) -> int | None:
    value = number(values, name)
    if value is None:
        return None
    if value < 0 or value != int(value):
        raise Bad(name, f"expected a whole number of 0 or more, got {value:g}")
    return int(value)


def p_value_of(values: dict[str, Any]) -> float:
    """The row's p-value: given, or computed from its counts."""
    given = number(values, "p_value")
    if given is not None:
        if not 0 <= given <= 1:
            raise Bad("p_value", f"expected a number from 0 to 1, got {given:g}")
        return given
    wins_a, wins_b = _count(values, "wins_a"), _count(values, "wins_b")
    if wins_a is None or wins_b is None:
        missing = "wins_a" if wins_a is None else "wins_b"
        raise Bad("p_value" if wins_a is None and wins_b is None else missing,
                  "missing (give p_value, or wins_a and wins_b to compute it from)")
    n_a, n_b = _count(values, "n_a"), _count(values, "n_b")
    if (n_a is None) != (n_b is None):
        raise Bad("n_b" if n_b is None else "n_a", "give both n_a and n_b, or neither")
    if n_a is not None and n_b is not None:
        if wins_a > n_a:
            raise Bad("wins_a", f"is {wins_a}, more than n_a ({n_a})")
        if wins_b > n_b:
            raise Bad("wins_b", f"is {wins_b}, more than n_b ({n_b})")
        table = [[wins_a, n_a - wins_a], [wins_b, n_b - wins_b]]
        from scipy import stats  # here, not at the top: every `prefer` start would load SciPy

        return float(stats.fisher_exact(table).pvalue)
    if wins_a + wins_b == 0:
        return 1.0
    from scipy import stats

    return float(stats.binomtest(wins_a, wins_a + wins_b, 0.5).pvalue)


def _read_row(line: int, values: dict[str, Any], out: Collected, max_p: float) -> None:
    conv = conversation(values, out.dimensions)
    assert conv is not None
    variant_a = text(values, "a", required="variant A's response")
    variant_b = text(values, "b", required="variant B's response")
    assert variant_a is not None and variant_b is not None
    raw = text(values, "winner", required="a, b or tie")
    assert raw is not None
    winner = raw.lower()
    if winner not in WINNERS:
        raise Bad("winner", f"expected a, b or tie, got '{raw}'")
    p_value = p_value_of(values)
    prompt_id = out.add_conversation(line, conv)
    out.add_response(line, prompt_id, variant_a)
    out.add_response(line, prompt_id, variant_b)
    if winner == "tie":
        out.ignore(line, "a tie")
        return
    if p_value > max_p:
        out.ignore(line, f"not significant (p > {max_p:g})")
        return
    chosen, rejected = (variant_a, variant_b) if winner == "a" else (variant_b, variant_a)
    out.prefer(Implied(line, prompt_id, chosen, rejected, p_value=p_value))


def read(rows: list[tuple[int, dict[str, Any]]], out: Collected, options: SourceOptions) -> None:
    read_rows(KIND, rows, lambda line, values: _read_row(line, values, out, options.max_p))


KIND = SourceKind(
    name="abtest", label="A/B test",
    summary="A/B test results: winner > loser when p <= --max-p",
    required=("a", "b", "winner"), optional=("p_value", "wins_a", "wins_b", "n_a", "n_b"),
    read=read)
