"""`prefer refresh`: re-queue items whose decisions are stale under current guidelines."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from core.refresh import refresh as refresh_items
from core.text import printable
from tui.commands.common import (
    JsonOption,
    ProjectOption,
    os_user,
    project_store,
    reports_errors,
    stdout,
)


@reports_errors
def refresh(
    project: ProjectOption = None,
    older_than: Annotated[str | None, typer.Option(
        "--older-than", help="Decisions made longer ago than this: 90d, 12w, 36h, 1y.")] = None,
    guideline_before: Annotated[str | None, typer.Option(
        "--guideline-before", help="Decisions made under other guidelines before this version "
        "was first used ('current': the guidelines.md in force).")] = None,
    to: Annotated[str | None, typer.Option(
        "--to", help="Ask these annotators (comma-separated) instead of the ones who "
                     "decided.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count; re-queue nothing.")
                       ] = False,
    json_output: JsonOption = False,
) -> None:
    """Re-queue the items whose current decisions are stale, so they are judged again.

    A decision is stale when it is older than --older-than, or was made under guidelines
    before --guideline-before. Its item returns to the queue of the annotator who made it
    (or of each --to annotator); their new judgment supersedes the old one. Judgments by
    trusted sources are never re-queued. `prefer report` then says how many decisions
    flipped at refresh, by dimension. One `refresh` audit event.

    **Examples**

    ```
      prefer refresh --older-than 90d -p ./alignment
      prefer refresh --guideline-before current --dry-run
      prefer refresh --older-than 1y --to alice,bob
    ```
    """
    names = tuple(n.strip() for n in (to or "").split(",") if n.strip())
    with project_store(project) as (proj, store):
        counts = refresh_items(store, proj, actor=os_user(), older_than=older_than,
                               guideline_before=guideline_before, to=names, dry_run=dry_run)
    if json_output:
        stdout.print_json(json.dumps(asdict(counts)))
        return
    say = lambda text: stdout.print(printable(text), markup=False)  # noqa: E731
    verb = "Would re-queue" if dry_run else "Re-queued"
    say(f"{counts.stale_decisions} stale decisions. {verb} {counts.requests} "
        f"(item, annotator) pairs on {counts.items} items"
        + (f"; {counts.already_queued} were queued already." if counts.already_queued else "."))
    if counts.by_dimension:
        say("  By dimension: " + ", ".join(f"{d} {n}" for d, n in counts.by_dimension.items()))
    if counts.by_annotator:
        say("  For: " + ", ".join(f"{a} {n}" for a, n in counts.by_annotator.items()))
    if dry_run:
        say("  Dry run: nothing was re-queued.")
