"""The audit chain: how an event row is hashed, how a chain is verified, and the heads kept of it.

A head is the newest event's number and hash. prefer notes one in the head file beside the store
(`prefer.audit-heads`) after every write, and writes one into every export manifest; a head kept
where the store's owner cannot rewrite it (another machine, an append-only file) is an anchor:
the chain must still contain it, so deleting or rewriting events is caught even when every
later hash was recomputed. See docs/audit.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from core.errors import BadInputError
from core.models import (
    AuditAnchor,
    AuditHead,
    AuditProblem,
    AuditReport,
    ChainReport,
    Event,
)

GENESIS_HASH = "0" * 64
EMPTY_DIGEST = hashlib.sha256(b"").hexdigest()
ADOPT_ACTION = "audit.adopt"
UNNOTED_ACTION = "audit.unnoted"
HEADS_SUFFIX = ".audit-heads"
# Rows named in a problem when an event's rows no longer match (more are only counted).
_NAMED_ROWS = 5


def canonical_details(details: dict[str, Any]) -> str:
    """Details as the exact JSON text that is stored and hashed (sorted keys, no spaces)."""
    return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def event_hash(seq: int, at: datetime, actor: str, action: str, subject: str | None,
               details: str, prev_hash: str) -> str:
    """sha256 over every column of an event row, including the previous row's hash."""
    payload = json.dumps([seq, at.isoformat(), actor, action, subject, details, prev_hash],
                         ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def verify_chain(events: Iterable[Event]) -> ChainReport:
    """Check every row's hash and its link to the row before; report the first broken row."""
    expected_prev = GENESIS_HASH
    checked = 0
    expected_seq = 1
    for event in events:
        if event.seq != expected_seq:
            return ChainReport(checked, event.seq,
                               f"expected event #{expected_seq} next, found #{event.seq} "
                               "(a row was deleted or inserted)")
        if event.prev_hash != expected_prev:
            return ChainReport(checked, event.seq,
                               "prev_hash does not match the row before (the row before was "
                               "changed, or this one was)")
        actual = event_hash(event.seq, event.at, event.actor, event.action, event.subject,
                            event.details, event.prev_hash)
        if actual != event.row_hash:
            return ChainReport(checked, event.seq,
                               "contents do not match the row's hash (the row was edited)")
        expected_prev = event.row_hash
        expected_seq += 1
        checked += 1
    return ChainReport(checked)


# --- heads -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeadLine:
    """One line of a head file: the head after a write, and how many events that write appended
    (so the lines of prefer's own head file cover the chain without a gap)."""

    seq: int
    hash: str
    line: int
    events: int | None = None


def heads_path(database_path: str | Path) -> Path | None:
    """The head file beside a store file (prefer.duckdb -> prefer.audit-heads); None in memory."""
    text = str(database_path)
    if text == ":memory:" or text.startswith(":memory:"):
        return None
    path = Path(text)
    return path.with_name(path.stem + HEADS_SUFFIX)


def head_line(seq: int, row_hash: str, at: datetime, events: int | None = None) -> str:
    """A head file line: `SEQ HASH TIME` and, in prefer's own file, the events the write appended."""
    text = f"{seq} {row_hash} {at.strftime('%Y-%m-%dT%H:%M:%S')}Z"
    return (text if events is None else f"{text} {events}") + "\n"


def parse_head_lines(text: str) -> tuple[list[HeadLine], list[int]]:
    """The head lines of a head file, and the numbers of the lines that are not one.

    Blank lines and lines starting with '#' are skipped.
    """
    found: list[HeadLine] = []
    bad: list[int] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split()
        if not fields or fields[0].startswith("#"):
            continue
        try:
            seq = int(fields[0])
            row_hash = fields[1].lower()
            events = int(fields[3]) if len(fields) > 3 else None
        except (ValueError, IndexError):
            bad.append(number)
            continue
        if seq < 1 or len(row_hash) != 64 or any(c not in "0123456789abcdef" for c in row_hash):
            bad.append(number)
            continue
        found.append(HeadLine(seq, row_hash, number, events))
    return found, bad


def read_anchors(path: Path) -> list[AuditAnchor]:
    """The heads kept in `path`: an export's manifest.json (its audit_head) or a head file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read the anchor: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{path}: not a manifest or a head file (not UTF-8 text)") from exc
    if text.lstrip().startswith("{"):
        try:
            manifest = json.loads(text)
            kept = manifest["audit_head"]
            return [AuditAnchor(int(kept["seq"]), str(kept["hash"]).lower(), path.name)]
        except (ValueError, KeyError, TypeError) as exc:
            raise BadInputError(f"{path}: a JSON file without an audit_head",
                                hint="pass an export's manifest.json (exports since prefer "
                                     "noted heads) or a head file") from exc
    lines, bad = parse_head_lines(text)
    if bad:
        raise BadInputError(f"{path}:{bad[0]}: not a head line (expected: SEQ SHA256 [TIME])")
    if not lines:
        raise BadInputError(f"{path}: holds no head", hint="a head file has lines "
                            "`SEQ SHA256 TIME`, as `prefer audit --head` prints")
    return [AuditAnchor(h.seq, h.hash, f"{path.name}:{h.line}") for h in lines]


# --- the report ----------------------------------------------------------------------------------


def _about(event: Event) -> str:
    return f"#{event.seq} {event.action} by {event.actor}" + (
        f" on {event.subject}" if event.subject else "")


def _rows(count: int, table: str) -> str:
    return f"{count} {table} row" + ("" if count == 1 else "s")


def _verb(count: int, singular: str, plural: str) -> str:
    return singular if count == 1 else plural


def _named(keys: Sequence[str], total: int) -> str:
    if not keys:
        return ""
    more = f", {total - len(keys)} more" if total > len(keys) else ""
    return f" ({', '.join(keys)}{more})"


def _claim(value: Any) -> tuple[int, str] | None:
    try:
        return int(value["count"]), str(value["sha256"])
    except (KeyError, TypeError, ValueError):
        return None


def _seqs(seqs: Sequence[int]) -> str:
    shown = ", ".join(f"#{s}" for s in seqs[:_NAMED_ROWS])
    return shown + (f" and {len(seqs) - _NAMED_ROWS} more" if len(seqs) > _NAMED_ROWS else "")


class _Found:
    """Problems as they are found, the first AuditReport.MAX_PROBLEMS kept."""

    def __init__(self) -> None:
        self.problems: list[AuditProblem] = []
        self.more = 0

    def add(self, kind: str, message: str, seq: int | None = None,
            table: str | None = None) -> None:
        if len(self.problems) < AuditReport.MAX_PROBLEMS:
            self.problems.append(AuditProblem(kind, message, seq, table))
        else:
            self.more += 1


def build_report(events: Sequence[Event], digests: dict[str, list[tuple[int | None, int, str]]],
                 row_keys: Callable[[str, Sequence[int | None]], list[str]],
                 own_heads: tuple[str, list[HeadLine], list[int]] | None,
                 anchors: Sequence[AuditAnchor]) -> AuditReport:
    """Everything `prefer audit --verify` checks, from what the store read.

    `digests`: per covered table, (event_seq, rows, digest) as the rows are now; `row_keys`
    names rows of a table by event (for the report); `own_heads`: the store's head file (its
    name, lines and bad line numbers), None for a store without one; `anchors`: heads kept
    elsewhere.
    """
    found = _Found()
    chain = verify_chain(events)
    if not chain.ok:
        found.add("chain", f"event #{chain.broken_seq}: {chain.reason}", chain.broken_seq)
    by_seq = {e.seq: e for e in events}
    chain_end = events[-1].seq if events else 0
    expected, notes = _claims(events, found)
    rows = _check_rows(digests, expected, by_seq, row_keys, found)
    heads = 0
    if own_heads is not None:
        heads += _check_own_heads(*own_heads, by_seq, chain_end, found)
    heads += _check_anchors(anchors, by_seq, chain_end, found)
    last = events[-1] if events else None
    return AuditReport(
        events=chain.checked, rows=rows, heads=heads,
        head=AuditHead(last.seq, last.row_hash, last.at) if last else None,
        problems=tuple(found.problems), more_problems=found.more, notes=tuple(notes))


def _claims(events: Sequence[Event], found: _Found
            ) -> tuple[dict[tuple[int, str], tuple[int, str]], list[str]]:
    """What the chain says each event's rows are ((seq, table) -> (count, digest)), and notes."""
    expected: dict[tuple[int, str], tuple[int, str]] = {}
    notes: list[str] = []
    for event in events:
        try:
            details = json.loads(event.details)
        except ValueError:
            continue  # the chain check reports an edited row
        if not isinstance(details, dict):
            continue
        for table, value in (details.get("wrote") or {}).items():
            claim = _claim(value)
            if claim is None:
                found.add("chain", f"event {_about(event)}: its row claim for {table} is "
                          "malformed", event.seq, table)
            else:
                expected[(event.seq, table)] = claim
        for seq_text, tables in (details.get("restated") or {}).items():
            for table, value in tables.items():
                claim = _claim(value)
                if claim is None or not str(seq_text).isdigit():
                    found.add("chain", f"event {_about(event)}: a restated claim is malformed",
                              event.seq, table)
                    continue
                expected[(int(seq_text), table)] = claim
                if value.get("prior_ok") is False:
                    found.add("rewrite", f"event {_about(event)} found the {table} rows of "
                              f"event #{seq_text} already changed when it rewrote some of them",
                              int(seq_text), table)
        for table, count in (details.get("took_unowned") or {}).items():
            found.add("rewrite", f"event {_about(event)} rewrote {_rows(count, table)} that no "
                      "event had written", event.seq, table)
        if event.action == ADOPT_ACTION:
            adopted = sum(c for c, _ in (_claim(v) or (0, "") for v in
                                          (details.get("wrote") or {}).values()))
            notes.append(f"{adopted} rows stored before prefer vouched for rows were adopted by "
                         f"event #{event.seq} at {event.at:%Y-%m-%d %H:%M} UTC: they are vouched "
                         "for from then on, not before.")
        if event.action == UNNOTED_ACTION:
            notes.append(f"events #{details.get('from')}-#{details.get('to')} were not in the "
                         f"head file when the store was opened at {event.at:%Y-%m-%d %H:%M} UTC "
                         f"(event #{event.seq} noted them): prefer stopped between a commit and "
                         "its note, the head file was lost, or they were written behind "
                         "prefer's back.")
    return expected, notes


