"""What every import kind shares: the fields every row may carry (a prompt or a conversation),
the collector a kind's reader fills with prompts, responses and the preferences they imply, and
the plan that checks them against the store before anything is written.

A kind's module (core/store/sources/<kind>.py) only reads its rows: it raises `Bad` for a row
that breaks a rule (the caller adds the line) and calls `Collected.prefer` for each preference a
row implies, `Collected.ignore` for a row that implies none (and why).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import duckdb

from core.errors import BadInputError
from core.models import IgnoredRows, RowProblem, SourceImportCounts, SourceOptions
from core.store import judgment_import as judgment_sql
from core.store.judgment_import import (
    _Bad as Bad,
)
from core.store.judgment_import import (
    _id_text,
    _show,
    _type_word,
    candidate_id_for,
    prompt_id_for,
    trim,
)
from core.text import stored_text

__all__ = [
    "Bad",
    "Collected",
    "Conversation",
    "SourceKind",
    "conversation",
    "messages_field",
    "number",
    "parse_transcript",
    "response_text",
    "split_conversations",
    "text",
]

# Fields every kind reads (a prompt or a conversation, and the prompt's labels).
COMMON_FIELDS = ("prompt", "messages", "system", "id", "dimension", "language")
ROLES = ("system", "user", "assistant")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_CURRENT = "current_judgments"


@dataclass(frozen=True)
class SourceKind:
    """One import kind, as registered: its name, what its rows hold, and its reader.

    `read(rows, collected, options)` reads every (line, values) row of a file; it raises
    `LineBad` for the first row that breaks a rule.
    """

    name: str
    label: str  # its name in English, for the docs; the screen words it from tui/locales
    # (`pre_label.kind.<name>`, a test checks every kind has it in every language)
    summary: str
    required: tuple[str, ...]  # fields beside the prompt (or messages)
    optional: tuple[str, ...]
    read: Callable[[list[tuple[int, dict[str, Any]]], Collected, SourceOptions], None]
    needs_prompt: bool = True  # dpo transcripts carry their conversation in chosen/rejected

    @property
    def fields(self) -> tuple[str, ...]:
        return (*COMMON_FIELDS, *self.required, *self.optional)


class LineBad(Exception):
    """A row of the file breaks a rule: its line, the field and what is wrong."""

    def __init__(self, line: int, bad: Bad) -> None:
        super().__init__(bad.problem)
        self.problem = RowProblem(line, bad.field, bad.problem)


# --- reading fields --------------------------------------------------------------------------


def text(values: dict[str, Any], name: str, *, required: str | None = None) -> str | None:
    """A text field as stored (stripped, NFC); None when missing; Bad when empty or not text."""
    value = values.get(name)
    if value is None:
        if required:
            raise Bad(name, f"missing ({required})")
        return None
    if not isinstance(value, str):
        raise Bad(name, f"expected a string, got a {_type_word(value)}")
    stored = stored_text(value)
    if not stored:
        raise Bad(name, "is empty")
    return stored


def number(values: dict[str, Any], name: str, *, required: str | None = None) -> float | None:
    """A number field (in CSV, text that reads as one); None when missing."""
    value = values.get(name)
    if value is None:
        if required:
            raise Bad(name, f"missing ({required})")
        return None
    if isinstance(value, bool):
        raise Bad(name, "expected a number, got a boolean")
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, str):
        try:
            result = float(trim(value))
        except ValueError:
            raise Bad(name, f"expected a number, got {_show(value)}") from None
        if result != result or result in (float("inf"), float("-inf")):
            raise Bad(name, f"expected a finite number, got {_show(value)}")
        return result
    raise Bad(name, f"expected a number, got a {_type_word(value)}")


def _json_value(value: Any, name: str, expected: str) -> Any:
    """A list field: in CSV (and a Parquet text column) the cell holds JSON."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                return json.loads(stripped)
            except ValueError:
                raise Bad(name, f"expected {expected}, got text that is not valid JSON") from None
    if isinstance(value, tuple):
        return list(value)
    return value


