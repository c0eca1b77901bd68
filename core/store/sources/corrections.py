"""`corrections`: an expert's corrected text beats the original response (corrected >
original), with the corrector kept as the preference's reviewer."""

from __future__ import annotations

from typing import Any

from core.models import SourceOptions
from core.store.sources.common import (
    Collected,
    Implied,
    SourceKind,
    conversation,
    read_rows,
    text,
)


def _read_row(line: int, values: dict[str, Any], out: Collected) -> None:
    conv = conversation(values, out.dimensions)
    assert conv is not None
    original = text(values, "original", required="the response as it was")
    corrected = text(values, "corrected", required="the expert's corrected text")
    corrector = text(values, "corrector")
    assert original is not None and corrected is not None
    prompt_id = out.add_conversation(line, conv)
    out.prefer(Implied(line, prompt_id, corrected, original, reviewer=corrector))


def read(rows: list[tuple[int, dict[str, Any]]], out: Collected, options: SourceOptions) -> None:
    read_rows(KIND, rows, lambda line, values: _read_row(line, values, out))


KIND = SourceKind(
    name="corrections", label="expert correction",
    summary="an expert's correction of a response: corrected > original",
    required=("original", "corrected"), optional=("corrector",), read=read)
