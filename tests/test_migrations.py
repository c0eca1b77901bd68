"""Numbered migrations: a blank store migrates to the exact schema, once."""

from __future__ import annotations

from pathlib import Path

import duckdb

from core.store import open_store
from core.store.migrate import list_migrations

EXPECTED_SCHEMA = {
    "schema_version": [("version", "INTEGER"), ("name", "VARCHAR"), ("applied_at", "TIMESTAMP")],
    "prompts": [("prompt_id", "VARCHAR"), ("prompt", "VARCHAR"), ("system", "VARCHAR"),
                ("dimension", "VARCHAR"), ("language", "VARCHAR"), ("source", "VARCHAR"),
                ("source_line", "BIGINT"), ("imported_at", "TIMESTAMP")],
    "candidates": [("candidate_id", "VARCHAR"), ("prompt_id", "VARCHAR"),
                   ("position", "INTEGER"), ("text", "VARCHAR"), ("origin", "VARCHAR"),
                   ("source", "VARCHAR"), ("created_at", "TIMESTAMP")],
    "judgments": [("judgment_id", "VARCHAR"), ("annotator", "VARCHAR"),
                  ("prompt_id", "VARCHAR"), ("kind", "VARCHAR"),
                  ("best_candidate_id", "VARCHAR"), ("worst_candidate_id", "VARCHAR"),
                  ("ranking", "VARCHAR[]"), ("dimensions", "VARCHAR[]"),
                  ("justification", "VARCHAR"), ("shown_order", "VARCHAR[]"),
                  ("guideline_version", "VARCHAR"), ("seconds_spent", "DOUBLE"),
                  ("supersedes", "VARCHAR"), ("created_at", "TIMESTAMP")],
    "events": [("seq", "BIGINT"), ("occurred_at", "TIMESTAMP"), ("actor", "VARCHAR"),
               ("action", "VARCHAR"), ("subject", "VARCHAR"), ("details", "VARCHAR"),
               ("prev_hash", "VARCHAR"), ("row_hash", "VARCHAR")],
}


def _schema(path: Path) -> dict[str, list[tuple[str, str]]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
        ).fetchall()
    finally:
        con.close()
    schema: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in rows:
        schema.setdefault(table, []).append((column, data_type))
    return schema


def test_blank_store_migrates_to_the_exact_schema(tmp_path: Path) -> None:
    open_store(tmp_path / "prefer.duckdb").close()
    assert _schema(tmp_path / "prefer.duckdb") == EXPECTED_SCHEMA


def test_migrations_are_recorded_and_applied_once(tmp_path: Path) -> None:
    path = tmp_path / "prefer.duckdb"
    open_store(path).close()
    with open_store(path) as store:
        recorded = store.execute_for_test("SELECT version, name FROM schema_version")
    assert recorded == [(m.version, m.name) for m in list_migrations()]


def test_migrations_are_numbered_without_gaps() -> None:
    versions = [m.version for m in list_migrations()]
    assert versions == list(range(1, len(versions) + 1))
