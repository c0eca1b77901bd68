"""`prefer audit`: the audit trail, and a check that nobody changed it."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from core.audit import verify_chain
from core.errors import EXIT_FAILED
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
def audit(
    project: ProjectOption = None,
    verify: Annotated[bool, typer.Option("--verify", help="Check every row's hash and its "
                                         "link to the row before; exit 1 at the first broken "
                                         "row.")] = False,
    limit: Annotated[int, typer.Option(help="How many of the newest events to list.")] = 20,
    json_output: JsonOption = False,
) -> None:
    """List the audit trail (who did what, when), or verify its hash chain.

    Every import, judgment and export appends an event carrying the sha256 of the event
    before it, so editing or deleting a row behind prefer's back breaks the chain.

    **Examples**

    ```
      prefer audit -p ./alignment
      prefer audit --verify
    ```
    """
    with project_store(project) as (_proj, store):
        if verify:
            report = verify_chain(store.events())
            if json_output:
                stdout.print_json(json.dumps({"ok": report.ok, "checked": report.checked,
                                              "broken_seq": report.broken_seq,
                                              "reason": report.reason}))
            elif report.ok:
                stdout.print(f"Audit chain intact: {report.checked} events verified.")
            else:
                stdout.print(Text.assemble(
                    (f"Audit chain broken at event #{report.broken_seq}:", "bold red"),
                    f" {printable(report.reason or '')}. {report.checked} events before it "
                    "verified."))
            if not report.ok:
                raise typer.Exit(EXIT_FAILED)
            return
        events = store.events(limit=limit)
    if json_output:
        stdout.print_json(json.dumps([{
            "seq": e.seq, "at": e.at.isoformat(), "actor": e.actor, "action": e.action,
            "subject": e.subject, "details": json.loads(e.details)} for e in events]))
        return
    table = Table(padding=(0, 1))
    for column in ("#", "when (UTC)", "who", "what", "subject"):
        table.add_column(column)
    for e in events:
        table.add_row(str(e.seq), e.at.strftime("%Y-%m-%d %H:%M:%S"), shown(e.actor),
                      shown(e.action), shown(e.subject or ""))
    stdout.print(table)
