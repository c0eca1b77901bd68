"""`prefer export`: preference pairs as training files."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from core.export import ExportOptions, export_dataset
from tui.commands.common import (
    JsonOption,
    ProjectOption,
    os_user,
    project_store,
    reports_errors,
    stderr,
    stdout,
)


@reports_errors
def export(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write train.jsonl, "
                                      "val.jsonl and manifest.json into.", file_okay=False)],
    project: ProjectOption = None,
    format: Annotated[str, typer.Option("--format", "-f", help="Row format: trl.")] = "trl",
    conversational: Annotated[bool | None, typer.Option(
        "--conversational/--standard",
        help="Force TRL's conversational rows (messages) or standard rows (plain strings). "
             "Default: conversational when any prompt has a system prompt.")] = None,
    val_fraction: Annotated[float | None, typer.Option(
        "--val-fraction", help="Share of prompts in val.jsonl (default from prefer.toml, "
                               "0.15).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the split (default from "
                                                   "prefer.toml).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Build pairs from judgments and write them for training.

    The best candidate is preferred to every other candidate, and every other candidate to
    the worst. Rows follow TRL's format: {"prompt", "chosen", "rejected"}, or TRL's
    conversational format with the system prompt as the first message. The split is seeded
    and grouped by prompt: no prompt is in both files. manifest.json records counts per split
    and dimension, the settings and each file's sha256.

    **Examples**

    ```
      prefer export --format trl --out ./out -p ./alignment
      prefer export -o ./out --conversational --val-fraction 0.1 --seed 7
    ```
    """
    options = ExportOptions(format=format, conversational=conversational,
                            validation_fraction=val_fraction, seed=seed)
    with project_store(project) as (proj, store), \
            stderr.status("Building pairs and writing files …", spinner="dots"):
        result = export_dataset(store, proj.config, out, options, actor=os_user())
    if json_output:
        stdout.print_json(json.dumps(asdict(result)))
        return
    kind = "conversational" if result.conversational else "standard"
    stdout.print(f"Wrote TRL ({kind}) preference pairs to {result.out_dir}")
    for name, split in (("train.jsonl", "train"), ("val.jsonl", "validation")):
        dims = result.pairs_by_split_and_dimension.get(split, {})
        prompts = result.prompts_by_split[split]
        stdout.print(f"  {name:<10} {result.pairs_by_split[split]:>7} pairs from "
                     f"{prompts} prompt{'' if prompts == 1 else 's'}   "
                     + " · ".join(f"{d} {n}" for d, n in dims.items()))
    dropped = {k: v for k, v in result.dropped.items() if v}
    if dropped:
        stdout.print("  Dropped: " + ", ".join(f"{v} {k.replace('_', ' ')}"
                                               for k, v in dropped.items()))
    if result.held_back_prompts:
        stdout.print(f"  Held back: {result.held_back_prompts} prompts whose annotators "
                     "disagree or that are flagged (`prefer disagreements` lists them)")
    stdout.print(f"  manifest.json with sha256 of each file: {result.manifest_path}")
