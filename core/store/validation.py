"""The rules every write obeys inside the store, whatever the face (TUI, server, import).

A write is checked here before anything is stored: the same rules for the annotation screen,
a client of `prefer serve` and `prefer import-judgments`. The bounds are documented in
docs/store.md; a refusal is a JudgmentError (exit 2) that names the field and reveals nothing
about other callers' records.

Record ids are made by the store: the id a client sends is only its key for retrying the same
write, and the stored id is a hash of (owner, that key), so one caller can never address, read
back or block another caller's record.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.config import annotator_name_problem
from core.errors import JudgmentError
from core.models import Adjudication, Flag, Judgment, RowProblem

if TYPE_CHECKING:
    import duckdb

# Bounds on what one write may carry (docs/store.md states them).
MAX_ID_CHARS = 64
MAX_NAME_CHARS = 64
MAX_JUSTIFICATION_CHARS = 2_000
MAX_NOTE_CHARS = 4_000
MAX_DIMENSIONS = 16
MAX_CANDIDATES = 64
MAX_SECONDS_SPENT = 24 * 3600.0
MAX_GUIDELINE_VERSION_CHARS = 128

# What a judgment records; every kind but "ranked" yields no pair.
JUDGMENT_KINDS = ("ranked", "skipped", "no_difference", "cannot_judge")

CLIENT_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class WriteRules:
    """The project's rules the store enforces (from prefer.toml beside the database)."""

    dimensions: tuple[str, ...]
    min_justification_chars: int = 0
    queue_order: str = "import"  # annotation.order: how the next item is chosen
    max_candidates: int = 9  # annotation.max_candidates


def record_id(prefix: str, owner: str, client_key: str) -> str:
    """The stored id of a caller's record: the client's key, namespaced by its owner."""
    if not CLIENT_KEY.fullmatch(client_key):
        raise JudgmentError("a record id is 1-64 letters, digits, '_' or '-'")
    digest = hashlib.sha256(f"{prefix}\x1f{owner}\x1f{client_key}".encode()).hexdigest()
    return f"{prefix}_{digest[:32]}"


def check_name(value: str, field: str) -> None:
    problem = annotator_name_problem(value)
    if problem:
        raise JudgmentError(f"{field}: {problem}")


