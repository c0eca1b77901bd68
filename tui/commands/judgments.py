"""`prefer import-judgments`: labels made in another tool or an earlier campaign."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from core.judgment_import import import_judgments as import_judgments_file
from core.text import printable
from tui.commands.common import (
    JsonOption,
    ProjectOption,
    os_user,
    project_store,
    reports_errors,
    stdout,
)
from tui.progress import QuietOption, working


@reports_errors
def import_judgments(
    file: Annotated[Path, typer.Argument(help="A .jsonl, .csv or .parquet file of labels.")],
    project: ProjectOption = None,
    map_: Annotated[str | None, typer.Option(
        "--map", help="Rename the file's fields first: old=new,old2=new2 "
                      "(e.g. rater=annotator,chosen=best).")] = None,
    format: Annotated[str | None, typer.Option("--format", help="jsonl, csv or parquet "
                                               "(default: from the extension).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and count; store "
                                          "nothing.")] = False,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Import judgments made elsewhere, so agreement and adjudication count them too.

    Each row has an **annotator**, an item and one label. The item is the
    **prompt_id** of a stored prompt, or a **prompt** (optional **system**, **id**)
    with its **candidates** (a list of texts; in CSV a JSON list), stored under the
    same ids as `prefer import`. The label is one of:

    - **best** and **worst** (with two candidates, worst may be left out);
    - **ranking**: a list, best first, where a list inside is a group of ties;
    - **first**, **second** and **winner** (first, second or tie; or 1, 2, 0).

    A candidate is named by its id, its text, or its number in the row's candidates.
    Optional: **justification**, **dimension** (one of prefer.toml's).

    Re-importing a file adds nothing; a changed label replaces the annotator's earlier
    one. The first bad row stops the import with FILE:LINE and the field, and nothing
    from the file is stored (exit code 2). Details: docs/formats.md.

    **Examples**

    ```
      prefer import-judgments labels.jsonl -p ./alignment
      prefer import-judgments old.csv --map rater=annotator,chosen=best
      prefer import-judgments pairs.parquet --dry-run --json
    ```
    """
    with project_store(project) as (_proj, store), working(f"Importing {file.name}", quiet):
        counts = import_judgments_file(store, file,
                                       actor=os_user(), mapping=map_, kind=format,
                                       dry_run=dry_run)
    if json_output:
        stdout.print_json(json.dumps(asdict(counts)))
        return
    verb = "Would add" if dry_run else "Added"
    say = lambda text: stdout.print(printable(text), markup=False)  # noqa: E731
    say(f"{file}: {counts.rows} rows, valid.")
    if counts.new_prompts or counts.new_candidates:
        say(f"  {verb} {_n(counts.new_prompts, 'prompt')} and "
            f"{_n(counts.new_candidates, 'candidate')}.")
    if counts.judgments_in_file:
        revised = f", {counts.superseded} replacing earlier ones" if counts.superseded else ""
        say(f"  Judgments: {verb.lower()} {_of(counts.new_judgments, counts.judgments_in_file)}"
            f"{revised}.")
    if counts.pairwise_in_file:
        replaced = (f", replacing {counts.replaced_pairwise} stored on the same pairs"
                    if counts.replaced_pairwise else "")
        say(f"  Pairwise labels: {verb.lower()} "
            f"{_of(counts.new_pairwise, counts.pairwise_in_file)}{replaced}.")
    if counts.annotators:
        say(f"  Annotators: {', '.join(counts.annotators)}")
    if counts.ignored_fields:
        say(f"  Ignored fields: {', '.join(counts.ignored_fields)}")
    if dry_run:
        say("  Dry run: nothing was stored.")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _of(new: int, in_file: int) -> str:
    if new == in_file:
        return str(new)
    return f"{new} of {in_file} (the rest were already stored)"
