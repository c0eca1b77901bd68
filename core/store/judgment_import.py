"""Judgments made elsewhere: read a JSONL, CSV or Parquet file through DuckDB's readers, validate
every row against the store, plan the new rows and insert them (the caller holds the transaction).

Label files are small (a campaign is at most some 100k rows), so after DuckDB has read the file
the rows are checked one by one in Python: the rules read like the docs (docs/formats.md,
"Import judgments made elsewhere") and every message names the row's line and field.

A row names an item (a stored `prompt_id`, or a `prompt` with its `candidates`, stored under the
same content-derived ids as `prefer import`), an `annotator` and one label:

* best/worst  -> a `judgments` row (kind 'ranked');
* a ranking   -> a `judgments` row plus its groups in `judgment_rankings`;
* first/second/winner -> a `pairwise_judgments` row.

Re-importing the same file adds nothing: ids derive from the content. A judgment that differs
from the annotator's current one on the item supersedes it (a revision, as in the annotation
screen). Pairwise labels have no `supersedes` column: a file's labels on a candidate pair replace
the annotator's stored labels on that pair, and the audit event keeps the replaced rows.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import duckdb

from core.config import annotator_name_problem
from core.errors import BadInputError
from core.models import JudgmentImportCounts
from core.store.imports import ReaderFailed, RowProblem
from core.text import stored_text

KNOWN_FIELDS = ("annotator", "prompt_id", "prompt", "system", "id", "candidates", "best", "worst",
                "ranking", "first", "second", "winner", "justification", "dimension")
# The three label forms, each by its fields; a row gives exactly one of them.
LABEL_FORMS = (("best", "worst"), ("ranking",), ("first", "second", "winner"))
WINNERS = {"first": "first", "second": "second", "tie": "tie", "1": "first", "2": "second",
           "0": "tie"}

# DuckDB's trim() strips exactly the Unicode space separators (class Zs); ids are computed on
# trimmed values, so Python must trim the same characters to derive the same ids.
_ZS = " \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"

_READ_LINES = (
    "SELECT row_number() OVER () AS line, raw FROM read_csv(?, columns={'raw': 'VARCHAR'}, "
    "delim=chr(1), quote='', escape='', header=false, auto_detect=false, "
    "max_line_size=268435456)"
)
_DIGITS = re.compile("[0-9]+")
_CURRENT = "current_judgments"  # the view of migration 006


F = TypeVar("F", bound=Callable[..., Any])


def _bulk(function: F) -> F:
    """Run without the cyclic garbage collector: building 100k small rows otherwise triggers
    it over and over (about half the time of a large import), and nothing here makes cycles."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return wrapper  # type: ignore[return-value]


def trim(text: str) -> str:
    return text.strip(_ZS)


def prompt_id_for(prompt: str, system: str | None, given_id: str | None = None) -> str:
    """The prompt id `prefer import` gives: the row's `id`, else 'p_' + sha256(system, prompt)."""
    if given_id:
        return given_id
    digest = hashlib.sha256(f"{system or ''}\x1f{prompt}".encode()).hexdigest()
    return "p_" + digest[:16]


def candidate_id_for(prompt_id: str, text: str) -> str:
    """The content-derived candidate id (the same as core.store.local.candidate_id_for)."""
    return "c_" + hashlib.sha256(f"{prompt_id}\x1f{text}".encode()).hexdigest()[:16]


def _digest(prefix: str, parts: list[Any]) -> str:
    text = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return prefix + hashlib.sha256(text.encode()).hexdigest()[:32]


# --- reading ---------------------------------------------------------------------------------


@dataclass
class SourceRows:
    """A file's rows as (line, {field: value}) with missing values left out, and its fields."""

    kind: str
    rows: list[tuple[int, dict[str, Any]]]
    fields: list[str]
    problem: RowProblem | None = None


def _reader_error(exc: duckdb.Error) -> ReaderFailed:
    text = str(exc)
    match = re.search(r"[Ll]ine:? (\d+)", text)
    return ReaderFailed(text, int(match.group(1)) if match else None)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@_bulk
