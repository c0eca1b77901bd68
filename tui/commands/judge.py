"""`prefer judge` and the judge's views: `prefer agreement --judge`, `prefer disagreements --judge`.

Thin: parse, call core/judge.py, print. The judge is a second opinion for reviewers and admins;
nothing here is reachable from the annotation screen.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich import box
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from core.errors import EXIT_FAILED
from core.generate import shown_status
from core.heap import set_survivors_aside
from core.judge import (
    Calibration,
    JudgeProgress,
    PossibleSlip,
    judge_calibration,
    plan_judging,
    position_bias,
    possible_slips,
    run_judging,
)
from core.project import Project
from core.store import Store
from core.text import printable
from tui.commands.common import (
    JsonOption,
    ProjectOption,
    os_user,
    project_store,
    reports_errors,
    shown,
    stderr,
    stdout,
)
from tui.commands.generate import ApiKeyEnvOption, ApiOption, HostOption, hosts_for

VERDICT_STYLE = {"helps": "green", "triage only": "yellow", "do not use": "red",
                 "too few items": "dim", "undefined": "dim"}


def _num(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.2f}"


def _interval(low: float, high: float) -> str:
    return "" if not (math.isfinite(low) and math.isfinite(high)) else f"[{low:.2f}, {high:.2f}]"


def _nan_free(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_free(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_free(v) for v in value]
    return value


@reports_errors
def judge(
    project: ProjectOption = None,
    model: Annotated[str | None, typer.Option(help="Model, as the hosts name it (default: "
                                                   "judge.model, else generation.model).")] = None,
    host: HostOption = None,
    api: ApiOption = "ollama",
    api_key_env: ApiKeyEnvOption = None,
    concurrency: Annotated[int | None, typer.Option(
        help="Most requests in flight per host (default: generation.concurrency).")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N items.", min=1)] = None,
    force: Annotated[bool, typer.Option("--force", help="Judge again what this model already "
                                        "judged with this prompt.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be requested; "
                                          "contact no server.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    list_runs: Annotated[bool, typer.Option("--runs", help="List past judge runs and stop.")
                         ] = False,
    json_output: JsonOption = False,
) -> None:
    """Ask a local model for a second opinion on every item (never shown to annotators).

    The model scores each item's candidates against guidelines.md and names the dimensions
    they differ on, answering in a JSON schema; each item is asked twice, candidates in stored
    and in reversed order, to cancel position bias. Verdicts are stored apart and serve
    `prefer agreement --judge` (is the judge good enough?), annotation.order = "informative"
    (uncertain items first) and `prefer disagreements --judge` (possible slips). Re-running
    skips what is judged. Exit code 1 when any item failed. See docs/judge.md.

    **Examples**

    ```
      prefer judge -p ./alignment
      prefer judge --model qwen2.5:14b --host http://gpu1:11434 --concurrency 4
      prefer judge --limit 50 --dry-run
      prefer judge --runs
    ```
    """
    with project_store(project) as (proj, store):
        if list_runs:
            runs_table(store, 20)
            return
        generation = proj.config.generation
        chosen_model = model or proj.config.judge.model or generation.model
        host_settings = hosts_for(generation, host, api, api_key_env, None)
        hosts = [h.url for h in host_settings]
        per_host = concurrency if concurrency is not None else generation.concurrency
        plan = plan_judging(store, proj.config, proj.guidelines_text(), proj.guideline_version(),
                            model=chosen_model, limit=limit, force=force)
        if dry_run:
            summary = {"model": chosen_model, "hosts": hosts, "concurrency": per_host,
                       "prompt_version": plan.prompt_version, "items": len(plan.items),
                       "requests": len(plan.requests), "skipped_already_judged": plan.skipped}
            if json_output:
                stdout.print_json(json.dumps(summary))
            else:
                stdout.print(printable(
                    f"Would judge {len(plan.items)} items with {chosen_model} "
                    f"({len(plan.requests)} requests: two orders each), {plan.skipped} already "
                    f"judged; {per_host} at a time on each of {', '.join(hosts)}."), markup=False)
            return
        if not plan.items:
            stdout.print(f"Nothing to judge: all {plan.skipped} ready items are judged with "
                         f"{printable(chosen_model)} and this prompt. --force judges again.",
                         markup=False)
            return
        bar = Progress(
            TextColumn("[bold]Judging[/]"), BarColumn(), MofNCompleteColumn(),
            TaskProgressColumn(), TextColumn("[red]{task.fields[failed]} failed[/]"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=stderr,
            disable=quiet or json_output, transient=False)
        with bar:
            task = bar.add_task("judge", total=len(plan.items), failed=0)

            def show(progress: JudgeProgress) -> None:
                bar.update(task, completed=progress.finished, failed=progress.failed)

            set_survivors_aside()  # the plan and all loaded outlive the run (core.heap)
            result = run_judging(
                store, plan, proj.config, hosts=host_settings, concurrency=per_host, actor=os_user(),
                max_attempts=generation.max_attempts, backoff_s=generation.backoff_s,
                timeout_s=generation.timeout_s, on_progress=show)
    progress = result.progress
    disagree_share = (progress.orders_disagree / progress.succeeded
                      if progress.succeeded else None)
    if json_output:
        stdout.print_json(json.dumps({
            "judge_run_id": result.run.judge_run_id, "model": result.run.model,
            "prompt_version": plan.prompt_version, "succeeded": progress.succeeded,
            "failed": progress.failed, "skipped": plan.skipped, "retries": progress.retries,
            "invalid_replies": progress.invalid_replies,
            "orders_disagree": progress.orders_disagree,
            "orders_disagree_share": disagree_share,
            "first_shown_best": progress.first_shown_best,
            "answered_requests": progress.answered_requests, "errors": result.errors}))
    else:
        stdout.print(f"Judge run {result.run.judge_run_id}: {progress.succeeded} items judged, "
                     f"{progress.failed} failed, {plan.skipped} skipped (already judged), "
                     f"{progress.retries} retries, {progress.invalid_replies} replies that did "
                     "not fit the schema.", markup=False)
        if progress.succeeded:
            first = (progress.first_shown_best / progress.answered_requests
                     if progress.answered_requests else 0.0)
            stdout.print(f"Position bias: the two orders chose a different best or worst on "
                         f"{progress.orders_disagree} of {progress.succeeded} items "
                         f"({disagree_share:.0%}); the first response shown was best in "
                         f"{first:.0%} of answers.", markup=False)
        for line in result.errors[:10]:
            stderr.print(f"  failed: {printable(line)}", markup=False)
        if len(result.errors) > 10:
            stderr.print(f"  … and {len(result.errors) - 10} more: `prefer judge --runs` "
                         "lists runs")
    if progress.failed:
        raise typer.Exit(EXIT_FAILED)


# --- prefer agreement --judge ---------------------------------------------------------------------

def calibration_of(project: Project, store: Store, *, model: str | None, by: list[str],
                   min_items: int, seed: int, resamples: int) -> Calibration:
    rows = store.agreement_rows()
    verdicts = store.judge_verdicts(model)
    return judge_calibration(rows, verdicts, by=by or ("dimension", "language"),
                             min_items=min_items, seed=seed, resamples=resamples, model=model)


def print_calibration(calibration: Calibration, json_output: bool) -> None:
    if json_output:
        stdout.print_json(json.dumps(_nan_free({
            **asdict(calibration), "advice": calibration.advice,
            "position_bias": {**asdict(calibration.position_bias),
                              "share": calibration.position_bias.share}})))
        return
    bias = calibration.position_bias
    stdout.print(f"{calibration.verdicts} items judged by the judge; {calibration.items_compared} "
                 "of them also ranked by experts.", markup=False)
    if bias.judged:
        stdout.print(f"Position bias: its two orders disagreed on {bias.orders_disagree} of "
                     f"{bias.judged} items ({bias.share or 0:.0%}).", markup=False)
    stdout.print("Judge vs experts: kappa with its 95% bootstrap interval, alpha and share "
                 "agreeing on the pairwise labels, share of judgments with the judge's best.")
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), show_edge=False)
    for column in ("scope", "kappa", "95% interval", "alpha", "agree", "best", "items",
                   "verdict"):
        table.add_column(column, justify="left" if column in ("scope", "verdict") else "right",
                         no_wrap=True, overflow="ellipsis", max_width=22 if column == "scope"
                         else None)
    for row in calibration.rows:
        table.add_row(shown(row.scope), _num(row.kappa), _interval(row.kappa_low, row.kappa_high),
                      _num(row.alpha), _num(row.percent_agreement), _num(row.best_match),
                      str(row.items), Text(row.verdict, style=VERDICT_STYLE.get(row.verdict, "")))
    stdout.print(table)
    if calibration.human_alpha is not None:
        stdout.print(f"For comparison, the experts among themselves: Krippendorff's alpha "
                     f"{calibration.human_alpha:.2f}.", markup=False)
    stdout.print(calibration.advice, markup=False)


# --- prefer disagreements --judge -----------------------------------------------------------------

def slips_of(store: Store, confident_margin: float) -> list[PossibleSlip]:
    return possible_slips(store.agreement_rows(), store.judge_verdicts(), confident_margin)


def print_slips(slips: list[PossibleSlip], json_output: bool, confident_margin: float) -> None:
    if json_output:
        stdout.print_json(json.dumps([asdict(s) for s in slips]))
        return
    if not slips:
        stdout.print(f"No human decision contradicts a confident judge (margin >= "
                     f"{confident_margin:.2f}, both orders agreeing).", markup=False)
        return
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), show_edge=False)
    for column in ("item", "decided by", "what", "human best/worst", "judge's", "margin"):
        table.add_column(column, no_wrap=True, overflow="ellipsis",
                         justify="right" if column == "margin" else "left")
    for slip in slips:
        table.add_row(shown(slip.prompt_id), shown(slip.decided_by), shown(slip.kind),
                      shown(f"{slip.position(slip.human_best)} / "
                            f"{slip.position(slip.human_worst)}"),
                      shown(f"{slip.position(slip.judge_best)} / "
                            f"{slip.position(slip.judge_worst)}"),
                      f"{slip.margin:.2f}")
    stdout.print(table)
    stdout.print("Candidates as #n: their place in the item's stored order (--json gives "
                 "their ids).", markup=False)
    stdout.print(f"{len(slips)} possible slips: a reviewer should look at each (`prefer "
                 "adjudicate`); the judge can be wrong, so never change a decision on its word "
                 "alone.", markup=False)


def runs_table(store: Store, limit: int) -> None:
    found = store.judge_runs(limit)
    if not found:
        stdout.print("No judge runs yet: `prefer judge` starts one.")
        return
    for r in found:
        stdout.print(Text.assemble(
            (r.judge_run_id, "bold"), f"  {r.started_at:%Y-%m-%d %H:%M} UTC  "
            f"{printable(r.model)}  {printable(r.prompt_version)}  ", (shown_status(r), "bold"),  # type: ignore[arg-type]
            f"  by {printable(r.actor)}"))
        stdout.print(f"    {r.succeeded} judged · {r.failed} failed · {r.skipped} skipped of "
                     f"{r.planned + r.skipped}")
    verdicts = store.judge_verdicts()
    bias = position_bias(verdicts)
    if bias.judged:
        stdout.print(f"Stored verdicts: {bias.judged}; the two orders disagreed on "
                     f"{bias.orders_disagree} ({bias.share or 0:.0%}).")
