"""The store: one interface over the project's DuckDB file.

`LocalStore` opens the file in this process (embedded mode). A remote implementation speaking to
`prefer serve` will offer the same methods, taking and returning the dataclasses of core.models.
"""

from __future__ import annotations

from pathlib import Path

from core.store.local import LocalStore

__all__ = ["LocalStore", "open_store"]


def open_store(database_path: Path, read_only: bool = False) -> LocalStore:
    """Open (creating and migrating if needed) the store at `database_path`."""
    return LocalStore.open(database_path, read_only=read_only)
