"""`prefer report`: the dataset's quality in the terminal (and as an HTML page)."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from core.balance import BalanceSummary
from core.errors import BadInputError
from core.report import AgreementSummary, QualityReport, SideRow, quality_report, report_to_dict
from core.report_html import render_html
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
from tui.commands.lengths import (
    DEFAULT_CUTOFF_LEN,
    DEFAULT_MAX_LENGTH,
    CutoffLenOption,
    MaxLengthOption,
    TokenizerOption,
    length_lines,
)
from tui.progress import QuietOption, progress_display

BAR_WIDTH = 20
LABEL_WIDTH = 14
SIDE_ROWS = 8  # variants and sources shown in the terminal; --html and --json list them all


def _label(text: str, width: int = LABEL_WIDTH) -> str:
    text = printable(os.path.basename(text) if ("/" in text or os.sep in text) else text)
    return (text if len(text) <= width else text[:width - 1] + "…").ljust(width)


def _outcomes(a: AgreementSummary) -> None:
    """Judgments per outcome (only when some judgment named no preference): no difference and
    cannot judge are outcomes of their own, they yield no pair."""
    if not a.has_no_preference_outcomes:
        return
    o = a.outcome_agreement
    agreed = ("" if o is None or o.alpha is None
              else f"; agreement on the outcome (alpha) {o.alpha:.2f} over {o.items:,} items: "
                   f"{o.verdict}")
    _say("Outcomes of the judgments (no meaningful difference and cannot judge are outcomes of "
         f"their own: they yield no pair){agreed}.")
    stdout.print(f"    {_label('')} {'prefer.':>7} {'no diff':>7} {'cannot':>7} {'skipped':>7}",
                 markup=False)
    group = ""
    for row in a.outcomes:
        key, _, value = row.scope.partition("=")
        if value and key != group:
            group = key
            stdout.print(f"    by {key}", markup=False)
        label = f"  {value}" if value else "all judgments"
        stdout.print(f"    {_label(label)} {row.ranked:>7,} {row.no_difference:>7,} "
                     f"{row.cannot_judge:>7,} {row.skipped:>7,}", markup=False)


def _heading(title: str) -> None:
    stdout.print()
    stdout.print(Text(title, style="bold underline"))


def _width() -> int:
    return max(40, min(stdout.width, 100))


def _say(text: str, indent: int = 2, style: str = "") -> None:
    """A paragraph wrapped at the terminal's width (80 columns when piped), indented."""
    for line in textwrap.wrap(printable(text), _width() - indent, break_on_hyphens=False):
        stdout.print(Text(" " * indent + line, style=style), soft_wrap=True)


def _warnings(warnings: list[str]) -> None:
    for warning in warnings:
        lines = textwrap.wrap(printable(warning), _width() - 4, break_on_hyphens=False)
        for i, line in enumerate(lines):
            text = Text("  ! " if i == 0 else "    ", style="bold yellow")
            text.append(line, style="yellow")
            stdout.print(text, soft_wrap=True)


def _balance(summary: BalanceSummary, title: str) -> None:
    _heading(f"{title} (┃ marks the target)")
    if not summary.rows:
        _say("No kept pairs.")
        return
    scale = max([r.share for r in summary.rows] + [r.target for r in summary.rows])
    for row in summary.rows:
        line = Text("  " + _label(row.value) + " ")
        line.append_text(share_bar(row.share, row.target, scale, BAR_WIDTH))
        line.append(f" {row.pairs:>7,} {row.share:>4.0%} of {row.target:.0%}")
        if row.needed is None:
            line.append("  unreachable", style="yellow")
        elif row.needed and row.target - row.share > 0.05:
            line.append(f"  needs {row.needed:,} more", style="yellow")
        stdout.print(line)


def _sides(title: str, rows: tuple[SideRow, ...]) -> None:
    if not rows:
        return
    if len(rows) == 1:
        _say(f"{title}: both sides of every pair come from {rows[0].label}.")
        return
    _say(f"{title}: pairs with only chosen █ / both sides ▒ / only rejected ░ from it")
    for row in rows[:SIDE_ROWS]:
        value = ("imported" if row.kind == "variant" else "unknown") if row.value is None \
            else row.value
        line = Text("    " + _label(value.removeprefix("run:"), 18) + " ")
        total = row.pairs or 1
        chosen = round(BAR_WIDTH * row.only_chosen / total)
        rejected = round(BAR_WIDTH * row.only_rejected / total)
        line.append("█" * chosen, style="blue")
        line.append("▒" * (BAR_WIDTH - chosen - rejected), style="dim")
        line.append("░" * rejected, style="red")
        line.append(f" {row.only_chosen:,} / {row.both:,} / {row.only_rejected:,}")
        stdout.print(line)
    if len(rows) > SIDE_ROWS:
        _say(f"… and {len(rows) - SIDE_ROWS} more (--html or --json list them all)", 4)


