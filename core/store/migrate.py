"""Numbered SQL migrations, applied in order on open and recorded in `schema_version`."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

import duckdb

_MIGRATION_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def list_migrations() -> list[Migration]:
    """Every migration shipped with the package, in version order."""
    folder = resources.files("core.store").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations are not numbered 1..n without gaps: {versions}")
    return found


def applied_versions(con: duckdb.DuckDBPyConnection) -> list[int]:
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    return [row[0] for row in con.execute("SELECT version FROM schema_version ORDER BY version")
            .fetchall()]


def migrate(con: duckdb.DuckDBPyConnection,
            after: Mapping[int, Callable[[duckdb.DuckDBPyConnection], object]] | None = None
            ) -> list[int]:
    """Apply every migration not yet recorded, each in its own transaction; return those applied.

    `after[version]`, when given, runs in that migration's transaction right after its SQL: work
    that must happen exactly once, with the migration (adopting old rows into the audit trail).
    """
    done = set(applied_versions(con))
    newly_applied = []
    for migration in list_migrations():
        if migration.version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(migration.sql)
            if after and migration.version in after:
                after[migration.version](con)
            con.execute(
                "INSERT INTO schema_version VALUES (?, ?, ?)",
                [migration.version, migration.name, datetime.now(UTC).replace(tzinfo=None)],
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        newly_applied.append(migration.version)
    return newly_applied
