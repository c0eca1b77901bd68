"""Word-level differences between two candidate responses ("4 g" vs "8 g", "scattering" vs
"scatering"), as segments a screen can mark by more than colour."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

_WORDS = re.compile(r"\S+\s*")  # a word with the whitespace after it


@dataclass(frozen=True)
class Segment:
    """A run of text: "same" in both, "deleted" (only in the first), "inserted" (only in the
    second)."""

    kind: str
    text: str


def word_diff(first: str, second: str) -> list[Segment]:
    """The segments that turn `first` into `second`, word by word.

    Words are compared without the whitespace around them, so a changed phrase comes out as
    one deleted and one inserted run ("[-three in a month-]{+often+}") rather than word salad;
    the whitespace after a run stays outside it.
    """
    lead_a = first[:len(first) - len(first.lstrip())]
    a, b = _WORDS.findall(first), _WORDS.findall(second)
    segments: list[Segment] = [Segment("same", lead_a)] if lead_a else []
    matcher = difflib.SequenceMatcher(a=[t.rstrip() for t in a], b=[t.rstrip() for t in b],
                                      autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            segments.append(Segment("same", "".join(b[b0:b1])))
            continue
        old, new = "".join(a[a0:a1]), "".join(b[b0:b1])
        tail = (new or old)[len((new or old).rstrip()):]
        if old:
            segments.append(Segment("deleted", old.rstrip()))
        if new:
            segments.append(Segment("inserted", new.rstrip()))
        if tail:
            segments.append(Segment("same", tail))
    return segments


def changed_words(segments: list[Segment]) -> int:
    """How many words differ (deleted plus inserted), for the diff view's title."""
    return sum(len(re.findall(r"\w+", s.text)) for s in segments if s.kind != "same")
