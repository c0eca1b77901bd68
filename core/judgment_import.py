"""Judgments made elsewhere: `prefer import-judgments FILE` brings labels from another tool or an
earlier campaign into the store, so agreement and adjudication work on them too.

A file is all or nothing, like `prefer import`: the first bad row stops the import with
`FILE:LINE: field 'x': problem` (exit code 2) and nothing from the file is stored. The rules are
in core/store/judgment_import.py and docs/formats.md.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import ImportRowError
from core.models import JudgmentImportCounts, RowProblem
from core.sources import (
    detect_kind,
    locate_bad_bytes,
    parse_field_map,
    require_regular_file,
    upload,
)
from core.store.api import Store
from core.store.imports import ReaderFailed
from core.store.judgment_import import KNOWN_FIELDS


def parse_map(text: str | dict[str, str] | None,
              known_fields: tuple[str, ...] = KNOWN_FIELDS) -> dict[str, str]:
    """`old=new,old2=new2` as {old: new} (core.sources.parse_field_map: either order; the
    `known_fields` are the fields the import reads, which a mapping may target)."""
    return parse_field_map(text, known_fields, example="rater=annotator,chosen=best")


def import_judgments(store: Store, path: Path, *, actor: str,
                     mapping: str | dict[str, str] | None = None, kind: str | None = None,
                     dry_run: bool = False) -> JudgmentImportCounts:
    """Validate `path` and store its labels; raise ImportRowError on the first bad row.

    The file is read here and sent to the store (see core.sources.upload).
    """
    fields = parse_map(mapping)
    require_regular_file(path)
    kind = detect_kind(path, kind)
    shown = str(path)
    try:
        outcome = store.import_judgments(upload(store, path, actor), str(path.resolve()), kind,
                                         mapping=fields, dry_run=dry_run, actor=actor)
    except ReaderFailed as exc:
        if kind != "parquet":
            located = locate_bad_bytes(path)
            if located:
                raise ImportRowError(shown, located[0], None, located[1]) from exc
        first_line = str(exc).splitlines()[0] if str(exc) else "the reader refused it"
        raise ImportRowError(shown, exc.line or 1, None, f"unreadable {kind}: {first_line}") from exc
    if isinstance(outcome, RowProblem):
        raise ImportRowError(shown, outcome.line, outcome.field, outcome.problem)
    return outcome
