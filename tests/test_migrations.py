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
                ("source_line", "BIGINT"), ("imported_at", "TIMESTAMP"),
                ("language_source", "VARCHAR"),
                ("event_seq", "BIGINT"),
                ("turns", 'STRUCT("role" VARCHAR, "content" VARCHAR)[]')],
    "candidates": [("candidate_id", "VARCHAR"), ("prompt_id", "VARCHAR"),
                   ("position", "INTEGER"), ("text", "VARCHAR"), ("origin", "VARCHAR"),
                   ("source", "VARCHAR"), ("created_at", "TIMESTAMP"), ("language", "VARCHAR"),
                   ("event_seq", "BIGINT")],
    "judgments": [("judgment_id", "VARCHAR"), ("annotator", "VARCHAR"),
                  ("prompt_id", "VARCHAR"), ("kind", "VARCHAR"),
                  ("best_candidate_id", "VARCHAR"), ("worst_candidate_id", "VARCHAR"),
                  ("ranking", "VARCHAR[]"), ("dimensions", "VARCHAR[]"),
                  ("justification", "VARCHAR"), ("shown_order", "VARCHAR[]"),
                  ("guideline_version", "VARCHAR"), ("seconds_spent", "DOUBLE"),
                  ("supersedes", "VARCHAR"), ("created_at", "TIMESTAMP"),
                  ("event_seq", "BIGINT")],
    "current_judgments": [("judgment_id", "VARCHAR"), ("annotator", "VARCHAR"),
                          ("prompt_id", "VARCHAR"), ("kind", "VARCHAR"),
                          ("best_candidate_id", "VARCHAR"), ("worst_candidate_id", "VARCHAR"),
                          ("ranking", "VARCHAR[]"), ("dimensions", "VARCHAR[]"),
                          ("justification", "VARCHAR"), ("shown_order", "VARCHAR[]"),
                          ("guideline_version", "VARCHAR"), ("seconds_spent", "DOUBLE"),
                          ("supersedes", "VARCHAR"), ("created_at", "TIMESTAMP")],
    "refresh_superseded": [("judgment_id", "VARCHAR")],
    "events": [("seq", "BIGINT"), ("occurred_at", "TIMESTAMP"), ("actor", "VARCHAR"),
               ("action", "VARCHAR"), ("subject", "VARCHAR"), ("details", "VARCHAR"),
               ("prev_hash", "VARCHAR"), ("row_hash", "VARCHAR")],
    "runs": [("run_id", "VARCHAR"), ("actor", "VARCHAR"), ("model", "VARCHAR"),
             ("hosts", "VARCHAR[]"), ("variants", "VARCHAR[]"), ("concurrency", "INTEGER"),
             ("settings", "VARCHAR"), ("planned", "INTEGER"), ("skipped", "INTEGER"),
             ("succeeded", "INTEGER"), ("failed", "INTEGER"), ("status", "VARCHAR"),
             ("started_at", "TIMESTAMP"), ("finished_at", "TIMESTAMP"),
             ("event_seq", "BIGINT")],
    "generations": [("generation_id", "VARCHAR"), ("run_id", "VARCHAR"),
                    ("prompt_id", "VARCHAR"), ("variant", "VARCHAR"), ("model", "VARCHAR"),
                    ("model_digest", "VARCHAR"), ("host", "VARCHAR"), ("status", "VARCHAR"),
                    ("error", "VARCHAR"), ("attempts", "INTEGER"), ("candidate_id", "VARCHAR"),
                    ("system", "VARCHAR"), ("options", "VARCHAR"), ("done_reason", "VARCHAR"),
                    ("truncated", "BOOLEAN"), ("prompt_eval_count", "INTEGER"),
                    ("eval_count", "INTEGER"), ("total_duration_ns", "BIGINT"),
                    ("load_duration_ns", "BIGINT"), ("prompt_eval_duration_ns", "BIGINT"),
                    ("eval_duration_ns", "BIGINT"), ("latency_s", "DOUBLE"),
                    ("started_at", "TIMESTAMP"), ("finished_at", "TIMESTAMP"),
                    ("event_seq", "BIGINT"), ("backend", "VARCHAR")],
    "assignments": [("prompt_id", "VARCHAR"), ("annotator", "VARCHAR"), ("batch_id", "VARCHAR"),
                    ("assigned_by", "VARCHAR"), ("assigned_at", "TIMESTAMP"),
                    ("released_at", "TIMESTAMP"),
                    ("event_seq", "BIGINT")],
    "judgment_rankings": [("judgment_id", "VARCHAR"), ("groups", "VARCHAR[][]"),
                          ("event_seq", "BIGINT")],
    "pairwise_judgments": [("pairwise_id", "VARCHAR"), ("annotator", "VARCHAR"),
                           ("prompt_id", "VARCHAR"), ("first_candidate_id", "VARCHAR"),
                           ("second_candidate_id", "VARCHAR"), ("winner", "VARCHAR"),
                           ("dimensions", "VARCHAR[]"), ("justification", "VARCHAR"),
                           ("source", "VARCHAR"), ("created_at", "TIMESTAMP"),
                           ("event_seq", "BIGINT")],
    "adjudications": [("adjudication_id", "VARCHAR"), ("prompt_id", "VARCHAR"),
                      ("reviewer", "VARCHAR"), ("best_candidate_id", "VARCHAR"),
                      ("worst_candidate_id", "VARCHAR"), ("groups", "VARCHAR[][]"),
                      ("note", "VARCHAR"), ("guideline_change", "VARCHAR"),
                      ("supersedes", "VARCHAR"), ("created_at", "TIMESTAMP"),
                      ("event_seq", "BIGINT")],
    "flags": [("flag_id", "VARCHAR"), ("annotator", "VARCHAR"), ("prompt_id", "VARCHAR"),
              ("note", "VARCHAR"), ("created_at", "TIMESTAMP"),
              ("event_seq", "BIGINT")],
    "flag_resolutions": [("flag_id", "VARCHAR"), ("resolved_by", "VARCHAR"),
                         ("resolution", "VARCHAR"), ("resolved_at", "TIMESTAMP"),
                         ("event_seq", "BIGINT")],
    "gold_items": [("prompt_id", "VARCHAR"), ("best_candidate_id", "VARCHAR"),
                   ("worst_candidate_id", "VARCHAR"), ("note", "VARCHAR"),
                   ("marked_by", "VARCHAR"), ("marked_at", "TIMESTAMP"),
                   ("event_seq", "BIGINT")],
    "pairs": [("pair_id", "VARCHAR"), ("build_id", "VARCHAR"), ("prompt_id", "VARCHAR"),
              ("chosen_id", "VARCHAR"), ("rejected_id", "VARCHAR"), ("chosen_pos", "INTEGER"),
              ("rejected_pos", "INTEGER"), ("dimension", "VARCHAR"), ("language", "VARCHAR"),
              ("decision", "VARCHAR"), ("agreement", "DOUBLE"), ("similarity", "DOUBLE"),
              ("prompt_group", "VARCHAR"), ("judged_at", "TIMESTAMP"),
              ("guideline_version", "VARCHAR"), ("status", "VARCHAR")],
    "latest_pairs": [("pair_id", "VARCHAR"), ("build_id", "VARCHAR"), ("prompt_id", "VARCHAR"),
                     ("chosen_id", "VARCHAR"), ("rejected_id", "VARCHAR"),
                     ("chosen_pos", "INTEGER"), ("rejected_pos", "INTEGER"),
                     ("dimension", "VARCHAR"), ("language", "VARCHAR"), ("decision", "VARCHAR"),
                     ("agreement", "DOUBLE"), ("similarity", "DOUBLE"),
                     ("prompt_group", "VARCHAR"), ("judged_at", "TIMESTAMP"),
                     ("guideline_version", "VARCHAR"), ("status", "VARCHAR")],
    "pair_builds": [("build_id", "VARCHAR"), ("built_by", "VARCHAR"), ("built_at", "TIMESTAMP"),
                    ("strategy", "VARCHAR"), ("settings", "VARCHAR"), ("counts", "VARCHAR")],
    "refresh_requests": [("request_id", "VARCHAR"), ("prompt_id", "VARCHAR"),
                         ("annotator", "VARCHAR"), ("stale_judgment_id", "VARCHAR"),
                         ("reason", "VARCHAR"), ("requested_by", "VARCHAR"),
                         ("requested_at", "TIMESTAMP"), ("event_seq", "BIGINT")],
    "source_preferences": [("preference_id", "VARCHAR"), ("kind", "VARCHAR"),
                           ("prompt_id", "VARCHAR"), ("chosen_id", "VARCHAR"),
                           ("rejected_id", "VARCHAR"), ("source", "VARCHAR"),
                           ("source_line", "BIGINT"), ("p_value", "DOUBLE"),
                           ("score_gap", "DOUBLE"), ("reviewer", "VARCHAR"),
                           ("signal", "VARCHAR"), ("trusted", "BOOLEAN"),
                           ("created_at", "TIMESTAMP"), ("event_seq", "BIGINT")],
    "balance_plans": [("plan_id", "VARCHAR"), ("applied_by", "VARCHAR"),
                      ("applied_at", "TIMESTAMP"), ("balance_by", "VARCHAR"),
                      ("targets", "VARCHAR"), ("seed", "INTEGER"),
                      ("event_seq", "BIGINT")],
    "judge_runs": [("judge_run_id", "VARCHAR"), ("actor", "VARCHAR"), ("model", "VARCHAR"),
                   ("hosts", "VARCHAR[]"), ("concurrency", "INTEGER"),
                   ("prompt_version", "VARCHAR"), ("settings", "VARCHAR"),
                   ("planned", "INTEGER"), ("skipped", "INTEGER"), ("succeeded", "INTEGER"),
                   ("failed", "INTEGER"), ("status", "VARCHAR"), ("started_at", "TIMESTAMP"),
                   ("finished_at", "TIMESTAMP"), ("event_seq", "BIGINT")],
    "judge_requests": [("request_id", "VARCHAR"), ("verdict_id", "VARCHAR"),
                       ("judge_run_id", "VARCHAR"), ("prompt_id", "VARCHAR"),
                       ("order_index", "INTEGER"), ("shown_order", "VARCHAR[]"),
                       ("model", "VARCHAR"), ("model_digest", "VARCHAR"), ("host", "VARCHAR"),
                       ("status", "VARCHAR"), ("error", "VARCHAR"), ("attempts", "INTEGER"),
                       ("system", "VARCHAR"), ("options", "VARCHAR"), ("reply", "VARCHAR"),
                       ("scores", "INTEGER[]"), ("dimensions", "VARCHAR[]"),
                       ("reason", "VARCHAR"), ("prompt_eval_count", "INTEGER"),
                       ("eval_count", "INTEGER"), ("total_duration_ns", "BIGINT"),
                       ("latency_s", "DOUBLE"), ("started_at", "TIMESTAMP"),
                       ("finished_at", "TIMESTAMP"), ("event_seq", "BIGINT")],
    "judge_verdicts": [("verdict_id", "VARCHAR"), ("judge_run_id", "VARCHAR"),
                       ("prompt_id", "VARCHAR"), ("model", "VARCHAR"),
                       ("model_digest", "VARCHAR"), ("prompt_version", "VARCHAR"),
                       ("guideline_version", "VARCHAR"), ("candidates_key", "VARCHAR"),
                       ("status", "VARCHAR"), ("error", "VARCHAR"),
                       ("candidate_ids", "VARCHAR[]"), ("scores", "DOUBLE[]"),
                       ("best_candidate_id", "VARCHAR"), ("worst_candidate_id", "VARCHAR"),
                       ("margin", "DOUBLE"), ("orders_agree", "BOOLEAN"),
                       ("dimensions", "VARCHAR[]"), ("created_at", "TIMESTAMP"),
                       ("event_seq", "BIGINT")],
    "work_order": [("prompt_id", "VARCHAR"), ("ord", "BIGINT"), ("ready", "BOOLEAN")],
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


def test_a_store_at_version_1_upgrades_without_losing_rows(tmp_path: Path) -> None:
    path = tmp_path / "prefer.duckdb"
    first = list_migrations()[0]
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
                " applied_at TIMESTAMP NOT NULL)")
    con.execute(first.sql)
    con.execute("INSERT INTO schema_version VALUES (1, ?, now())", [first.name])
    con.execute("INSERT INTO prompts VALUES ('p1', 'Kept?', NULL, 'tone', 'en', 'f', 1, now())")
    con.close()
    with open_store(path) as store:
        assert store.execute_for_test("SELECT prompt FROM prompts") == [("Kept?",)]
        versions = [v for (v,) in store.execute_for_test("SELECT version FROM schema_version")]
    assert versions == [m.version for m in list_migrations()]
    assert _schema(path) == EXPECTED_SCHEMA


def test_migrations_are_numbered_without_gaps() -> None:
    versions = [m.version for m in list_migrations()]
    assert versions == list(range(1, len(versions) + 1))
