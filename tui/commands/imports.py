"""`prefer imports` and `prefer imports remove`: the files imported, and taking one back."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from core.errors import BadInputError
from core.inventory import resolve_batch
from core.text import counted, printable
from tui.commands.common import (
    JsonOption,
    ProjectOption,
    os_user,
    print_table,
    project_store,
    reports_errors,
    stdout,
)

imports_app = typer.Typer(
    name="imports", invoke_without_command=True,
    help="List the import batches (one per imported file), or remove one.",
    rich_markup_mode="markdown",
)


@imports_app.callback()
@reports_errors
def imports(ctx: typer.Context, project: ProjectOption = None,
            json_output: JsonOption = False) -> None:
    """List the import batches: one per `prefer import` or `prefer import-judgments` of a file,
    with its id, file, time, who imported it and the rows it still holds.

    **Examples**

    ```
      prefer imports -p ./alignment
      prefer imports --json | jq '.[].batch_id'
      prefer imports remove i3
    ```
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = project
        return
    with project_store(project) as (_proj, store):
        batches = store.import_batches()
    if json_output:
        stdout.print_json(json.dumps([asdict(b) for b in batches], default=str))
        return
    if not batches:
        stdout.print("No imports yet: `prefer import FILE` adds prompts and candidates.")
        return
    print_table(("batch", "kind", "file", "imported UTC", "by", "prompts", "cands",
                 "judgments"),
                [[b.batch_id, b.kind, printable(Path(b.file).name),
                  f"{b.imported_at:%Y-%m-%d %H:%M}", printable(b.actor), f"{b.prompts:,}",
                  f"{b.candidates:,}", f"{b.judgments:,}"] for b in batches],
                right=("prompts", "cands", "judgments"), clipped="file")
    stdout.print("Full paths: `prefer imports --json`; `prefer imports remove BATCH` takes one "
                 "back.")


@imports_app.command("remove")
@reports_errors
def remove(
    ctx: typer.Context,
    batch: Annotated[str, typer.Argument(metavar="BATCH", help="The batch id (i3), or the file's "
                                         "name when one batch came from it.")],
    project: ProjectOption = None,
    with_judgments: Annotated[bool, typer.Option(
        "--with-judgments", help="Also remove the work that depends on the batch's rows: "
        "judgments, labels, decisions, flags, gold marks and assignments on its items.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Remove an import batch: its prompts (with every candidate of them, generated ones too)
    and its candidates and judgments. Refused, naming what depends on them, once anyone has
    worked on its items, unless --with-judgments. One audit event records what went, and
    `prefer audit --verify` still vouches for every row that is left. Needs the admin role.

    **Examples**

    ```
      prefer imports remove i3 -p ./alignment
      prefer imports remove wrong_file.jsonl --with-judgments
    ```
    """
    with project_store(project or ctx.obj) as (_proj, store):
        found = resolve_batch(store, batch)
        removal = store.remove_import(found.seq, with_judgments, os_user())
    if removal.refused:
        raise BadInputError(removal.refused + "; nothing was removed",
                            hint="add --with-judgments to remove that work too")
    if json_output:
        stdout.print_json(json.dumps(asdict(removal)))
        return
    stdout.print(Text(printable(f"Removed {removal.what}: " + (", ".join(
        counted(n, table.replace('_', ' ').removesuffix('s'))
        for table, n in removal.removed.items()) or "nothing was left of it")
        + f" (audit event #{removal.event_seq}).")))
