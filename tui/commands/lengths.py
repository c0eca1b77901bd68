"""The token-length options `prefer report` and `prefer export` share, and their printout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.text import printable
from core.token_lengths import LLAMAFACTORY_CUTOFF_LEN, TRL_MAX_LENGTH, TokenLengths

TokenizerOption = Annotated[Path | None, typer.Option(
    "--tokenizer", help="A local tokenizer.json (your model's): report token lengths of prompt, "
                        "chosen and rejected, and the pairs over --max-length / --cutoff-len.")]
MaxLengthOption = Annotated[int, typer.Option(
    "--max-length", help="TRL's max_length (prompt + completion) to check against, with "
                         "--tokenizer.")]
CutoffLenOption = Annotated[int, typer.Option(
    "--cutoff-len", help="LLaMA-Factory's cutoff_len to check against, with --tokenizer.")]
DEFAULT_MAX_LENGTH = TRL_MAX_LENGTH
DEFAULT_CUTOFF_LEN = LLAMAFACTORY_CUTOFF_LEN


def length_lines(lengths: TokenLengths) -> list[str]:
    """Plain lines describing token lengths, for the terminal."""
    lines = [f"Token lengths of {lengths.pairs:,} kept pairs ({printable(lengths.tokenizer)}; "
             "raw text, no chat template tokens):"]
    for name, stats in (("prompt", lengths.prompt), ("chosen", lengths.chosen),
                        ("rejected", lengths.rejected)):
        lines.append(f"  {name:<9} mean {stats.mean:>8,.1f}  median {stats.median:>7,.0f}  "
                     f"p95 {stats.p95:>7,.0f}  max {stats.max:>7,}")
    for check in lengths.limits:
        lines.append(f"  {check.setting} {check.limit:,}: {check.over:,} pairs over "
                     f"(prompt + longer answer), {check.prompt_alone:,} with the prompt alone "
                     "at the limit")
    return lines
