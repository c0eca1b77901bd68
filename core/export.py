"""Export: TRL preference rows in a seeded train/validation split grouped by prompt, a manifest.

Files are written into a hidden folder inside the target and moved into place only when all
of them are complete, so a crash never leaves a half-written export behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from core import __version__
from core.config import Config
from core.errors import BadInputError, NothingToExportError
from core.models import ExportResult
from core.store import LocalStore
from core.store.exporting import ExportPlan
from core.store.local import utc_now

FORMATS = ("trl",)
TRAIN_FILE = "train.jsonl"
VALIDATION_FILE = "val.jsonl"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class ExportOptions:
    format: str = "trl"
    conversational: bool | None = None  # None: from prefer.toml, else automatic
    validation_fraction: float | None = None
    seed: int | None = None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_dataset(store: LocalStore, config: Config, out_dir: Path, options: ExportOptions,
                   *, actor: str, project_name: str | None = None) -> ExportResult:
    """Write train.jsonl, val.jsonl and manifest.json into `out_dir` and record an audit event."""
    if options.format not in FORMATS:
        raise BadInputError(f"unknown export format '{options.format}'",
                            hint=f"choose one of: {', '.join(FORMATS)}")
    fraction = (config.export.validation_fraction if options.validation_fraction is None
                else options.validation_fraction)
    if not 0.0 <= fraction < 1.0:
        raise BadInputError(f"--val-fraction must be from 0 up to (not including) 1, got {fraction}")
    seed = config.export.seed if options.seed is None else options.seed
    conversational = options.conversational
    if conversational is None and config.export.conversational:
        conversational = True

    out_dir = out_dir.expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInputError(f"{out_dir}: exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = out_dir / f".prefer-export-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        plan = ExportPlan(
            train_path=str(staging / TRAIN_FILE),
            validation_path=str(staging / VALIDATION_FILE),
            validation_fraction=fraction, seed=seed, conversational=conversational,
        )
        counts = store.export_pairs(plan, actor)
        total = sum(counts.pairs_by_split.values())
        if total == 0:
            raise NothingToExportError(
                "no pair to export: no item has a ranked judgment yet"
                + (f" ({counts.held_back_prompts} held back by disagreement or a flag)"
                   if counts.held_back_prompts else ""),
                hint="rank some items with `prefer annotate` first",
            )
        files = {name: sha256_file(staging / name) for name in (TRAIN_FILE, VALIDATION_FILE)}
        manifest = {
            "tool": "prefer",
            "version": __version__,
            "project": project_name or config.project.name,
            "created_at": utc_now().isoformat() + "Z",
            "format": options.format,
            "row_format": "trl-conversational" if counts.conversational else "trl-standard",
            "settings": {"validation_fraction": fraction, "seed": seed,
                         "split": "grouped by prompt", "conversational": counts.conversational},
            "files": {name: {"sha256": digest,
                             "pairs": counts.pairs_by_split["train" if name == TRAIN_FILE
                                                            else "validation"]}
                      for name, digest in files.items()},
            "counts": {
                "pairs": counts.pairs_by_split,
                "prompts": counts.prompts_by_split,
                "pairs_by_dimension": counts.pairs_by_split_and_dimension,
                "dropped_pairs": counts.dropped,
                "held_back_prompts": counts.held_back_prompts,
                "held_back_flagged": counts.held_back_flagged,
            },
        }
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, ensure_ascii=False)
                                             + "\n", encoding="utf-8")
        for name in (TRAIN_FILE, VALIDATION_FILE, MANIFEST_FILE):
            os.replace(staging / name, out_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    store.record_export(actor, str(out_dir.resolve()), {
        "format": options.format, "files": files, "pairs": counts.pairs_by_split,
        "seed": seed, "validation_fraction": fraction,
    })
    return ExportResult(
        out_dir=str(out_dir), format=options.format, conversational=counts.conversational,
        files=files, pairs_by_split=counts.pairs_by_split,
        pairs_by_split_and_dimension=counts.pairs_by_split_and_dimension,
        prompts_by_split=counts.prompts_by_split, dropped=counts.dropped,
        held_back_prompts=counts.held_back_prompts, manifest_path=str(out_dir / MANIFEST_FILE),
    )
