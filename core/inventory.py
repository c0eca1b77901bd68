"""Looking inside a project and undoing mistakes: ids by prefix, the team, removals.

The faces call these; the store does the reading and deleting (core/store/inventory.py), and
every removal is one audit event that names what went.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from core.config import Config
from core.errors import BadInputError
from core.models import AnnotatorSummary, ImportBatch, Item, Progress, Removal, StoreStatus
from core.store import Store

_SHOWN_MATCHES = 5


def resolve_id(store: Store, kind: str, text: str) -> str:
    """The full prompt or candidate id (`kind`) that `text` is, or is the only one to start with.

    BadInputError when none matches, or several do (listing a few, so the user can type more)."""
    found = store.ids_with_prefix(kind, text, _SHOWN_MATCHES + 1)
    if found and found[0] == text:
        return text
    if len(found) == 1:
        return found[0]
    noun = "item" if kind == "prompt" else kind
    if not found:
        hint = ("`prefer items` lists the items" if kind == "prompt"
                else "`prefer items show ITEM` lists an item's candidates with their ids")
        raise BadInputError(f"no {noun} {text}: no {noun} id starts with it", hint=hint)
    shown = ", ".join(found[:_SHOWN_MATCHES]) + (" …" if len(found) > _SHOWN_MATCHES else "")
    raise BadInputError(f"'{text}' is the start of several {noun} ids: {shown}",
                        hint="type more of the id")


def resolve_batch(store: Store, text: str) -> ImportBatch:
    """The import batch `text` names: its id (i12, or 12), or its file's name or path when only
    one batch came from that file."""
    batches = store.import_batches()
    number = re.fullmatch(r"i?(\d+)", text.strip())
    if number:
        found = [b for b in batches if b.seq == int(number.group(1))]
    else:
        found = [b for b in batches if b.file == text or Path(b.file).name == text
                 or b.file == str(Path(text).resolve())]
    if len(found) == 1:
        return found[0]
    if not found:
        raise BadInputError(f"no import batch '{text}'", hint="`prefer imports` lists them")
    raise BadInputError(f"{len(found)} import batches came from '{text}': "
                        f"{', '.join(b.batch_id for b in found)}",
                        hint="name one by its id (`prefer imports` lists them)")


# --- the team ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class TeamMember:
    """An annotator as `prefer annotators` and `prefer status` show them."""

    annotator: str
    role: str | None  # from [annotators] in prefer.toml; None: not listed there
    assigned: int
    judged: int
    skipped: int
    pairwise: int
    flags_open: int
    last_active: datetime | None


def team(store: Store, config: Config) -> list[TeamMember]:
    """Everyone in [annotators] (at zero when they have done nothing yet) and everyone the store
    knows from an assignment, a judgment, a label or a flag; by name."""
    known = {s.annotator: s for s in store.annotator_summaries()}
    names = sorted(set(known) | set(config.annotators))
    members = []
    for name in names:
        s = known.get(name) or AnnotatorSummary(name, 0, 0, 0, 0, 0, None)
        members.append(TeamMember(name, config.annotators.get(name), s.assigned, s.judged,
                                  s.skipped, s.pairwise, s.flags_open, s.last_active))
    return members


def remove_annotator(store: Store, config_path: Path, config: Config, name: str, *,
                     drop_judgments: bool, actor: str) -> Removal:
    """Remove an annotator: their open assignments freed (with `drop_judgments` their work
    deleted) in one audit event, and their line taken out of [annotators] in prefer.toml."""
    known = {m.annotator for m in team(store, config)}
    if name not in known:
        import difflib

        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        raise BadInputError(f"unknown annotator '{name}'"
                            + (f" (did you mean '{close[0]}'?)" if close else ""),
                            hint="`prefer annotators` lists them")
    removal = store.remove_annotator(name, drop_judgments, actor)
    if name in config.annotators:
        drop_annotator_line(config_path, name)
    return removal


def drop_annotator_line(config_path: Path, name: str) -> None:
    """Delete `name = "role"` from the [annotators] table of prefer.toml, leaving every other
    line (and comment) as it was."""
    lines = config_path.read_text(encoding="utf-8").splitlines(keepends=True)
    table = None
    key = re.compile(r'\s*(?:"' + re.escape(name) + r'"|' + re.escape(name) + r")\s*=")
    kept = []
    for line in lines:
        header = re.match(r"\s*\[([^\]]+)\]", line)
        if header:
            table = header.group(1).strip()
        if table == "annotators" and key.match(line):
            continue
        kept.append(line)
    config_path.write_text("".join(kept), encoding="utf-8")


def candidate_of(item: Item, text: str, option: str) -> str:
    """The candidate of `item` whose id is `text` or starts with it; BadInputError naming
    `option` (--best) and listing the item's candidates (id and the start of the text)."""
    ids = [c.candidate_id for c in item.candidates]
    found = [i for i in ids if i == text] or [i for i in ids if i.startswith(text)]
    if len(found) == 1:
        return found[0]
    listing = "; ".join(f"{c.candidate_id} “{' '.join(c.text.split())[:40]}…”"
                        for c in item.candidates)
    problem = "matches several candidates" if found else "is not a candidate"
    raise BadInputError(f"{option} {text}: {problem} of {item.prompt.prompt_id}",
                        hint=f"its candidates: {listing} (`prefer items show "
                             f"{item.prompt.prompt_id}`)")


@dataclass(frozen=True)
class TeamProgress:
    """One line of the team in `prefer status`: who, their role, their queue and their work."""

    member: TeamMember
    progress: Progress


def team_progress(store: Store, config: Config, status: StoreStatus) -> list[TeamProgress]:
    """Everyone in [annotators] or known to the store, each with their queue's progress (those
    who did nothing yet at zero)."""
    known = {p.annotator: p for p in status.annotators}
    assigning = status.assignments > 0
    # Someone the store has never seen has no assignment: while assignments are in force their
    # queue is empty (calibration items aside), else it is every item ready to annotate. Worked
    # out here rather than asked of store.progress, which a reviewer may call only for themself.
    return [TeamProgress(m, known.get(m.annotator) or Progress(
                m.annotator, 0, 0, 0 if assigning else status.prompts_ready, assigning, 0))
            for m in team(store, config)]