def read_file(con: duckdb.DuckDBPyConnection, path: str, kind: str) -> SourceRows:
    """Read `path` with DuckDB's reader for `kind`; raise ReaderFailed when it refuses the file.

    JSONL: the file's own line numbers (blank lines count, and are skipped); the first line that
    is not a JSON object stops reading with its problem. CSV: the header is line 1, every value
    is text and an empty cell is missing. Parquet: LINE is the row number from 1.
    """
    try:
        if kind == "jsonl":
            lines = con.execute(_READ_LINES, [path]).fetchall()
        elif kind == "csv":
            reader = "read_csv(?, header=true, all_varchar=true, max_line_size=268435456)"
            columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {reader}", [path]).fetchall()]
            records = con.execute(f"SELECT row_number() OVER () + 1, * FROM {reader}", [path]).fetchall()
        elif kind == "parquet":
            reader = "read_parquet(?, file_row_number=true)"
            columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {reader}", [path]).fetchall()
                       if r[0] != "file_row_number"]
            names = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
            records = con.execute(f"SELECT file_row_number + 1, {names} FROM {reader} "
                                  "ORDER BY file_row_number", [path]).fetchall()
        else:
            raise ValueError(f"unknown import kind {kind!r}")
    except duckdb.Error as exc:
        raise _reader_error(exc) from exc
    if kind != "jsonl":
        rows = [(int(r[0]), {c: v for c, v in zip(columns, r[1:], strict=True) if v is not None})
                for r in records]
        return SourceRows(kind, rows, columns)
    rows = []
    seen: dict[str, None] = {}
    for line, raw in lines:
        if raw is None or not trim(raw):
            continue
        try:
            value = json.loads(raw, parse_constant=_no_constants)
        except ValueError:
            return SourceRows(kind, rows, list(seen), RowProblem(int(line), None, "not valid JSON"))
        if not isinstance(value, dict):
            return SourceRows(kind, rows, list(seen),
                              RowProblem(int(line), None, "expected a JSON object per line"))
        seen.update(dict.fromkeys(value))
        rows.append((int(line), {k: v for k, v in value.items() if v is not None}))
    return SourceRows(kind, rows, list(seen))


def apply_map(source: SourceRows, mapping: dict[str, str]) -> SourceRows:
    """Rename the file's fields (`--map old=new`); raise BadInputError on a mapping that cannot
    apply: a field the file does not have, or a target the file already has."""
    if not mapping:
        return source
    for old, new in mapping.items():
        if old not in source.fields:
            have = ", ".join(source.fields) or "none"
            raise BadInputError(f"--map {old}={new}: the file has no field '{old}' (it has: {have})",
                                hint="map a field of the file to one of prefer's")
        if new in source.fields and new not in mapping:
            raise BadInputError(f"--map {old}={new}: the file already has a field '{new}'",
                                hint=f"map '{new}' away too, or leave '{old}' unmapped")
    rows = [(line, {mapping.get(k, k): v for k, v in values.items()})
            for line, values in source.rows]
    fields = [mapping.get(f, f) for f in source.fields]
    return SourceRows(source.kind, rows, fields, source.problem)


# --- validating one row ------------------------------------------------------------------------


class _Bad(Exception):
    """A row breaks a rule: the field and what is wrong (the line is added by the caller)."""

    def __init__(self, field_name: str | None, problem: str) -> None:
        super().__init__(problem)
        self.field = field_name
        self.problem = problem


def _type_word(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > 60:
        text = text[:57] + "…"
    return f"'{text}'" if isinstance(value, str) else text


def _text(values: dict[str, Any], name: str, *, required: str | None = None) -> str | None:
    """A string field, None when missing; `required` is the explanation when it must be there."""
    value = values.get(name)
    if value is None:
        if required:
            raise _Bad(name, f"missing ({required})")
        return None
    if not isinstance(value, str):
        raise _Bad(name, f"expected a string, got a {_type_word(value)}")
    return value


def _id_text(values: dict[str, Any], name: str) -> str | None:
    """An id: a string or a whole number, trimmed; None when missing."""
    value = values.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise _Bad(name, f"expected a string or a number, got a {_type_word(value)}")
    text = trim(str(value))
    if not text:
        raise _Bad(name, "is empty")
    return text


def _json_list(kind: str, value: Any, name: str, expected: str) -> list[Any]:
    """A list field; in CSV (and a Parquet text column) the cell holds the list as JSON."""
    if isinstance(value, str) and kind != "jsonl":
        try:
            value = json.loads(value, parse_constant=_no_constants)
        except ValueError:
            raise _Bad(name, f"expected {expected}, got text that is not a JSON list") from None
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list):
        raise _Bad(name, f"expected {expected}, got a {_type_word(value)}")
    return value


