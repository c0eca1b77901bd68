"""The store: one interface over the project's DuckDB file, in two implementations.

`LocalStore` opens the file in this process (embedded mode). `RemoteStore` talks to
`prefer serve`, which owns the file, over the project's Unix socket. Both offer the same methods,
taking and returning the dataclasses of core.models; `connect_store` picks the right one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.store.local import LocalStore

__all__ = ["LocalStore", "connect_store", "open_store"]

SOCKET_FILE = "prefer.sock"
DATABASE_FILE = "prefer.duckdb"


def open_store(database_path: Path, read_only: bool = False) -> LocalStore:
    """Open (creating and migrating if needed) the store at `database_path`."""
    return LocalStore.open(database_path, read_only=read_only)


def connect_store(project_root: Path, act_as: str | None = None) -> Any:
    """The server's store when `prefer serve` runs for this project, else the file itself."""
    from core.server import server_answers
    from core.store.remote import RemoteStore

    socket_path = project_root / SOCKET_FILE
    if socket_path.exists() and server_answers(socket_path):
        return RemoteStore(socket_path, act_as=act_as)
    return open_store(project_root / DATABASE_FILE)