def messages_field(value: Any, name: str) -> list[tuple[str, str]]:
    """A list of {role, content} messages (JSON in a CSV cell), as (role, stored text)."""
    value = _json_value(value, name, "a list of {role, content} messages")
    if not isinstance(value, list):
        raise Bad(name, f"expected a list of {{role, content}} messages, got a "
                        f"{_type_word(value)}")
    if not value:
        raise Bad(name, "is empty")
    out: list[tuple[str, str]] = []
    for number_, message in enumerate(value, 1):
        if not isinstance(message, dict):
            raise Bad(name, f"message {number_}: expected an object with role and content, got "
                            f"a {_type_word(message)}")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise Bad(name, f"message {number_}: role must be system, user or assistant, got "
                            f"{_show(role)}")
        if not isinstance(content, str):
            raise Bad(name, f"message {number_}: content must be a string, got a "
                            f"{_type_word(content)}")
        stored = stored_text(content)
        if not stored:
            raise Bad(name, f"message {number_}: content is empty")
        if role == "system" and number_ != 1:
            raise Bad(name, f"message {number_}: a system message may only come first")
        out.append((role, stored))
    return out


_MARKERS = re.compile(r"\n\n(Human|Assistant):[ ]?")


def parse_transcript(raw: str) -> list[tuple[str, str]] | None:
    """An Anthropic HH-style transcript ("\\n\\nHuman: ... \\n\\nAssistant: ...") as (role,
    text) turns, texts as written (not stripped); None when `raw` is not one."""
    if not raw.startswith("\n\nHuman:") and not raw.startswith("Human:"):
        return None
    raw = raw if raw.startswith("\n\n") else "\n\n" + raw
    pieces = _MARKERS.split(raw)
    if pieces[0] != "":
        return None
    turns = []
    for index in range(1, len(pieces), 2):
        role = "user" if pieces[index] == "Human" else "assistant"
        turns.append((role, pieces[index + 1]))
    return turns


@dataclass(frozen=True, slots=True)
class Conversation:
    """A prompt as it will be stored: system, earlier turns, last user turn, labels."""

    prompt: str
    system: str | None = None
    turns: tuple[tuple[str, str], ...] = ()
    given_id: str | None = None
    dimension: str | None = None
    language: str | None = None

    @property
    def prompt_id(self) -> str:
        """The content-derived id: `prefer import`'s for a single-turn prompt (so the same prompt
        imported as prompts and as a source is one item), else over the turns too."""
        if self.given_id or not self.turns:
            return prompt_id_for(self.prompt, self.system, self.given_id)
        text = json.dumps([self.system or "", [list(t) for t in self.turns], self.prompt],
                          ensure_ascii=False, separators=(",", ":"))
        return "p_" + hashlib.sha256(text.encode()).hexdigest()[:16]

    def content(self) -> tuple:
        return (self.prompt, self.system, self.turns)


def split_conversations(messages: list[tuple[str, str]], name: str,
                        system: str | None) -> tuple[str | None, tuple[tuple[str, str], ...], str]:
    """(system, earlier turns, last user turn) of a message list that ends with the user."""
    if messages and messages[0][0] == "system":
        if system is not None:
            raise Bad("system", f"given twice: as the field and as {name}'s first message")
        system = messages[0][1]
        messages = messages[1:]
    if not messages or messages[-1][0] != "user":
        raise Bad(name, "the last message must be the user's turn the responses answer")
    for index, (role, _content) in enumerate(messages):
        if role != ("user" if index % 2 == 0 else "assistant"):
            raise Bad(name, f"message {index + 1 + (system is not None)}: the turns must "
                            "alternate user and assistant, starting with user")
    return system, tuple(messages[:-1]), messages[-1][1]


def conversation(values: dict[str, Any], dimensions: Iterable[str], *,
                 prompt_required: bool = True) -> Conversation | None:
    """The row's prompt: `prompt` (a string, or in dpo rows a message list) or `messages`, with
    `system`, `id`, `dimension`, `language`. None when the row gives neither and
    `prompt_required` is False."""
    system = text(values, "system")
    raw_prompt = values.get("prompt")
    has_messages = values.get("messages") is not None
    if raw_prompt is not None and has_messages:
        raise Bad("messages", "give either prompt or messages, not both")
    if raw_prompt is None and not has_messages:
        if prompt_required:
            raise Bad("prompt", "missing (give prompt, or messages for a conversation)")
        return None
    if has_messages or isinstance(raw_prompt, list | tuple):
        name = "messages" if has_messages else "prompt"
        system, turns, prompt = split_conversations(
            messages_field(values[name], name), name, system)
    else:
        prompt = text(values, "prompt")
        assert prompt is not None
        turns = ()
    dimension = values.get("dimension")
    if dimension is not None:
        if not isinstance(dimension, str):
            raise Bad("dimension", f"expected a string, got a {_type_word(dimension)}")
        dimension = trim(dimension) or None
        allowed = list(dimensions)
        if dimension is not None and dimension not in allowed:
            raise Bad("dimension", f"unknown dimension '{dimension}' (prefer.toml allows: "
                                   f"{', '.join(allowed)})")
    language = values.get("language")
    if language is not None:
        if not isinstance(language, str):
            raise Bad("language", f"expected a string, got a {_type_word(language)}")
        language = trim(language) or None
        if language is not None and not _LANGUAGE.fullmatch(language):
            raise Bad("language", f"expected a language code such as en, de or pt-BR, got "
                                  f"{_show(language)}")
    return Conversation(prompt, system, turns, _id_text(values, "id"), dimension, language)


