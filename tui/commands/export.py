"""`prefer export`: preference pairs as training files."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from core.agreement_report import agreement_summary
from core.config import PAIR_STRATEGIES
from core.export import (
    AXOLOTL_TYPES,
    FORMATS,
    LLAMAFACTORY_STYLES,
    ExportOptions,
    check_out_dir,
    data_files,
    export_dataset,
)
from core.progress import phase
from core.sources import parse_source_filter
from core.text import counted, printable
from tui.commands.common import (
    JsonOption,
    ProjectOption,
    SourceOption,
    os_user,
    project_store,
    reports_errors,
    stdout,
)
from tui.commands.lengths import (
    DEFAULT_CUTOFF_LEN,
    DEFAULT_MAX_LENGTH,
    CutoffLenOption,
    MaxLengthOption,
    TokenizerOption,
)
from tui.progress import QuietOption, progress_display


@reports_errors
def export(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the split files, "
                                      "the trainer's config and manifest.json into: a new or "
                                      "empty folder, unless --overwrite.")],
    project: ProjectOption = None,
    format: Annotated[str, typer.Option("--format", "-f", help="Row format: "
                                        + ", ".join(FORMATS) + ".")] = "trl",
    axolotl_type: Annotated[str, typer.Option(
        "--axolotl-type", help="With --format axolotl: " + " or ".join(AXOLOTL_TYPES)
        + " (Axolotl's chat_template.default / user_defined.default).")] = "chat_template",
    llamafactory_style: Annotated[str, typer.Option(
        "--llamafactory-style", help="With --format llamafactory: "
        + " or ".join(LLAMAFACTORY_STYLES) + ".")] = "alpaca",
    conversational: Annotated[bool | None, typer.Option(
        "--conversational/--standard",
        help="Force TRL's conversational rows (messages) or standard rows (plain strings; a "
             "system prompt is folded into the prompt, each answer starts with a space). "
             "Default: conversational when any prompt has a system prompt.")] = None,
    val_fraction: Annotated[float | None, typer.Option(
        "--val-fraction", help="Share of prompts in val.jsonl (default from prefer.toml, "
                               "0.15).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the split (default from "
                                                   "prefer.toml).")] = None,
    strategy: Annotated[str | None, typer.Option(
        "--strategy", help="Pair strategy: " + ", ".join(PAIR_STRATEGIES)
        + " (default from prefer.toml).")] = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Write into a folder that already holds files, replacing those of "
                            "the same names.")] = False,
    tokenizer: TokenizerOption = None,
    max_length: MaxLengthOption = DEFAULT_MAX_LENGTH,
    cutoff_len: CutoffLenOption = DEFAULT_CUTOFF_LEN,
    source: SourceOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Build pairs from judgments, filter and balance them, and write them for training.

    Pairs are built exactly as `prefer pairs` builds them (strategy, filters, the balance plan
    of `prefer balance --apply`), then split. Formats (docs/formats.md): trl (TRL's
    {"prompt", "chosen", "rejected"}, standard or conversational), axolotl (rows plus
    axolotl.yaml), llamafactory (alpaca or sharegpt rows plus dataset_info.json), hf (Parquet
    under data/ plus a dataset card README.md), jsonl (rows with all metadata). The split is
    seeded, grouped by near-duplicate prompts (no prompt, or near copy of one, is in both files)
    and stratified by dimension. Every file is validated
    before it is moved into place. manifest.json records counts per split, dimension and
    language, what each filter dropped, the agreement summary, the settings, the guideline
    version and each file's sha256. --out must be a new or empty folder unless --overwrite; a
    failed export leaves nothing behind.

    **Examples**

    ```
      prefer export --format trl --out ./out -p ./alignment
      prefer export -o ./out --conversational --val-fraction 0.1 --seed 7
      prefer export --format axolotl --axolotl-type user_defined -o ./axolotl
      prefer export --format llamafactory --llamafactory-style sharegpt -o ./lf
      prefer export --format hf -o ./hub
      prefer export -o ./out --overwrite
      prefer export -o ./out --tokenizer ./model/tokenizer.json --max-length 2048
      prefer export -o ./experts-only --source experts
      prefer export -o ./out --source no-abtest
    ```

    With --tokenizer (a local tokenizer.json), manifest.json records the token lengths of
    prompt, chosen and rejected and how many pairs run over --max-length (TRL) and --cutoff-len
    (LLaMA-Factory).
    """
    options = ExportOptions(format=format, conversational=conversational,
                            validation_fraction=val_fraction, seed=seed,
                            axolotl_type=axolotl_type, llamafactory_style=llamafactory_style,
                            strategy=strategy, tokenizer=tokenizer, max_length=max_length,
                            cutoff_len=cutoff_len, sources=parse_source_filter(source))
    check_out_dir(out.expanduser(), overwrite)  # before the agreement's bootstrap, not after
    with project_store(project) as (proj, store), progress_display(quiet) as progress:
        with phase(progress, "Agreement summary (bootstrap)"):
            summary = agreement_summary(store.agreement_rows(), seed=proj.config.export.seed)
        with phase(progress, "Building pairs and writing files"):
            result = export_dataset(store, proj.config, out, options, actor=os_user(),
                                    guideline_version=proj.guideline_version(),
                                    agreement=summary, overwrite=overwrite)
    if json_output:
        stdout.print_json(json.dumps(asdict(result)))
        return
    if result.format == "trl":
        label = f"TRL ({'conversational' if result.conversational else 'standard'})"
    else:
        label = {"axolotl": f"Axolotl ({axolotl_type})",
                 "llamafactory": f"LLaMA-Factory ({llamafactory_style})",
                 "hf": "Hugging Face Parquet", "jsonl": "JSONL"}.get(result.format, result.format)
    stdout.print(f"Wrote {label} preference pairs to {printable(result.out_dir)}", markup=False)
    for split, name in data_files(result).items():
        dims = result.pairs_by_split_and_dimension.get(split, {})
        prompts = result.prompts_by_split[split]
        stdout.print(f"  {name:<10} {result.pairs_by_split[split]:>7} pairs from "
                     f"{prompts} prompt{'' if prompts == 1 else 's'}   "
                     + " · ".join(f"{printable(d)} {n}" for d, n in dims.items()), markup=False)
    dropped = {k: v for k, v in result.dropped.items() if v}
    if result.balanced_out:
        dropped["balanced_out"] = result.balanced_out
    if dropped:
        stdout.print("  Dropped: " + ", ".join(f"{v} {k.replace('_', ' ')}"
                                               for k, v in dropped.items())
                     + " (`prefer pairs` explains each)")
    if result.held_back_prompts:
        stdout.print(f"  Held back: {counted(result.held_back_prompts, 'prompt')} whose annotators "
                     "disagree or that are flagged (`prefer disagreements` lists them)")
    others = [n for n in result.files if n not in data_files(result).values()]
    if others:
        stdout.print("  Also: " + ", ".join(others))
    stdout.print(f"  manifest.json with sha256 of each file: {printable(result.manifest_path)}",
                 markup=False)
    if tokenizer is not None:
        lengths = json.loads(Path(result.manifest_path).read_text(encoding="utf-8"))
        for setting, check in (lengths.get("token_lengths") or {}).get("limits", {}).items():
            stdout.print(f"  Token lengths: {check['pairs_over']:,} pairs over {setting} "
                         f"{check['limit']:,} (see manifest.json token_lengths)", markup=False)
