"""`prefer agreement` and `prefer gold`: how far annotators agree, and calibration items."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from core.agreement_report import HEADLINE, AgreementReport, agreement_report
from core.errors import BadInputError
from core.inventory import candidate_of, resolve_id
from core.judge import MIN_CALIBRATION_ITEMS
from core.text import counted, printable
from tui.commands.common import (
    JsonOption,
    ProjectOption,
    os_user,
    project_store,
    reports_errors,
    shown,
    stdout,
)
from tui.progress import QuietOption, working

NAMES = {
    "percent_agreement": "percent agreement",
    "percent_agreement_without_ties": "percent agreement, ties left out",
    "krippendorff_alpha": "Krippendorff's alpha",
    "fleiss_kappa": "Fleiss' kappa",
    "best_choice_alpha": "alpha on the best choice",
    "worst_choice_alpha": "alpha on the worst choice",
    "outcome_alpha": "alpha on the outcome (preference / no difference / cannot judge)",
    "kendall_tau_mean": "Kendall's tau (rankings, mean)",
    "kendall_w_mean": "Kendall's W (3+ rankers, mean)",
}
VERDICT_STYLE = {"strong": "green", "moderate": "yellow", "ambiguous": "red",
                 "too few items": "dim", "undefined": "dim", "": ""}


def _num(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.2f}"


def _interval(low: float, high: float) -> str:
    return "" if not (math.isfinite(low) and math.isfinite(high)) else f"[{low:.2f}, {high:.2f}]"


def _cell(value: float | None) -> Text:
    """A heatmap cell: green strong, yellow moderate, red ambiguous."""
    if value is None or not math.isfinite(value):
        return Text("  –  ", style="dim")
    colour = "green" if value >= 0.7 else "yellow" if value >= 0.5 else "red"
    return Text(f"{value:5.2f}", style=f"bold black on {colour}")


def _print(report: AgreementReport) -> None:
    stdout.print(f"{counted(report.judgments, 'judgment')} by "
                 f"{counted(len(report.annotators), 'annotator')}; "
                 f"{counted(report.items_with_two_or_more, 'item')} judged by two or more.")
    _print_outcomes(report)
    if report.items_with_two_or_more == 0:
        stdout.print("Agreement needs items judged by at least two annotators: "
                     "`prefer assign --per-item 2` or `--overlap`.")
        return
    table = Table(title="Overall (pairwise labels)", title_justify="left", padding=(0, 1))
    for column in ("statistic", "value", "95% interval", "items", "verdict"):
        table.add_column(column, justify="left" if column in ("statistic", "verdict") else "right")
    for row in report.rows:
        if row.scope == "overall":
            table.add_row(Text(NAMES.get(row.statistic, row.statistic),
                               style="bold" if row.statistic == HEADLINE else ""),
                          _num(row.value), _interval(row.low, row.high), str(row.items),
                          Text(row.verdict, style=VERDICT_STYLE.get(row.verdict, "")))
    stdout.print(table)
    breakdown = [row for row in report.rows if row.scope != "overall"
                 and row.statistic in (HEADLINE, "percent_agreement")]
    for key in dict.fromkeys(row.scope.split("=", 1)[0] for row in breakdown):
        table = Table(title=f"By {key}", title_justify="left", padding=(0, 1))
        for column in (key, "alpha", "95% interval", "agreement", "items", "verdict"):
            table.add_column(column, justify="left" if column in (key, "verdict") else "right",
                             no_wrap=column == key)
        for scope in dict.fromkeys(r.scope for r in breakdown if r.scope.startswith(key + "=")):
            alpha = next(r for r in breakdown if r.scope == scope and r.statistic == HEADLINE)
            share = next(r for r in breakdown if r.scope == scope
                         and r.statistic == "percent_agreement")
            table.add_row(shown(scope.split("=", 1)[1]), _num(alpha.value),
                          _interval(alpha.low, alpha.high), _num(share.value), str(alpha.items),
                          Text(alpha.verdict, style=VERDICT_STYLE.get(alpha.verdict, "")))
        stdout.print(table)
    for row in report.rankings:
        stdout.print(f"{NAMES.get(row.statistic, row.statistic)}: {_num(row.value)} over "
                     f"{row.items} items ({row.verdict})")
    if len(report.annotators) >= 2:
        heat = Table(title="Cohen's kappa per annotator pair", title_justify="left",
                     padding=(0, 1))
        heat.add_column("")
        for name in report.annotators:
            heat.add_column(shown(name[:10]), justify="center")
        kappa = {(p.annotator_a, p.annotator_b): p.kappa for p in report.pairs}
        kappa.update({(b, a): v for (a, b), v in list(kappa.items())})
        for a in report.annotators:
            heat.add_row(shown(a[:12]), *[Text("  ·  ", style="dim") if a == b else _cell(kappa.get((a, b)))
                                   for b in report.annotators])
        stdout.print(heat)
        shared = Table(padding=(0, 1), title="Pairs", title_justify="left")
        for column in ("pair", "kappa", "95% interval", "shared items", "verdict"):
            shared.add_column(column)
        for p in report.pairs:
            shared.add_row(shown(f"{p.annotator_a} – {p.annotator_b}"), _num(p.kappa),
                           _interval(p.low, p.high), str(p.shared_items),
                           Text(p.verdict, style=VERDICT_STYLE.get(p.verdict, "")))
        stdout.print(shared)
    people = Table(title="Per annotator", title_justify="left", padding=(0, 1))
    for column in ("annotator", "items", "s/item", "skips", "flags", "kappa", "adjud.",
                   "gold"):
        people.add_column(column, justify="left" if column == "annotator" else "right")
    for row in report.per_annotator:
        kappas = [v for v in row.kappa_with.values() if v is not None and math.isfinite(v)]
        people.add_row(
            shown(row.annotator), str(row.items_done),
            f"{row.median_seconds:.0f}" if row.median_seconds is not None else "–",
            f"{row.skip_share:.0%}", f"{row.flag_share:.0%}",
            _num(sum(kappas) / len(kappas)) if kappas else "–",
            f"{row.adjudicated_agreement:.0%} of {row.adjudicated_items}"
            if row.adjudicated_agreement is not None else "–",
            f"{row.gold_accuracy:.0%} of {row.gold_items}" if row.gold_accuracy is not None
            else "–")
    stdout.print(people)
    stdout.print("Verdicts: strong >= 0.7; moderate 0.5-0.7; ambiguous < 0.5 means the guidelines "
                 "need work. Labels: see docs/agreement.md.")


def _print_outcomes(report: AgreementReport) -> None:
    """How many judgments ended in each outcome, overall and per breakdown and annotator; shown
    only when some judgment has no preference (otherwise every row says the same)."""
    if not any(row.no_difference or row.cannot_judge for row in report.outcomes):
        return
    table = Table(title="Outcomes (judgments)", title_justify="left", padding=(0, 1))
    for column in ("scope", "preference", "no difference", "cannot judge", "skipped"):
        table.add_column(column, justify="left" if column == "scope" else "right",
                         no_wrap=column == "scope")
    for row in report.outcomes:
        table.add_row(shown(row.scope.replace("=", ": ", 1)), str(row.ranked),
                      str(row.no_difference), str(row.cannot_judge), str(row.skipped))
    stdout.print(table)
    stdout.print("No difference and cannot judge are outcomes of their own: they yield no pair; "
                 "\"alpha on the outcome\" is the agreement on which outcome an item has.")


@reports_errors
def agreement(
    project: ProjectOption = None,
    by: Annotated[list[str] | None, typer.Option(
        "--by", help="Break down by `dimension` and/or `language` (repeatable).")] = None,
    min_shared: Annotated[int, typer.Option(
        help="Items an annotator pair (or a breakdown row) needs before a verdict.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 42,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples for the 95% intervals.",
                                           min=100)] = 2000,
    judge: Annotated[bool, typer.Option(
        "--judge", help="Calibrate the judge of `prefer judge` against the experts instead "
        "(per dimension and language unless --by says otherwise; see docs/judge.md).")] = False,
    judge_model: Annotated[str | None, typer.Option(
        help="With --judge: only this model's verdicts (default: the latest per item).")] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Inter-annotator agreement, overall and per annotator pair, with 95% intervals.

    Every judgment implies pairwise preferences (best over each other candidate, each other
    over the worst); agreement is measured on those, and on the best and worst choices. An
    alpha of 0.7 or more is strong; below 0.5 the guidelines are ambiguous.

    **Examples**

    ```
      prefer agreement -p ./alignment
      prefer agreement --by dimension --by language
      prefer agreement --json > agreement.json
      prefer agreement --judge
    ```
    """
    for key in by or []:
        if key not in ("dimension", "language"):
            raise BadInputError(f"--by {key}: choose dimension or language")
    if judge:
        from tui.commands.judge import calibration_of, print_calibration
        with project_store(project) as (proj, store), \
                working(f"Calibrating the judge with {resamples:,} bootstrap resamples", quiet):
            calibration = calibration_of(proj, store, model=judge_model, by=by or [],
                                         min_items=MIN_CALIBRATION_ITEMS, seed=seed,
                                         resamples=resamples)
        print_calibration(calibration, json_output)
        return
    with project_store(project) as (_proj, store), \
            working(f"Agreement with {resamples:,} bootstrap resamples", quiet):
        rows = store.agreement_rows()
        report = agreement_report(rows, by=by or [], min_shared=min_shared, seed=seed,
                                  resamples=resamples)
    if json_output:
        stdout.print_json(json.dumps(asdict(report), default=str).replace("NaN", "null"))
        return
    _print(report)


