"""The store: one declared interface (core/store/api.py) over the project's DuckDB file.

`LocalStore` opens the file in this process (embedded mode). `RemoteStore` talks to
`prefer serve`, which owns the file, over the project's Unix socket. Both are a `Store`, taking
and returning the dataclasses of core.models; `connect_store` picks the right one.
"""

from __future__ import annotations

from pathlib import Path

from core.store.api import Store
from core.store.local import LocalStore
from core.store.remote import SOCKET_FILE, RemoteStore, server_answers

__all__ = ["LocalStore", "RemoteStore", "Store", "connect_store", "open_store"]

DATABASE_FILE = "prefer.duckdb"


def open_store(database_path: Path, read_only: bool = False) -> LocalStore:
    """Open (creating and migrating if needed) the store at `database_path`."""
    return LocalStore.open(database_path, read_only=read_only)


def connect_store(project_root: Path, act_as: str | None = None) -> Store:
    """The server's store when `prefer serve` runs for this project, else the file itself."""
    socket_path = project_root / SOCKET_FILE
    if socket_path.exists() and server_answers(socket_path):
        return RemoteStore(socket_path, act_as=act_as)
    return open_store(project_root / DATABASE_FILE)