def _confounds(report: QualityReport) -> None:
    c = report.confounds
    _heading("Confounds")
    length = c.length
    if not length.pairs:
        _say("No kept pairs.")
        return
    q = length.quantiles
    _say(f"Length: chosen is longer in {length.chosen_longer_share or 0:.0%} of pairs, rejected "
         f"in {length.rejected_longer_share or 0:.0%}. Chosen length ÷ rejected length: median "
         f"{q.get('median', 0):.2f} (p10 {q.get('p10', 0):.2f}, p90 {q.get('p90', 0):.2f}).")
    peak = max(b.pairs for b in length.histogram) or 1
    for i, b in enumerate(length.histogram):
        line = Text(f"    {b.label:<11} ")
        line.append("█" * round(BAR_WIDTH * b.pairs / peak),
                    style="blue" if i >= len(length.histogram) // 2 else "red")
        line.append(f" {b.pairs:,}")
        stdout.print(line)
    _say("Formatting: pairs where only chosen / only rejected has it")
    for row in c.formatting:
        share = f"   {row.chosen_share:.0%} on the chosen side" if row.chosen_share is not None \
            else ""
        stdout.print(f"    {row.label:<12} {row.only_chosen:>6,} / {row.only_rejected:,}{share}")
    _sides("Variants", c.variants)
    _sides("Sources", c.sources)


def _print(report: QualityReport) -> None:
    f = report.filters
    title = Text(f"Quality report: {printable(report.project)}", style="bold")
    if f.build_id:
        title.append(f"  (build {f.build_id}, {f.strategy})", style="dim")
    stdout.print(title, soft_wrap=False)
    limited = report.source_filter
    if limited.active:
        _say("Pairs decided by: " + ", ".join(
            [*limited.include, *(f"not {name}" for name in limited.exclude)])
            + " (--source); agreement is every annotator's.", 0)

    _heading("Scale")
    _say(report.scale.sentence)

    _heading("Pairs built and filtered")
    dropped = ", ".join(f"{n:,} {name.replace('_', ' ')}" for name, n in f.dropped.items() if n)
    _say(f"{f.pairs_built:,} built, {f.kept:,} kept"
         + (f"; dropped: {dropped}" if dropped else "; none dropped")
         + (f"; {f.balanced_out:,} removed by the balance plan" if f.balanced_out else "") + ".")
    if f.minimal:
        _say(f"Minimal pairs: {f.minimal:,} of the kept pairs are alike but for a change that "
             "carries meaning (" + ", ".join(f"{k} {v:,}" for k, v in f.minimal_by_reason.items())
             + "): the most informative kind.")
    if f.held_back_disputed or f.held_back_flagged:
        _say(f"Held back: {f.held_back_disputed:,} items where annotators disagree and nobody "
             f"decided, {f.held_back_flagged:,} flagged (`prefer disagreements` lists them).")

    if report.token_lengths is not None:
        _heading("Token lengths")
        for line in length_lines(report.token_lengths):
            stdout.print(printable(line), markup=False)

    _balance(report.balance.dimension, "Balance by dimension")
    _balance(report.balance.language, "By language")
    _balance(report.balance.source, "By prompt source")
    _confounds(report)

    a = report.agreement
    _heading("Agreement")
    if a.overall is None:
        _say(f"{a.judgments:,} judgments; no item judged by two annotators yet.")
    else:
        o = a.overall
        alpha = "–" if o.alpha is None else f"{o.alpha:.2f}"
        interval = f" [{o.low:.2f}, {o.high:.2f}]" if o.low is not None and o.high is not None \
            else ""
        _say(f"Krippendorff's alpha {alpha}{interval} over {o.items:,} items: {o.verdict}"
             + ("; by dimension:" if a.by_dimension else "."))
        for r in a.by_dimension:
            alpha = "–" if r.alpha is None else f"{r.alpha:.2f}"
            stdout.print(f"    {_label(r.scope)} {alpha:>5}  {r.verdict} ({r.items:,} items)",
                         markup=False)
    _outcomes(a)

    s = report.staleness
    _heading("Stale data")
    _say(f"{s.older_than_max_age:,} judged more than {s.max_age_days} days ago · "
         f"{s.older_guideline_version:,} under an older guideline version · "
         f"{s.unknown_guideline_version:,} of unknown version.")

    if report.judge is not None:
        j = report.judge
        _heading("Second opinion (prefer judge)")
        _say(f"{j.count:,} obvious items: of the {j.judged_by_two_or_more:,} items several "
             f"experts ranked, {j.unanimous:,} were unanimous, and on {j.count:,} of those the "
             "judge also found the best answer far ahead (docs/judge.md).")
    if report.sources is not None:
        _sources(report)

    warnings = report.warnings
    _heading(f"Warnings ({len(warnings)})" if warnings else "Warnings")
    if not warnings:
        _say("None: no figure crossed its threshold.", style="green")
    _warnings(warnings)


def _sources(report: QualityReport) -> None:
    """Who decided the pairs, their prompts' turns, and what changed at refresh."""
    sources = report.sources
    assert sources is not None
    _heading("Sources and conversations")
    if sources.decided_by:
        _say("Kept pairs by who decided: " + " · ".join(
            f"{printable(name)} {n:,}" for name, n in sources.decided_by.items())
            + " (docs/sources.md).")
    if sources.by_turns:
        _say("Kept pairs by the prompt's user turns: " + " · ".join(
            f"{turns} {n:,}" for turns, n in sorted(sources.by_turns.items(),
                                                      key=lambda kv: int(kv[0]))) + ".")
    for kind, (judged, confirmed, overturned) in sources.pre_labels.items():
        _say(f"Pre-labels from {printable(kind)}: experts judged {judged:,}, confirmed "
             f"{confirmed:,} ({confirmed / judged:.0%}), overturned {overturned:,}.")
    changes = sources.refresh
    if changes.answered:
        by_dimension = ", ".join(f"{printable(d)} {flipped}/{answered}"
                                 for d, (answered, flipped) in changes.by_dimension.items())
        _say(f"Changed at refresh: {changes.flipped:,} of {changes.answered:,} decisions "
             f"re-made after `prefer refresh` flipped (by dimension: {by_dimension}).")
    else:
        _say("Changed at refresh: no refreshed decision re-made yet.")


def _check_html(html: Path, overwrite: bool) -> None:
    """Refuse an --html path before the report is computed: a folder, an existing file (unless
    `overwrite`), or a file whose folder does not exist."""
    try:
        exists, folder = html.exists(), html.absolute().parent
        if html.is_dir():
            raise BadInputError(f"--html {html}: is a folder; give a file name")
        if exists and not overwrite:
            raise BadInputError(f"--html {html}: the file exists",
                                hint="pass --overwrite to replace it, or give another file name")
        if not exists and not folder.is_dir():
            raise BadInputError(f"--html {html}: cannot write it (no folder {folder})")
    except OSError as exc:
        raise BadInputError(f"--html {html}: cannot write it ({exc.strerror or exc})") from None


def _write_html(html: Path, page: str, overwrite: bool) -> None:
    """Write the page; never replace a file that appeared meanwhile unless `overwrite`."""
    try:
        with html.open("w" if overwrite else "x", encoding="utf-8") as handle:
            handle.write(page)
    except FileExistsError:
        raise BadInputError(f"--html {html}: the file exists",
                            hint="pass --overwrite to replace it, or give another file name"
                            ) from None
    except OSError as exc:
        raise BadInputError(f"--html {html}: cannot write it ({exc.strerror or exc})") from None


@reports_errors
def report(
    project: ProjectOption = None,
    html: Annotated[Path | None, typer.Option(
        "--html", help="Also write the report as one self-contained HTML page (charts, no "
                       "network) to this file (a new one, unless --overwrite).")] = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace the --html file when it exists.")] = False,
    strategy: StrategyOption = None,
    source: SourceOption = None,
    tokenizer: TokenizerOption = None,
    max_length: MaxLengthOption = DEFAULT_MAX_LENGTH,
    cutoff_len: CutoffLenOption = DEFAULT_CUTOFF_LEN,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Quality report on the pairs: scale, balance, confounds, agreement, stale data.

    Rebuilds the pairs from the current judgments first (as `prefer export` does), then checks
    the kept pairs: are there enough, are the behaviour dimensions balanced, does the chosen
    answer win for the wrong reasons (longer, more formatting, always from one variant or
    source), do annotators agree, and were pairs judged long ago or under older guidelines.
    Each problem comes with a warning that says what to do; thresholds are in prefer.toml
    `[report]` (docs/report.md).

    **Examples**

    ```
      prefer report -p ./alignment
      prefer report --html report.html
      prefer report --html report.html --overwrite
      prefer report --strategy best-vs-worst --json > report.json
      prefer report --source no-feedback
      prefer report --tokenizer ./model/tokenizer.json --max-length 2048
    ```

    With --tokenizer (a local tokenizer.json), the report adds the token lengths of prompt,
    chosen and rejected and how many pairs run over TRL's max_length and LLaMA-Factory's
    cutoff_len. With --source, the pair figures (scale, balance, confounds, stale data, token
    lengths) are of the pairs those sources decided, as `prefer pairs --source` counts them;
    agreement stays that of every annotator.
    """
    sources = parse_source_filter(source)
    if html is not None:
        _check_html(html, overwrite)
    with project_store(project) as (proj, store), progress_display(quiet) as progress:
        result = quality_report(store, proj, os_user(), strategy=strategy,
                                tokenizer=tokenizer, max_length=max_length,
                                cutoff_len=cutoff_len, progress=progress, sources=sources)
    written = None
    if html is not None:
        _write_html(html, render_html(result), overwrite)
        written = html.resolve()
    if json_output:
        data = report_to_dict(result)
        if written:
            data["html"] = str(written)
        stdout.print_json(json.dumps(data, default=str))
        return
    _print(result)
    stdout.print()
    summary = (f"{result.scale.kept:,} kept pairs ({result.scale.verdict}), "
               f"{len(result.warnings)} warning{'' if len(result.warnings) == 1 else 's'}.")
    if written:
        summary += f" HTML report: {written}"
    _say(summary, 0, style="bold")
