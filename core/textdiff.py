"""Word-level differences between two candidate responses ("4 g" vs "8 g", "scattering" vs
"scatering"), as segments a screen can mark by more than colour."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")


@dataclass(frozen=True)
class Segment:
    """A run of text: "same" in both, "deleted" (only in the first), "inserted" (only in the
    second)."""

    kind: str
    text: str


def word_diff(first: str, second: str) -> list[Segment]:
    """The segments that turn `first` into `second`, word by word (whitespace kept)."""
    a, b = _TOKENS.findall(first), _TOKENS.findall(second)
    segments: list[Segment] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            segments.append(Segment("same", "".join(a[a0:a1])))
            continue
        if op in ("delete", "replace"):
            segments.append(Segment("deleted", "".join(a[a0:a1])))
        if op in ("insert", "replace"):
            segments.append(Segment("inserted", "".join(b[b0:b1])))
    return segments


def changed_words(segments: list[Segment]) -> int:
    """How many words differ (deleted plus inserted), for the diff view's title."""
    return sum(len(re.findall(r"\w+", s.text)) for s in segments if s.kind != "same")
