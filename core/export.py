"""Export: preference rows (TRL, Axolotl, LLaMA-Factory, Hugging Face Parquet, plain JSONL) in a
seeded train/validation split grouped by prompt, side files for the trainer, a manifest.

Files are written into a hidden folder inside the target and moved into place only when all
of them are complete, so a crash never leaves a half-written export behind. Every file is checked by
core/export_validate.py before it is moved: a broken rule moves nothing. The target must be a new
or empty folder unless the caller allows overwriting; a failed export removes the hidden folder,
and the target too when the export created it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core import __version__
from core import export_formats as fmt
from core.config import Config
from core.errors import BadInputError, NothingToExportError, PreferError
from core.export_validate import ExportInvalidError, validate_file
from core.models import ExportCounts, ExportRequest, ExportResult, SourceFilter
from core.pairs import build_pairs
from core.store.api import Store
from core.store.local import utc_now
from core.token_lengths import (
    LLAMAFACTORY_CUTOFF_LEN,
    TRL_MAX_LENGTH,
    load_tokenizer,
    token_lengths,
)

FORMATS = fmt.FORMATS
AXOLOTL_TYPES = fmt.AXOLOTL_TYPES
LLAMAFACTORY_STYLES = fmt.LLAMAFACTORY_STYLES
TRAIN_FILE = "train.jsonl"
VALIDATION_FILE = "val.jsonl"
MANIFEST_FILE = "manifest.json"
AXOLOTL_FILE = "axolotl.yaml"
DATASET_INFO_FILE = "dataset_info.json"
CARD_FILE = "README.md"


@dataclass(frozen=True)
class ExportOptions:
    format: str = "trl"
    conversational: bool | None = None  # None: from prefer.toml, else automatic
    validation_fraction: float | None = None
    seed: int | None = None
    axolotl_type: str = "chat_template"  # or "user_defined"
    llamafactory_style: str = "alpaca"  # or "sharegpt"
    strategy: str | None = None  # pair strategy; None: prefer.toml's pairs.strategy
    tokenizer: Path | None = None  # a tokenizer.json: token lengths in the manifest
    max_length: int = TRL_MAX_LENGTH
    cutoff_len: int = LLAMAFACTORY_CUTOFF_LEN
    sources: SourceFilter = SourceFilter()  # only (or not) pairs decided by these sources


def data_files(result: ExportResult) -> dict[str, str]:
    """The data file of each split an export wrote ({"train": name, "validation": name})."""
    names = [n for n in result.files if n.endswith((".jsonl", ".parquet"))]
    return {("validation" if ("val" in n or "test" in n) else "train"): n for n in names}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_out_dir(out_dir: Path, overwrite: bool = False) -> None:
    """Raise BadInputError unless an export may write into `out_dir`: a folder that does not
    exist yet, an empty one, or (with `overwrite`) one that holds files. Nothing is created."""
    try:
        if not (out_dir.exists() or out_dir.is_symlink()):
            return
        if not out_dir.is_dir():
            raise BadInputError(f"{out_dir}: exists and is not a folder",
                                hint="give a folder for --out")
        if not overwrite and any(os.scandir(out_dir)):
            raise BadInputError(f"{out_dir}: the folder is not empty",
                                hint="choose a new or empty folder, or pass --overwrite to "
                                     "replace the files an export writes there")
    except OSError as exc:
        raise BadInputError(f"{out_dir}: cannot use it as the export folder "
                            f"({exc.strerror or exc})") from None


def _create_out_dir(out_dir: Path) -> Path | None:
    """Create `out_dir` and its missing parents; the topmost folder created, None if it existed.

    An error is a BadInputError naming the folder (a file in the way, no permission, a
    read-only or virtual file system such as /proc)."""
    missing = [p for p in (out_dir, *out_dir.parents) if not (p.exists() or p.is_symlink())]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _remove_created(missing[-1] if missing else None)
        raise BadInputError(f"{out_dir}: cannot create the folder ({exc.strerror or exc})",
                            hint="give --out a folder you can write to") from None
    return missing[-1] if missing else None


def _remove_created(created: Path | None) -> None:
    """Remove a folder a failed export created (everything in it is the export's own)."""
    if created is not None:
        shutil.rmtree(created, ignore_errors=True)


def export_dataset(store: Store, config: Config, out_dir: Path, options: ExportOptions,
                   *, actor: str, project_name: str | None = None,
                   guideline_version: str | None = None,
                   agreement: dict[str, Any] | None = None,
                   overwrite: bool = False) -> ExportResult:
    """Write the split files, side files and manifest.json into `out_dir`; record an audit event.

    `out_dir` must be new or empty unless `overwrite` (then the files the export writes replace
    those of the same names, and other files stay). On failure nothing is left behind: no
    hidden staging folder, and no `out_dir` when this call created it."""
    if options.format not in FORMATS:
        raise BadInputError(f"unknown export format '{options.format}'",
                            hint=f"choose one of: {', '.join(FORMATS)}")
    if options.axolotl_type not in AXOLOTL_TYPES:
        raise BadInputError(f"unknown Axolotl type '{options.axolotl_type}'",
                            hint=f"choose one of: {', '.join(AXOLOTL_TYPES)}")
    if options.llamafactory_style not in LLAMAFACTORY_STYLES:
        raise BadInputError(f"unknown LLaMA-Factory style '{options.llamafactory_style}'",
                            hint=f"choose one of: {', '.join(LLAMAFACTORY_STYLES)}")
    fraction = (config.export.validation_fraction if options.validation_fraction is None
                else options.validation_fraction)
    if not 0.0 <= fraction < 1.0:
        raise BadInputError(f"--val-fraction must be from 0 up to (not including) 1, got {fraction}")
    seed = config.export.seed if options.seed is None else options.seed
    conversational = options.conversational
    if conversational is None and config.export.conversational:
        conversational = True

    if options.tokenizer is not None:
        load_tokenizer(options.tokenizer)  # a bad file is refused before anything is written
    out_dir = out_dir.expanduser()
    check_out_dir(out_dir, overwrite)
    created = _create_out_dir(out_dir)
    staging = out_dir / f".prefer-export-{os.getpid()}"
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
    except OSError as exc:
        _remove_created(created)
        raise BadInputError(f"{out_dir}: cannot write into the folder ({exc.strerror or exc})",
                            hint="give --out a folder you can write to") from None
    try:
        # TRL keeps its automatic choice (conversational when any prompt has a system prompt).
        custom = options.format != "trl"
        layout = fmt.layout(options.format, conversational=bool(conversational),
                            axolotl_type=options.axolotl_type,
                            llamafactory_style=options.llamafactory_style)
        request = ExportRequest(layout="trl" if not custom else layout.kind,
                                validation_fraction=fraction, seed=seed,
                                conversational=conversational, sources=options.sources)
        build = build_pairs(store, config, actor, strategy=options.strategy)
        # Exactly the pairs of this build (the export fails if another build replaced it).
        counts = store.export_pairs(replace(request, build_id=build.build_id), actor)
        _copy_spooled(store, counts, staging, actor)
        lengths = (token_lengths(store, options.tokenizer, max_length=options.max_length,
                                 cutoff_len=options.cutoff_len)
                   if options.tokenizer is not None else None)
        total = sum(counts.pairs_by_split.values())
        if total == 0 and options.sources.active and build.kept:
            raise NothingToExportError(
                f"no pair to export: none of the {build.kept} kept pairs was decided by the "
                "sources --source names", hint="see who decided them with `prefer pairs`")
        if total == 0:
            held = build.held_back_disputed + build.held_back_flagged
            raise NothingToExportError(
                "no pair to export: " + (
                    f"all {build.pairs_built} pairs built were dropped by the filters"
                    if build.pairs_built else "no item has a ranked judgment yet")
                + (f" ({held} items held back by disagreement or a flag)" if held else ""),
                hint="see why with `prefer pairs`" if build.pairs_built
                else "rank some items with `prefer annotate` first",
            )
        if options.format == "trl":
            layout = fmt.layout("trl", conversational=counts.conversational)
        split_files = {"train": layout.train_file, "validation": layout.validation_file}
        if options.format == "hf" and counts.pairs_by_split["validation"] == 0:
            (staging / layout.validation_file).unlink()  # an empty split has no Parquet file
            del split_files["validation"]
        for name in split_files.values():
            try:
                validate_file(staging / name, layout.kind, name)
            except ExportInvalidError as exc:
                if "some prompts have a system prompt" in exc.rule:
                    raise BadInputError(_MIXED_SYSTEM,
                                        hint="export with --axolotl-type chat_template") from None
                raise
        if layout.kind == "axolotl-user_defined" and len(
                {"system" in fmt.first_row_keys(staging / name) for name in split_files.values()
                 if counts.pairs_by_split[_split_of(split_files, name)]}) > 1:
            raise BadInputError(_MIXED_SYSTEM, hint="export with --axolotl-type chat_template")
        side = _side_files(options, layout, staging, split_files, counts, seed, fraction,
                           project_name or config.project.name)
        written = [*split_files.values(), *side]
        files = {name: sha256_file(staging / name) for name in written}
        pairs_of = {name: counts.pairs_by_split[split] for split, name in split_files.items()}
        # The audit chain's head as the export is written: with this manifest kept elsewhere,
        # `prefer audit --verify --anchor manifest.json` checks the chain still contains it.
        audit_head = store.audit_head()
        manifest = {
            "tool": "prefer",
            "version": __version__,
            "project": project_name or config.project.name,
            "created_at": utc_now().isoformat() + "Z",
            "format": options.format,
            "row_format": _row_format(options, counts.conversational),
            "settings": {"validation_fraction": fraction, "seed": seed,
                         "sources": {"include": list(options.sources.include),
                                     "exclude": list(options.sources.exclude)},
                         "split": "grouped by near-duplicate prompts, stratified by dimension",
                         "conversational": counts.conversational,
                         "pair_strategy": build.strategy,
                         "near_identical_threshold": config.pairs.near_identical_threshold,
                         "minimal_pairs": {
                             "examine_from": config.pairs.minimal_examine_from,
                             "max_changed_tokens": config.pairs.minimal_max_changed_tokens,
                             "max_changed_sentences": config.pairs.minimal_max_changed_sentences},
                         "near_duplicate_prompt_threshold":
                             config.pairs.near_duplicate_prompt_threshold,
                         "balance": ({"by": build.balance_by, "targets": build.balance_plan}
                                     if build.balance_plan is not None else None),
                         **({"standard_separator": fmt.STANDARD_SEPARATOR}
                            if _row_format(options, counts.conversational) == "trl-standard"
                            else {})},
            "system_prompts": {"pairs_with_system_prompt": counts.pairs_with_system,
                               "written_as": _system_handling(options, counts.conversational)},
            "guideline_version": guideline_version,
            "pair_build": build.build_id,
            "audit_head": ({"seq": audit_head.seq, "hash": audit_head.hash}
                           if audit_head is not None else None),
            "files": {name: ({"sha256": digest, "pairs": pairs_of[name]} if name in pairs_of
                             else {"sha256": digest})
                      for name, digest in files.items()},
            "counts": {
                "pairs": counts.pairs_by_split,
                "prompts": counts.prompts_by_split,
                "pairs_by_dimension": counts.pairs_by_split_and_dimension,
                "pairs_by_split_dimension_language": counts.pairs_by_split_dimension_language,
                "prompts_by_dimension": counts.prompts_by_dimension_and_split,
                "pairs_built": build.pairs_built,
                "dropped_pairs": build.dropped,
                "trivial_pairs": build.trivial,
                "minimal_pairs": build.minimal,
                "minimal_pairs_by_reason": build.minimal_by_reason,
                "balanced_out_pairs": build.balanced_out,
                "held_back_items": {"disputed": build.held_back_disputed,
                                    "flagged": build.held_back_flagged},
            },
            "agreement": agreement,
            "token_lengths": lengths.as_dict() if lengths is not None else None,
        }
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, ensure_ascii=False)
                                             + "\n", encoding="utf-8")
        for name in (*written, MANIFEST_FILE):
            (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / name, out_dir / name)
    except OSError as exc:
        _remove_created(created)
        raise PreferError(f"{exc.filename or out_dir}: cannot write the export "
                          f"({exc.strerror or exc})") from None
    except BaseException:
        _remove_created(created)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    store.record_export(actor, str(out_dir.resolve()), {
        "format": options.format, "row_format": manifest["row_format"], "files": files,
        "pairs": counts.pairs_by_split, "seed": seed, "validation_fraction": fraction,
    })
    return ExportResult(
        out_dir=str(out_dir), format=options.format, conversational=counts.conversational,
        files=files, pairs_by_split=counts.pairs_by_split,
        pairs_by_split_and_dimension=counts.pairs_by_split_and_dimension,
        prompts_by_split=counts.prompts_by_split, dropped=build.dropped,
        held_back_prompts=build.held_back_disputed + build.held_back_flagged,
        manifest_path=str(out_dir / MANIFEST_FILE), balanced_out=build.balanced_out,
    )