def response_text(values: dict[str, Any], name: str, *, required: str | None = None
                  ) -> str | None:
    """A response: a string, or a list holding one assistant message (TRL conversational)."""
    value = values.get(name)
    if isinstance(value, list | tuple) or (isinstance(value, str)
                                           and value.lstrip().startswith("[{")):
        messages = messages_field(value, name)
        if len(messages) != 1 or messages[0][0] != "assistant":
            raise Bad(name, "expected one assistant message (a list of several is a whole "
                            "conversation: give chosen and rejected without prompt)")
        return messages[0][1]
    return text(values, name, required=required)


# --- what a file implies -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)  # a million of them in a large log: no __dict__ each
class Implied:
    """One preference a row implies: on a prompt, chosen text over rejected text."""

    line: int
    prompt_id: str
    chosen: str
    rejected: str
    p_value: float | None = None
    score_gap: float | None = None
    reviewer: str | None = None
    signal: str | None = None
    rater: str | None = None  # with --trust, the judgment's annotator is source:KIND[:rater]


@dataclass
class Collected:
    """What a kind's reader found in a file: prompts, responses, preferences, ignored rows."""

    kind: str
    dimensions: tuple[str, ...]
    rows: int = 0
    conversations: dict[str, tuple[int, Conversation]] = field(default_factory=dict)
    responses: dict[str, dict[str, int]] = field(default_factory=dict)  # prompt -> text -> line
    preferences: list[Implied] = field(default_factory=list)
    ignored: dict[str, list[int]] = field(default_factory=dict)  # reason -> [rows, first line]
    _ids: dict[Conversation, str] = field(default_factory=dict)

    def add_conversation(self, line: int, conv: Conversation) -> str:
        """Record the row's prompt; its id. Bad when the id names another prompt."""
        prompt_id = self._ids.get(conv)
        if prompt_id is None:  # a log repeats its prompts: hash each once
            prompt_id = self._ids[conv] = conv.prompt_id
        earlier = self.conversations.get(prompt_id)
        if earlier is None:
            self.conversations[prompt_id] = (line, conv)
        elif earlier[1].content() != conv.content():
            raise Bad("id", f"'{prompt_id}' is already used on line {earlier[0]} for a "
                            "different prompt")
        self.responses.setdefault(prompt_id, {})
        return prompt_id

    def add_response(self, line: int, prompt_id: str, response: str) -> None:
        self.responses[prompt_id].setdefault(response, line)

    def prefer(self, implied: Implied) -> None:
        """Record a preference (its two responses become candidates of the prompt)."""
        if implied.chosen == implied.rejected:
            self.ignore(implied.line, "the two responses are the same text")
            return
        self.add_response(implied.line, implied.prompt_id, implied.chosen)
        self.add_response(implied.line, implied.prompt_id, implied.rejected)
        self.preferences.append(implied)

    def ignore(self, line: int, reason: str) -> None:
        entry = self.ignored.setdefault(reason, [0, line])
        entry[0] += 1


def read_rows(kind: SourceKind, rows: Iterable[tuple[int, dict[str, Any]]],
              reader: Callable[[int, dict[str, Any]], None]) -> None:
    """Call `reader` on every row, turning the first Bad into LineBad with the row's line."""
    del kind
    for line, values in rows:
        try:
            reader(line, values)
        except Bad as bad:
            raise LineBad(line, bad) from None


_GZIP_MAGIC = b"\x1f\x8b"