@dataclass
class _Row:
    """A row that passed the checks that need nothing from the store."""

    line: int
    annotator: str
    prompt_id: str
    by_id: bool                       # named by prompt_id (else by prompt text)
    prompt: str | None                # by text: the prompt and system, as stored
    system: str | None
    listed: list[str] | None          # the row's `candidates` entries
    form: int                         # index into LABEL_FORMS
    label: dict[str, Any]
    dimension: str | None
    justification: str | None
    listed_ids: list[str] = field(default_factory=list)


def _check_row(kind: str, line: int, values: dict[str, Any], dimensions: list[str]) -> _Row:
    annotator = _text(values, "annotator", required="every row names who judged")
    assert annotator is not None
    annotator = trim(annotator)
    if not annotator:
        raise _Bad("annotator", "is empty")
    problem = annotator_name_problem(annotator)
    if problem:
        raise _Bad("annotator", problem)

    prompt_id = _id_text(values, "prompt_id")
    prompt = _text(values, "prompt")
    if prompt_id is not None and prompt is not None:
        raise _Bad("prompt_id", "give either prompt_id or prompt, not both (name a new prompt "
                                "with id)")
    system = _text(values, "system")
    given_id = _id_text(values, "id")
    if prompt_id is not None:
        for name in ("system", "id"):
            if name in values:
                raise _Bad(name, "goes only with prompt (this row names a stored item by "
                                 "prompt_id)")
    elif prompt is None:
        raise _Bad("prompt", "missing (give prompt and candidates, or the prompt_id of a "
                             "stored item)")
    else:
        prompt = stored_text(prompt)
        if not prompt:
            raise _Bad("prompt", "is empty")
        system = stored_text(system) if system is not None else None
        system = system or None
        prompt_id = prompt_id_for(prompt, system, given_id)

    listed = None
    if "candidates" in values:
        listed = _json_list(kind, values["candidates"], "candidates", "a list of strings")
        if not listed:
            raise _Bad("candidates", "is empty")
        for number, entry in enumerate(listed, 1):
            if not isinstance(entry, str):
                raise _Bad("candidates", f"item {number} is not a string (got a "
                                         f"{_type_word(entry)})")
        listed = [stored_text(entry) for entry in listed]

    present = [i for i, names in enumerate(LABEL_FORMS) if any(n in values for n in names)]
    if not present:
        raise _Bad("best", "missing (a row needs a label: best and worst, a ranking, or first, "
                           "second and winner)")
    if len(present) > 1:
        first_form = LABEL_FORMS[present[0]]
        other = next(n for n in LABEL_FORMS[present[1]] if n in values)
        already = next(n for n in first_form if n in values)
        raise _Bad(other, f"a row gives one label, and this one has {already} too (use best/worst, "
                          "ranking, or first/second/winner)")
    form = present[0]
    label = {n: values[n] for n in LABEL_FORMS[form] if n in values}

    dimension = _text(values, "dimension")
    if dimension is not None:
        dimension = trim(dimension) or None
        if dimension is not None and dimension not in dimensions:
            raise _Bad("dimension", f"unknown dimension '{dimension}' (prefer.toml allows: "
                                    f"{', '.join(dimensions)})")
    justification = _text(values, "justification")
    if justification is not None:
        justification = justification.strip() or None
    return _Row(line, annotator, prompt_id, values.get("prompt_id") is not None, prompt, system,
                listed, form, label, dimension, justification)


# --- the items: stored and new prompts and candidates -------------------------------------------