# Axolotl's user_defined prompt_format either uses {system} or not, and an empty system is
# falsy (Axolotl refuses it): such an export needs a system prompt on every prompt or on none.
_MIXED_SYSTEM = ("Axolotl's user_defined type needs a system prompt on every prompt or on none; "
                 "some exported prompts have one and some do not")


def _copy_spooled(store: Store, counts: ExportCounts, staging: Path, actor: str) -> None:
    """Copy the split files the store spooled into `staging`, written by this process."""
    try:
        for split, spooled in counts.files.items():
            target = staging / spooled.name
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as handle:
                while chunk := store.read_export_file(counts.spool_id, split, handle.tell(),
                                                      actor):
                    handle.write(chunk)
            if target.stat().st_size != spooled.size:
                raise ExportInvalidError(spooled.name, 0, f"copied {target.stat().st_size} of "
                                         f"{spooled.size} bytes from the store")
    finally:
        store.discard_export(counts.spool_id, actor)


def _split_of(split_files: dict[str, str], name: str) -> str:
    return next(split for split, file in split_files.items() if file == name)


def _row_format(options: ExportOptions, conversational: bool) -> str:
    if options.format == "trl":
        return "trl-conversational" if conversational else "trl-standard"
    if options.format == "axolotl":
        return f"axolotl-{options.axolotl_type}.default"
    if options.format == "llamafactory":
        return f"llamafactory-{options.llamafactory_style}"
    if options.format == "hf":
        return "hf-parquet-trl-conversational"
    return "jsonl-with-metadata"


