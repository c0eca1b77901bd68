"""Row layouts of `prefer export --format`: one DuckDB row SQL per format, and the side files.

Every layout follows shared/reference/export-formats.md. The row SQL reads one split's pairs
with their texts (core/store/exporting.py `_SPLIT_ROWS`: prompt_id, prompt, system, has_system,
chosen, rejected, chosen_id, rejected_id, dimension, language, split) so a million pairs never
leave DuckDB. Formats whose rows omit a key (a prompt without a system prompt has no `system`
key, never an empty one) build each row as a JSON object and write it with a quote-less CSV
COPY: one JSON text per line, which is a JSON Lines file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core.errors import BadInputError

FORMATS = ("trl", "axolotl", "llamafactory", "hf", "jsonl")
AXOLOTL_TYPES = ("chat_template", "user_defined")
LLAMAFACTORY_STYLES = ("alpaca", "sharegpt")

JSON_COPY = "FORMAT JSON"
# One JSON text per line: no header, no quoting; \x01 never occurs unescaped in JSON text.
JSON_TEXT_COPY = "FORMAT CSV, HEADER false, QUOTE '', ESCAPE '', DELIMITER '\x01'"
PARQUET_COPY = "FORMAT PARQUET"

# TRL's standard rows are plain strings it joins as prompt + chosen before tokenizing, so the
# separator belongs at the start of each answer (the reference's `"The sky is"` / `" blue."`:
# no trailing whitespace on the prompt). A system prompt has no column of its own there
# (the reference: "it must already be rendered into the prompt string"), so it is folded in
# before the prompt, a blank line between them, rather than silently dropped.
STANDARD_SEPARATOR = " "
SYSTEM_FOLD = "\n\n"  # between a folded system prompt and the prompt
TRL_STANDARD = (
    "SELECT CASE WHEN has_system THEN system || chr(10) || chr(10) || prompt ELSE prompt END "
    "AS prompt, "
    "' ' || chosen AS chosen, ' ' || rejected AS rejected"  # stored texts never start blank
)
# A multi-turn prompt's earlier turns (prompts.turns) go between the system prompt and the last
# user turn, in the formats that can carry a conversation; the others refuse it
# (MULTI_TURN_REFUSED).
_TURN_TYPE = "STRUCT(role VARCHAR, content VARCHAR)[]"
TRL_CONVERSATIONAL = (
    "SELECT list_concat(CASE WHEN has_system "
    f"THEN [{{'role': 'system', 'content': system}}] ELSE []::{_TURN_TYPE} END, "
    f"coalesce(turns, []::{_TURN_TYPE}), [{{'role': 'user', 'content': prompt}}]) AS prompt, "
    "[{'role': 'assistant', 'content': chosen}] AS chosen, "
    "[{'role': 'assistant', 'content': rejected}] AS rejected"
)
AXOLOTL_CHAT_TEMPLATE = (
    "SELECT CASE WHEN has_system "
    "THEN [{'role': 'system', 'content': system}, {'role': 'user', 'content': prompt}] "
    "ELSE [{'role': 'user', 'content': prompt}] END AS messages, "
    "{'role': 'assistant', 'content': chosen} AS chosen, "
    "{'role': 'assistant', 'content': rejected} AS rejected"
)
AXOLOTL_USER_DEFINED = (
    "SELECT (CASE WHEN has_system "
    "THEN json_object('system', system, 'prompt', prompt, 'chosen', chosen, 'rejected', rejected) "
    "ELSE json_object('prompt', prompt, 'chosen', chosen, 'rejected', rejected) END)::VARCHAR"
)
# Every row has the same keys: `datasets` (which LLaMA-Factory loads with) takes the columns of
# a JSON file from its first 10 MiB, so a key first seen later fails the load. Alpaca rows carry
# `"system": ""` without a system prompt (LLaMA-Factory then uses the template's default);
# ShareGPT rows put a system prompt first in `conversations`, the reference's own alternative.
LLAMAFACTORY_ALPACA = (
    "SELECT json_object('instruction', prompt, 'input', '', 'chosen', chosen, 'rejected', rejected, "
    "'system', CASE WHEN has_system THEN system ELSE '' END, 'history', []::VARCHAR[])::VARCHAR"
)
_SHAREGPT_TYPE = "STRUCT(\"from\" VARCHAR, \"value\" VARCHAR)[]"
LLAMAFACTORY_SHAREGPT = (
    "SELECT json_object('conversations', list_concat(CASE WHEN has_system "
    f"THEN [{{'from': 'system', 'value': system}}] ELSE []::{_SHAREGPT_TYPE} END, "
    "list_transform(coalesce(turns, []), lambda t: {'from': CASE t.role WHEN 'user' "
    "THEN 'human' ELSE 'gpt' END, 'value': t.content}), [{'from': 'human', 'value': prompt}]), "
    "'chosen', {'from': 'gpt', 'value': chosen}, 'rejected', {'from': 'gpt', 'value': rejected})"
    "::VARCHAR"
)
# Hugging Face stores messages as list<struct<content, role>> (push_to_hub's field order).
_HF_TYPE = "STRUCT(content VARCHAR, role VARCHAR)[]"
HF_CONVERSATIONAL = (
    "SELECT list_concat(CASE WHEN has_system "
    f"THEN [{{'content': system, 'role': 'system'}}] ELSE []::{_HF_TYPE} END, "
    "list_transform(coalesce(turns, []), lambda t: {'content': t.content, 'role': t.role}), "
    "[{'content': prompt, 'role': 'user'}]) AS prompt, "
    "[{'content': chosen, 'role': 'assistant'}] AS chosen, "
    "[{'content': rejected, 'role': 'assistant'}] AS rejected"
)
# Plain JSONL with the metadata: `system` is "" without a system prompt and `language` is 'und'
# when unknown (never null: a column that is null in the first 10 MiB breaks `datasets`); the
# annotators are those with a current ranked judgment or a pairwise label of the item (the
# raters a pair's agreement share counts), `decision` says whether an
# adjudication decided it; agreement (share of annotators implying the pair) and
# prompt_group (near-duplicate prompts share one) come from the pair build.
PLAIN_JSONL = (
    "SELECT prompt_id, prompt, CASE WHEN has_system THEN system ELSE '' END AS system, chosen, "
    "rejected, chosen_id AS chosen_candidate_id, rejected_id AS rejected_candidate_id, dimension, "
    "pair_language AS language, "
    "coalesce((SELECT list(DISTINCT a ORDER BY a) FROM (SELECT j.annotator AS a "
    "FROM current_judgments j WHERE j.prompt_id = q.prompt_id AND j.kind = 'ranked' UNION ALL "
    "SELECT w.annotator FROM pairwise_judgments w WHERE w.prompt_id = q.prompt_id)), "
    "[]::VARCHAR[]) AS annotators, "
    "CASE pair_decision WHEN 'adjudicated' THEN 'adjudication' ELSE 'annotators' END AS decision, "
    "split, pair_id, agreement, prompt_group"
)


# An export with a multi-turn prompt adds, as the last key of every plain JSONL row, the turns
# before `prompt` (oldest first; [] for a single-turn prompt); exports without one are unchanged.
PLAIN_JSONL_TURNS = ", coalesce(turns, []::STRUCT(role VARCHAR, content VARCHAR)[]) AS turns"

# Layouts whose rows cannot carry a conversation, and the layouts that can (shared/reference/
# export-formats.md): TRL standard rows are one prompt string; Axolotl's DPO strategies and
# LLaMA-Factory's alpaca rows take a single-turn prompt. Flattening turns into one string would
# train on a prompt nobody wrote, so these refuse.
MULTI_TURN_REFUSED = ("trl-standard", "axolotl-chat_template", "axolotl-user_defined",
                      "llamafactory-alpaca")
MULTI_TURN_FORMATS = ("--format trl --conversational", "--format llamafactory "
                      "--llamafactory-style sharegpt", "--format hf", "--format jsonl")


def refuses_multi_turn(layout_kind: str, conversational: bool) -> bool:
    """Whether rows of this layout cannot carry a multi-turn prompt."""
    name = "trl-standard" if layout_kind == "trl" and not conversational else layout_kind
    return name in MULTI_TURN_REFUSED


@dataclass(frozen=True)
class Layout:
    """How one format is written: its validator kind, row SQL, COPY options and file names."""

    kind: str  # the validator's name for the row layout (core/export_validate.py)
    row_sql: str
    copy_options: str
    train_file: str
    validation_file: str
    label: str


def layout(fmt: str, *, conversational: bool, axolotl_type: str = "chat_template",
           llamafactory_style: str = "alpaca") -> Layout:
    if fmt == "trl":
        if conversational:
            return Layout("trl", TRL_CONVERSATIONAL, JSON_COPY, "train.jsonl", "val.jsonl",
                          "TRL (conversational)")
        return Layout("trl", TRL_STANDARD, JSON_COPY, "train.jsonl", "val.jsonl", "TRL (standard)")
    if fmt == "axolotl":
        if axolotl_type == "user_defined":
            return Layout("axolotl-user_defined", AXOLOTL_USER_DEFINED, JSON_TEXT_COPY,
                          "train.jsonl", "val.jsonl", "Axolotl (user_defined.default)")
        return Layout("axolotl-chat_template", AXOLOTL_CHAT_TEMPLATE, JSON_COPY, "train.jsonl",
                      "val.jsonl", "Axolotl (chat_template.default)")
    if fmt == "llamafactory":
        if llamafactory_style == "sharegpt":
            return Layout("llamafactory-sharegpt", LLAMAFACTORY_SHAREGPT, JSON_TEXT_COPY,
                          "train.jsonl", "val.jsonl", "LLaMA-Factory (sharegpt)")
        return Layout("llamafactory-alpaca", LLAMAFACTORY_ALPACA, JSON_TEXT_COPY, "train.jsonl",
                      "val.jsonl", "LLaMA-Factory (alpaca)")
    if fmt == "hf":
        return Layout("hf", HF_CONVERSATIONAL, PARQUET_COPY, "data/train-00000-of-00001.parquet",
                      "data/test-00000-of-00001.parquet", "Hugging Face Parquet")
    return Layout("jsonl", PLAIN_JSONL, JSON_COPY, "train.jsonl", "val.jsonl", "JSONL with metadata")


# What an ExportRequest may name: each layout's kind (TRL picks standard or conversational).
LAYOUT_KINDS = ("trl", "axolotl-chat_template", "axolotl-user_defined", "llamafactory-alpaca",
                "llamafactory-sharegpt", "hf", "jsonl")


def layout_by_kind(kind: str, *, conversational: bool) -> Layout:
    """The layout of `kind` (one of LAYOUT_KINDS), as the store writes it for an export."""
    if kind not in LAYOUT_KINDS:
        raise BadInputError(f"unknown export layout {kind!r}", hint=f"one of: {', '.join(LAYOUT_KINDS)}")
    name, _, variant = kind.partition("-")
    return layout(name, conversational=conversational, axolotl_type=variant or "chat_template",
                  llamafactory_style=variant or "alpaca")


# --- side files ------------------------------------------------------------------------------

def _yaml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid YAML double-quoted scalar


def axolotl_yaml(axolotl_type: str, train_file: str, validation_file: str,
                 with_system: bool, with_validation: bool = True) -> str:
    """The reference's Axolotl config with the file paths filled in (paths relative to DIR):
    `datasets` reads the train file and `test_datasets` the validation file (Axolotl's eval
    set; a JSON file's only split is `train`), left out when the validation split is empty."""
    head = ("# Axolotl DPO config written by `prefer export --format axolotl`.\n"
            "# Paths are relative to this folder; set base_model and the rest of your config.\n"
            + (f"# test_datasets is the validation split (./{validation_file}): do not also set "
               "val_set_size.\n" if with_validation else
               "# The validation split is empty: no test_datasets.\n"))
    if axolotl_type == "user_defined":
        if with_system:
            prompt_format = ("<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{prompt}"
                             "<|im_end|>\n<|im_start|>assistant\n")
            system_line = "      field_system: system\n"
        else:  # no exported prompt has a system prompt: the rows have no `system` key
            prompt_format = "<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"
            system_line = ""
        dataset_type = ("    type:\n"
                        f"{system_line}"
                        "      field_prompt: prompt\n"
                        "      field_chosen: chosen\n"
                        "      field_rejected: rejected\n"
                        f"      prompt_format: {_yaml_str(prompt_format)}\n"
                        f"      chosen_format: {_yaml_str('{chosen}<|im_end|>')}\n"
                        f"      rejected_format: {_yaml_str('{rejected}<|im_end|>')}\n")
        chat_template = ""
    else:
        dataset_type = ("    type: chat_template.default\n"
                        "    field_messages: messages\n"
                        "    field_chosen: chosen\n"
                        "    field_rejected: rejected\n"
                        "    message_property_mappings: {role: role, content: content}\n"
                        "    roles: {system: [system], user: [user], assistant: [assistant], "
                        "tool: [tool]}\n")
        chat_template = ("chat_template: tokenizer_default   # or llama3 / qwen_25 / chatml / "
                         "tokenizer_default_fallback_chatml\n")

    def entry(path: str) -> str:
        return f"  - path: ./{path}\n    ds_type: json\n    split: train\n" + dataset_type

    text = head + "rl: dpo\n" + chat_template + "datasets:\n" + entry(train_file)
    if with_validation:
        text += "test_datasets:\n" + entry(validation_file)
    return text


def llamafactory_dataset_info(style: str, files: dict[str, str]) -> str:
    """dataset_info.json with one entry per split file: `prefer_train`, `prefer_validation`."""
    entries: dict[str, dict[str, object]] = {}
    for split, name in files.items():
        if style == "sharegpt":
            entries[f"prefer_{split}"] = {
                "file_name": name, "formatting": "sharegpt", "ranking": True,
                "columns": {"messages": "conversations", "chosen": "chosen",
                            "rejected": "rejected"},
            }
        else:
            entries[f"prefer_{split}"] = {
                "file_name": name, "ranking": True,
                "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen",
                            "rejected": "rejected", "system": "system", "history": "history"},
            }
    return json.dumps(entries, indent=2, ensure_ascii=False) + "\n"