def _check_rows(digests: dict[str, list[tuple[int | None, int, str]]],
                expected: dict[tuple[int, str], tuple[int, str]], by_seq: dict[int, Event],
                row_keys: Callable[[str, Sequence[int | None]], list[str]],
                found: _Found) -> int:
    """Compare every event's rows with its claims; return the rows checked."""
    total = 0
    unclaimed = dict(expected)
    for table, groups in digests.items():
        without: list[tuple[int | None, int]] = []
        for seq, count, digest in sorted(groups, key=lambda g: (g[0] is not None, g[0] or 0)):
            total += count
            if seq is None or seq not in by_seq:
                without.append((seq, count))
                continue
            wanted = unclaimed.pop((seq, table), (0, EMPTY_DIGEST))
            if (count, digest) == wanted:
                continue
            event = by_seq[seq]
            keys = row_keys(table, [seq]) if count else []
            written = wanted[0]
            if count == written:
                what = (f"its {table} row was edited" if count == 1 else
                        f"its {count} {table} rows no longer match what it wrote (edited)")
                found.add("rows_changed", f"event {_about(event)}: {what}{_named(keys, count)}",
                          seq, table)
            elif count < written:
                found.add("rows_missing", f"event {_about(event)} wrote {_rows(written, table)}, "
                          f"{count} {_verb(count, 'remains', 'remain')}{_named(keys, count)}: "
                          "rows were deleted", seq, table)
            else:
                found.add("rows_added", f"event {_about(event)} wrote {_rows(written, table)}, "
                          f"{count} name it now{_named(keys, count)}: rows were inserted behind "
                          "prefer's back", seq, table)
        if without:
            _rows_without_event(table, without, row_keys, found)
    for (seq, table), (count, _digest) in sorted(unclaimed.items()):
        if count and seq in by_seq:
            found.add("rows_missing", f"event {_about(by_seq[seq])} wrote "
                      f"{_rows(count, table)}, none remain: rows were deleted", seq, table)
    return total


