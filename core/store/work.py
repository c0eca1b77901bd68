"""An annotator's work: the next item, progress, the current judgment, at the cost of their queue.

The rules are those of the `current_judgments` view (migration 006) and of the queue as it has
always been (an item is ready with 2 or more candidates; while any assignment is active an
annotator works on their assigned items and the gold items, else on every item; items not yet
judged come first, in import order, then the items they skipped, in import order), but the
queries never scan the project:

- `work_order` (migration 009) holds every prompt's place in import order (`ord`: 1, 2, ...,
  by imported_at, source, source_line, prompt_id) and whether it is ready. It is derived from
  prompts and candidates, kept up to date by `follow_write` inside the transaction of every
  write that stores prompts or candidates (whatever write path: the store calls it for every
  audit event that claims such rows), and rebuilt whole when new prompts would sort before
  stored ones. Rows are stored in `ord` order, so a range of `ord` reads one small stretch of
  the table (DuckDB's zone maps), not all of it.
- The next item is looked for from a remembered place (`WorkHints`: per annotator, the place of
  their first unjudged item when last asked): the few ready items from there are checked one by
  one by index lookups (judgments by prompt, assignments, gold items), which settles it after a
  save (the item saved is judged, the one after it is the answer). Otherwise one query over the
  rest of the queue from that place finds it. The place is only a hint: it is used only while
  the audit trail shows no write since it was noted that could put an earlier item back in a
  queue (anything but saving a judgment), and the answer never depends on it.
- An annotator's current judgment of an item comes from the item's few rows (judgments_by_prompt
  index); the current judgments of an annotator from their own rows.

tests/test_work_queue.py holds every answer equal to the view-based queries of before on
randomised projects.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import duckdb

ORDER_KEY = "imported_at, source, source_line, prompt_id"  # the queue's order, as always
# Events that never put an item back into anyone's queue: saving a judgment only takes items
# out (or moves a skipped one to the end). Every other write may (imports, generation,
# assignments, gold items, judgment imports), so a hint noted before it is not used.
_QUEUE_NEUTRAL_ACTIONS = ("judgment.",)
_NOT_NEUTRAL = " AND ".join(f"action NOT LIKE '{prefix}%'" for prefix in _QUEUE_NEUTRAL_ACTIONS)


# --- keeping work_order up to date (inside write transactions) ------------------------------


def follow_write(cur: Any, seq: int, wrote: dict[str, Any]) -> None:
    """Bring work_order up to date after a write whose event `seq` claims rows in `wrote`
    (audit_rows.claims): new prompts get their place, prompts with new candidates may become
    ready. Runs in the write's transaction, so work_order commits or rolls back with it."""
    new_prompts = int(wrote.get("prompts", {}).get("count", 0))
    new_candidates = int(wrote.get("candidates", {}).get("count", 0))
    if new_prompts:
        _place_new_prompts(cur, seq)
    if new_prompts or new_candidates:
        cur.execute(
            """
            UPDATE work_order SET ready = true
            WHERE NOT ready AND prompt_id IN (
                SELECT prompt_id FROM candidates
                WHERE prompt_id IN (SELECT prompt_id FROM candidates WHERE event_seq = $1
                                    UNION SELECT prompt_id FROM prompts WHERE event_seq = $1)
                GROUP BY prompt_id HAVING count(*) >= 2)
            """, [seq])


def _place_new_prompts(cur: Any, seq: int) -> None:
    """Append the prompts event `seq` wrote that have no place yet, in order after the last
    place; when one of them sorts before a prompt already placed, number everything again."""
    new = ("SELECT p.* FROM prompts p WHERE p.event_seq = $1 AND NOT EXISTS "
           "(SELECT 1 FROM work_order w WHERE w.prompt_id = p.prompt_id)")
    row = cur.execute(
        f"""
        WITH last AS (SELECT p.*, false AS is_new FROM prompts p
                      WHERE p.prompt_id = (SELECT prompt_id FROM work_order
                                           ORDER BY ord DESC LIMIT 1)),
             fresh AS (SELECT *, true AS is_new FROM ({new}))
        SELECT (SELECT count(*) FROM fresh),
               (SELECT is_new FROM (SELECT * FROM last UNION ALL BY NAME SELECT * FROM fresh)
                ORDER BY {ORDER_KEY} LIMIT 1)
        """, [seq]).fetchone()
    count, first_is_new = int(row[0]), row[1]
    if not count:
        return
    last_place = cur.execute("SELECT max(ord) FROM work_order").fetchone()[0]
    if last_place is not None and first_is_new:
        rebuild(cur)  # a new prompt sorts before a placed one (an earlier clock, say)
        return
    cur.execute(
        f"""
        INSERT INTO work_order
        SELECT prompt_id, $2 + row_number() OVER (ORDER BY {ORDER_KEY}), false
        FROM ({new}) ORDER BY 2
        """, [seq, last_place or 0])


