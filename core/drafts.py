"""Drafts: an annotator's unsaved work, kept on their own machine so nothing typed is lost.

A draft is written when an item is left with unsaved picks or text (skip, back, quit, a dropped
SSH link) and read back when the annotation screen starts; the item shows it again when opened.
Drafts live beside the user's other state ($XDG_STATE_HOME/prefer/drafts), never in the store:
the store holds only decisions, and a hang-up must be able to write without the server.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

from core.annotation import Draft


def default_drafts_dir(project_root: Path) -> Path:
    """$XDG_STATE_HOME/prefer/drafts/<project>, one folder per project path."""
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    digest = hashlib.sha256(str(project_root.resolve()).encode()).hexdigest()[:16]
    return state / "prefer" / "drafts" / f"{project_root.name}-{digest}"


def drafts_file(folder: Path, annotator: str) -> Path:
    return folder / f"{annotator}.json"


def load_drafts(folder: Path, annotator: str) -> dict[str, Draft]:
    """The annotator's drafts by prompt id (none when the file is missing or unreadable)."""
    try:
        raw = json.loads(drafts_file(folder, annotator).read_text(encoding="utf-8"))
        return {d["prompt_id"]: Draft(**{**d, "dimensions": tuple(d.get("dimensions", ()))})
                for d in raw.get("drafts", [])}
    except (OSError, ValueError, TypeError, KeyError):
        return {}


def save_drafts(folder: Path, annotator: str, drafts: dict[str, Draft]) -> Path:
    """Write the drafts atomically (private to the user); an empty set removes the file."""
    path = drafts_file(folder, annotator)
    if not drafts:
        path.unlink(missing_ok=True)
        return path
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"drafts": [asdict(d) for d in drafts.values()]}, out, ensure_ascii=False)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    return path
