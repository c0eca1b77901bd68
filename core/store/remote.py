"""RemoteStore: the Store as a client of `prefer serve` over its Unix socket.

Its methods are derived from the Store declaration (core/store/api.py): one forwarder per
operation, with the declared signature and documentation, installed when this module loads.
Every call is one JSON line out and one back; a dropped connection is re-opened and the call
sent again, which is safe because writes are idempotent (a judgment or a generation outcome
carries its own retry key).
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

from core import errors
from core.store import codec
from core.store.api import OPERATIONS, Operation, Store
from core.store.imports import ReaderFailed

SOCKET_FILE = "prefer.sock"
_RETRIES = 8  # with backoff from 0.1 s, about 25 s: long enough for a server restart


class RemoteStore(Store):
    """A connection to the store server; thread-safe (calls are serialised)."""

    def __init__(self, socket_path: Path, act_as: str | None = None,
                 timeout: float | None = None) -> None:
        self.socket_path = socket_path
        self.act_as = act_as
        self.timeout = timeout
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._reader: Any = None
        self.identity: dict[str, str] = {}
        with self._lock:
            self._connect()

    # --- connection ------------------------------------------------------------------------

    def _connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.socket_path))
        except OSError as exc:
            sock.close()
            raise errors.ServerUnavailableError(
                f"no prefer server answers on {self.socket_path}",
                hint="start it with `prefer serve -p PROJECT`") from exc
        self._sock = sock
        self._reader = sock.makefile("rb")
        self.identity = self._exchange("hello", [], {"act_as": self.act_as})

    def _drop(self) -> None:
        if self._sock is not None:
            try:
                self._reader.close()
                self._sock.close()
            except OSError:
                pass
        self._sock = None

    def _exchange(self, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        assert self._sock is not None
        self._sock.sendall(codec.dumps({"method": method, "args": args, "kwargs": kwargs}))
        line = self._reader.readline()
        if not line:
            raise ConnectionResetError("the prefer server closed the connection")
        reply = codec.loads(line)
        if "error" in reply:
            raise _as_exception(reply["error"])
        return reply["result"]

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            for attempt in range(_RETRIES):
                try:
                    if self._sock is None:
                        self._connect()
                    return self._exchange(method, list(args), kwargs)
                except (ConnectionError, TimeoutError, OSError,
                        errors.ServerUnavailableError) as exc:
                    self._drop()
                    if attempt == _RETRIES - 1:
                        raise errors.ServerUnavailableError(
                            f"lost the connection to the prefer server ({exc})",
                            hint="is `prefer serve` still running?") from exc
                    time.sleep(min(0.1 * 2 ** attempt, 5.0))
            raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __enter__(self) -> RemoteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _forwarder(op: Operation) -> Any:
    def forward(self: RemoteStore, *args: Any, **kwargs: Any) -> Any:
        return self.call(op.name, *args, **kwargs)

    forward.__name__ = forward.__qualname__ = op.name
    forward.__doc__ = op.doc
    forward.__signature__ = op.signature  # type: ignore[attr-defined]
    return forward


for _op in OPERATIONS.values():
    setattr(RemoteStore, _op.name, _forwarder(_op))


def _as_exception(error: dict[str, Any]) -> Exception:
    kind = error.get("type", "StoreError")
    if kind == "ReaderFailed":
        return ReaderFailed(error.get("message", ""), error.get("line"))
    cls = getattr(errors, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, errors.PreferError)) or \
            cls is errors.ImportRowError:
        cls = errors.StoreError
    return cls(error.get("message", "the server failed"), hint=error.get("hint"))


def server_answers(socket_path: Path, timeout: float = 2.0) -> bool:
    """Whether a server accepts connections on `socket_path`."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(timeout)
    try:
        probe.connect(str(socket_path))
        return True
    except OSError:
        return False
    finally:
        probe.close()
