"""Importers: prompts (optionally with candidate responses) from JSONL, CSV or Parquet, and the
preference signal an organisation already has (`--kind feedback|abtest|corrections|ratings|dpo`,
one module per kind in core/store/sources/, documented in docs/sources.md).

Files are read by DuckDB's own readers, so a million-row file streams instead of filling memory.
A file is all or nothing: the first bad row stops the import and nothing from it is stored.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from core.errors import BadInputError, ImportRowError
from core.models import ImportCounts, RowProblem, SourceFilter, SourceImportCounts, SourceOptions
from core.progress import ProgressReport, Tracker, phase, silent
from core.store.api import Store
from core.store.imports import KNOWN_FIELDS, ReaderFailed
from core.store.sources import KINDS

UPLOAD_CHUNK_BYTES = 4 * 1024 * 1024

_KINDS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv",
          ".parquet": "parquet", ".pq": "parquet"}


def detect_kind(path: Path, explicit: str | None = None) -> str:
    """jsonl, csv or parquet, from `explicit` or the file's extension."""
    if explicit:
        if explicit not in ("jsonl", "csv", "parquet"):
            raise BadInputError(f"unknown format '{explicit}'", hint="use jsonl, csv or parquet")
        return explicit
    kind = _KINDS.get(path.suffix.lower())
    if kind is None:
        raise BadInputError(
            f"{path}: cannot tell the format from the extension '{path.suffix}'",
            hint="name it .jsonl, .csv or .parquet, or pass --format",
        )
    return kind


