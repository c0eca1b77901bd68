"""The audit chain: how an event row is hashed, and how a chain of rows is verified."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from core.models import ChainReport, Event

GENESIS_HASH = "0" * 64


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
