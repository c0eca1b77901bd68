"""`prefer disagreements` and `prefer adjudicate`: items annotators disagree on or flagged, and the
reviewer's screen that resolves them."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from core.adjudication import FLAGGED
from core.errors import BadInputError
from core.project import open_project
from core.store import connect_store
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
def disagreements(
    project: ProjectOption = None,
    all_: Annotated[bool, typer.Option("--all", help="Also list items already adjudicated.")] = False,
    judge: Annotated[bool, typer.Option(
        "--judge", help="Instead, list human decisions a confident judge (`prefer judge`) "
        "contradicts: possible slips for a reviewer (docs/judge.md).")] = False,
    json_output: JsonOption = False,
) -> None:
    """List items whose annotators disagree, and items annotators flagged.

    Annotators disagree on an item when they name a different best or a different worst, or
    when one's choice implies A over B and another's B over A (rankings and pairwise labels
    included). Items with an open flag are listed as "flagged". Unresolved items come first;
    `prefer adjudicate` resolves them. Needs the reviewer role when `prefer serve` runs.

    **Examples**

    ```
      prefer disagreements -p ./alignment
      prefer disagreements --all --json | jq '.[].prompt_id'
      prefer disagreements --judge
    ```
    """
    if judge:
        from tui.commands.judge import print_slips, slips_of
        with project_store(project) as (proj, store):
            margin = proj.config.judge.confident_margin
            slips = slips_of(store, margin)
        print_slips(slips, json_output, margin)
        return
    with project_store(project) as (_proj, store):
        found = store.disagreements(include_adjudicated=all_)
    if json_output:
        stdout.print_json(json.dumps([{**asdict(d), "unresolved": d.unresolved} for d in found]))
        return
    if not found:
        stdout.print("No unresolved disagreements and no open flags." if not all_ else
                     "No disagreements and no flags.")
        return
    rows = [(printable(item.prompt_id), printable(" ".join(item.prompt.split())),
             str(item.annotators),
             ", ".join([*item.differs_on,
                        *([f"{FLAGGED} ({item.open_flags})"] if item.open_flags else [])]),
             "yes" if item.adjudicated else "no") for item in found]
    titles = ("item", "prompt", "judged", "differ on", "decided")
    widths = [max(len(title), *(len(row[n]) for row in rows)) for n, title in enumerate(titles)]
    # The prompt gives way on a narrow terminal: the other columns are never cut.
    widths[1] = max(12, min(48, widths[1], stdout.width - sum(widths) + widths[1] - 3 * len(titles)))
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), show_edge=False)
    for title, width in zip(titles, widths, strict=True):
        table.add_column(title, no_wrap=True, overflow="ellipsis", width=width,
                         justify="right" if title == "judged" else "left")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    stdout.print(table)
    unresolved = sum(1 for d in found if d.unresolved)
    stdout.print(f"{unresolved} unresolved of {len(found)} listed: `prefer adjudicate` resolves "
                 "them." if unresolved else f"{len(found)} listed, all resolved.")


@reports_errors
def adjudicate(
    project: ProjectOption = None,
    show_names: Annotated[bool, typer.Option(
        "--show-names", help="Show annotators' names instead of Annotator A, B, C…")] = False,
) -> None:
    """Resolve disagreements and flags, one item at a time, in the terminal.

    Shows the prompt, the candidates numbered 1..k in stored order, and each annotator's best,
    worst and justification side by side (as Annotator A, B, … unless --show-names). Press the
    number of the final best, then of the worst, write a resolution note (Tab reaches an
    optional guideline change) and press Enter: the decision is saved with an audit event,
    resolves the item's open flags, and is what pairs are built from for that item. n skips,
    ? lists every key, q quits. Through `prefer serve` you review as your OS user, who needs
    the reviewer role.

    **Examples**

    ```
      prefer adjudicate -p ./alignment
      prefer adjudicate --show-names
    ```
    """
    from tui.adjudication_app import make_adjudication_app  # Textual loads only for this command

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise BadInputError("prefer adjudicate needs a terminal",
                            hint="run it in a terminal, or over ssh with a TTY (ssh -t)")
    proj = open_project(project)
    store = connect_store(proj.root)
    try:
        identity = getattr(store, "identity", None)
        reviewer = identity["annotator"] if identity else os_user()
        make_adjudication_app(proj, store, reviewer=reviewer, show_names=show_names).run()
    finally:
        store.close()