@dataclass
class _Items:
    """Prompts and candidates as they will be after the import (stored plus new)."""

    stored_prompts: dict[str, tuple[str, str | None]]
    # prompt_id -> {candidate_id: (position, text)}
    candidates: dict[str, dict[str, tuple[int, str]]]
    new_prompts: dict[str, tuple[str, str | None, int]] = field(default_factory=dict)
    new_candidates: list[tuple[str, str, int, str]] = field(default_factory=list)
    first_use: dict[str, tuple[int, str, str | None]] = field(default_factory=dict)
    _by_text: dict[str, dict[str, str]] = field(default_factory=dict)

    def by_text(self, prompt_id: str) -> dict[str, str]:
        """text -> candidate id of a prompt (built once, after every row has been placed)."""
        found = self._by_text.get(prompt_id)
        if found is None:
            found = {text: cid for cid, (_, text) in self.candidates.get(prompt_id, {}).items()}
            self._by_text[prompt_id] = found
        return found

    def known(self, prompt_id: str) -> bool:
        return prompt_id in self.stored_prompts or prompt_id in self.new_prompts


def _load_items(con: duckdb.DuckDBPyConnection, prompt_ids: list[str]) -> _Items:
    prompts = {r[0]: (r[1], r[2]) for r in con.execute(
        "SELECT prompt_id, prompt, system FROM prompts WHERE prompt_id IN (SELECT unnest(?))",
        [prompt_ids]).fetchall()}
    candidates: dict[str, dict[str, tuple[int, str]]] = {p: {} for p in prompt_ids}
    for candidate_id, prompt_id, position, text in con.execute(
            "SELECT candidate_id, prompt_id, position, text FROM candidates "
            "WHERE prompt_id IN (SELECT unnest(?)) ORDER BY prompt_id, position",
            [prompt_ids]).fetchall():
        candidates[prompt_id][candidate_id] = (position, text)
    return _Items(prompts, candidates)


def _place_item(row: _Row, items: _Items) -> None:
    """Check the row's prompt against the store and earlier rows; add its new candidates."""
    if row.by_id:
        if row.prompt_id not in items.stored_prompts:
            raise _Bad("prompt_id", f"no stored prompt '{row.prompt_id}' (import it first with "
                                    "prefer import, or give prompt and candidates)")
    else:
        assert row.prompt is not None
        stored = items.stored_prompts.get(row.prompt_id)
        if stored is not None and stored != (row.prompt, row.system):
            raise _Bad("id", f"'{row.prompt_id}' is already stored for a different prompt")
        first = items.first_use.get(row.prompt_id)
        if first is not None and first[1:] != (row.prompt, row.system):
            raise _Bad("id", f"'{row.prompt_id}' is already used on line {first[0]} for a "
                             "different prompt")
        if first is None:
            items.first_use[row.prompt_id] = (row.line, row.prompt, row.system)
        if stored is None and row.prompt_id not in items.new_prompts:
            items.new_prompts[row.prompt_id] = (row.prompt, row.system, row.line)
    if row.listed is None:
        return
    known = items.candidates.setdefault(row.prompt_id, {})
    seen: dict[str, int] = {}
    for number, entry in enumerate(row.listed, 1):
        candidate_id = entry if entry in known else candidate_id_for(row.prompt_id, entry)
        if candidate_id in seen:
            raise _Bad("candidates", f"item {number} repeats item {seen[candidate_id]}")
        seen[candidate_id] = number
        if candidate_id not in known:
            position = max((p for p, _ in known.values()), default=0) + 1
            known[candidate_id] = (position, entry)
            items.new_candidates.append((candidate_id, row.prompt_id, position, entry))
        row.listed_ids.append(candidate_id)


# --- labels --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Judgment:
    annotator: str
    prompt_id: str
    best: str | None
    worst: str | None
    groups: tuple[tuple[str, ...], ...] | None
    shown: tuple[str, ...]
    dimensions: tuple[str, ...]
    justification: str | None

    def content(self) -> tuple:
        """What makes two judgments the same decision (what was shown aside)."""
        groups = None if self.groups is None else tuple(tuple(sorted(g)) for g in self.groups)
        return (self.best, self.worst, groups, self.dimensions, self.justification)


@dataclass(frozen=True)
class _Pairwise:
    annotator: str
    prompt_id: str
    first: str
    second: str
    winner: str
    dimensions: tuple[str, ...]
    justification: str | None

    def unit(self) -> tuple[str, str, str, str]:
        low, high = sorted((self.first, self.second))
        return (self.annotator, self.prompt_id, low, high)

    def canonical(self) -> tuple:
        """The label oriented low id first, so a swapped row with the mirrored winner is equal."""
        winner = self.winner
        if self.first > self.second and winner != "tie":
            winner = "first" if winner == "second" else "second"
        return (*self.unit(), winner, self.dimensions, self.justification)


