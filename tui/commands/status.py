"""`prefer status`: what is stored, per stage of the pipeline."""

from __future__ import annotations

import json
from dataclasses import asdict

from rich.table import Table
from rich.text import Text

from core.inventory import team_progress
from core.text import counted, printable
from tui.commands.common import (
    JsonOption,
    ProjectOption,
    print_table,
    project_store,
    reports_errors,
    stdout,
)


@reports_errors
def status(project: ProjectOption = None, json_output: JsonOption = False) -> None:
    """Show what is stored, per stage, and the team: prompts, candidates, assignments,
    judgments, open flags, items held back, exports; every annotator in [annotators] of
    prefer.toml or with work in the store (at zero until they start), with role, assignments,
    progress, flags and when they were last active. Needs the reviewer role under `prefer serve`.

    **Examples**

    ```
      prefer status -p ./alignment
      prefer status --json | jq .judgments
    ```
    """
    with project_store(project) as (proj, store):
        report = store.status()
        people = team_progress(store, proj.config, report)
    if json_output:
        data = asdict(report)
        data["project"] = {"name": proj.config.project.name, "root": str(proj.root)}
        data["team"] = [{**asdict(p.member), "total": p.progress.total,
                         "remaining": p.progress.remaining} for p in people]
        stdout.print_json(json.dumps(data, default=str))
        return
    stdout.print(Text.assemble((printable(proj.config.project.name), "bold"), "  ",
                               printable(str(proj.root))))
    stages = Table(show_header=False, box=None, padding=(0, 2))
    stages.add_row("Prompts", str(report.prompts),
                   f"{report.prompts_ready} ready to annotate (2+ candidates)")
    stages.add_row("Candidates", str(report.candidates), "")
    stages.add_row("Assignments", str(report.assignments),
                   "open" if report.assignments else "none: everyone may rank every item")
    stages.add_row("Judgments", str(report.judgments),
                   f"{report.skips} skipped, {report.superseded} revised")
    stages.add_row("Open flags", str(report.open_flags),
                   "`prefer adjudicate` resolves them" if report.open_flags else "")
    stages.add_row("Held back", str(report.held_back),
                   f"{counted(report.held_back, 'item')} give no pairs until a reviewer decides "
                   "(`prefer disagreements`)" if report.held_back else "")
    stages.add_row("Exports", str(report.exports), "")
    stages.add_row("Audit events", str(report.events), "")
    stdout.print(stages)
    if report.prompts_by_dimension:
        stdout.print("By dimension: " + " · ".join(
            f"{printable(k)} {v}" for k, v in report.prompts_by_dimension.items()), markup=False)
        stdout.print("By language:  " + " · ".join(
            f"{printable(k)} {v}" for k, v in report.prompts_by_language.items()), markup=False)
    if people:
        stdout.print("Annotators", style="bold")
        print_table(("annotator", "role", "assigned", "ranked", "skipped", "remaining", "flags",
                     "last active UTC"),
                    [[printable(p.member.annotator), p.member.role or "–",
                      str(p.member.assigned), f"{p.progress.judged}/{p.progress.total}",
                      str(p.progress.skipped), str(p.progress.remaining),
                      str(p.member.flags_open),
                      f"{p.member.last_active:%Y-%m-%d %H:%M}" if p.member.last_active
                      else "never"] for p in people],
                    right=("assigned", "ranked", "skipped", "remaining", "flags"),
                    clipped="last active UTC")
    if not report.judgments and report.prompts_ready:
        stdout.print("No judgments yet: start with `prefer annotate`.")
    elif not report.prompts_ready:
        stdout.print("Nothing to annotate yet: `prefer import FILE` adds prompts and candidates.")