def hf_dataset_card(project: str, splits: dict[str, str], pairs: dict[str, int],
                    prompts: dict[str, int], by_dimension: dict[str, dict[str, int]],
                    seed: int, fraction: float) -> str:
    """README.md with the Hub YAML header (configs/data_files as {split, path} dicts)."""
    lines = ["---", "license: other", "tags: [trl, dpo]", "task_categories: [text-generation]",
             "configs:", "- config_name: default", "  data_files:"]
    for split in splits:
        lines += [f"  - split: {split}", f"    path: data/{split}-*"]
    lines += ["dataset_info:", "  features:"]
    for column in ("prompt", "chosen", "rejected"):
        lines += [f"  - name: {column}", "    list:", "    - {name: content, dtype: string}",
                  "    - {name: role, dtype: string}"]
    lines += ["---", "", f"# {project}: preference pairs", "",
              "Preference pairs (DPO) exported by prefer "
              "from human rankings of model responses.", "",
              "- Format: Conversational (TRL `prompt` / `chosen` / `rejected` message lists; "
              "a system prompt is the first `prompt` message)",
              "- Type: Preference", "",
              "Each judgment ranks the responses shown for a prompt: the best response is "
              "preferred to every other one, and every response other than the best and the "
              "worst is preferred to the worst. Items whose annotators disagree, or that are "
              "flagged, are left out unless adjudicated; pairs with an empty or identical text "
              "and duplicates are dropped.", "",
              f"The split is seeded (seed {seed}) and grouped by prompt: {fraction:g} of the "
              "prompts are in `test`, no prompt is in both splits.", "",
              "| split | pairs | prompts | pairs per dimension |", "|---|---|---|---|"]
    for split, key in splits.items():
        dims = ", ".join(f"{d} {n}" for d, n in sorted(by_dimension.get(key, {}).items()))
        lines.append(f"| {split} | {pairs.get(key, 0)} | {prompts.get(key, 0)} | {dims or '-'} |")
    lines += ["", "```python", "from datasets import load_dataset",
              "ds = load_dataset(\"parquet\", data_files={"
              + ", ".join(f"\"{s}\": \"data/{s}-*.parquet\"" for s in splits) + "})",
              "```", ""]
    return "\n".join(lines)


def first_row_keys(path: Path) -> list[str]:
    """The keys of a JSONL file's first row ([] when it is empty)."""
    with path.open(encoding="utf-8") as handle:
        line = handle.readline()
    return list(json.loads(line)) if line.strip() else []