def jsonl_lines(path: str) -> Iterator[tuple[int, str]]:
    """A JSONL file's lines as (line number from 1, text), streamed: a line ends at \n only
    (a JSON text holds no raw line break), blank lines count; a gzip file is read through.
    LineBad on a line that is not UTF-8."""
    with open(path, "rb") as raw:
        handle: Any = gzip.GzipFile(fileobj=raw) if raw.read(2) == _GZIP_MAGIC else raw
        raw.seek(0)
        try:
            for line, data in enumerate(handle, start=1):
                try:
                    text_ = data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise LineBad(line, Bad(None, f"not valid UTF-8 (byte {exc.start + 1})")
                                  ) from None
                yield line, (text_.removeprefix("\ufeff") if line == 1 else text_)
        except (OSError, EOFError) as exc:  # a damaged gzip stream
            raise BadInputError(f"cannot read the file: {exc}") from None


class RowStream:
    """A file's rows as (line, {field: value}), `--map` applied, missing values left out.

    JSONL is streamed from the file and parsed one line at a time, so a million-record log is
    never held as text beside its objects; CSV and Parquet come from core.store.
    judgment_import.read_file. A line that is not a JSON object raises LineBad when reached.
    After the rows are consumed, `check_map` refuses a mapping the file did not fit.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, path: str, file_format: str,
                 mapping: dict[str, str]) -> None:
        self._con, self._path, self._format = con, path, file_format
        self.mapping = mapping
        self.fields: dict[str, None] = {}
        self.count = 0

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        mapping = self.mapping
        if self._format != "jsonl":
            source = judgment_sql.read_file(self._con, self._path, self._format)
            if source.problem is not None:
                raise LineBad(source.problem.line, Bad(source.problem.field,
                                                       source.problem.problem))
            self.fields.update(dict.fromkeys(source.fields))
            self._check_targets(lambda name: name in self.fields)
            self.check_map()
            for line, values in source.rows:
                self.count += 1
                yield line, ({mapping.get(k, k): v for k, v in values.items()} if mapping
                             else values)
            return
        no_constants = judgment_sql._no_constants
        fields = self.fields
        for line, raw in jsonl_lines(self._path):
            if not raw or raw.isspace():
                continue
            try:
                value = json.loads(raw, parse_constant=no_constants)
            except ValueError:
                raise LineBad(line, Bad(None, "not valid JSON")) from None
            if not isinstance(value, dict):
                raise LineBad(line, Bad(None, "expected a JSON object per line"))
            fields.update(dict.fromkeys(value))
            self.count += 1
            values = {k: v for k, v in value.items() if v is not None}
            if mapping:
                for old, new in mapping.items():
                    if new in values and new not in mapping and old in values:
                        raise BadInputError(
                            f"--map {old}={new}: the file already has a field "
                            f"'{new}' (line {line})",
                            hint=f"map '{new}' away too, or leave '{old}' unmapped")
                values = {mapping.get(k, k): v for k, v in values.items()}
            yield line, values

    def _check_targets(self, has: Callable[[str], bool]) -> None:
        for old, new in self.mapping.items():
            if has(new) and new not in self.mapping:
                raise BadInputError(f"--map {old}={new}: the file already has a field '{new}'",
                                    hint=f"map '{new}' away too, or leave '{old}' unmapped")

    def check_map(self) -> None:
        """Refuse a mapping naming a field the file does not have (once the rows are read)."""
        for old, new in self.mapping.items():
            if old not in self.fields:
                have = ", ".join(self.fields) or "none"
                raise BadInputError(f"--map {old}={new}: the file has no field '{old}' (it has: "
                                    f"{have})", hint="map a field of the file to one of prefer's")

    def ignored_fields(self, known: Iterable[str]) -> tuple[str, ...]:
        """The file's fields (after --map) that the kind does not read."""
        known_fields = set(known)
        return tuple(sorted(f for f in (self.mapping.get(k, k) for k in self.fields)
                            if f not in known_fields))


# --- the plan ------------------------------------------------------------------------------------


def _digest(prefix: str, parts: list[Any]) -> str:
    text_ = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return prefix + hashlib.sha256(text_.encode()).hexdigest()[:32]