def _system_handling(options: ExportOptions, conversational: bool) -> str:
    """Where a row format puts a prompt's system prompt (docs/formats.md says what each trainer
    does when there is none)."""
    row_format = _row_format(options, conversational)
    return {
        "trl-standard": "folded into the prompt string: the system prompt, a blank line, the "
                        "prompt",
        "axolotl-user_defined.default": "the `system` field, used by axolotl.yaml's "
                                        "prompt_format",
        "llamafactory-alpaca": "the `system` column (\"\" without one: the template's default)",
        "llamafactory-sharegpt": "a leading `system` turn in `conversations`",
        "jsonl-with-metadata": "the `system` column (\"\" without one)",
    }.get(row_format, "the first message of the prompt, role `system`")


def _side_files(options: ExportOptions, layout: fmt.Layout, staging: Path,
                split_files: dict[str, str], counts: ExportCounts, seed: int, fraction: float,
                project: str) -> list[str]:
    """Write the trainer's config beside the data; return the names written."""
    if options.format == "axolotl":
        with_system = "system" in fmt.first_row_keys(staging / layout.train_file) or \
            "system" in fmt.first_row_keys(staging / layout.validation_file)
        text = fmt.axolotl_yaml(options.axolotl_type, layout.train_file, layout.validation_file,
                                with_system,
                                with_validation=bool(counts.pairs_by_split["validation"]))
        (staging / AXOLOTL_FILE).write_text(text, encoding="utf-8")
        return [AXOLOTL_FILE]
    if options.format == "llamafactory":
        used = {split: name for split, name in split_files.items() if counts.pairs_by_split[split]}
        text = fmt.llamafactory_dataset_info(options.llamafactory_style, used)
        (staging / DATASET_INFO_FILE).write_text(text, encoding="utf-8")
        return [DATASET_INFO_FILE]
    if options.format == "hf":
        splits = {("test" if split == "validation" else "train"): split for split in split_files}
        text = fmt.hf_dataset_card(project, splits, counts.pairs_by_split,
                                   counts.prompts_by_split, counts.pairs_by_split_and_dimension,
                                   seed, fraction)
        (staging / CARD_FILE).write_text(text, encoding="utf-8")
        return [CARD_FILE]
    return []