class _Resolver:
    """Candidate references of one row: an id, else a text, else a number into `candidates`."""

    def __init__(self, row: _Row, items: _Items) -> None:
        self.row = row
        self.item = items.candidates.get(row.prompt_id, {})
        self.shown = set(row.listed_ids) if row.listed is not None else set(self.item)
        self.by_text = items.by_text(row.prompt_id)

    def __call__(self, value: Any, name: str, where: str = "") -> str:
        listed = self.row.listed_ids if self.row.listed is not None else None
        if isinstance(value, str):
            found = value if value in self.item else (
                self.by_text.get(value) or self.by_text.get(stored_text(value)))
            if found is None and _DIGITS.fullmatch(value.strip()) and listed is not None:
                return self._number(int(value.strip()), name, where, listed)
            if found is None:
                raise _Bad(name, f"{where}{_show(value)} is not a candidate of this item (give a "
                                 "candidate id, its text, or its number in candidates)")
            if found not in self.shown:
                raise _Bad(name, f"{where}{_show(value)} is a candidate of this item but not one "
                                 "of this row's candidates")
            return found
        if isinstance(value, int) and not isinstance(value, bool):
            if listed is None:
                raise _Bad(name, f"{where}{value} is a number, but this row has no candidates "
                                 "list to count in (give a candidate id or text)")
            return self._number(value, name, where, listed)
        raise _Bad(name, f"{where}expected a candidate id, text or number, got a "
                         f"{_type_word(value)}")

    @staticmethod
    def _number(number: int, name: str, where: str, listed: list[str]) -> str:
        if not 1 <= number <= len(listed):
            raise _Bad(name, f"{where}{number} is out of range (this row has {len(listed)} "
                             "candidates)")
        return listed[number - 1]

    def describe(self, candidate_id: str) -> str:
        if self.row.listed is not None:
            return f"candidate {self.row.listed_ids.index(candidate_id) + 1}"
        return f"'{candidate_id}'"


def _label(row: _Row, items: _Items, kind: str) -> _Judgment | _Pairwise:
    item = items.candidates.get(row.prompt_id, {})
    shown_ids = row.listed_ids if row.listed is not None else list(item)
    if len(shown_ids) < 2:
        if row.listed is None and not item:
            raise _Bad("candidates", "missing (this item has no candidates yet: give their texts)")
        where = "candidates" if row.listed is not None else ("prompt_id" if row.by_id else "prompt")
        count = f"{len(shown_ids)} candidate" + ("" if len(shown_ids) == 1 else "s")
        raise _Bad(where, f"the item has {count}; a judgment compares at least two")
    shown = tuple(sorted(shown_ids, key=lambda cid: item[cid][0]))
    resolve = _Resolver(row, items)
    dimensions = (row.dimension,) if row.dimension else ()
    label = row.label
    if LABEL_FORMS[row.form] == ("best", "worst"):
        if "best" not in label:
            raise _Bad("best", "missing (worst goes with best)")
        best = resolve(label["best"], "best")
        if "worst" in label:
            worst = resolve(label["worst"], "worst")
        elif len(shown) == 2:
            worst = next(c for c in shown if c != best)
        else:
            raise _Bad("worst", f"missing (with {len(shown)} candidates, name the worst too)")
        if worst == best:
            raise _Bad("worst", "is the same candidate as best")
        return _Judgment(row.annotator, row.prompt_id, best, worst, None, shown, dimensions,
                         row.justification)
    if LABEL_FORMS[row.form] == ("ranking",):
        places = _json_list(kind, label["ranking"], "ranking", "a list, best first")
        if not places:
            raise _Bad("ranking", "is empty")
        groups: list[tuple[str, ...]] = []
        placed: dict[str, int] = {}
        for place, entry in enumerate(places, 1):
            members = entry if isinstance(entry, list) else [entry]
            if not members:
                raise _Bad("ranking", f"place {place} is an empty group")
            group = []
            for member in members:
                candidate_id = resolve(member, "ranking", f"place {place}: ")
                if candidate_id in placed:
                    raise _Bad("ranking", f"place {place}: {resolve.describe(candidate_id)} is "
                                          f"already ranked at place {placed[candidate_id]}")
                placed[candidate_id] = place
                group.append(candidate_id)
            groups.append(tuple(sorted(group, key=lambda cid: item[cid][0])))
        missing = [c for c in shown if c not in placed]
        if missing:
            names = ", ".join(resolve.describe(c) for c in missing)
            raise _Bad("ranking", f"does not rank {names} (rank every candidate of the item "
                                  "exactly once)")
        best = groups[0][0] if len(groups[0]) == 1 else None
        worst = groups[-1][0] if len(groups) > 1 and len(groups[-1]) == 1 else None
        return _Judgment(row.annotator, row.prompt_id, best, worst, tuple(groups), shown,
                         dimensions, row.justification)
    for name in ("first", "second"):
        if name not in label:
            raise _Bad(name, "missing (a pairwise label names two candidates, first and second, "
                             "and the winner)")
    first = resolve(label["first"], "first")
    second = resolve(label["second"], "second")
    if first == second:
        raise _Bad("second", "is the same candidate as first")
    if "winner" not in label:
        raise _Bad("winner", "missing (first, second or tie)")
    raw = label["winner"]
    winner = None
    if isinstance(raw, str):
        winner = WINNERS.get(trim(raw).lower())
    elif isinstance(raw, int) and not isinstance(raw, bool):
        winner = WINNERS.get(str(raw))
    if winner is None:
        raise _Bad("winner", f"expected first, second or tie (or 1, 2, 0), got {_show(raw)}")
    return _Pairwise(row.annotator, row.prompt_id, first, second, winner, dimensions,
                     row.justification)


