"""`dpo`: existing preference data. TRL rows (standard: prompt, chosen, rejected strings;
conversational: message lists, with the prompt explicit or shared by chosen and rejected) and
Anthropic HH-style transcripts ("\\n\\nHuman: ... \\n\\nAssistant: ..." in chosen and rejected).

Without a prompt, chosen and rejected are whole conversations: the turns they share are the
prompt, their last (assistant) turns the responses. Rows whose conversations differ before the
last turn, or whose last turn is empty, are counted and reported, never guessed.
"""

from __future__ import annotations

from typing import Any

from core.models import SourceOptions
from core.store.sources.common import (
    Bad,
    Collected,
    Conversation,
    Implied,
    SourceKind,
    _json_value,
    _show,
    _type_word,
    conversation,
    parse_transcript,
    read_rows,
    response_text,
    split_conversations,
    text,
)
from core.text import stored_text

DIFFER_BEFORE_LAST = "chosen and rejected differ before the last turn"
EMPTY_LAST_TURN = "the last turn of chosen or rejected is empty"
NOT_ASSISTANT_LAST = "chosen or rejected does not end with an assistant turn"
# Stored conversations alternate user and assistant (what LLaMA-Factory's sharegpt rows and most
# chat templates require); a transcript with two turns of one role in a row (in HH data, a
# "Human:" written inside an assistant turn) is counted, never merged.
NOT_ALTERNATING = "the turns do not alternate user and assistant"


def _whole(values: dict[str, Any], name: str) -> list[tuple[str, str]]:
    """chosen or rejected as a whole conversation: a transcript or a message list, texts as
    written (the last may be empty; the caller counts it)."""
    raw = values.get(name)
    if raw is None:
        raise Bad(name, "missing (every dpo row has chosen and rejected)")
    if isinstance(raw, str) and not raw.lstrip().startswith("[{"):
        turns = parse_transcript(raw)
        if turns is None:
            raise Bad("prompt", f"missing: {name} is plain text, not a \\n\\nHuman: ... "
                                "\\n\\nAssistant: transcript, so the row needs a prompt "
                                "(or messages)")
        return turns
    value = _json_value(raw, name, "a transcript or a list of {role, content} messages")
    if not isinstance(value, list) or not value:
        raise Bad(name, f"expected a transcript or a list of messages, got "
                        f"{'an empty list' if value == [] else 'a ' + _type_word(value)}")
    turns = []
    for number, message in enumerate(value, 1):
        if not isinstance(message, dict) or not isinstance(message.get("content"), str) \
                or message.get("role") not in ("system", "user", "assistant"):
            raise Bad(name, f"message {number}: expected {{role: system, user or assistant, "
                            f"content: a string}}, got {_show(message)}")
        turns.append((message["role"], message["content"]))
    return turns


def _read_row(line: int, values: dict[str, Any], out: Collected) -> None:
    if values.get("prompt") is not None or values.get("messages") is not None:
        conv = conversation(values, out.dimensions)
        assert conv is not None
        chosen = response_text(values, "chosen", required="every dpo row has chosen and rejected")
        rejected = response_text(values, "rejected",
                                 required="every dpo row has chosen and rejected")
        assert chosen is not None and rejected is not None
        prompt_id = out.add_conversation(line, conv)
        out.prefer(Implied(line, prompt_id, chosen, rejected))
        return
    chosen_turns, rejected_turns = _whole(values, "chosen"), _whole(values, "rejected")
    if chosen_turns[-1][0] != "assistant" or rejected_turns[-1][0] != "assistant":
        out.ignore(line, NOT_ASSISTANT_LAST)
        return
    shared = [(role, stored_text(content)) for role, content in chosen_turns[:-1]]
    if shared != [(role, stored_text(content)) for role, content in rejected_turns[:-1]]:
        out.ignore(line, DIFFER_BEFORE_LAST)
        return
    chosen, rejected = stored_text(chosen_turns[-1][1]), stored_text(rejected_turns[-1][1])
    if not chosen or not rejected:
        out.ignore(line, EMPTY_LAST_TURN)
        return
    for number, (_role, content) in enumerate(shared, 1):
        if not content:
            raise Bad("chosen", f"turn {number} is empty")
    spoken = shared[1:] if shared and shared[0][0] == "system" else shared
    if any(role != ("user" if i % 2 == 0 else "assistant") for i, (role, _) in enumerate(spoken)):
        out.ignore(line, NOT_ALTERNATING)
        return
    system, turns, prompt = split_conversations(shared, "chosen", text(values, "system"))
    probe = conversation({**{k: v for k, v in values.items() if k not in ("chosen", "rejected")},
                          "prompt": "-"}, out.dimensions)
    assert probe is not None
    conv = Conversation(prompt, system, turns, probe.given_id, probe.dimension, probe.language)
    prompt_id = out.add_conversation(line, conv)
    out.prefer(Implied(line, prompt_id, chosen, rejected))


def read(rows: list[tuple[int, dict[str, Any]]], out: Collected, options: SourceOptions) -> None:
    read_rows(KIND, rows, lambda line, values: _read_row(line, values, out))


KIND = SourceKind(
    name="dpo", label="DPO data",
    summary="existing preference pairs: TRL rows, chat messages or HH transcripts",
    required=("chosen", "rejected"), optional=(), read=read, needs_prompt=False)