def _check_text(value: str | None, field: str, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise JudgmentError(f"{field}: at most {limit} characters ({len(value)} sent)")


def _check_dimensions(dimensions: Sequence[str], rules: WriteRules) -> None:
    if len(dimensions) > MAX_DIMENSIONS or len(set(dimensions)) != len(dimensions):
        raise JudgmentError("dimensions: each configured dimension at most once")
    unknown = [d for d in dimensions if d not in rules.dimensions]
    if unknown:
        raise JudgmentError(f"dimensions: unknown dimension '{unknown[0]}' (prefer.toml allows: "
                            f"{', '.join(rules.dimensions)})")


def check_judgment(judgment: Judgment, candidates: Sequence[str], rules: WriteRules) -> None:
    """Refuse a judgment that breaks an annotation rule; `candidates` are the item's ids."""
    check_name(judgment.annotator, "annotator")
    if not candidates:
        raise JudgmentError(f"no item {judgment.prompt_id}")
    allowed = set(candidates)
    if judgment.kind not in JUDGMENT_KINDS:
        raise JudgmentError(f"kind: one of {', '.join(repr(k) for k in JUDGMENT_KINDS)}")
    shown = judgment.shown_order
    if len(shown) > MAX_CANDIDATES or len(set(shown)) != len(shown) or not set(shown) <= allowed:
        raise JudgmentError("shown_order: the item's candidates, each at most once")
    seconds = judgment.seconds_spent
    if seconds is not None and not (math.isfinite(seconds) and 0 <= seconds <= MAX_SECONDS_SPENT):
        raise JudgmentError(f"seconds_spent: from 0 to {MAX_SECONDS_SPENT:.0f}")
    _check_text(judgment.guideline_version, "guideline_version", MAX_GUIDELINE_VERSION_CHARS)
    _check_text(judgment.justification, "justification", MAX_JUSTIFICATION_CHARS)
    _check_dimensions(judgment.dimensions, rules)
    if judgment.kind != "ranked":
        if judgment.best_candidate_id or judgment.worst_candidate_id or judgment.ranking \
                or judgment.groups:
            raise JudgmentError(f"a {judgment.kind.replace('_', ' ')} names no best, worst or "
                                "ranking")
        if judgment.kind != "skipped":
            _check_reason(judgment, rules)
        return
    best, worst = judgment.best_candidate_id, judgment.worst_candidate_id
    if judgment.groups is not None:
        _check_groups(judgment, allowed)
    elif best is None or worst is None:
        raise JudgmentError("a ranked judgment names the best and the worst response")
    if best is not None and best == worst:
        raise JudgmentError("best and worst must be different responses")
    if best not in allowed | {None} or worst not in allowed | {None}:
        raise JudgmentError(f"best and worst must be candidates of item {judgment.prompt_id}")
    if judgment.ranking is not None:
        ranking = judgment.ranking
        if len(set(ranking)) != len(ranking) or not set(ranking) <= allowed:
            raise JudgmentError("ranking: the item's candidates, each at most once")
    _check_reason(judgment, rules)


def _check_reason(judgment: Judgment, rules: WriteRules) -> None:
    text = (judgment.justification or "").strip()
    if len(text) < rules.min_justification_chars:
        raise JudgmentError(f"justification: at least {rules.min_justification_chars} characters")


def _check_groups(judgment: Judgment, allowed: set[str]) -> None:
    """A rank-mode ranking: every shown candidate exactly once, in two places or more, and the
    best and worst (when named) alone in the first and the last place."""
    groups = judgment.groups or ()
    members = [c for group in groups for c in group]
    if (len(groups) < 2 or any(not group for group in groups)
            or len(set(members)) != len(members) or set(members) != set(judgment.shown_order)
            or not set(members) <= allowed):
        raise JudgmentError("groups: every response shown, each once, in two places or more")
    ends = (groups[0][0] if len(groups[0]) == 1 else None,
            groups[-1][0] if len(groups[-1]) == 1 else None)
    if (judgment.best_candidate_id, judgment.worst_candidate_id) != ends:
        raise JudgmentError("best and worst: the responses alone in the first and last place")


def check_flag(flag: Flag, candidates: Sequence[str]) -> None:
    check_name(flag.annotator, "annotator")
    if not candidates:
        raise JudgmentError(f"no item {flag.prompt_id} to flag")
    if not flag.note.strip():
        raise JudgmentError("a flag needs a note saying what is wrong")
    _check_text(flag.note, "note", MAX_NOTE_CHARS)


def check_adjudication(adjudication: Adjudication) -> None:
    check_name(adjudication.reviewer, "reviewer")
    _check_text(adjudication.note, "note", MAX_NOTE_CHARS)
    _check_text(adjudication.guideline_change, "guideline_change", MAX_NOTE_CHARS)
    groups = adjudication.groups or ()
    named = [c for group in groups for c in group]
    if len(named) > MAX_CANDIDATES or len(set(named)) != len(named):
        raise JudgmentError("groups: the item's candidates, each at most once")


def check_resolution(resolution: str) -> None:
    if not resolution.strip():
        raise JudgmentError("resolving a flag needs a note")
    _check_text(resolution, "resolution", MAX_NOTE_CHARS)


def too_many_candidates(cur: duckdb.DuckDBPyConnection, limit: int) -> RowProblem | None:
    """The row of a checked import (core/store/imports.py's import_rows) that gives an item
    more than `limit` responses, counting those already stored; None when every item fits."""
    row = cur.execute(
        """
        WITH texts AS (
            SELECT prompt_id, line, item,
                   'c_' || left(sha256(prompt_id || chr(31) || text), 16) AS candidate_id
            FROM (SELECT prompt_id, line, unnest(texts) AS text,
                         generate_subscripts(texts, 1) AS item FROM import_rows)),
        planned AS (
            SELECT prompt_id, candidate_id, min((line, item)) AS arrival FROM texts
            WHERE candidate_id NOT IN (SELECT candidate_id FROM candidates)
            GROUP BY prompt_id, candidate_id),
        stored AS (SELECT prompt_id, count(*) AS n FROM candidates
                   WHERE prompt_id IN (SELECT prompt_id FROM planned) GROUP BY prompt_id),
        counted AS (
            SELECT p.prompt_id, p.arrival, coalesce(s.n, 0) AS before,
                   coalesce(s.n, 0) + row_number() OVER (
                       PARTITION BY p.prompt_id ORDER BY p.arrival) AS total,
                   coalesce(s.n, 0) + count(*) OVER (PARTITION BY p.prompt_id) AS all_of_it
            FROM planned p LEFT JOIN stored s USING (prompt_id))
        SELECT arrival[1], prompt_id, before, all_of_it FROM counted
        WHERE total = ? + 1 ORDER BY arrival LIMIT 1
        """, [limit]).fetchone()
    if row is None:
        return None
    line, prompt_id, before, total = row
    stored = f" ({before} already stored)" if before else ""
    return RowProblem(line, "candidates",
                      f"item '{prompt_id}' would have {total} responses{stored}; "
                      f"annotation.max_candidates in prefer.toml allows {limit}")