# --- the plan ------------------------------------------------------------------------------------


@dataclass
class Plan:
    """What an import stores: new prompts, candidates, judgments and pairwise labels."""

    counts: JudgmentImportCounts
    prompts: list[tuple[str, str, str | None, int]]
    candidates: list[tuple[str, str, int, str]]
    # judgment_id, judgment, supersedes
    judgments: list[tuple[str, _Judgment, str | None]]
    pairwise: list[tuple[str, _Pairwise]]
    replaced_pairwise: list[tuple]

    def details(self) -> dict[str, Any]:
        """The audit event's details: the counts, and the pairwise rows replaced (deleted)."""
        c = self.counts
        return {"rows": c.rows, "new_prompts": c.new_prompts, "new_candidates": c.new_candidates,
                "new_judgments": c.new_judgments, "superseded": c.superseded,
                "new_pairwise": c.new_pairwise, "replaced_pairwise": c.replaced_pairwise,
                "annotators": list(c.annotators),
                "replaced_pairwise_rows": [list(r) for r in self.replaced_pairwise]}


def _stored_judgments(con: duckdb.DuckDBPyConnection, prompt_ids: list[str]
                      ) -> dict[tuple[str, str], tuple[str, tuple]]:
    """The current judgment of each (annotator, prompt): its id and its content."""
    rows = con.execute(
        f"""
        SELECT j.annotator, j.prompt_id, j.judgment_id, j.kind, j.best_candidate_id,
               j.worst_candidate_id, r.groups, j.dimensions, j.justification
        FROM {_CURRENT} j LEFT JOIN judgment_rankings r USING (judgment_id)
        WHERE j.prompt_id IN (SELECT unnest(?))
        ORDER BY j.created_at, j.judgment_id
        """, [prompt_ids]).fetchall()
    current: dict[tuple[str, str], tuple[str, tuple]] = {}
    for annotator, prompt_id, judgment_id, kind, best, worst, groups, dims, justification in rows:
        sorted_groups = None if groups is None else tuple(tuple(sorted(g)) for g in groups)
        content = (best, worst, sorted_groups, tuple(dims), justification) if kind == "ranked" \
            else ("skipped",)
        current[(annotator, prompt_id)] = (judgment_id, content)
    return current


