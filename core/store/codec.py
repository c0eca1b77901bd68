"""JSON encoding of the Store interface's arguments and results, for the socket protocol.

Only the dataclasses of core.models (and a few store types) cross the wire, tagged by name;
nothing is ever unpickled, because clients are other OS users and not trusted.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from core import models
from core.store.exporting import ExportCounts, ExportPlan
from core.store.imports import RowProblem
from core.store.quality import QualityFacts

_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (models.Candidate, models.Prompt, models.Item, models.Judgment, models.Progress,
                models.Event, models.ChainReport, models.ImportCounts, models.StoreStatus,
                models.GenerationRecord, models.Run, models.Provenance, ExportPlan, ExportCounts,
                RowProblem, models.JudgmentImportCounts,
                models.ItemJudgment, models.Disagreement, models.Adjudication, models.Flag,
                models.PairSettings, models.PairBuild, models.Contradiction,
                QualityFacts, models.AuditHead, models.AuditAnchor, models.AuditProblem,
                models.AuditReport)
}


def encode(value: Any) -> Any:
    """A JSON-ready form of `value`."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__type__": type(value).__name__,
                **{f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, set):
        return {"__set__": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[encode(k), encode(v)] for k, v in value.items()]}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot send a {type(value).__name__} over the store protocol")


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__type__" in value:
        cls = _TYPES.get(value["__type__"])
        if cls is None:
            raise ValueError(f"unknown type {value['__type__']!r} in a store message")
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: decode(v) for k, v in value.items() if k in fields})
    if "__datetime__" in value:
        return datetime.fromisoformat(value["__datetime__"])
    if "__tuple__" in value:
        return tuple(decode(v) for v in value["__tuple__"])
    if "__set__" in value:
        return {decode(v) for v in value["__set__"]}
    if "__dict__" in value:
        return {decode(k): decode(v) for k, v in value["__dict__"]}
    raise ValueError("malformed store message")


def dumps(value: Any) -> bytes:
    return json.dumps(encode(value), ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def loads(line: bytes) -> Any:
    return decode(json.loads(line))
