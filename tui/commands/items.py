"""`prefer items` and `prefer items show`: what is stored, item by item."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.text import Text

from core.inventory import resolve_id
from core.models import ITEM_STATUSES, ItemDetail, ItemFilter
from core.text import counted, printable
from tui.commands.common import (
    JsonOption,
    ProjectOption,
    print_table,
    project_store,
    reports_errors,
    stdout,
)

items_app = typer.Typer(
    name="items", invoke_without_command=True, no_args_is_help=False,
    help="List the stored items, or show one with everything stored about it.",
    rich_markup_mode="markdown",
)


def _clip(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@items_app.callback()
@reports_errors
def items(
    ctx: typer.Context,
    project: ProjectOption = None,
    dimension: Annotated[str | None, typer.Option(help="Only items of this dimension.")] = None,
    language: Annotated[str | None, typer.Option(help="Only items in this language (en, de…).")
                        ] = None,
    source: Annotated[str | None, typer.Option(
        help="Only items imported from a file whose path contains this.")] = None,
    status: Annotated[str | None, typer.Option(
        help="Only items that are: " + ", ".join(ITEM_STATUSES) + " (held-back: disputed or "
             "flagged, so it gives no pairs).")] = None,
    limit: Annotated[int | None, typer.Option(help="At most N items.", min=1)] = None,
    json_output: JsonOption = False,
) -> None:
    """List the stored items (prompts with their candidates), in import order.

    Each line gives the item's id (any unambiguous start of it works wherever an id is taken),
    dimension, language, candidates, how many annotators judged it and its status: judged,
    disputed (annotators disagree, no reviewer decided), flagged (an open flag), decided (a
    reviewer decided) or unjudged. Needs the reviewer role when `prefer serve` runs.

    **Examples**

    ```
      prefer items -p ./alignment
      prefer items --status held-back
      prefer items --dimension accuracy --language de --json
      prefer items show cs-001
    ```
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = project
        return
    if status is not None and status not in ITEM_STATUSES:
        raise typer.BadParameter(f"'{status}' is not one of: {', '.join(ITEM_STATUSES)}",
                                 param_hint="--status")
    where = ItemFilter(dimension=dimension, language=language, source=source, status=status,
                       limit=limit)
    with project_store(project) as (_proj, store):
        found = store.list_items(where)
    if json_output:
        stdout.print_json(json.dumps([asdict(i) for i in found]))
        return
    if not found:
        stdout.print("No items match." if any(asdict(where).values()) else
                     "No items yet: `prefer import FILE` adds prompts and candidates.")
        return
    rows = [[printable(item.prompt_id), printable(item.dimension or "–"),
             printable(item.language or "–"), str(item.candidates), str(item.judgments),
             ", ".join(item.statuses), printable(" ".join(item.prompt.split()))]
            for item in found]
    print_table(("item", "dimension", "lang", "cands", "judged", "status", "prompt"), rows,
                right=("cands", "judged"))
    stdout.print(f"{counted(len(found), 'item')}"
                 + (" (--limit reached)" if limit and len(found) == limit else "") + ".")