def _stored_pairwise(con: duckdb.DuckDBPyConnection, prompt_ids: list[str]
                     ) -> dict[tuple[str, str, str, str], list[tuple]]:
    rows = con.execute(
        "SELECT pairwise_id, annotator, prompt_id, first_candidate_id, second_candidate_id, "
        "winner FROM pairwise_judgments WHERE prompt_id IN (SELECT unnest(?)) ORDER BY pairwise_id",
        [prompt_ids]).fetchall()
    by_unit: dict[tuple[str, str, str, str], list[tuple]] = {}
    for row in rows:
        low, high = sorted((row[3], row[4]))
        by_unit.setdefault((row[1], row[2], low, high), []).append(row)
    return by_unit


@_bulk
def plan(con: duckdb.DuckDBPyConnection, source: SourceRows, dimensions: list[str],
         dry_run: bool = False) -> Plan | RowProblem:
    """Validate every row against the store; the first bad row (by line) or the plan."""
    problems: dict[int, RowProblem] = {}

    def fail(line: int, bad: _Bad) -> None:
        problems.setdefault(line, RowProblem(line, bad.field, bad.problem))

    if (source.kind != "jsonl" and "annotator" not in source.fields):
        return RowProblem(1, "annotator", "no such column (the file has: "
                          f"{', '.join(source.fields)}); rename one with --map old=annotator")
    rows: list[_Row] = []
    for line, values in source.rows:
        try:
            rows.append(_check_row(source.kind, line, values, dimensions))
        except _Bad as bad:
            fail(line, bad)
    prompt_ids = sorted({r.prompt_id for r in rows})
    items = _load_items(con, prompt_ids)
    placed: list[_Row] = []
    for row in rows:
        try:
            _place_item(row, items)
            placed.append(row)
        except _Bad as bad:
            fail(row.line, bad)
    labels: list[tuple[int, _Judgment | _Pairwise]] = []
    for row in placed:
        try:
            labels.append((row.line, _label(row, items, source.kind)))
        except _Bad as bad:
            fail(row.line, bad)

    # One judgment per annotator and item in a file; the same label repeated counts once.
    judgments: dict[tuple[str, str], tuple[int, _Judgment]] = {}
    pairwise: list[_Pairwise] = []
    for line, label in labels:
        if isinstance(label, _Pairwise):
            pairwise.append(label)
            continue
        key = (label.annotator, label.prompt_id)
        earlier = judgments.get(key)
        if earlier is None:
            judgments[key] = (line, label)
        elif earlier[1].content() != label.content() or earlier[1].shown != label.shown:
            fail(line, _Bad("annotator", f"'{label.annotator}' already judged this item on line "
                                         f"{earlier[0]} with a different label (one judgment per "
                                         "annotator and item; compare two candidates with first, "
                                         "second and winner)"))
    if problems:
        return problems[min(problems)]

    current = _stored_judgments(con, prompt_ids)
    new_judgments: list[tuple[str, _Judgment, str | None]] = []
    for (_line, judgment) in judgments.values():
        stored = current.get((judgment.annotator, judgment.prompt_id))
        if stored is not None and stored[1] == judgment.content():
            continue
        supersedes = stored[0] if stored else None
        judgment_id = _digest("j_", [judgment.annotator, judgment.prompt_id, judgment.best,
                                     judgment.worst, judgment.groups, list(judgment.dimensions),
                                     judgment.justification, supersedes])
        new_judgments.append((judgment_id, judgment, supersedes))

    # Pairwise: a label repeated in the file is stored as often as it occurs (two comparisons
    # that happen to show the same texts are two labels); the file's labels on a candidate pair
    # replace the annotator's stored ones on that pair unless they are the same.
    occurrences: Counter = Counter()
    by_unit: dict[tuple[str, str, str, str], list[tuple[str, _Pairwise]]] = {}
    for label in pairwise:
        canonical = label.canonical()
        occurrences[canonical] += 1
        pairwise_id = _digest("w_", [*canonical[:5], list(canonical[5]), canonical[6],
                                     occurrences[canonical]])
        by_unit.setdefault(label.unit(), []).append((pairwise_id, label))
    stored_pairs = _stored_pairwise(con, prompt_ids)
    new_pairwise: list[tuple[str, _Pairwise]] = []
    replaced: list[tuple] = []
    for unit, labelled in by_unit.items():
        ids = {pid for pid, _ in labelled}
        stored_rows = stored_pairs.get(unit, [])
        stored_ids = {r[0] for r in stored_rows}
        new_pairwise.extend((pid, lab) for pid, lab in labelled if pid not in stored_ids)
        replaced.extend(r for r in stored_rows if r[0] not in ids)

    listed = {cid for r in placed for cid in r.listed_ids}
    counts = JudgmentImportCounts(
        rows=len(source.rows), prompts_in_file=len(prompt_ids),
        new_prompts=len(items.new_prompts), candidates_in_file=len(listed),
        new_candidates=len(items.new_candidates), judgments_in_file=len(judgments),
        new_judgments=len(new_judgments),
        superseded=sum(1 for _, _, s in new_judgments if s is not None),
        pairwise_in_file=len(pairwise), new_pairwise=len(new_pairwise),
        replaced_pairwise=len(replaced),
        annotators=tuple(sorted({r.annotator for r in rows})),
        ignored_fields=tuple(sorted(f for f in source.fields if f not in KNOWN_FIELDS)),
        dry_run=dry_run,
    )
    return Plan(counts,
                [(pid, p, s, line) for pid, (p, s, line) in items.new_prompts.items()],
                items.new_candidates, new_judgments, new_pairwise, replaced)


