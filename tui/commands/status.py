"""`prefer status`: what is stored, per stage of the pipeline."""

from __future__ import annotations

import json
from dataclasses import asdict

from rich.table import Table
from rich.text import Text

from core.text import printable
from tui.commands.common import (
    JsonOption,
    ProjectOption,
    project_store,
    reports_errors,
    shown,
    stdout,
)


@reports_errors
def status(project: ProjectOption = None, json_output: JsonOption = False) -> None:
    """Show what is stored, per stage: prompts, candidates, judgments, annotators, exports.

    **Examples**

    ```
      prefer status -p ./alignment
      prefer status --json | jq .judgments
    ```
    """
    with project_store(project) as (proj, store):
        report = store.status()
    if json_output:
        data = asdict(report)
        data["project"] = {"name": proj.config.project.name, "root": str(proj.root)}
        stdout.print_json(json.dumps(data))
        return
    stdout.print(Text.assemble((printable(proj.config.project.name), "bold"), "  ",
                               printable(str(proj.root))))
    stages = Table(show_header=False, box=None, padding=(0, 2))
    stages.add_row("Prompts", str(report.prompts),
                   f"{report.prompts_ready} ready to annotate (2+ candidates)")
    stages.add_row("Candidates", str(report.candidates), "")
    stages.add_row("Judgments", str(report.judgments),
                   f"{report.skips} skipped, {report.superseded} revised")
    stages.add_row("Exports", str(report.exports), "")
    stages.add_row("Audit events", str(report.events), "")
    stdout.print(stages)
    if report.prompts_by_dimension:
        stdout.print("By dimension: " + " · ".join(
            f"{printable(k)} {v}" for k, v in report.prompts_by_dimension.items()), markup=False)
        stdout.print("By language:  " + " · ".join(
            f"{printable(k)} {v}" for k, v in report.prompts_by_language.items()), markup=False)
    if report.annotators:
        people = Table(title="Annotators", title_justify="left", padding=(0, 2))
        for column in ("annotator", "ranked", "skipped", "remaining"):
            people.add_column(column, justify="left" if column == "annotator" else "right")
        for progress in report.annotators:
            people.add_row(shown(progress.annotator), f"{progress.judged}/{progress.total}",
                           str(progress.skipped), str(progress.remaining))
        stdout.print(people)
    elif report.prompts_ready:
        stdout.print("No judgments yet: start with `prefer annotate`.")
    else:
        stdout.print("Nothing to annotate yet: `prefer import FILE` adds prompts and candidates.")
