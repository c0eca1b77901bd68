"""The validator of shared/reference/export-formats.md section 6, run on every export.

Files are streamed (JSONL line by line, Parquet in batches), so a million rows never sit in
memory. The first broken rule raises ExportInvalidError naming the file, the line (the row
number for Parquet) and the rule.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.errors import PreferError

KINDS = ("trl", "axolotl-chat_template", "axolotl-user_defined", "llamafactory-alpaca",
         "llamafactory-sharegpt", "hf", "jsonl")
ROLES = ("system", "user", "assistant", "tool")
TEMPLATE_TOKENS = ("<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<|start_header_id|>",
                   "<|eot_id|>", "<|endoftext|>", "[INST]", "[/INST]", "<s>", "</s>")

_KEYS: dict[str, tuple[str, ...]] = {
    "axolotl-chat_template": ("messages", "chosen", "rejected"),
    "axolotl-user_defined": ("prompt", "chosen", "rejected"),
    "llamafactory-alpaca": ("instruction", "input", "chosen", "rejected", "system", "history"),
    "llamafactory-sharegpt": ("conversations", "chosen", "rejected"),
    "hf": ("prompt", "chosen", "rejected"),
    "trl": ("prompt", "chosen", "rejected"),
    "jsonl": ("prompt_id", "prompt", "system", "chosen", "rejected", "chosen_candidate_id",
              "rejected_candidate_id", "dimension", "language", "annotators", "decision", "split",
              "pair_id", "agreement", "prompt_group"),
}
# A top-level `system` key only where the row has a system prompt (never an empty string).
_TOKEN_RE = re.compile("|".join(re.escape(t) for t in TEMPLATE_TOKENS))
_ANGLE_TOKENS = tuple(t for t in TEMPLATE_TOKENS if "<" in t)
# A string starting with whitespace, an escape or a quote: where an empty or blank one would be.
_BLANK_START = re.compile(r'"[\s\\"]')


def _suspect(raw: str) -> bool:
    """Whether a JSON line could hold an empty value, a null or a template token (a superset:
    a True only sends the row to the slower per-value check)."""
    return bool(("<" in raw and any(t in raw for t in _ANGLE_TOKENS)) or "INST]" in raw
                or _BLANK_START.search(raw) or "[]" in raw or "{}" in raw or "null" in raw)


_OPTIONAL_SYSTEM = ("axolotl-user_defined",)
# The reference's alpaca row has `"input": ""` and `"history": []`: LLaMA-Factory skips them.
_MAY_BE_EMPTY = {"llamafactory-alpaca": ("input", "history")}
# "" stands for "no system prompt" where every row must have the key (see export_formats).
_EMPTY_SYSTEM_ALLOWED = ("llamafactory-alpaca", "jsonl")


class ExportInvalidError(PreferError):
    """A written row breaks a rule of the target format; nothing was moved into the target."""

    def __init__(self, path: str, line: int, rule: str) -> None:
        super().__init__(f"{path}:{line}: {rule}",
                         hint="nothing was written to the target folder; this is a bug in the "
                              "export, please report it with the rule above")
        self.path = path
        self.line = line
        self.rule = rule


class _Broken(Exception):
    pass


def validate_file(path: Path, kind: str, name: str | None = None) -> int:
    """Check every row of `path` (JSONL, or Parquet for kind "hf"); return the row count."""
    if kind not in KINDS:
        raise ValueError(f"unknown row layout {kind!r}")
    shown = name or path.name
    first: dict[str, Any] | None = None
    count = 0
    rows = _parquet_rows(path) if kind == "hf" else _jsonl_rows(path, shown)
    for line, raw, row in rows:
        try:
            if not isinstance(row, dict):
                raise _Broken("a row must be a JSON object")
            if first is None:
                first = row
            # Each value is checked for emptiness and template tokens only when the raw line
            # could hold one (a million clean rows skip the slow per-value walk).
            values = raw is None or _suspect(raw)
            check_row(row, kind, first, values=values)
        except _Broken as exc:
            raise ExportInvalidError(shown, line, str(exc)) from None
        count += 1
    return count


def _jsonl_rows(path: Path, shown: str) -> Iterator[tuple[int, str | None, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            try:
                yield line_no, line, json.loads(line)
            except json.JSONDecodeError as exc:
                raise ExportInvalidError(shown, line_no, f"not valid JSON ({exc.msg})") from None


def _parquet_rows(path: Path) -> Iterator[tuple[int, str | None, Any]]:
    import duckdb

    con = duckdb.connect()
    try:
        cur = con.execute("SELECT * FROM read_parquet(?)", [str(path)])
        names = [d[0] for d in cur.description or []]
        line = 0
        while batch := cur.fetchmany(10_000):
            for values in batch:
                line += 1
                yield line, None, dict(zip(names, values, strict=True))
    finally:
        con.close()


def _shape(value: Any) -> str:
    if isinstance(value, list):
        return "list of messages" if value and isinstance(value[0], dict) else "list"
    return {str: "string", dict: "object", type(None): "null", bool: "boolean",
            int: "number", float: "number"}.get(type(value), type(value).__name__)


def check_row(row: dict[str, Any], kind: str, first: dict[str, Any], *, values: bool = True) -> None:
    """Raise _Broken with the rule a row breaks (`first` is the file's first row)."""
    expected = set(_KEYS[kind])
    keys = set(row) - ({"system"} if kind in _OPTIONAL_SYSTEM else set())
    if kind == "jsonl" and "turns" in first:  # an export with multi-turn prompts: every row
        keys -= {"turns"}
        if "turns" not in row:
            raise _Broken("same keys in every row: 'turns' is missing here")
    if keys != expected:
        raise _Broken(f"keys must be {sorted(expected)}, got {sorted(row)}")
    if kind == "axolotl-user_defined" and ("system" in row) != ("system" in first):
        raise _Broken("same keys in every row: some prompts have a system prompt and some do not, "
                      "which Axolotl's user_defined type cannot read; export with "
                      "--axolotl-type chat_template")
    for key in set(row) & set(first):
        if _shape(row[key]) != _shape(first[key]) and [] not in (row[key], first[key]) and not (
                key in _MAY_BE_EMPTY.get(kind, ()) and row[key] == ""):
            raise _Broken(f"same types in every row: '{key}' is a {_shape(row[key])} here and a "
                          f"{_shape(first[key])} in the first row")
    for key, value in row.items() if values else ():
        if key in _MAY_BE_EMPTY.get(kind, ()):
            if value not in ("", []):
                raise _Broken(f"'{key}' must be empty here ({value!r})")
            continue
        if key == "system" and value == "" and kind in _EMPTY_SYSTEM_ALLOWED:
            continue
        if kind == "jsonl" and key in ("annotators", "turns") and value == []:
            continue
        _check_values(value, key)
    _LAYOUT_CHECKS[kind](row)


def _check_values(value: Any, where: str) -> None:
    if isinstance(value, str):
        if not value.strip():
            raise _Broken(f"'{where}' is empty: empty values crash trainers")
        if found := _TOKEN_RE.search(value):
            raise _Broken(f"'{where}' holds the template token {found.group(0)}: rows must be raw "
                          "text")
    elif isinstance(value, list):
        if not value:
            raise _Broken(f"'{where}' is an empty list")
        for i, item in enumerate(value):
            _check_values(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        if not value:
            raise _Broken(f"'{where}' is an empty object")
        for key, item in value.items():
            _check_values(item, f"{where}.{key}")
    elif value is None:
        raise _Broken(f"'{where}' is null")


def _message(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or set(value) != {"role", "content"}:
        raise _Broken(f"'{where}' must be a message with exactly 'role' and 'content'")
    if not isinstance(value["role"], str) or not isinstance(value["content"], str):
        raise _Broken(f"'{where}' role and content must be strings")
    if value["role"] not in ROLES:
        raise _Broken(f"'{where}' has the role '{value['role']}', not one of {', '.join(ROLES)}")
    return value


def _messages(value: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise _Broken(f"'{where}' must be a non-empty list of messages")
    return [_message(m, f"{where}[{i}]") for i, m in enumerate(value)]


def _prompt_messages(value: Any, where: str) -> None:
    messages = _messages(value, where)
    if messages[-1]["role"] not in ("user", "tool"):
        raise _Broken(f"'{where}' must end with a user (or tool) message")
    if any(m["role"] == "system" for m in messages[1:]):
        raise _Broken(f"'{where}': a system message may only be the first message")


def _differ(chosen: Any, rejected: Any) -> None:
    if chosen == rejected:
        raise _Broken("chosen and rejected are identical")


def _strings(row: dict[str, Any], *keys: str) -> None:
    for key in keys:
        if not isinstance(row[key], str):
            raise _Broken(f"'{key}' must be a string")


def _trl(row: dict[str, Any]) -> None:
    prompt, chosen, rejected = row["prompt"], row["chosen"], row["rejected"]
    if isinstance(prompt, str):
        _strings(row, "prompt", "chosen", "rejected")
        if prompt != prompt.rstrip():
            raise _Broken("a standard-format prompt must not end with whitespace")
        # TRL tokenizes prompt + chosen as one string: without a separator at the start of
        # the answer, "...Okafor?" and "Chest pressure..." would be glued together.
        for key in ("chosen", "rejected"):
            if not row[key][:1].isspace():
                raise _Broken(f"a standard-format '{key}' must start with the separator "
                              "(a space) after the prompt")
    else:
        if isinstance(chosen, str) or isinstance(rejected, str):
            raise _Broken("prompt, chosen and rejected must all be strings or all message lists")
        _prompt_messages(prompt, "prompt")
        for key in ("chosen", "rejected"):
            if _messages(row[key], key)[0]["role"] != "assistant":
                raise _Broken(f"'{key}' must start with an assistant message")
    _differ(chosen, rejected)


def _axolotl_chat_template(row: dict[str, Any]) -> None:
    _prompt_messages(row["messages"], "messages")
    for key in ("chosen", "rejected"):
        if _message(row[key], key)["role"] != "assistant":
            raise _Broken(f"'{key}' must be an assistant message")
    _differ(row["chosen"]["content"], row["rejected"]["content"])


def _axolotl_user_defined(row: dict[str, Any]) -> None:
    _strings(row, *row)
    _differ(row["chosen"], row["rejected"])


def _llamafactory_alpaca(row: dict[str, Any]) -> None:
    _strings(row, *(k for k in row if k != "history"))
    if not isinstance(row["history"], list):
        raise _Broken("'history' must be a list")
    _differ(row["chosen"], row["rejected"])


def _turn(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or set(value) != {"from", "value"} or not all(
            isinstance(v, str) for v in value.values()):
        raise _Broken(f"'{where}' must be an object with string 'from' and 'value'")
    return value


def _llamafactory_sharegpt(row: dict[str, Any]) -> None:
    if not isinstance(row["conversations"], list) or not row["conversations"]:
        raise _Broken("'conversations' must be a non-empty list")
    turns = [_turn(t, f"conversations[{i}]") for i, t in enumerate(row["conversations"])]
    if turns[0]["from"] == "system":
        turns = turns[1:]
    if len(turns) % 2 != 1:
        raise _Broken("'conversations' must have odd length (after a leading system message) "
                      "and end with human")
    for i, turn in enumerate(turns):
        if turn["from"] != ("human" if i % 2 == 0 else "gpt"):
            raise _Broken("'conversations' must alternate human/gpt, starting and ending with human")
    for key in ("chosen", "rejected"):
        if _turn(row[key], key)["from"] != "gpt":
            raise _Broken(f"'{key}' must have from: gpt")
    if "system" in row:
        _strings(row, "system")
    _differ(row["chosen"]["value"], row["rejected"]["value"])


def _plain(row: dict[str, Any]) -> None:
    _strings(row, "prompt_id", "prompt", "system", "chosen", "rejected", "chosen_candidate_id",
             "rejected_candidate_id", "dimension", "language", "decision", "split")
    if row.get("turns"):
        for i, turn in enumerate(_messages(row["turns"], "turns")):
            if turn["role"] != ("user" if i % 2 == 0 else "assistant"):
                raise _Broken("'turns' must alternate user/assistant, starting with user")
    _differ(row["chosen"], row["rejected"])


_LAYOUT_CHECKS = {
    "trl": _trl, "hf": _trl, "axolotl-chat_template": _axolotl_chat_template,
    "axolotl-user_defined": _axolotl_user_defined, "llamafactory-alpaca": _llamafactory_alpaca,
    "llamafactory-sharegpt": _llamafactory_sharegpt, "jsonl": _plain,
}
