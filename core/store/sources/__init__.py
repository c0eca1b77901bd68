"""Import kinds: the preference signal an organisation already has, one module per kind.

Each module defines `KIND`, a `SourceKind` (common.py): its name, fields and reader. To add a
kind, copy a module (corrections.py is the smallest), register it in `_MODULES`, document it in
docs/sources.md and add sample_data/sources/<kind>.jsonl: tests/test_sources.py checks all four.
"""

from __future__ import annotations

from core.store.sources import abtest, corrections, dpo, feedback, ratings
from core.store.sources.common import SourceKind

_MODULES = (feedback, abtest, corrections, ratings, dpo)
KINDS: dict[str, SourceKind] = {module.KIND.name: module.KIND for module in _MODULES}


def kind_named(name: str) -> SourceKind | None:
    return KINDS.get(name)