def rebuild(cur: Any) -> None:
    """Number every prompt again from its import order, and recompute readiness (work_order
    is derived: this is all it holds)."""
    cur.execute("DELETE FROM work_order")
    cur.execute(
        f"""
        INSERT INTO work_order
        SELECT p.prompt_id, row_number() OVER (ORDER BY {ORDER_KEY.replace('prompt_id',
                                                                          'p.prompt_id')}),
               coalesce(c.n, 0) >= 2
        FROM prompts p
        LEFT JOIN (SELECT prompt_id, count(*) AS n FROM candidates GROUP BY prompt_id) c
               ON c.prompt_id = p.prompt_id
        ORDER BY 2
        """)


# --- hints --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hint:
    """Every ready item of the annotator's before `ord` was judged (ranked or skipped) by
    them, as of event `seq` (the audit head when it was noted)."""

    ord: int
    seq: int


class WorkHints:
    """Where each annotator's unjudged items begin, remembered between calls (thread-safe).

    Forgetting them is always safe: the next item is then searched from the start.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hints: dict[str, Hint] = {}

    def get(self, annotator: str) -> Hint | None:
        with self._lock:
            return self._hints.get(annotator)

    def note(self, annotator: str, hint: Hint) -> None:
        with self._lock:
            known = self._hints.get(annotator)
            if known is None or known.seq <= hint.seq:
                self._hints[annotator] = hint
            if len(self._hints) > 10_000:  # bounded: annotators are people
                self._hints.clear()


# --- reading --------------------------------------------------------------------------------------

# An item is the annotator's while assignments are active (the rule of the queue since
# migration 003): assigned to them and not released, or a gold item. `w` is work_order.
_MINE_SQL = ("(EXISTS (SELECT 1 FROM assignments a WHERE a.prompt_id = w.prompt_id "
             "AND a.annotator = $annotator AND a.released_at IS NULL) "
             "OR EXISTS (SELECT 1 FROM gold_items g WHERE g.prompt_id = w.prompt_id))")
# Items near the hint checked one by one (index lookups) before the search turns to one query
# over the rest of the queue.
ITEMS_CHECKED_ONE_BY_ONE = 8


def item_rows(cur: duckdb.DuckDBPyConnection, prompt_id: str, columns: str) -> list[tuple]:
    """Every judgment row of one item (a few: one chain per annotator), by the
    judgments_by_prompt index: an equality on prompt_id alone is what DuckDB looks up by index
    (a list of items, or a second condition, makes it scan)."""
    return cur.execute(f"SELECT {columns} FROM judgments WHERE prompt_id = ?",
                       [prompt_id]).fetchall()


_ROW_HEAD = "judgment_id, annotator, kind, supersedes, created_at"


def current_row(cur: duckdb.DuckDBPyConnection, annotator: str, prompt_id: str,
                columns: str = _ROW_HEAD) -> tuple | None:
    """The annotator's current judgment of the item (the view's rule: not superseded by any
    row; the latest when several are), from the item's own rows: a judgment is only ever
    superseded by a later one of the same annotator on the same item. `columns` must start
    with judgment_id, annotator, kind, supersedes, created_at."""
    rows = item_rows(cur, prompt_id, columns)
    superseded = {row[3] for row in rows if row[3] is not None}
    mine = [row for row in rows if row[1] == annotator and row[0] not in superseded]
    return max(mine, key=lambda row: (row[4], row[0])) if mine else None


def _judged_by(cur: duckdb.DuckDBPyConnection, annotator: str, prompt_id: str) -> bool:
    """Whether the annotator has judged the item (ranked, skipped or anything else): any row of
    theirs will do, since judgments are never deleted and a chain always ends in a current one."""
    return any(row[0] == annotator for row in item_rows(cur, prompt_id, "annotator"))


def _is_mine(cur: duckdb.DuckDBPyConnection, annotator: str, prompt_id: str) -> bool:
    """While assignments are active: assigned to the annotator (not released) or a gold item."""
    row = cur.execute(
        "SELECT EXISTS (SELECT 1 FROM assignments WHERE annotator = ? AND prompt_id = ? "
        "AND released_at IS NULL) OR EXISTS (SELECT 1 FROM gold_items WHERE prompt_id = ?)",
        [annotator, prompt_id, prompt_id]).fetchone()
    return bool(row and row[0])


def next_prompt_id(cur: duckdb.DuckDBPyConnection, hints: WorkHints, annotator: str,
                   exclude: Iterable[str] = (), head: int | None = None) -> str | None:
    """The annotator's next item: the first ready item of theirs in import order they have not
    judged, else the first they skipped; never one of `exclude`. `head` is the audit chain's
    newest event as of now, when the caller knows it (else it is read)."""
    excluded = sorted(set(exclude))
    hint = hints.get(annotator)
    row = cur.execute(
        f"""
        SELECT (SELECT max(seq) FROM events),
               EXISTS (SELECT 1 FROM assignments WHERE released_at IS NULL),
               EXISTS (SELECT 1 FROM events WHERE seq > $since AND {_NOT_NEUTRAL})
        """, {"since": hint.seq if hint is not None else 0}).fetchone()
    head = int(row[0] or 0) if head is None else head
    assigning = bool(row[1])
    # the hint holds while no write since it was noted could have put an item back
    start = hint.ord if hint is not None and not row[2] else 1
    found = None
    if start > 1:  # where the last answer was: usually the next item is one or two places on
        found = _near(cur, annotator, start, excluded, assigning)
    if found is None:
        found = _search(cur, annotator, start, excluded, assigning)
    first_unjudged, prompt_id = found
    hints.note(annotator, Hint(first_unjudged, head))
    return prompt_id if prompt_id is not None else _first_skipped(cur, annotator, excluded,
                                                                  assigning)


def _near(cur: duckdb.DuckDBPyConnection, annotator: str, start: int, excluded: list[str],
          assigning: bool) -> tuple[int, str | None] | None:
    """(the first unjudged place, the first unjudged item not excluded) among the few ready
    items from `start` on, checked one by one by index; None when they do not settle it."""
    if assigning:  # the next few of their assigned (and gold) items: their queue, not all
        rows = cur.execute(
            """
            SELECT w.ord, w.prompt_id FROM work_order w
            WHERE w.ord >= $start AND w.ready AND w.prompt_id IN (
                SELECT prompt_id FROM assignments WHERE annotator = $annotator
                AND released_at IS NULL UNION SELECT prompt_id FROM gold_items)
            ORDER BY w.ord LIMIT $count
            """, {"start": start, "annotator": annotator,
                  "count": ITEMS_CHECKED_ONE_BY_ONE}).fetchall()
    else:
        rows = cur.execute("SELECT ord, prompt_id FROM work_order WHERE ord >= ? AND ord < ? "
                           "AND ready ORDER BY ord",
                           [start, start + ITEMS_CHECKED_ONE_BY_ONE]).fetchall()
    first_unjudged: int | None = None
    for place, prompt_id in rows:
        if _judged_by(cur, annotator, prompt_id):
            continue
        if first_unjudged is None:
            first_unjudged = int(place)
        if prompt_id not in excluded:
            return first_unjudged, str(prompt_id)
    return None


def _search(cur: duckdb.DuckDBPyConnection, annotator: str, start: int, excluded: list[str],
            assigning: bool) -> tuple[int, str | None]:
    """(the first unjudged place, the first unjudged item not excluded) from `start` on, in one
    query (it reads the annotator's judgments and, while assigning, their assignments): after a
    write that may have put items back, or when the items near the hint are judged."""
    mine = f"AND {_MINE_SQL}" if assigning else ""
    rows = cur.execute(
        f"""
        SELECT w.ord, w.prompt_id FROM work_order w
        WHERE w.ord >= $start AND w.ready {mine}
          AND NOT EXISTS (SELECT 1 FROM judgments j WHERE j.annotator = $annotator
                          AND j.prompt_id = w.prompt_id)
        ORDER BY w.ord LIMIT $enough
        """, {"start": start, "annotator": annotator, "enough": len(excluded) + 1}).fetchall()
    if not rows:
        last = cur.execute("SELECT count(*) FROM work_order").fetchone()
        return (int(last[0]) + 1 if last else 1), None
    chosen = next((prompt_id for _place, prompt_id in rows if prompt_id not in excluded), None)
    return int(rows[0][0]), chosen


def _first_skipped(cur: duckdb.DuckDBPyConnection, annotator: str, excluded: list[str],
                   assigning: bool) -> str | None:
    """The first ready item of theirs in import order whose current judgment by the annotator
    is a skip (from the annotator's own rows)."""
    mine = f"AND {_MINE_SQL}" if assigning else ""
    row = cur.execute(
        f"""
        SELECT w.prompt_id FROM work_order w
        WHERE w.ready AND NOT list_contains($excluded, w.prompt_id) {mine}
          AND w.prompt_id IN (SELECT prompt_id FROM ({_CURRENT_OF_ANNOTATOR})
                              WHERE kind = 'skipped')
        ORDER BY w.ord LIMIT 1
        """, {"annotator": annotator, "excluded": excluded}).fetchone()
    return row[0] if row else None


# The annotator's current judgments (the view's rule, over their own rows only).
_CURRENT_OF_ANNOTATOR = """
    SELECT prompt_id, kind FROM judgments
    WHERE annotator = $annotator AND judgment_id NOT IN (
        SELECT supersedes FROM judgments WHERE annotator = $annotator AND supersedes IS NOT NULL)
    QUALIFY row_number() OVER (PARTITION BY prompt_id ORDER BY created_at DESC,
                                                              judgment_id DESC) = 1
"""


def judged_counts(cur: duckdb.DuckDBPyConnection, annotator: str) -> tuple[int, int]:
    """(judged, skipped): the annotator's current judgments that are not skips (a ranking, or
    "no difference" / "cannot judge") and those that are, from their own rows."""
    row = cur.execute(
        """
        SELECT count(*) FILTER (WHERE kind <> 'skipped'), count(*) FILTER (WHERE kind = 'skipped')
        FROM judgments WHERE annotator = $1 AND judgment_id NOT IN (
            SELECT supersedes FROM judgments WHERE annotator = $1 AND supersedes IS NOT NULL)
        """, [annotator]).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def assigning(cur: duckdb.DuckDBPyConnection) -> bool:
    """Whether any assignment is active (then annotators work on theirs and gold items only)."""
    return cur.execute("SELECT 1 FROM assignments WHERE released_at IS NULL LIMIT 1"
                       ).fetchone() is not None


def queue_size(cur: duckdb.DuckDBPyConnection, annotator: str) -> int:
    """The annotator's ready items: all ready items, or while assignments are active their
    assigned ones and the gold items."""
    if not assigning(cur):
        row = cur.execute("SELECT count(*) FROM work_order WHERE ready").fetchone()
    else:
        row = cur.execute(
            """
            SELECT count(*) FROM work_order w WHERE w.ready AND w.prompt_id IN (
                SELECT prompt_id FROM assignments WHERE annotator = ? AND released_at IS NULL
                UNION SELECT prompt_id FROM gold_items)
            """, [annotator]).fetchone()
    return int(row[0]) if row else 0


def is_assigned(cur: duckdb.DuckDBPyConnection, annotator: str, prompt_id: str) -> bool:
    """Whether the item exists and the annotator may work on it (any item while nothing is
    assigned)."""
    if cur.execute("SELECT 1 FROM prompts WHERE prompt_id = ?", [prompt_id]).fetchone() is None:
        return False
    return not assigning(cur) or _is_mine(cur, annotator, prompt_id)
