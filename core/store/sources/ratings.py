"""`ratings`: graded reviews of responses. For the same prompt, reviewer and rubric, a response
scored higher beats one scored lower (the gap is kept as the preference's strength); equal
scores and scores by different reviewers imply nothing.
"""

from __future__ import annotations

from typing import Any

from core.models import SourceOptions
from core.store.sources.common import (
    Bad,
    Collected,
    Implied,
    SourceKind,
    conversation,
    number,
    read_rows,
    text,
)

NO_COMPARISON = "no other response of the same prompt, reviewer and rubric with another score"


def read(rows: list[tuple[int, dict[str, Any]]], out: Collected, options: SourceOptions) -> None:
    # (prompt_id, reviewer, rubric) -> [(line, response, score)]
    groups: dict[tuple[str, str | None, str | None], list[tuple[int, str, float]]] = {}

    def read_row(line: int, values: dict[str, Any]) -> None:
        conv = conversation(values, out.dimensions)
        assert conv is not None
        response = text(values, "response", required="the response that was graded")
        score = number(values, "score", required="the grade, a number")
        assert response is not None and score is not None
        reviewer, rubric = text(values, "reviewer"), text(values, "rubric")
        prompt_id = out.add_conversation(line, conv)
        out.add_response(line, prompt_id, response)
        graded = groups.setdefault((prompt_id, reviewer, rubric), [])
        for earlier_line, earlier, earlier_score in graded:
            if earlier == response and earlier_score != score:
                raise Bad("score", f"{score:g}, but line {earlier_line} gives the same response "
                                   f"{earlier_score:g} from the same reviewer")
        graded.append((line, response, score))

    read_rows(KIND, rows, read_row)
    for (prompt_id, reviewer, _rubric), graded in groups.items():
        unique = {response: (line, score) for line, response, score in reversed(graded)}
        for line, response, _score in graded:
            if unique.get(response, (None,))[0] != line:
                out.ignore(line, "a duplicate of an earlier record")
        compared: set[str] = set()
        for high, (high_line, high_score) in unique.items():
            for low, (low_line, low_score) in unique.items():
                if high_score > low_score:
                    compared.update((high, low))
                    out.prefer(Implied(max(high_line, low_line), prompt_id, high, low,
                                       score_gap=high_score - low_score, reviewer=reviewer,
                                       rater=reviewer))
        for response, (line, _score) in unique.items():
            if response not in compared:
                out.ignore(line, NO_COMPARISON)


KIND = SourceKind(
    name="ratings", label="rating",
    summary="graded reviews: higher score > lower, same prompt and reviewer",
    required=("response", "score"), optional=("reviewer", "rubric"), read=read)
