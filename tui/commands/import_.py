"""`prefer import`: prompts (and candidate responses) from JSONL, CSV or Parquet."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from core.sources import import_file
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
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and count; store "
                                          "nothing.")] = False,
    map_: Annotated[str | None, typer.Option(
        "--map", help="Rename the file's fields first: old=new,old2=new2 (e.g. "
                      "responses=candidates).")] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Import prompts, optionally with candidate responses.

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
      prefer import answers.csv --map responses=candidates
    ```
    """
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
