"""The store's files are its owner's alone: the database, its WAL and DuckDB's spill files.

DuckDB gives its files no mode of its own: it creates them with the process umask (files
0666 & ~umask, folders 0755 & ~umask) and keeps the mode of a file that already exists. It creates
`prefer.duckdb.wal` at the first write after open and again after each checkpoint, which deletes
it; the WAL holds recent writes (judgments, justifications) in plain text. It spills large sorts
and joins into `prefer.duckdb.tmp/`, created on demand and removed at close. A chmod after the
fact therefore comes too late, so opening the store:

- makes the process umask at least 0o077 (the owner's bits are kept), for the rest of the process:
  every file DuckDB makes from then on is 0600 and every folder 0700, whatever umask the process
  started with; so is every file the command writes after opening the store (exports, reports);
- takes the group and other bits off what an older version or a loose umask left behind: the
  database and its WAL become 0600, a leftover spill folder 0700.

A new database cannot be created 0600 ahead of DuckDB (it refuses an empty file), and the spill
folder is left to DuckDB (one made ahead would stay behind after close): the umask covers both.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077  # no bit for group or others


def make_umask_private() -> int:
    """Add group and other bits to the process umask; return the umask it had before.

    Set in one step (never through umask 0, which another thread could create a file under).
    """
    previous = os.umask(PRIVATE_UMASK)
    os.umask(previous | PRIVATE_UMASK)
    return previous


def store_files(database: Path) -> list[Path]:
    """The database's own files beside it: the file, its WAL and DuckDB's default spill folder."""
    return [database, database.with_name(database.name + ".wal"),
            database.with_name(database.name + ".tmp")]


def tighten(database: Path) -> list[Path]:
    """Take the group and other bits off the store's files that exist; return those changed.

    A file this process may not change is left as it is: another user's (only its owner or
    root may change its mode), or one on a read-only file system.
    """
    changed = []
    for path in store_files(database):
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if mode & PRIVATE_UMASK:
                os.chmod(path, mode & ~PRIVATE_UMASK)
                changed.append(path)
        except OSError:  # absent, not ours, read-only: DuckDB's open says what matters
            continue
    return changed


def make_private(database: Path | str) -> None:
    """Before DuckDB opens `database`: a private umask from now on, existing files tightened."""
    make_umask_private()
    if str(database) != ":memory:":
        tighten(Path(database))