def _preference_id(kind: str, prompt_id: str, chosen: str, rejected: str,
                   reviewer: str | None) -> str:
    """Content-derived: the same preference from the same kind (and reviewer) is stored once.
    Ids and kinds hold no \x1f; a reviewer is text, so it comes last."""
    text_ = "\x1f".join((kind, prompt_id, chosen, rejected, "" if reviewer is None
                         else "r" + reviewer))
    return "sp_" + hashlib.sha256(text_.encode()).hexdigest()[:32]


@dataclass
class SourcePlan:
    """The rows an import stores, and its counts."""

    counts: SourceImportCounts
    prompts: list[tuple[str, Conversation, int]]
    candidates: list[tuple[str, str, int, str]]  # candidate_id, prompt_id, position, text
    preferences: list[tuple[str, Implied, str, str]]  # preference_id, implied, chosen, rejected
    # judgment_id, annotator, prompt_id, groups (best first), shown, supersedes
    judgments: list[tuple[str, str, str, tuple[tuple[str, ...], ...], tuple[str, ...],
                          str | None]]

    def details(self) -> dict[str, Any]:
        c = self.counts
        return {"kind": c.kind, "rows": c.rows, "new_prompts": c.new_prompts,
                "new_candidates": c.new_candidates, "new_preferences": c.new_preferences,
                "trusted": c.trusted, "source_judgments": c.source_judgments,
                "ignored": {i.reason: i.rows for i in c.ignored}}


def weak_order(preferences: set[tuple[str, str]]) -> tuple[tuple[str, ...], ...] | None:
    """The ranking (groups, best first) that implies exactly `preferences`, or None.

    Layers by longest path from the top; the ranking stands only when every pair across its
    layers is one of the preferences (so a trusted source's judgment says no more than it did).
    """
    members = sorted({c for pair in preferences for c in pair})
    beaten_by: dict[str, set[str]] = {m: set() for m in members}
    for high, low in preferences:
        beaten_by[low].add(high)
    level: dict[str, int] = {}
    remaining = set(members)
    depth = 0
    while remaining:
        top = {m for m in remaining if not (beaten_by[m] & remaining)}
        if not top:
            return None  # a cycle
        for m in top:
            level[m] = depth
        remaining -= top
        depth += 1
    groups = tuple(tuple(sorted(m for m in members if level[m] == d)) for d in range(depth))
    implied = {(h, low) for i, g in enumerate(groups) for h in g for later in groups[i + 1:]
               for low in later}
    return groups if implied == preferences else None