def _rows_without_event(table: str, without: list[tuple[int | None, int]],
                        row_keys: Callable[[str, Sequence[int | None]], list[str]],
                        found: _Found) -> None:
    unowned = sum(count for seq, count in without if seq is None)
    if unowned:
        found.add("rows_without_event", f"{_rows(unowned, table)} "
                  f"{_verb(unowned, 'names', 'name')} no event (written behind prefer's back)"
                  f"{_named(row_keys(table, [None]), unowned)}", None, table)
    gone = [(seq, count) for seq, count in without if seq is not None]
    if gone:
        count = sum(c for _, c in gone)
        seqs = [s for s, _ in gone]
        found.add("rows_without_event", f"{_rows(count, table)} "
                  f"{_verb(count, 'names an event', 'name events')} the chain no longer has "
                  f"({_seqs(seqs)}: deleted){_named(row_keys(table, seqs), count)}",
                  seqs[0], table)


def _check_own_heads(name: str, lines: list[HeadLine], bad: list[int], by_seq: dict[int, Event],
                     chain_end: int, found: _Found) -> int:
    """The store's own head file: every line in the chain, and together covering it."""
    if bad:
        found.add("head_file", f"{name}: line {bad[0]} is not a head line "
                  f"({len(bad)} such line{'s' if len(bad) > 1 else ''})")
    _check_heads(name, [(h.seq, h.hash, f"line {h.line}") for h in lines], by_seq, chain_end,
                 found)
    covered = 0
    for line in lines:
        if line.events is not None:
            first = line.seq - line.events + 1
            if first > covered + 1:
                found.add("head_file", f"{name}: events #{covered + 1}-#{first - 1} have no head "
                          f"line (the lines before and after line {line.line} leave them out): "
                          "written behind prefer's back, or the file was edited", covered + 1)
            elif first < covered + 1:
                found.add("head_file", f"{name}: line {line.line} overlaps the line before it "
                          "(the file was edited)", line.seq)
        covered = max(covered, line.seq)
    if chain_end > covered:
        found.add("head_file", f"{name}: events #{covered + 1}-#{chain_end} are not in it: written "
                  "behind prefer's back while the store was open", covered + 1)
    return len(lines)


