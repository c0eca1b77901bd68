"""`prefer import`: prompts (and candidate responses) from JSONL, CSV or Parquet."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from core.models import SourceImportCounts, SourceOptions
from core.progress import phase
from core.sources import IMPORT_KINDS, import_file, import_source
from core.text import counted, printable
from tui.commands.common import (
    JsonOption,
    ProjectOption,
    os_user,
    project_store,
    reports_errors,
    stdout,
)
from tui.progress import QuietOption, progress_display


@reports_errors
def import_(
    file: Annotated[Path, typer.Argument(help="A .jsonl, .csv or .parquet file.")],
    project: ProjectOption = None,
    format: Annotated[str | None, typer.Option("--format", help="jsonl, csv or parquet "
                                               "(default: from the extension).")] = None,
    kind: Annotated[str, typer.Option("--kind", help="What the file holds: "
                                      f"{', '.join(IMPORT_KINDS)} (docs/sources.md).")
                    ] = "prompts",
    map_: Annotated[str | None, typer.Option(
        "--map", help="Rename the file's fields first: old=new,old2=new2 (e.g. "
                      "responses=candidates, or with --kind question=prompt,answer=response)."
    )] = None,
    trust: Annotated[bool, typer.Option(
        "--trust", help="With --kind: count the source's preferences as judgments by "
                        "'source:KIND' (default: pre-labels for experts to confirm).")] = False,
    max_p: Annotated[float, typer.Option(
        "--max-p", help="With --kind abtest: a result implies a preference only at "
                        "p <= this.")] = 0.05,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and count; store "
                                          "nothing.")] = False,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Import prompts, optionally with candidate responses, or a preference source.

    With **--kind** feedback, abtest, corrections, ratings or dpo the file is the
    preference signal an organisation already has (thumbs, A/B results, expert
    corrections, graded reviews, existing DPO data): its responses become candidates
    and the preferences they imply pre-labels (or, with --trust, judgments by
    `source:KIND`). Fields per kind: docs/sources.md.

    Each row has a **prompt** (required) and optionally **system**, **dimension**
    (one of prefer.toml's), **language** (en, de, pt-BR…), **id**, and candidate
    responses as **candidates** (a list of strings; in CSV a JSON list) or one
    **response**. Re-importing a file adds nothing. The first bad row stops the import
    with FILE:LINE and the field, and nothing from the file is stored (exit code 2).

    **Examples**

    ```
      prefer import prompts.jsonl -p ./alignment
      prefer import feedback.csv --dry-run
      prefer import export.parquet --json
      prefer import feedback.jsonl --kind feedback
      prefer import ab_results.csv --kind abtest --max-p 0.01
      prefer import reviews.csv --kind ratings --map question=prompt,answer=response,grade=score
      prefer import hh.jsonl --kind dpo --trust
      prefer import answers.csv --map responses=candidates
    ```
    """
    if kind != "prompts":
        with project_store(project) as (_proj, store), progress_display(quiet) as progress, \
                phase(progress, f"Reading and checking {printable(str(file))}"):
            source_counts = import_source(store, file, source_kind=kind, actor=os_user(),
                                          file_format=format, mapping=map_,
                                          options=SourceOptions(trust=trust, max_p=max_p),
                                          dry_run=dry_run)
        _print_source(file, source_counts, json_output)
        return
    if trust:
        from core.errors import BadInputError
        raise BadInputError("--trust goes with --kind (a preference source)",
                            hint="e.g. prefer import feedback.jsonl --kind feedback --trust")
    with project_store(project) as (_proj, store), progress_display(quiet) as progress:
        counts = import_file(store, file, actor=os_user(), kind=format, dry_run=dry_run,
                             mapping=map_, progress=progress)
    if json_output:
        stdout.print_json(json.dumps(asdict(counts)))
        return
    verb = "Would add" if dry_run else "Added"
    stdout.print(f"{printable(str(file))}: {counted(counts.rows, 'row')}, valid.", markup=False)
    stdout.print(f"  {verb} {counts.new_prompts:,} of {counted(counts.prompts_in_file, 'prompt')} "
                 f"and {counts.new_candidates:,} of "
                 f"{counted(counts.candidates_in_file, 'candidate')}; "
                 "the rest were already stored." if (counts.new_prompts, counts.new_candidates)
                 != (counts.prompts_in_file, counts.candidates_in_file) else
                 f"  {verb} {counted(counts.new_prompts, 'prompt')} and "
                 f"{counted(counts.new_candidates, 'candidate')}.",
                 markup=False)
    if counts.ignored_fields:
        stdout.print(printable(f"  Ignored fields: {', '.join(counts.ignored_fields)}"),
                     markup=False)
    if dry_run:
        stdout.print("  Dry run: nothing was stored.")


def _print_source(file: Path, counts: SourceImportCounts, json_output: bool) -> None:
    """What a preference source gave (or, with --dry-run, would give), per kind."""
    if json_output:
        stdout.print_json(json.dumps(asdict(counts)))
        return
    say = lambda text: stdout.print(printable(text), markup=False)  # noqa: E731
    verb = "Would add" if counts.dry_run else "Added"
    say(f"{file}: {counts.rows} rows of {counts.kind}, valid.")
    turns = (f" ({counts.multi_turn_prompts} multi-turn)" if counts.multi_turn_prompts else "")
    prompts = _of(counts.new_prompts, counts.prompts_in_file, counts.dry_run)
    say(f"  Prompts: {prompts}{turns}.")
    say(f"  Candidates: {_of(counts.new_candidates, counts.candidates_in_file, counts.dry_run)}.")
    label = "judgments by source:" + counts.kind if counts.trusted else "pre-labels"
    preferences = _of(counts.new_preferences, counts.preferences_in_file, counts.dry_run)
    say(f"  Implied preferences: {preferences} ({label}).")
    if counts.trusted:
        say(f"  {verb} {counts.source_judgments} source judgments"
            + (f"; {counts.not_a_ranking} items whose preferences form no ranking stay "
               "pre-labels" if counts.not_a_ranking else "") + ".")
    for ignored in counts.ignored:
        say(f"  Ignored {ignored.rows} {'row' if ignored.rows == 1 else 'rows'}: "
            f"{ignored.reason} (first on line {ignored.first_line}).")
    if counts.ignored_fields:
        say(f"  Ignored fields: {', '.join(counts.ignored_fields)}")
    if counts.dry_run:
        say("  Dry run: nothing was stored.")


def _of(new: int, in_file: int, dry_run: bool) -> str:
    verb = "to add" if dry_run else "added"
    if new == in_file:
        return f"{new} {verb}"
    return f"{new} of {in_file} {verb} (the rest were already stored)"