def plan(con: duckdb.DuckDBPyConnection, collected: Collected, options: SourceOptions,
         ignored_fields: tuple[str, ...], dry_run: bool) -> SourcePlan | RowProblem:
    """Check the collected rows against the store; the rows to insert, or the first conflict."""
    prompt_ids = sorted(collected.conversations)
    stored_prompts = {r[0]: (r[1], r[2], tuple((t["role"], t["content"]) for t in (r[3] or [])))
                      for r in con.execute(
                          "SELECT prompt_id, prompt, system, turns FROM prompts "
                          "WHERE prompt_id IN (SELECT unnest(?))", [prompt_ids]).fetchall()}
    new_prompts: list[tuple[str, Conversation, int]] = []
    for prompt_id in prompt_ids:
        line, conv = collected.conversations[prompt_id]
        stored = stored_prompts.get(prompt_id)
        if stored is None:
            new_prompts.append((prompt_id, conv, line))
        elif stored != conv.content():
            return RowProblem(line, "id", f"'{prompt_id}' is already stored for a different "
                                          "prompt")
    known: dict[str, dict[str, tuple[str, int]]] = {p: {} for p in prompt_ids}
    for candidate_id, prompt_id, position, text_ in con.execute(
            "SELECT candidate_id, prompt_id, position, text FROM candidates "
            "WHERE prompt_id IN (SELECT unnest(?)) ORDER BY prompt_id, position",
            [prompt_ids]).fetchall():
        known[prompt_id][text_] = (candidate_id, position)
    new_candidates: list[tuple[str, str, int, str]] = []
    for prompt_id in prompt_ids:
        by_text = known[prompt_id]
        for response in sorted(collected.responses[prompt_id],
                               key=lambda t: collected.responses[prompt_id][t]):
            if response in by_text:
                continue
            position = max((p for _, p in by_text.values()), default=0) + 1
            candidate_id = candidate_id_for(prompt_id, response)
            by_text[response] = (candidate_id, position)
            new_candidates.append((candidate_id, prompt_id, position, response))

    # One preference per (prompt, chosen, rejected, reviewer): a duplicate record counts once.
    unique: dict[str, tuple[Implied, str, str]] = {}
    for implied in collected.preferences:
        chosen = known[implied.prompt_id][implied.chosen][0]
        rejected = known[implied.prompt_id][implied.rejected][0]
        preference_id = _preference_id(collected.kind, implied.prompt_id, chosen, rejected,
                                       implied.reviewer)
        if preference_id in unique:
            collected.ignore(implied.line, "a duplicate of an earlier record")
            continue
        unique[preference_id] = (implied, chosen, rejected)
    stored_ids = {r[0] for r in con.execute(  # a semi join: 3x list_contains at 200,000 ids
        "SELECT preference_id FROM source_preferences "
        "WHERE preference_id IN (SELECT unnest(?::VARCHAR[]))", [list(unique)]).fetchall()}
    new_preferences = [(pid, imp, ch, rj) for pid, (imp, ch, rj) in unique.items()
                       if pid not in stored_ids]

    judgments: list[tuple[str, str, str, tuple[tuple[str, ...], ...], tuple[str, ...],
                          str | None]] = []
    not_a_ranking = 0
    if options.trust:
        by_rater: dict[tuple[str, str], set[tuple[str, str]]] = {}
        for implied, chosen, rejected in unique.values():
            annotator = f"source:{collected.kind}" + (f":{implied.rater}" if implied.rater
                                                      else "")
            by_rater.setdefault((annotator, implied.prompt_id), set()).add((chosen, rejected))
        current = {(r[0], r[1]): (r[2], r[3], r[4], r[5], r[6]) for r in con.execute(
            f"SELECT j.annotator, j.prompt_id, j.judgment_id, j.best_candidate_id, "
            f"j.worst_candidate_id, r.groups, j.shown_order FROM {_CURRENT} j "
            "LEFT JOIN judgment_rankings r USING (judgment_id) "
            "WHERE j.kind = 'ranked' AND starts_with(j.annotator, 'source:') "
            "AND j.prompt_id IN (SELECT unnest(?))", [prompt_ids]).fetchall()}
        positions = {cid: pos for by_text in known.values() for cid, pos in by_text.values()}
        for (annotator, prompt_id), pairs in sorted(by_rater.items()):
            groups = weak_order(pairs)
            if groups is None:
                not_a_ranking += 1
                continue
            shown = tuple(sorted({c for g in groups for c in g}, key=positions.__getitem__))
            stored = current.get((annotator, prompt_id))
            if stored is not None:
                stored_groups = (tuple(tuple(sorted(g)) for g in stored[3]) if stored[3]
                                 else ((stored[1],), (stored[2],)))
                if stored_groups == groups:
                    continue
            supersedes = stored[0] if stored else None
            judgment_id = _digest("j_", [annotator, prompt_id, [list(g) for g in groups],
                                         supersedes])
            judgments.append((judgment_id, annotator, prompt_id, groups, shown, supersedes))

    counts = SourceImportCounts(
        kind=collected.kind, rows=collected.rows, prompts_in_file=len(prompt_ids),
        new_prompts=len(new_prompts),
        multi_turn_prompts=sum(1 for _, c in collected.conversations.values() if c.turns),
        candidates_in_file=sum(len(r) for r in collected.responses.values()),
        new_candidates=len(new_candidates), preferences_in_file=len(unique),
        new_preferences=len(new_preferences), trusted=options.trust,
        source_judgments=len(judgments), not_a_ranking=not_a_ranking,
        ignored=tuple(IgnoredRows(reason, rows, first)
                      for reason, (rows, first) in sorted(collected.ignored.items())),
        ignored_fields=ignored_fields, dry_run=dry_run)
    return SourcePlan(counts, new_prompts, new_candidates, new_preferences, judgments)


# Rows per INSERT: each statement's lists become DuckDB values at once, so a million rows in
# one statement cost about a gigabyte more at the peak than the same rows in slices of this size.
INSERT_BATCH = 50_000


def _batches(rows: list) -> Iterator[list]:
    for start in range(0, len(rows), INSERT_BATCH):
        yield rows[start:start + INSERT_BATCH]