def _check_heads(source: str, heads: list[tuple[int, str, str]], by_seq: dict[int, Event],
                 chain_end: int, found: _Found) -> None:
    """Every head (seq, hash, where) must still be in the chain with that hash."""
    gone = [h for h in heads if h[0] not in by_seq]
    other = [h for h in heads if h[0] in by_seq and by_seq[h[0]].row_hash != h[1]]
    if gone:
        seq, _hash, where = gone[0]
        what = ("1 kept head names an event" if len(gone) == 1
                else f"{len(gone)} kept heads name events")
        found.add("anchor", f"{source}: {what} the chain no longer has (first: {where}, event "
                  f"#{seq}; the chain ends at #{chain_end}): events were deleted", seq)
    if other:
        seq, kept, where = other[0]
        what = "1 kept head differs" if len(other) == 1 else f"{len(other)} kept heads differ"
        found.add("anchor", f"{source}: {what} from the chain (first: {where}, event #{seq} was "
                  f"{kept[:12]}…, is {by_seq[seq].row_hash[:12]}…): the chain was rewritten", seq)


def _check_anchors(anchors: Sequence[AuditAnchor], by_seq: dict[int, Event], chain_end: int,
                   found: _Found) -> int:
    by_file: dict[str, list[tuple[int, str, str]]] = {}
    for anchor in anchors:
        file, _, line = anchor.source.rpartition(":")
        if not (file and line.isdigit()):
            file, line = anchor.source, ""
        by_file.setdefault(file, []).append(
            (anchor.seq, anchor.hash, f"line {line}" if line else "its audit_head"))
    for file, heads in by_file.items():
        _check_heads(file, heads, by_seq, chain_end, found)
    return len(anchors)