@items_app.command("show")
@reports_errors
def show(
    ctx: typer.Context,
    item_id: Annotated[str, typer.Argument(metavar="ITEM", help="An item id, or the start of "
                                           "one.")],
    project: ProjectOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show one item: prompt, system prompt, candidates with their ids and where they came from,
    every judgment, the reviewer's decision, flags, and the pairs it gave (and why others were
    dropped). Needs the reviewer role when `prefer serve` runs (annotators judge blind).

    **Examples**

    ```
      prefer items show cs-001 -p ./alignment
      prefer items show cs-00 --json | jq '.item.candidates'
    ```
    """
    with project_store(project or ctx.obj) as (_proj, store):
        detail = store.item_detail(resolve_id(store, "prompt", item_id))
    assert detail is not None  # resolve_id found it
    if json_output:
        stdout.print_json(json.dumps(asdict(detail), default=str))
        return
    _print_detail(detail)


def _say(text: str, style: str | None = None) -> None:
    stdout.print(Text(printable(text, multiline=True), style=style or ""), soft_wrap=False)


def _print_detail(detail: ItemDetail) -> None:
    prompt = detail.item.prompt
    labels = {c.candidate_id: str(n) for n, c in enumerate(detail.item.candidates, start=1)}
    _say(f"{prompt.prompt_id}  {prompt.dimension or 'no dimension'} · "
         f"{prompt.language or 'language unknown'} · from {prompt.source or 'unknown'}"
         + (f" · imported {detail.imported_at:%Y-%m-%d %H:%M} UTC" if detail.imported_at else "")
         + (" · gold item" if detail.gold else ""), "bold")
    if prompt.system:
        _say("System: " + prompt.system, "dim")
    _say("Prompt: " + prompt.prompt)
    stdout.print()
    stdout.print(f"Candidates ({len(detail.item.candidates)})", style="bold")
    for n, cand in enumerate(detail.item.candidates, start=1):
        made = detail.provenance.get(cand.candidate_id)
        origin = (f"generated: {made.variant} by {made.model}"
                  + (f", temperature {made.temperature}" if made.temperature is not None else "")
                  + (", truncated" if made.truncated else "")) if made else \
            f"from {detail.candidate_sources.get(cand.candidate_id, cand.origin)}"
        _say(f"  {n}. {cand.candidate_id}  ({origin})", "cyan")
        _say("     " + _clip(cand.text, 300))
    stdout.print()
    stdout.print(f"Judgments ({len(detail.judgments)})", style="bold")
    for j in detail.judgments:
        if j.source == "pairwise":
            first, second = (labels.get(c, c) for c in j.shown[:2])
            said = f"compared {first} with {second}: winner {j.winner}"
        elif j.groups is not None:
            said = "ranking " + " > ".join("=".join(labels.get(c, c) for c in g)
                                           for g in j.groups)
        else:
            said = (f"best {labels.get(j.best_candidate_id or '', '?')}, "
                    f"worst {labels.get(j.worst_candidate_id or '', '?')}")
        when = f" · {j.created_at:%Y-%m-%d %H:%M}" if j.created_at else ""
        dims = f" · {', '.join(j.dimensions)}" if j.dimensions else ""
        _say(f"  {j.annotator}: {said}{dims}{when}")
        if j.justification:
            _say(f"    “{j.justification}”", "dim")
    if detail.disagreement is not None and detail.disagreement.differs_on:
        _say(f"  They differ on: {', '.join(detail.disagreement.differs_on)}", "yellow")
    if detail.adjudication is not None:
        a = detail.adjudication
        _say(f"Decision by {a.reviewer}: best {labels.get(a.best_candidate_id or '', '?')}, "
             f"worst {labels.get(a.worst_candidate_id or '', '?')} — “{a.note}”", "bold")
    for flag in detail.flags:
        state = (f"resolved by {flag.resolved_by}: “{flag.resolution}”" if flag.resolution
                 else "open")
        _say(f"Flag by {flag.annotator}: “{flag.note}” ({state})", "yellow")
    if detail.assigned_to:
        _say(f"Assigned to: {', '.join(detail.assigned_to)}")
    stdout.print()
    _print_pairs(detail, labels)


def _print_pairs(detail: ItemDetail, labels: dict[str, str]) -> None:
    if detail.build_id is None:
        stdout.print("Pairs: none built yet (`prefer pairs` builds them).")
        return
    if not detail.pairs:
        reason = "no judgment yet"
        if detail.disagreement is not None and detail.disagreement.unresolved:
            reason = ("held back: " + ("an open flag" if detail.disagreement.open_flags else
                                       "annotators disagree and no reviewer decided")
                      + " (`prefer adjudicate` decides it)")
        elif detail.judgments:
            reason = "its judgments gave none (or it was judged after the latest build)"
        stdout.print(f"Pairs in build {printable(detail.build_id)}: none ({reason}).")
        return
    kept = [p for p in detail.pairs if p.status == "kept"]
    stdout.print(f"Pairs in build {printable(detail.build_id)}: {len(kept)} kept of "
                 f"{len(detail.pairs)}", style="bold")
    for pair in detail.pairs:
        why = "kept" if pair.status == "kept" else \
            f"dropped: {pair.status.replace('_', ' ')}"
        _say(f"  {labels.get(pair.chosen_id, pair.chosen_id)} over "
             f"{labels.get(pair.rejected_id, pair.rejected_id)}  {why}"
             + (f" · {pair.dimension}" if pair.dimension else "")
             + (f" · {pair.decision}" if pair.decision else ""))