def insert(con: duckdb.DuckDBPyConnection, planned: SourcePlan, source: str, now: object,
           event_seq: int) -> None:
    """Insert the planned rows, written by `event_seq` (the caller holds the transaction), in
    slices of INSERT_BATCH rows."""
    for ps in _batches(planned.prompts):
        con.execute(
            "INSERT INTO prompts (prompt_id, prompt, system, dimension, language, source, "
            "source_line, imported_at, event_seq, turns) SELECT unnest(?::VARCHAR[]), "
            "unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
            "unnest(?::VARCHAR[]), ?, unnest(?::BIGINT[]), ?, ?, "
            "unnest(?::STRUCT(role VARCHAR, content VARCHAR)[][])",
            [[p[0] for p in ps], [c.prompt for _, c, _ in ps], [c.system for _, c, _ in ps],
             [c.dimension for _, c, _ in ps], [c.language for _, c, _ in ps], source,
             [line for _, _, line in ps], now, event_seq,
             [[{"role": r, "content": t} for r, t in c.turns] if c.turns else None
              for _, c, _ in ps]])
    for cs in _batches(planned.candidates):
        con.execute(
            "INSERT INTO candidates (candidate_id, prompt_id, position, text, origin, source, "
            "created_at, event_seq) SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
            "unnest(?::INTEGER[]), unnest(?::VARCHAR[]), 'import', ?, ?, ?",
            [[c[0] for c in cs], [c[1] for c in cs], [c[2] for c in cs], [c[3] for c in cs],
             source, now, event_seq])
    for prefs in _batches(planned.preferences):
        con.execute(
            "INSERT INTO source_preferences SELECT unnest(?::VARCHAR[]), ?, "
            "unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), ?, "
            "unnest(?::BIGINT[]), unnest(?::DOUBLE[]), unnest(?::DOUBLE[]), "
            "unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), ?, ?, ?",
            [[p[0] for p in prefs], planned.counts.kind, [p[1].prompt_id for p in prefs],
             [p[2] for p in prefs], [p[3] for p in prefs], source,
             [p[1].line for p in prefs], [p[1].p_value for p in prefs],
             [p[1].score_gap for p in prefs], [p[1].reviewer for p in prefs],
             [p[1].signal for p in prefs], planned.counts.trusted, now, event_seq])
    for js in _batches(planned.judgments):
        two = [len(j[3]) == 2 and len(j[3][0]) == 1 and len(j[3][1]) == 1 for j in js]
        con.execute(
            "INSERT INTO judgments SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
            "unnest(?::VARCHAR[]), 'ranked', unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), NULL, "
            "[]::VARCHAR[], NULL, unnest(?::VARCHAR[][]), NULL, NULL, unnest(?::VARCHAR[]), ?, ?",
            [[j[0] for j in js], [j[1] for j in js], [j[2] for j in js],
             [j[3][0][0] if len(j[3][0]) == 1 else None for j in js],
             [j[3][-1][0] if len(j[3][-1]) == 1 else None for j in js],
             [list(j[4]) for j in js], [j[5] for j in js], now, event_seq])
        ranked = [j for j, simple in zip(js, two, strict=True) if not simple]
        if ranked:
            con.execute(
                "INSERT INTO judgment_rankings SELECT unnest(?::VARCHAR[]), "
                "unnest(?::VARCHAR[][][]), ?",
                [[j[0] for j in ranked], [[list(g) for g in j[3]] for j in ranked], event_seq])


def preferences_of(con: duckdb.DuckDBPyConnection, prompt_id: str) -> list[tuple]:
    """An item's source preferences as SourcePreference fields: trusted first, then the
    smallest p-value, the largest score gap, file order."""
    return con.execute(
        "SELECT kind, prompt_id, chosen_id, rejected_id, source, source_line, trusted, p_value, "
        "score_gap, reviewer, signal FROM source_preferences WHERE prompt_id = ? "
        "ORDER BY trusted DESC, p_value NULLS LAST, score_gap DESC NULLS LAST, source, "
        "source_line, preference_id", [prompt_id]).fetchall()


# Who decided each item: 'experts' (a person's judgment or an adjudication) or the kind of a
# trusted source ('source:abtest' -> 'abtest'; 'source:ratings:ann' -> 'ratings').
_DECIDED_BY = """
SELECT prompt_id, CASE WHEN starts_with(annotator, 'source:') THEN split_part(annotator, ':', 2)
                       ELSE 'experts' END AS decided_by
FROM current_judgments WHERE kind = 'ranked'
UNION SELECT prompt_id, 'experts' FROM adjudications"""


