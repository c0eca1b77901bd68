"""`prefer pairs` (build and filter pairs, say what was dropped and why) and `prefer balance`."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.text import Text

from core.balance import BalanceSummary, parse_targets, summarize
from core.config import BALANCE_BY
from core.models import PairBuild
from core.pairs import build_pairs
from core.sources import parse_source_filter
from core.text import printable
from tui.commands.common import (
    JsonOption,
    ProjectOption,
    SourceOption,
    StrategyOption,
    os_user,
    project_store,
    reports_errors,
    share_bar,
    stdout,
)
from tui.progress import QuietOption, working

# What each filter means, in the words the output uses.
FILTER_REASONS = {
    "empty": "a field is empty or only whitespace",
    "encoding": "control characters or invalid bytes in a text",
    "truncated": "a response cut off by the length limit, or ending mid-sentence",
    "near_identical": "chosen and rejected differ in nothing that matters",
    "language_mismatch": "a response in another language than its prompt",
    "duplicate": "the same prompt, chosen and rejected as an earlier pair",
    "contradiction": "A over B here, B over A for the same or a near-duplicate prompt",
    "balanced_out": "removed by the balance plan (lowest agreement first)",
}

@reports_errors
def pairs(
    project: ProjectOption = None,
    strategy: StrategyOption = None,
    source: SourceOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Build preference pairs from the judgments, filter them, and say what was dropped and why.

    Each item gives pairs from its reviewer's decision, else from its annotators when they
    agree; items they disagree on, or with an open flag, are held back. Filters, in order:
    empty fields, encoding problems, truncated responses, near-identical chosen and rejected
    (`pairs.near_identical_threshold`), a response in another language than the prompt,
    duplicates, contradictions. A balance plan (`prefer balance --apply`) then applies.
    `prefer export` and `prefer report` build the same way first.

    **Examples**

    ```
      prefer pairs -p ./alignment
      prefer pairs --strategy best-vs-worst
      prefer pairs --json
      prefer pairs --source experts
    ```

    Every build says how many kept pairs each decider gives (experts, or a source trusted with
    `prefer import --kind KIND --trust`); `--source` limits the counts by dimension to pairs
    decided by those (docs/sources.md).
    """
    sources = parse_source_filter(source)
    with project_store(project) as (proj, store), working("Building pairs", quiet):
        build = build_pairs(store, proj.config, os_user(), strategy=strategy)
        by_decider = store.pair_counts("decided_by")
        limited = store.pair_counts("dimension", sources=sources) if sources.active else None
    if json_output:
        stdout.print_json(json.dumps({**asdict(build), "kept_by_decider": by_decider,
                                      "kept_by_dimension_of_sources": limited}, default=str))
        return
    print_build(build, proj.config.pairs.near_identical_threshold)
    if set(by_decider) - {"experts"}:
        stdout.print("Kept by who decided: " + " · ".join(
            f"{printable(d)} {n:,}" for d, n in by_decider.items()), markup=False)
    if limited is not None:
        stdout.print(printable(f"With --source {source}: {sum(limited.values()):,} kept"
                               + (": " + " · ".join(f"{d} {n:,}" for d, n in limited.items())
                                  if limited else "") + "."), markup=False)


def print_build(build: PairBuild, threshold: float) -> None:
    stdout.print(f"Built {build.pairs_built:,} pairs from {build.items:,} "
                 f"item{'' if build.items == 1 else 's'} ({build.strategy}); "
                 f"[bold]{build.kept:,} kept[/].", markup=True)
    dropped = {**build.dropped, "balanced_out": build.balanced_out}
    if any(dropped.values()):
        stdout.print("Dropped:")
        for name, count in dropped.items():
            if count:
                reason = FILTER_REASONS[name]
                if name == "near_identical":
                    reason += (f" ({build.trivial:,} only in whitespace, punctuation, case or "
                               f"markup; the rest ≥ {threshold:.0%} similar with no change that "
                               "carries meaning)")
                if name == "balanced_out" and build.balance_plan is not None:
                    reason += f"; plan by {build.balance_by}: " + ", ".join(
                        f"{k}={v:g}" for k, v in build.balance_plan.items())
                stdout.print(printable(f"  {name.replace('_', ' '):<18} {count:>8,}   {reason}"),
                             markup=False)
    else:
        stdout.print("Dropped: none.")
    held = build.held_back_disputed + build.held_back_flagged
    if held:
        stdout.print(f"Held back: {held:,} item{'' if held == 1 else 's'} "
                     f"({build.held_back_disputed:,} with annotators who disagree, "
                     f"{build.held_back_flagged:,} with an open flag): `prefer disagreements` "
                     "lists them, `prefer adjudicate` decides them.")
    if build.contradictions:
        stdout.print("Contradictions (both pairs held back; first ones):")
        for c in build.contradictions[:5]:
            stdout.print(printable(f"  {c.prompt_id} prefers “{_clip(c.chosen_start)}” over "
                                   f"“{_clip(c.rejected_start)}”; {c.other_prompt_id} the "
                                   "opposite"), markup=False)
    if build.minimal:
        stdout.print(f"Minimal pairs kept: {build.minimal:,} (alike but for a change that carries "
                     "meaning: " + ", ".join(f"{reason} {n:,}" for reason, n in
                                            build.minimal_by_reason.items()) + ")",
                     markup=False)
    if build.kept_by_dimension:
        stdout.print("Kept by dimension: " + " · ".join(
            f"{printable(d)} {n:,}" for d, n in build.kept_by_dimension.items()), markup=False)
    if build.languages_detected:
        stdout.print(f"Detected the language of {build.languages_detected:,} older rows.")


