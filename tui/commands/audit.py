"""`prefer audit`: the audit trail, its head, and a check that nobody changed it or the rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from core.audit import head_line, read_anchors
from core.errors import EXIT_FAILED
from core.models import AuditAnchor, AuditReport
from core.text import printable
from tui.commands.common import (
    JsonOption,
    ProjectOption,
    project_store,
    reports_errors,
    shown,
    stderr,
    stdout,
)


@reports_errors
def audit(
    project: ProjectOption = None,
    verify: Annotated[bool, typer.Option(
        "--verify", help="Check every event's hash and link, that every stored row still "
        "matches the event that wrote it, and that the chain still contains every head in the "
        "project's prefer.audit-heads; exit 1 naming each problem.")] = False,
    anchor: Annotated[list[Path] | None, typer.Option(
        "--anchor", metavar="FILE", help="Also check a head kept elsewhere: an export's "
        "manifest.json or a copy of a head file (every line). Repeatable; implies --verify.",
        exists=True, dir_okay=False)] = None,
    head: Annotated[bool, typer.Option(
        "--head", help="Print the chain's head (`SEQ SHA256 TIME`, a head file line) to keep "
        "elsewhere as an anchor.")] = False,
    limit: Annotated[int, typer.Option(help="How many of the newest events to list.")] = 20,
    json_output: JsonOption = False,
) -> None:
    """List the audit trail (who did what, when), print its head, or verify it.

    Every write (import, generation, judgment, adjudication, flag, assignment, gold item,
    export) appends an event carrying the sha256 of the event before it and of the rows it
    wrote. So editing or deleting a stored row, or an event, behind prefer's back is reported
    by --verify, and so is cutting events off the end or rewriting the chain, as long as a head
    kept since (prefer.audit-heads, a manifest, a copy elsewhere) is checked. Someone who can
    rewrite the store and every head you check can rewrite history: keep anchors on another
    machine (see docs/audit.md).

    **Examples**

    ```
      prefer audit -p ./alignment
      prefer audit --verify
      prefer audit --verify --anchor /mnt/offsite/alignment.audit-heads
      prefer audit --verify --anchor ./exports/v3/manifest.json
      prefer audit --head >> /mnt/offsite/alignment.audit-heads
    ```
    """
    anchors: list[AuditAnchor] = [a for path in anchor or [] for a in read_anchors(path)]
    with project_store(project) as (_proj, store):
        if verify or anchors:
            _print_report(store.verify_audit(anchors), json_output)
            return
        if head:
            kept = store.audit_head()
            if json_output:
                stdout.print_json(json.dumps(None if kept is None else {
                    "seq": kept.seq, "hash": kept.hash,
                    "at": kept.at.isoformat() if kept.at else None}))
            elif kept is None:
                stderr.print("No audit events yet: nothing to keep.")
            else:
                assert kept.at is not None
                stdout.print(head_line(kept.seq, kept.hash, kept.at).rstrip("\n"), markup=False)
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


def _print_report(report: AuditReport, json_output: bool) -> None:
    """Print what verify_audit found; exit 1 when anything is wrong."""
    if json_output:
        stdout.print_json(json.dumps({
            "ok": report.ok, "events": report.events, "rows": report.rows,
            "heads": report.heads,
            "head": {"seq": report.head.seq, "hash": report.head.hash} if report.head else None,
            "problems": [{"kind": p.kind, "message": p.message, "seq": p.seq, "table": p.table}
                         for p in report.problems],
            "more_problems": report.more_problems, "notes": list(report.notes)}))
    else:
        checked = (f"{_count(report.events, 'event')} verified, {_count(report.rows, 'row')} "
                   f"match the events that wrote them, {_count(report.heads, 'kept head')} "
                   "checked.")
        if report.ok:
            stdout.print(f"Audit chain intact: {checked}")
        else:
            count = len(report.problems) + report.more_problems
            stdout.print(f"[bold red]Audit check failed:[/] {count} problem"
                         f"{'s' if count != 1 else ''} found.")
            for problem in report.problems:
                stdout.print(f"  ✗ {escape(printable(problem.message))}")
            if report.more_problems:
                stdout.print(f"  … and {report.more_problems} more (see --json).")
            stdout.print(f"Checked: {checked.replace(' match the', ' compared with the')}")
        for note in report.notes:
            stdout.print(f"Note: {escape(printable(note))}")
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