def source_filter_sql(include: Iterable[str], exclude: Iterable[str],
                      column: str = "prompt_id") -> tuple[str, list[Any]]:
    """SQL condition on `column` (a prompt id) keeping items decided by an included source (any,
    when none) and by no excluded one; with its parameters."""
    include, exclude = list(include), list(exclude)
    conditions, params = [], []
    if include:
        conditions.append(f"{column} IN (SELECT prompt_id FROM ({_DECIDED_BY}) "
                          "WHERE list_contains(?, decided_by))")
        params.append(include)
    if exclude:
        conditions.append(f"{column} NOT IN (SELECT prompt_id FROM ({_DECIDED_BY}) "
                          "WHERE list_contains(?, decided_by))")
        params.append(exclude)
    return (" AND ".join(conditions) or "true"), params


def kept_counts_from(con: duckdb.DuckDBPyConnection, value_sql: str, before_balance: bool,
                     include: Iterable[str], exclude: Iterable[str]) -> dict[str, int]:
    """Kept pairs of the latest build per value, limited by source (see source_filter_sql)."""
    condition, params = source_filter_sql(include, exclude, "x.prompt_id")
    statuses = ["kept", "balanced_out"] if before_balance else ["kept"]
    return {str(k): int(v) for k, v in con.execute(
        f"SELECT {value_sql}, count(*) FROM latest_pairs x JOIN prompts p USING (prompt_id) "
        f"WHERE list_contains(?, x.status) AND {condition} GROUP BY 1 ORDER BY 1",
        [statuses, *params]).fetchall()}


def decided_by_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Kept pairs of the latest build per source that decided their item (a pair whose item
    experts and a source both judged counts under each)."""
    return {str(k): int(v) for k, v in con.execute(
        f"SELECT d.decided_by, count(*) FROM latest_pairs x JOIN ({_DECIDED_BY}) d "
        "USING (prompt_id) WHERE x.status = 'kept' GROUP BY 1 ORDER BY 1").fetchall()}


def pre_label_outcomes(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int, int, int]]:
    """Per kind: pre-labels (untrusted source preferences) an expert has judged the item of, how
    many the expert's current judgment confirms (ranks chosen above rejected) and how many it
    overturns (the reverse); judgments that order neither way count in the first only."""
    from core.store.adjudication import _CURRENT_RANKED_WITH_GROUPS, _GROUPS, implied_preferences

    return [tuple(r) for r in con.execute(f"""
        WITH cur AS (SELECT j.judgment_id, j.annotator, j.prompt_id, j.shown_order,
                            j.best_candidate_id, j.worst_candidate_id, {_GROUPS} AS groups
                     FROM {_CURRENT_RANKED_WITH_GROUPS}
                     AND NOT starts_with(j.annotator, 'source:')
                     AND j.prompt_id IN (SELECT prompt_id FROM source_preferences
                                         WHERE NOT trusted)),
        bw AS (SELECT annotator, prompt_id, best_candidate_id AS best,
                      worst_candidate_id AS worst, unnest(shown_order) AS other
               FROM cur WHERE groups IS NULL),
        members AS (SELECT judgment_id, annotator, prompt_id, gi, unnest(grp) AS candidate_id
                    FROM (SELECT judgment_id, annotator, prompt_id, unnest(groups) AS grp,
                                 generate_subscripts(groups, 1) AS gi
                          FROM cur WHERE groups IS NOT NULL)),
        pw AS (SELECT * FROM pairwise_judgments WHERE false),
        implied AS ({implied_preferences("bw", "members", "pw")}),
        judged AS (SELECT s.kind, s.preference_id, c.annotator,
                          EXISTS (SELECT 1 FROM implied i WHERE i.annotator = c.annotator
                                  AND i.prompt_id = s.prompt_id AND i.high = s.chosen_id
                                  AND i.low = s.rejected_id) AS confirmed,
                          EXISTS (SELECT 1 FROM implied i WHERE i.annotator = c.annotator
                                  AND i.prompt_id = s.prompt_id AND i.high = s.rejected_id
                                  AND i.low = s.chosen_id) AS overturned
                   FROM source_preferences s JOIN cur c USING (prompt_id)
                   WHERE NOT s.trusted)
        SELECT kind, count(*), count(*) FILTER (WHERE confirmed),
               count(*) FILTER (WHERE overturned)
        FROM judged GROUP BY kind ORDER BY kind""").fetchall()]