def require_regular_file(path: Path) -> None:
    """Raise BadInputError unless `path` names a regular file this process can read.

    Only the file's metadata is looked at: a FIFO, a folder or a device is refused without
    being opened (opening a FIFO blocks until someone writes to it).
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise BadInputError(f"{path}: no such file") from None
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read it ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise BadInputError(f"{path}: not a regular file",
                            hint="give a .jsonl, .csv or .parquet file (not a folder, a pipe "
                                 "or a device)")
    if not os.access(path, os.R_OK):
        raise BadInputError(f"{path}: cannot read it (permission denied)")


def locate_bad_bytes(path: Path) -> tuple[int, str] | None:
    """Find the first line that is not UTF-8 (DuckDB's message does not always give one)."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return number, f"invalid UTF-8 (byte 0x{line[exc.start]:02x} at column " \
                               f"{exc.start + 1})"
    return None


def parse_field_map(text: str | dict[str, str] | None, known: tuple[str, ...] = KNOWN_FIELDS,
                    example: str = "responses=candidates") -> dict[str, str]:
    """`old=new,old2=new2` (the file's name = prefer's) as {old: new}; BadInputError on a
    malformed, unknown or duplicate piece. A piece whose left side alone names one of prefer's
    fields is read the other way round (`prompt=question`: prefer's prompt is the file's
    question), so both spellings teams use work; when both sides are prefer's, old=new holds."""
    if text is None or isinstance(text, dict):
        mapping = dict(text or {})
    else:
        mapping = {}
        for piece in (p.strip() for p in text.split(",")):
            if not piece:
                continue
            old, sep, new = (part.strip() for part in piece.partition("="))
            if not sep or not old or not new:
                raise BadInputError(f"--map: '{piece}' is not old=new", hint=f"e.g. --map {example}")
            if old in known and new not in known:
                old, new = new, old  # prefer=file
            if old in mapping:
                raise BadInputError(f"--map: '{old}' is mapped twice")
            mapping[old] = new
    targets: dict[str, str] = {}
    for old, new in mapping.items():
        if new not in known:
            raise BadInputError(f"--map {old}={new}: '{new}' is not a field prefer reads",
                                hint=f"fields: {', '.join(known)}")
        if new in targets:
            raise BadInputError(f"--map: both '{targets[new]}' and '{old}' map to '{new}'")
        targets[new] = old
    return mapping


def upload(store: Store, path: Path, actor: str, progress: ProgressReport = silent) -> str:
    """Send `path`'s bytes to the store (read here, as the caller); the upload's id.

    The store never opens a path a caller names: under `prefer serve` that would read files
    as the service user.
    """
    upload_id = secrets.token_hex(16)
    store.upload(upload_id, b"", actor)  # an empty file is an upload too
    with path.open("rb") as handle, Tracker(progress, f"Reading {path.name}",
                                            total=path.stat().st_size, unit="bytes") as track:
        while chunk := handle.read(UPLOAD_CHUNK_BYTES):
            store.upload(upload_id, chunk, actor)
            track.advance(len(chunk))
    return upload_id


def import_file(store: Store, path: Path, *, actor: str,
                kind: str | None = None, dry_run: bool = False,
                mapping: str | dict[str, str] | None = None,
                progress: ProgressReport = silent) -> ImportCounts:
    """Validate `path` and store its prompts and candidates; raise ImportRowError on a bad row."""
    require_regular_file(path)
    kind = detect_kind(path, kind)
    fields = parse_field_map(mapping)
    shown = str(path)
    try:
        uploaded = upload(store, path, actor, progress)
        with phase(progress, "Validating" if dry_run else "Validating and storing"):
            outcome = store.import_file(uploaded, str(path.resolve()), kind, dry_run=dry_run,
                                        actor=actor, mapping=fields or None)
    except ReaderFailed as exc:
        if kind != "parquet":
            located = locate_bad_bytes(path)
            if located:
                raise ImportRowError(shown, located[0], None, located[1]) from exc
        line = exc.line or 1
        first_line = str(exc).splitlines()[0]
        raise ImportRowError(shown, line, None, f"unreadable {kind}: {first_line}") from exc
    if isinstance(outcome, RowProblem):
        raise ImportRowError(shown, outcome.line, outcome.field, outcome.problem)
    return outcome


IMPORT_KINDS = ("prompts", *KINDS)


def import_source(store: Store, path: Path, *, source_kind: str, actor: str,
                  file_format: str | None = None, mapping: str | dict[str, str] | None = None,
                  options: SourceOptions | None = None,
                  dry_run: bool = False) -> SourceImportCounts:
    """Validate `path` as a source of kind `source_kind` and store its prompts, responses and
    the preferences they imply; raise ImportRowError on the first bad row (nothing stored)."""
    from core.judgment_import import parse_map  # judgment_import imports this module

    kind = KINDS.get(source_kind)
    if kind is None:
        raise BadInputError(f"--kind {source_kind}: unknown import kind",
                            hint=f"one of: {', '.join(IMPORT_KINDS)}")
    fields = parse_map(mapping, kind.fields)
    require_regular_file(path)
    file_format = detect_kind(path, file_format)
    shown = str(path)
    try:
        outcome = store.import_source(upload(store, path, actor), str(path.resolve()),
                                      file_format, source_kind, mapping=fields,
                                      options=options or SourceOptions(), dry_run=dry_run,
                                      actor=actor)
    except ReaderFailed as exc:
        if file_format != "parquet":
            located = locate_bad_bytes(path)
            if located:
                raise ImportRowError(shown, located[0], None, located[1]) from exc
        first_line = str(exc).splitlines()[0] if str(exc) else "the reader refused it"
        raise ImportRowError(shown, exc.line or 1, None,
                             f"unreadable {file_format}: {first_line}") from exc
    if isinstance(outcome, RowProblem):
        raise ImportRowError(shown, outcome.line, outcome.field, outcome.problem)
    return outcome


DECIDERS = ("experts", *KINDS)  # who may decide an item: people, or a trusted source kind


def parse_source_filter(text: str | None) -> SourceFilter:
    """`--source abtest,experts` (limit to) and `--source no-abtest` (exclude) as a SourceFilter;
    BadInputError on an unknown name."""
    include: list[str] = []
    exclude: list[str] = []
    for piece in (p.strip() for p in (text or "").split(",")):
        if not piece:
            continue
        name = piece.removeprefix("no-")
        if name not in DECIDERS:
            raise BadInputError(f"--source: '{piece}' names no source",
                                hint=f"one of: {', '.join(DECIDERS)}, each optionally "
                                     "prefixed with no- to exclude it")
        (exclude if piece.startswith("no-") else include).append(name)
    both = set(include) & set(exclude)
    if both:
        raise BadInputError(f"--source: '{sorted(both)[0]}' is both included and excluded")
    return SourceFilter(tuple(include), tuple(exclude))
