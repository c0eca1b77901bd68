"""JSON encoding of the Store interface's arguments and results, for the socket protocol.

Only the dataclasses the Store declaration names (core/store/api.py wire_types) cross the wire,
tagged by name; nothing is ever unpickled, because clients are other OS users and not trusted.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import datetime
from typing import Any

from core.store.api import wire_types

# Only the dataclasses the Store declaration mentions may be built from a message.
_TYPES: dict[str, type] = wire_types()


def encode(value: Any) -> Any:
    """A JSON-ready form of `value`."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__type__": type(value).__name__,
                **{f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode("ascii")}
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
        unknown = set(value) - fields - {"__type__"}
        if unknown:
            raise ValueError(f"{cls.__name__} has no field {sorted(unknown)[0]!r}")
        return cls(**{k: decode(v) for k, v in value.items() if k in fields})
    if "__datetime__" in value:
        return datetime.fromisoformat(value["__datetime__"])
    if "__bytes__" in value:
        return base64.b64decode(value["__bytes__"], validate=True)
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
    """The value of one message; ValueError for anything that is not a well-formed message."""
    try:
        return decode(json.loads(line))
    except (TypeError, RecursionError, AttributeError) as exc:
        raise ValueError(f"malformed store message ({type(exc).__name__})") from None