# --- storing -------------------------------------------------------------------------------------


def insert(con: duckdb.DuckDBPyConnection, planned: Plan, source: str, now: object,
           event_seq: int) -> None:
    """Insert the planned rows, written by `event_seq` (the caller holds the transaction);
    set-wise, one statement each."""
    if planned.prompts:
        con.execute(
            "INSERT INTO prompts (prompt_id, prompt, system, dimension, language, source, "
            "source_line, imported_at, event_seq) SELECT unnest(?::VARCHAR[]), "
            "unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), NULL, NULL, ?, unnest(?::BIGINT[]), ?, ?",
            [[p[0] for p in planned.prompts], [p[1] for p in planned.prompts],
             [p[2] for p in planned.prompts], source, [p[3] for p in planned.prompts], now,
             event_seq])
    if planned.candidates:
        con.execute(
            "INSERT INTO candidates (candidate_id, prompt_id, position, text, origin, source, "
            "created_at, event_seq) SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
            "unnest(?::INTEGER[]), unnest(?::VARCHAR[]), 'import', ?, ?, ?",
            [[c[0] for c in planned.candidates], [c[1] for c in planned.candidates],
             [c[2] for c in planned.candidates], [c[3] for c in planned.candidates], source, now,
             event_seq])
    if planned.judgments:
        js = [j for _, j, _ in planned.judgments]
        con.execute(
            "INSERT INTO judgments SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
            "unnest(?::VARCHAR[]), 'ranked', unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), NULL, "
            "unnest(?::VARCHAR[][]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[][]), NULL, NULL, "
            "unnest(?::VARCHAR[]), ?, ?",
            [[i for i, _, _ in planned.judgments], [j.annotator for j in js],
             [j.prompt_id for j in js], [j.best for j in js], [j.worst for j in js],
             [list(j.dimensions) for j in js], [j.justification for j in js],
             [list(j.shown) for j in js], [s for _, _, s in planned.judgments], now, event_seq])
        ranked = [(i, j.groups) for i, j, _ in planned.judgments if j.groups is not None]
        if ranked:
            con.execute(
                "INSERT INTO judgment_rankings SELECT unnest(?::VARCHAR[]), "
                "unnest(?::VARCHAR[][][]), ?",
                [[i for i, _ in ranked], [[list(g) for g in groups] for _, groups in ranked],
                 event_seq])
    if planned.replaced_pairwise:
        con.execute("DELETE FROM pairwise_judgments WHERE pairwise_id IN (SELECT unnest(?))",
                    [[r[0] for r in planned.replaced_pairwise]])
    if planned.pairwise:
        ps = [p for _, p in planned.pairwise]
        con.execute(
            "INSERT INTO pairwise_judgments SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
            "unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
            "unnest(?::VARCHAR[]), unnest(?::VARCHAR[][]), unnest(?::VARCHAR[]), ?, ?, ?",
            [[i for i, _ in planned.pairwise], [p.annotator for p in ps],
             [p.prompt_id for p in ps], [p.first for p in ps], [p.second for p in ps],
             [p.winner for p in ps], [list(p.dimensions) for p in ps],
             [p.justification for p in ps], source, now, event_seq])