def _clip(text: str, width: int = 28) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


@reports_errors
def balance(
    project: ProjectOption = None,
    by: Annotated[str, typer.Option("--by", help="Balance over: " + ", ".join(BALANCE_BY)
                                    + ".")] = "dimension",
    target: Annotated[str | None, typer.Option(
        "--target", help="Target shares, e.g. accuracy=0.3,tone=0.15 (or 30%); values left out "
        "share the rest equally. Default: prefer.toml [balance.targets] for dimensions, else "
        "equal shares.")] = None,
    apply: Annotated[bool, typer.Option(
        "--apply", help="Downsample over-represented values to the targets (deterministic, "
        "highest-agreement pairs kept first); every later build and export keeps the plan.")
    ] = False,
    clear: Annotated[bool, typer.Option("--clear", help="Drop the balance plan in force.")
                     ] = False,
    source: SourceOption = None,
    strategy: StrategyOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Shares of the kept pairs per dimension (or language, or source) against target shares.

    Shows each value's pairs, share and target as bars, and how many more pairs each
    under-represented value needs ("accuracy needs 340 more pairs to reach 25%"). With --apply,
    over-represented values are downsampled to the targets: the pairs with the highest
    annotator agreement stay, ties broken by a seeded draw, so the same data gives the same
    dataset. Adding pairs is up to you: generate or annotate more for the values in deficit.

    **Examples**

    ```
      prefer balance --by dimension
      prefer balance --by dimension --target accuracy=0.3,tone=0.15 --apply
      prefer balance --by language
      prefer balance --clear
    ```
    """
    if apply and clear:
        raise typer.BadParameter("use --apply or --clear, not both")
    sources = parse_source_filter(source)
    if sources.active and (apply or clear):
        raise typer.BadParameter("a balance plan applies to every pair: show the shares of some "
                                 "sources with --source, apply without it", param_hint="--source")
    with project_store(project) as (proj, store):
        config = proj.config
        if by not in BALANCE_BY:
            raise typer.BadParameter(f"'{by}' is not one of: {', '.join(BALANCE_BY)}",
                                     param_hint="--by")
        universe = list(config.project.dimensions) if by == "dimension" else []
        if target is not None:
            explicit = parse_targets(target, universe or None)
        else:
            explicit = dict(config.balance.targets) if by == "dimension" else {}
        if clear:
            store.save_balance_plan(by, None, config.export.seed, os_user())
        with working("Building pairs", quiet):
            build = build_pairs(store, config, os_user(), strategy=strategy)
        counts = store.pair_counts(by, before_balance=True, sources=sources)
        summary = summarize(by, counts, explicit, universe)
        if apply:
            store.save_balance_plan(by, explicit, config.export.seed, os_user())
            with working("Rebuilding with the plan", quiet):
                build = build_pairs(store, config, os_user(), strategy=strategy)
        plan = store.balance_plan()
    if json_output:
        stdout.print_json(json.dumps({"summary": asdict(summary), "plan": plan,
                                      "kept": build.kept, "balanced_out": build.balanced_out}))
        return
    print_balance(summary)
    if apply:
        stdout.print(f"Applied: kept {build.kept:,} pairs, removed {build.balanced_out:,} "
                     "(lowest agreement first). `prefer export` uses this plan until "
                     "`prefer balance --clear`.")
    elif clear:
        stdout.print(f"Cleared the balance plan: {build.kept:,} pairs kept.")
    elif plan is not None:
        stdout.print(f"A plan by {plan[0]} is in force ({build.balanced_out:,} pairs removed); "
                     "shares above are before it. `prefer balance --clear` drops it.")
    elif summary.total and summary.balanced_total < summary.total:
        stdout.print(f"--apply would keep {summary.balanced_total:,} of {summary.total:,} pairs.")


BAR_WIDTH = 30


def print_balance(summary: BalanceSummary) -> None:
    # The bars span the largest share or target, so small differences stay visible.
    scale = max([r.share for r in summary.rows] + [r.target for r in summary.rows] + [0.01])
    stdout.print(f"Balance of {summary.total:,} kept pairs by {summary.by} "
                 f"(┃ marks the target; a full bar is {scale:.0%}):")
    values = {r.value: printable(r.value) for r in summary.rows}  # dimensions, languages, sources
    width = max([len(v) for v in values.values()] + [8])
    for row in summary.rows:
        line = Text(f"  {values[row.value]:<{width}} ")
        line.append_text(share_bar(row.share, row.target, scale, BAR_WIDTH))
        line.append(f" {row.share:>6.1%}  target {row.target:>5.1%}  {row.pairs:>8,} pairs")
        stdout.print(line)
    for row in summary.rows:
        value = values[row.value]
        if row.needed is None:
            stdout.print(f"  {value} cannot reach {row.target:.0%} while other values have "
                         "pairs: lower its target.", markup=False)
        elif row.needed:
            stdout.print(Text(f"  {value} needs {row.needed:,} more pair"
                              f"{'' if row.needed == 1 else 's'} to reach {row.target:.0%}",
                              style="yellow"))
        elif row.pairs > row.quota:
            stdout.print(f"  {value} is over its target: --apply keeps {row.quota:,} of "
                         f"{row.pairs:,}", markup=False)