@reports_errors
def gold(
    prompt_id: Annotated[str | None, typer.Argument(help="The item to mark.")] = None,
    best: Annotated[str | None, typer.Option(help="Candidate id of the expected best.")] = None,
    worst: Annotated[str | None, typer.Option(help="Candidate id of the expected worst.")] = None,
    note: Annotated[str | None, typer.Option(help="Why this is the expected answer.")] = None,
    project: ProjectOption = None,
) -> None:
    """Mark calibration items with their expected answer, or list them.

    Calibration (gold) items go to every annotator's queue, unmarked; `prefer agreement`
    reports each annotator's accuracy on them. `prefer items show ITEM` lists an item's
    candidates with their ids; any unambiguous start of an item or candidate id works.

    **Examples**

    ```
      prefer gold fin-004 --best c_1a2b3c4d5e6f7a8b --worst c_9f8e7d6c5b4a3f2e
      prefer gold
    ```
    """
    with project_store(project) as (_proj, store):
        if prompt_id is None:
            found = store.gold_items()
            if not found:
                stdout.print("No calibration items yet.")
            for pid, b, w, why, by_whom, _at in found:
                stdout.print(printable(f"{pid}: best {b}, worst {w or '–'} (by {by_whom})"
                                       + (f": {why}" if why else "")), markup=False)
            return
        if best is None:
            raise BadInputError("give the expected best: --best CANDIDATE_ID")
        prompt_id = resolve_id(store, "prompt", prompt_id)
        item = store.get_item(prompt_id)
        if item is None:
            raise BadInputError(f"no item {prompt_id}")
        best = candidate_of(item, best, "--best")
        worst = candidate_of(item, worst, "--worst") if worst is not None else None
        store.set_gold(prompt_id, best, worst, note, os_user())
    stdout.print(f"{printable(prompt_id)} is a calibration item now; it goes to every annotator, "
                 "unmarked.", markup=False)
