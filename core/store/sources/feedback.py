"""`feedback`: what users of an assistant did with its answers, grouped by prompt.

- `up` / `down`: on the same prompt, every answer voted up beats every answer voted down (an
  answer voted both ways implies nothing);
- `regenerated`: the user asked for another answer; the next answer in the same conversation
  (by `timestamp`, else file order) beats this one, unless the user came back to this one later
  (voted it up, or it appears again);
- `edited`: the user's edited text (`edited`) beats the answer.

Every answer becomes a candidate of its prompt, whether or not it implies a preference.
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
    read_rows,
    text,
)

SIGNALS = ("up", "down", "regenerated", "edited")
_SIGNAL = {signal: signal for signal in SIGNALS}
NO_OPPOSITE_VOTE = "a vote with no opposite vote on the same prompt"
BOTH_WAYS = "an answer voted both up and down"
NO_NEXT_ANSWER = "regenerated, but no later answer in the conversation"
CAME_BACK = "regenerated, but the user came back to the first answer"


def read(rows: list[tuple[int, dict[str, Any]]], out: Collected, options: SourceOptions) -> None:
    # prompt_id -> [(order key, line, signal, response)]
    records: dict[tuple[str, str | None], list[tuple[tuple, int, str, str]]] = {}

    def read_row(line: int, values: dict[str, Any]) -> None:
        conv = conversation(values, out.dimensions)
        assert conv is not None
        response = text(values, "response", required="the assistant's answer")
        raw = text(values, "signal", required="up, down, regenerated or edited")
        assert response is not None and raw is not None
        signal = _SIGNAL.get(raw.lower())  # the constant: a million records share four strings
        if signal is None:
            raise Bad("signal", f"expected up, down, regenerated or edited, got '{raw}'")
        edited = text(values, "edited")
        if signal == "edited" and edited is None:
            raise Bad("edited", "missing (an edited record carries the user's text)")
        if signal != "edited" and edited is not None:
            raise Bad("edited", f"given on a '{signal}' record (only edited records carry it)")
        conversation_id = values.get("conversation_id")
        timestamp = values.get("timestamp")
        prompt_id = out.add_conversation(line, conv)
        out.add_response(line, prompt_id, response)
        key = (prompt_id, None if conversation_id is None else str(conversation_id))
        # Records without a timestamp keep file order; with one, they sort by it (ISO text
        # or a number, compared as given).
        order = (0, str(timestamp), line) if timestamp is not None else (0, "", line)
        records.setdefault(key, []).append((order, line, signal, response))
        if signal == "edited":
            assert edited is not None
            out.prefer(Implied(line, prompt_id, edited, response, signal="edited"))

    read_rows(KIND, rows, read_row)

    votes: dict[str, dict[str, list[tuple[int, str]]]] = {}  # prompt -> response -> votes
    for (prompt_id, _conversation), logged in records.items():
        logged.sort()
        for index, (_order, line, signal, response) in enumerate(logged):
            if signal in ("up", "down"):
                votes.setdefault(prompt_id, {}).setdefault(response, []).append((line, signal))
            if signal != "regenerated":
                continue
            later = [r for r in logged[index + 1:] if r[3] != response]
            if not later:
                out.ignore(line, NO_NEXT_ANSWER)
                continue
            came_back = any(r[3] == response and r[2] != "regenerated"
                            for r in logged[index + 1:])
            if came_back:
                out.ignore(line, CAME_BACK)
                continue
            out.prefer(Implied(later[0][1], prompt_id, later[0][3], response,
                               signal="regenerated"))
    for prompt_id, by_response in votes.items():
        ups, downs = [], []
        for response, cast in by_response.items():
            kinds = {signal for _, signal in cast}
            if kinds == {"up", "down"}:
                for line, _ in cast:
                    out.ignore(line, BOTH_WAYS)
                continue
            (ups if "up" in kinds else downs).append((min(line for line, _ in cast), response))
        if not ups or not downs:
            for line, _ in ups + downs:
                out.ignore(line, NO_OPPOSITE_VOTE)
            continue
        for up_line, up in ups:
            for down_line, down in downs:
                out.prefer(Implied(max(up_line, down_line), prompt_id, up, down, signal="up-down"))


KIND = SourceKind(
    name="feedback", label="user feedback",
    summary="thumbs up/down, regenerations and edits from an assistant's logs",
    required=("response", "signal"), optional=("edited", "conversation_id", "timestamp"),
    read=read)
