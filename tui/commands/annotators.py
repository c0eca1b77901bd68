"""`prefer annotators` and `prefer annotators remove`: the team, and taking someone off it."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.text import Text

from core.inventory import remove_annotator, team
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

annotators_app = typer.Typer(
    name="annotators", invoke_without_command=True,
    help="List the annotators (role, assigned, done, last active), or remove one.",
    rich_markup_mode="markdown",
)


@annotators_app.callback()
@reports_errors
def annotators(ctx: typer.Context, project: ProjectOption = None,
               json_output: JsonOption = False) -> None:
    """List the annotators: everyone in [annotators] of prefer.toml (at zero until they start)
    and everyone with an assignment, a judgment or a flag; their role, open assignments, items
    ranked and skipped, open flags and when they last saved something.

    **Examples**

    ```
      prefer annotators -p ./alignment
      prefer annotators --json
      prefer annotators remove alcie
    ```
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = project
        return
    with project_store(project) as (proj, store):
        members = team(store, proj.config)
    if json_output:
        stdout.print_json(json.dumps([asdict(m) for m in members], default=str))
        return
    if not members:
        stdout.print("No annotators yet: list them in [annotators] of prefer.toml, or "
                     "`prefer assign --annotators alice,bob`.", markup=False)
        return
    print_table(("annotator", "role", "assigned", "ranked", "skipped", "open flags",
                 "last active UTC"),
                [[printable(m.annotator), m.role or "not in prefer.toml", str(m.assigned),
                  str(m.judged + m.pairwise), str(m.skipped), str(m.flags_open),
                  f"{m.last_active:%Y-%m-%d %H:%M}" if m.last_active else "never"]
                 for m in members],
                right=("assigned", "ranked", "skipped", "open flags"), clipped="last active UTC")


@annotators_app.command("remove")
@reports_errors
def remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The annotator's name.")],
    project: ProjectOption = None,
    drop_judgments: Annotated[bool, typer.Option(
        "--drop-judgments", help="Also delete their judgments, labels, flags and assignments "
        "(otherwise their judgments stay and keep counting).")] = False,
    json_output: JsonOption = False,
) -> None:
    """Remove an annotator: their open assignments are freed and their line leaves
    [annotators] in prefer.toml (so `prefer serve` no longer lets them in). Their judgments stay
    unless --drop-judgments. One audit event records what went. Needs the admin role.

    **Examples**

    ```
      prefer annotators remove alcie -p ./alignment
      prefer annotators remove bob --drop-judgments
    ```
    """
    with project_store(project or ctx.obj) as (proj, store):
        removal = remove_annotator(store, proj.config_path, proj.config, name,
                                   drop_judgments=drop_judgments, actor=os_user())
    if json_output:
        stdout.print_json(json.dumps(asdict(removal)))
        return
    gone = ", ".join(counted(n, t.replace("_", " ").removesuffix("s") if not t.endswith(
        "released") else t.removesuffix(" released").removesuffix("s"))
        + (" released" if t.endswith("released") else "") for t, n in removal.removed.items())
    stdout.print(Text(printable(f"Removed {removal.what}: {gone or 'nothing to free'}"
                                f" (audit event #{removal.event_seq}).")))
    if not drop_judgments:
        stdout.print("Their judgments stay (--drop-judgments deletes them).")
