"""`prefer import --kind KIND`: the preference signal an organisation already has (feedback logs,
A/B tests, corrections, ratings, DPO data), multi-turn prompts end to end, provenance and trust.
"""

from __future__ import annotations

import gzip
import importlib
import json
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
from scipy import stats
from typer.testing import CliRunner

from core.errors import BadInputError, ImportRowError
from core.export import ExportOptions, export_dataset
from core.models import SourceImportCounts, SourceOptions
from core.project import Project
from core.sources import IMPORT_KINDS, import_source
from core.store import LocalStore
from core.store.sources import KINDS
from core.store.sources.common import COMMON_FIELDS
from tests.conftest import write_jsonl
from tui.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _realdata() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "realdata" / "hh-rlhf_harmless-base_test.jsonl.gz"
        if candidate.is_file():
            return candidate
    return None


def _run(store: LocalStore, path: Path, kind: str, **kwargs: Any) -> SourceImportCounts:
    return import_source(store, path, source_kind=kind, actor="t", **kwargs)


def _rows(store: LocalStore, sql: str) -> list[tuple]:
    return store.execute_for_test(sql)


def _stored(store: LocalStore) -> tuple[int, ...]:
    return _rows(store, "SELECT (SELECT count(*) FROM prompts), (SELECT count(*) FROM candidates),"
                        " (SELECT count(*) FROM source_preferences), "
                        "(SELECT count(*) FROM judgments), (SELECT count(*) FROM events)")[0]


def _preferences(store: LocalStore) -> set[tuple[str, str]]:
    """(chosen text, rejected text) of every stored source preference."""
    return set(_rows(store, "SELECT c.text, r.text FROM source_preferences s "
                            "JOIN candidates c ON c.candidate_id = s.chosen_id "
                            "JOIN candidates r ON r.candidate_id = s.rejected_id"))


def _ignored(counts: SourceImportCounts) -> dict[str, int]:
    return {i.reason: i.rows for i in counts.ignored}


# --- the registry ------------------------------------------------------------------------------


def test_every_registered_kind_is_implemented_documented_and_has_an_example(
        store: LocalStore) -> None:
    doc = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    assert set(KINDS) == {"feedback", "abtest", "corrections", "ratings", "dpo"}
    assert ("prompts", *KINDS) == IMPORT_KINDS
    for name, kind in KINDS.items():
        module = importlib.import_module(f"core.store.sources.{name}")
        assert module.KIND is kind and callable(kind.read), name
        section = re.search(rf"^## `{name}`\n(.*?)(?=^## |\Z)", doc, re.S | re.M)
        assert section, f"docs/sources.md has no section ## `{name}`"
        for field in (*kind.required, *kind.optional):
            assert f"`{field}`" in section.group(1), (name, field)
        example = ROOT / "sample_data" / "sources" / f"{name}.jsonl"
        counts = _run(store, example, name, dry_run=True)
        assert counts.preferences_in_file > 0, name
    for field in COMMON_FIELDS:
        assert f"`{field}`" in doc, field


def test_the_cli_help_names_every_kind() -> None:
    result = runner.invoke(app, ["import", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for name in IMPORT_KINDS:
        assert name in result.output


# --- dpo -------------------------------------------------------------------------------------


def test_dpo_reads_trl_standard_conversational_and_transcripts(store: LocalStore,
                                                               tmp_path: Path) -> None:
    counts = _run(store, ROOT / "sample_data" / "sources" / "dpo.jsonl", "dpo")
    assert (counts.rows, counts.new_prompts, counts.multi_turn_prompts, counts.new_preferences) \
        == (4, 4, 1, 4)
    prompts = {r[0]: r[1:] for r in _rows(store, "SELECT prompt, system, turns FROM prompts")}
    assert prompts["Can I increase my credit limit?"][0] == "You are the bank's support assistant."
    assert prompts["About 200 euros."][1] == [
        {"role": "user", "content": "I want to close my account."},
        {"role": "assistant", "content": "I can help. Do you have money left in it?"}]
    assert prompts["What is a chargeback?"][1] is None
    assert ("A fee." not in {c for c, _ in _preferences(store)})
    assert ("Transfer it to another account first, then choose Close account in Settings; we "
            "confirm by email.", "Why do you want to leave?") in _preferences(store)
    again = _run(store, ROOT / "sample_data" / "sources" / "dpo.jsonl", "dpo")
    assert (again.new_prompts, again.new_candidates, again.new_preferences) == (0, 0, 0)


def test_dpo_counts_rows_it_cannot_split_and_never_guesses(store: LocalStore,
                                                          tmp_path: Path) -> None:
    hh = "\n\nHuman: {q}\n\nAssistant: {a}"
    rows = [
        {"chosen": hh.format(q="Hi", a="Hello!"), "rejected": hh.format(q="Hey", a="Go away.")},
        {"chosen": hh.format(q="Hi", a=" "), "rejected": hh.format(q="Hi", a="Go away.")},
        {"chosen": hh.format(q="Hi", a="Hello!") + "\n\nHuman: more",
         "rejected": hh.format(q="Hi", a="Go away.")},
        {"chosen": hh.format(q="Hi", a="Hello!"), "rejected": hh.format(q="Hi", a="Go away.")},
        {"chosen": hh.format(q="Hi", a="Hello!"), "rejected": hh.format(q="Hi", a="Go away.")},
    ]
    counts = _run(store, write_jsonl(tmp_path / "d.jsonl", rows), "dpo")
    assert _ignored(counts) == {"chosen and rejected differ before the last turn": 1,
                                "the last turn of chosen or rejected is empty": 1,
                                "chosen or rejected does not end with an assistant turn": 1,
                                "a duplicate of an earlier record": 1}
    assert counts.preferences_in_file == 1
    assert _preferences(store) == {("Hello!", "Go away.")}


@pytest.mark.parametrize(("row", "field", "problem"), [
    ({"prompt": "Q", "chosen": "A"}, "rejected", "missing"),
    ({"prompt": "Q", "chosen": "A", "rejected": 3}, "rejected", "expected a string"),
    ({"chosen": "A", "rejected": "B"}, "prompt", "not a \\n\\nHuman"),
    ({"prompt": [{"role": "assistant", "content": "x"}], "chosen": "A", "rejected": "B"},
     "prompt", "the last message must be the user's"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
      "chosen": "A", "rejected": "B"}, "messages", "alternate user and assistant"),
    ({"messages": [{"role": "user", "content": ""}], "chosen": "A", "rejected": "B"},
     "messages", "content is empty"),
    ({"prompt": "Q", "messages": [{"role": "user", "content": "Q"}], "chosen": "A",
      "rejected": "B"}, "messages", "not both"),
    ({"prompt": "Q", "chosen": "A", "rejected": "B", "dimension": "style"}, "dimension",
     "unknown dimension"),
    ({"prompt": "Q", "chosen": "A", "rejected": "B", "language": "English"}, "language",
     "language code"),
])
def test_a_bad_dpo_row_names_its_line_and_field_and_nothing_is_stored(
        store: LocalStore, tmp_path: Path, row: dict[str, Any], field: str,
        problem: str) -> None:
    good = {"prompt": "Fine?", "chosen": "Yes.", "rejected": "No."}
    path = write_jsonl(tmp_path / "bad.jsonl", [good, row])
    before = _stored(store)
    with pytest.raises(ImportRowError) as caught:
        _run(store, path, "dpo")
    assert (caught.value.line, caught.value.field) == (2, field)
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{path}:2: field '{field}': ")
    assert _stored(store) == before


def test_hh_rlhf_real_data_round_trips_through_a_jsonl_export(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    """Anthropic HH-RLHF harmless-base test split (2,312 rows): every exported pair's chosen and
    rejected are a row's final turns exactly, under that row's conversation; every pair the
    import implied is exported or dropped by a named pair filter."""
    source = _realdata()
    if source is None:
        pytest.fail("shared/realdata/hh-rlhf_harmless-base_test.jsonl.gz is missing")
    path = tmp_path / "hh.jsonl"
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        raw_rows = handle.read()
    path.write_text(raw_rows, encoding="utf-8")
    rows = [json.loads(line) for line in raw_rows.splitlines()]
    assert len(rows) == 2312

    counts = _run(store, path, "dpo", options=SourceOptions(trust=True))
    assert _ignored(counts) == {"chosen and rejected differ before the last turn": 5,
                                "the last turn of chosen or rejected is empty": 4,
                                "the turns do not alternate user and assistant": 4}
    assert counts.rows == 2312
    assert counts.preferences_in_file == 2312 - 13
    assert counts.multi_turn_prompts > 1500

    # What each row says, split independently of the importer.
    expected: dict[tuple, set[tuple[str, str]]] = {}
    for row in rows:
        c_head, _, c_last = row["chosen"].rpartition("\n\nAssistant: ")
        r_head, _, r_last = row["rejected"].rpartition("\n\nAssistant: ")
        if c_head == r_head and c_last.strip() and r_last.strip():
            expected.setdefault((c_head,), set()).add((c_last.strip(), r_last.strip()))

    export_dataset(store, project.config, tmp_path / "out",
                   ExportOptions(format="jsonl", validation_fraction=0.0), actor="t")
    exported = [json.loads(line) for line in
                (tmp_path / "out" / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    assert exported
    for pair in exported:
        transcript = "".join(
            f"\n\n{'Human' if t['role'] == 'user' else 'Assistant'}: {t['content']}"
            for t in pair["turns"]) + f"\n\nHuman: {pair['prompt']}"
        found = expected.get((transcript,))
        assert found is not None, transcript[:200]
        assert (pair["chosen"], pair["rejected"]) in found
        assert pair["annotators"] == ["source:dpo"]
    build = store.execute_for_test("SELECT counts FROM pair_builds ORDER BY built_at DESC LIMIT 1")
    built = json.loads(build[0][0])
    dropped = sum(v for k, v in built.get("dropped", {}).items())
    pairs_made = len(exported) + dropped
    # The items whose preferences form no single ranking stay pre-labels (no pair).
    assert pairs_made == counts.source_judgments
    assert counts.source_judgments + counts.not_a_ranking >= counts.prompts_in_file - 2


# --- feedback --------------------------------------------------------------------------------


def test_feedback_votes_regenerations_and_edits(store: LocalStore, tmp_path: Path) -> None:
    q = "How do I reset my password?"
    rows = [
        {"prompt": q, "response": "Settings > Security.", "signal": "up"},
        {"prompt": q, "response": "Visit a branch.", "signal": "down"},
        {"prompt": q, "response": "Call us.", "signal": "down"},
        {"prompt": q, "response": "Visit a branch.", "signal": "down"},  # a second vote
        {"conversation_id": 7, "prompt": "Refund?", "response": "No.", "signal": "regenerated"},
        {"conversation_id": 7, "prompt": "Refund?", "response": "Yes, within 5 days.",
         "signal": "up"},
        {"conversation_id": 8, "prompt": "Fees?", "response": "None.", "signal": "regenerated",
         "timestamp": "2026-01-01T10:00:00"},
        {"conversation_id": 8, "prompt": "Fees?", "response": "None.", "signal": "up",
         "timestamp": "2026-01-01T10:02:00"},
        {"conversation_id": 8, "prompt": "Fees?", "response": "8 EUR a month.", "signal": "down",
         "timestamp": "2026-01-01T10:01:00"},
        {"prompt": "Limit?", "response": "500.", "signal": "edited",
         "edited": "500 EUR a day; change it in the app."},
        {"prompt": "Lonely?", "response": "Yes.", "signal": "up"},
        {"prompt": "Both?", "response": "Maybe.", "signal": "up"},
        {"prompt": "Both?", "response": "Maybe.", "signal": "down"},
        {"prompt": "Last?", "response": "Hm.", "signal": "regenerated"},
    ]
    counts = _run(store, write_jsonl(tmp_path / "f.jsonl", rows), "feedback")
    assert _preferences(store) == {
        ("Settings > Security.", "Visit a branch."), ("Settings > Security.", "Call us."),
        ("Yes, within 5 days.", "No."),
        ("None.", "8 EUR a month."),  # came back to "None.": no regeneration preference
        ("500 EUR a day; change it in the app.", "500."),
    }
    assert _ignored(counts) == {
        "regenerated, but the user came back to the first answer": 1,
        "a vote with no opposite vote on the same prompt": 2,  # Lonely?, and Refund?'s up
        "an answer voted both up and down": 2,
        "regenerated, but no later answer in the conversation": 1,
    }
    assert counts.new_prompts == 7
    signals = dict(_rows(store, "SELECT r.text, s.signal FROM source_preferences s "
                                "JOIN candidates r ON r.candidate_id = s.rejected_id"))
    assert signals["No."] == "regenerated" and signals["500."] == "edited"


@pytest.mark.parametrize(("row", "field", "problem"), [
    ({"prompt": "Q", "response": "A", "signal": "meh"}, "signal", "expected up, down"),
    ({"prompt": "Q", "response": "A", "signal": "edited"}, "edited", "missing"),
    ({"prompt": "Q", "response": "A", "signal": "up", "edited": "B"}, "edited", "only edited"),
    ({"prompt": "Q", "signal": "up"}, "response", "missing"),
    ({"response": "A", "signal": "up"}, "prompt", "missing"),
])
def test_bad_feedback_rows(store: LocalStore, tmp_path: Path, row: dict[str, Any], field: str,
                           problem: str) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [row])
    with pytest.raises(ImportRowError) as caught:
        _run(store, path, "feedback")
    assert (caught.value.line, caught.value.field) == (1, field)
    assert problem in caught.value.problem


# --- abtest ----------------------------------------------------------------------------------


def test_abtest_p_values_given_or_computed_and_the_threshold(store: LocalStore,
                                                             tmp_path: Path) -> None:
    rows = [
        {"prompt": "Q1", "a": "A1", "b": "B1", "winner": "a", "p_value": 0.01},
        {"prompt": "Q2", "a": "A2", "b": "B2", "winner": "b", "wins_a": 180, "wins_b": 260},
        {"prompt": "Q3", "a": "A3", "b": "B3", "winner": "b", "p_value": 0.2},
        {"prompt": "Q4", "a": "A4", "b": "B4", "winner": "tie", "p_value": 0.9},
        {"prompt": "Q5", "a": "A5", "b": "B5", "winner": "A", "wins_a": 60, "wins_b": 40,
         "n_a": 1000, "n_b": 1000},
    ]
    counts = _run(store, write_jsonl(tmp_path / "ab.jsonl", rows), "abtest")
    assert _ignored(counts) == {"not significant (p > 0.05)": 2, "a tie": 1}
    p_values = dict(_rows(store, "SELECT p.prompt, s.p_value FROM source_preferences s "
                                 "JOIN prompts p USING (prompt_id)"))
    assert p_values["Q1"] == 0.01
    assert p_values["Q2"] == pytest.approx(stats.binomtest(180, 440, 0.5).pvalue)
    assert p_values["Q2"] < 0.001
    assert "Q5" not in p_values  # Fisher's exact test of 60/1000 vs 40/1000: p ~ 0.056
    assert stats.fisher_exact([[60, 940], [40, 960]]).pvalue > 0.05
    assert _preferences(store) == {("A1", "B1"), ("B2", "A2")}
    assert counts.new_candidates == 10  # every variant is a candidate, significant or not
    looser = _run(store, write_jsonl(tmp_path / "ab.jsonl", rows), "abtest",
                  options=SourceOptions(max_p=0.25))
    assert looser.new_preferences == 2  # Q3 (p = 0.2) and Q5 (p ~ 0.056)
    assert _ignored(looser) == {"a tie": 1}


@pytest.mark.parametrize(("row", "field", "problem"), [
    ({"prompt": "Q", "a": "A", "b": "B", "winner": "c", "p_value": 0.01}, "winner",
     "expected a, b or tie"),
    ({"prompt": "Q", "a": "A", "b": "B", "winner": "a"}, "p_value", "missing"),
    ({"prompt": "Q", "a": "A", "b": "B", "winner": "a", "p_value": 1.5}, "p_value",
     "from 0 to 1"),
    ({"prompt": "Q", "a": "A", "b": "B", "winner": "a", "wins_a": 3}, "wins_b", "missing"),
    ({"prompt": "Q", "a": "A", "b": "B", "winner": "a", "wins_a": 3.5, "wins_b": 1}, "wins_a",
     "whole number"),
    ({"prompt": "Q", "a": "A", "b": "B", "winner": "a", "wins_a": 30, "wins_b": 1, "n_a": 20,
      "n_b": 20}, "wins_a", "more than n_a"),
    ({"prompt": "Q", "a": "A", "winner": "a", "p_value": 0.01}, "b", "missing"),
])
def test_bad_abtest_rows(store: LocalStore, tmp_path: Path, row: dict[str, Any], field: str,
                         problem: str) -> None:
    with pytest.raises(ImportRowError) as caught:
        _run(store, write_jsonl(tmp_path / "bad.jsonl", [row]), "abtest")
    assert (caught.value.field, caught.value.line) == (field, 1)
    assert problem in caught.value.problem


# --- corrections and ratings ---------------------------------------------------------------


def test_corrections_prefer_the_corrected_text(store: LocalStore) -> None:
    counts = _run(store, ROOT / "sample_data" / "sources" / "corrections.jsonl", "corrections")
    assert counts.new_preferences == 3
    reviewers = {r[0] for r in _rows(store, "SELECT reviewer FROM source_preferences")}
    assert reviewers == {"compliance-team", "senior-agent-7"}
    assert ("Deposits up to 100,000 EUR per person are protected by the statutory deposit "
            "guarantee scheme.", "Yes, all deposits are fully protected.") in _preferences(store)


def test_ratings_compare_within_a_reviewer_only_and_ties_imply_nothing(
        store: LocalStore, tmp_path: Path) -> None:
    rows = [
        {"prompt": "Q", "response": "best", "score": 5, "reviewer": "ann"},
        {"prompt": "Q", "response": "mid", "score": 3, "reviewer": "ann"},
        {"prompt": "Q", "response": "also mid", "score": 3, "reviewer": "ann"},
        {"prompt": "Q", "response": "other", "score": 1, "reviewer": "bob"},
        {"prompt": "Q", "response": "best", "score": 2, "reviewer": "bob"},
        {"prompt": "R", "response": "x", "score": 4, "reviewer": "ann"},
        {"prompt": "R", "response": "y", "score": 4, "reviewer": "ann"},
    ]
    counts = _run(store, write_jsonl(tmp_path / "r.jsonl", rows), "ratings",
                  options=SourceOptions(trust=True))
    assert _preferences(store) == {("best", "mid"), ("best", "also mid"), ("best", "other")}
    gaps = {r[0]: r[1] for r in _rows(store, "SELECT reviewer || ':' || c.text, score_gap FROM "
                                             "source_preferences s JOIN candidates c ON "
                                             "c.candidate_id = s.rejected_id")}
    assert gaps == {"ann:mid": 2.0, "ann:also mid": 2.0, "bob:other": 1.0}
    assert _ignored(counts) == {
        "no other response of the same prompt, reviewer and rubric with another score": 2}
    # Trusted: one judgment per reviewer (source:ratings:ann with a tie group, :bob best/worst).
    judged = {r[0]: r[1] for r in _rows(
        store, "SELECT annotator, r.groups IS NOT NULL FROM judgments j "
               "LEFT JOIN judgment_rankings r USING (judgment_id)")}
    assert judged == {"source:ratings:ann": True, "source:ratings:bob": False}


def test_ratings_refuse_one_response_graded_twice_differently(store: LocalStore,
                                                              tmp_path: Path) -> None:
    rows = [{"prompt": "Q", "response": "a", "score": 5, "reviewer": "ann"},
            {"prompt": "Q", "response": "a", "score": 2, "reviewer": "ann"}]
    with pytest.raises(ImportRowError) as caught:
        _run(store, write_jsonl(tmp_path / "r.jsonl", rows), "ratings")
    assert (caught.value.line, caught.value.field) == (2, "score")


# --- field names: --map, CSV, Parquet -------------------------------------------------------


def test_map_renames_fields_in_csv_and_parquet(store: LocalStore, tmp_path: Path) -> None:
    csv_path = tmp_path / "reviews.csv"
    csv_path.write_text("question,answer,grade,who\nQ,good,5,ann\nQ,bad,1,ann\n",
                        encoding="utf-8")
    counts = _run(store, csv_path, "ratings",
                  mapping="question=prompt,answer=response,grade=score,who=reviewer")
    assert counts.new_preferences == 1 and _preferences(store) == {("good", "bad")}
    parquet = tmp_path / "ab.parquet"
    con = duckdb.connect()
    con.execute(f"COPY (SELECT 'P' AS q, 'left' AS x, 'right' AS y, 'b' AS won, 0.001 AS p) "
                f"TO '{parquet}' (FORMAT PARQUET)")
    con.close()
    counts = _run(store, parquet, "abtest", mapping="q=prompt,x=a,y=b,won=winner,p=p_value")
    assert counts.new_preferences == 1 and ("right", "left") in _preferences(store)
    with pytest.raises(BadInputError, match="'colour' is not a field prefer reads"):
        _run(store, csv_path, "ratings", mapping="grade=colour")
    with pytest.raises(BadInputError, match="the file has no field 'nope'"):
        _run(store, csv_path, "ratings", mapping="nope=prompt")


def test_messages_in_a_csv_cell_are_json(store: LocalStore, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    messages = json.dumps([{"role": "user", "content": "Hi"},
                           {"role": "assistant", "content": "Hello, how can I help?"},
                           {"role": "user", "content": "My card?"}])
    path.write_text('messages,original,corrected\n"' + messages.replace('"', '""')
                    + '",Lost.,"It is frozen; a new one is on its way."\n', encoding="utf-8")
    counts = _run(store, path, "corrections")
    assert counts.multi_turn_prompts == 1
    assert _rows(store, "SELECT prompt, len(turns) FROM prompts") == [("My card?", 2)]


# --- provenance and trust --------------------------------------------------------------------


def test_pre_labels_by_default_and_source_judgments_with_trust(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    path = ROOT / "sample_data" / "sources" / "abtest.jsonl"
    counts = _run(store, path, "abtest")
    assert counts.source_judgments == 0 and not counts.trusted
    assert _rows(store, "SELECT count(*) FROM judgments") == [(0,)]
    provenance = _rows(store, "SELECT kind, source, source_line, p_value, trusted FROM "
                              "source_preferences ORDER BY source_line")
    assert provenance == [("abtest", str(path.resolve()), 1, 0.01, False),
                          ("abtest", str(path.resolve()), 2, pytest.approx(
                              stats.binomtest(180, 440).pvalue), False)]
    trusted = _run(store, path, "abtest", options=SourceOptions(trust=True))
    assert trusted.source_judgments == 2 and trusted.new_preferences == 0
    assert {r[0] for r in _rows(store, "SELECT annotator FROM judgments")} == {"source:abtest"}
    again = _run(store, path, "abtest", options=SourceOptions(trust=True))
    assert again.source_judgments == 0  # the same judgments are stored already
    events = [e for e in store.events() if e.action == "import-source"]
    assert len(events) == 3
    assert json.loads(events[1].details)["source_judgments"] == 2
    assert store.verify_audit().ok
    result = export_dataset(store, project.config, tmp_path / "out",
                            ExportOptions(format="jsonl", validation_fraction=0.0), actor="t")
    assert sum(result.pairs_by_split.values()) == 2


def test_dry_run_counts_per_kind_and_stores_nothing(store: LocalStore) -> None:
    before = _stored(store)
    counts = _run(store, ROOT / "sample_data" / "sources" / "feedback.jsonl", "feedback",
                  dry_run=True)
    assert counts.dry_run and counts.new_preferences == 4 and counts.new_prompts == 4
    assert _stored(store) == before


def test_cli_import_kind_reports_and_exits_2_on_a_bad_row(project: Project,
                                                          tmp_path: Path) -> None:
    where = ["-p", str(project.root)]
    result = runner.invoke(app, ["import", str(ROOT / "sample_data" / "sources" / "abtest.jsonl"),
                                 "--kind", "abtest", "--dry-run", *where])
    assert result.exit_code == 0, result.output
    assert "Implied preferences: 2 to add (pre-labels)." in result.output
    assert "Ignored 1 row: not significant (p > 0.05) (first on line 3)." in result.output
    assert "Dry run: nothing was stored." in result.output
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "Q", "response": "A",
                                                 "signal": "sideways"}])
    result = runner.invoke(app, ["import", str(bad), "--kind", "feedback", *where])
    assert result.exit_code == 2
    assert f"{bad}:1: field 'signal': expected up, down, regenerated or edited" in result.output
    result = runner.invoke(app, ["import", str(bad), "--kind", "nonsense", *where])
    assert result.exit_code == 2 and "unknown import kind" in result.output
    result = runner.invoke(app, ["import", str(bad), "--trust", *where])
    assert result.exit_code == 2 and "--trust goes with --kind" in result.output


# --- multi-turn exports ----------------------------------------------------------------------


@pytest.fixture
def multi_turn(project: Project, store: LocalStore) -> Project:
    _run(store, ROOT / "sample_data" / "sources" / "dpo.jsonl", "dpo",
         options=SourceOptions(trust=True))
    return project


def _export(store: LocalStore, project: Project, out: Path, **options: Any) -> list[dict]:
    result = export_dataset(store, project.config, out,
                            ExportOptions(validation_fraction=0.0, **options), actor="t")
    name = next(n for n in result.files if n.startswith("train") or n.startswith("data/train"))
    if name.endswith(".parquet"):
        con = duckdb.connect()
        rows = con.execute(f"SELECT * FROM read_parquet('{out / name}')").fetchall()
        columns = [d[0] for d in con.description]
        con.close()
        return [dict(zip(columns, r, strict=True)) for r in rows]
    return [json.loads(line) for line in (out / name).read_text(encoding="utf-8").splitlines()]


def test_multi_turn_prompts_reach_every_format_that_carries_them(
        multi_turn: Project, store: LocalStore, tmp_path: Path) -> None:
    earlier = [{"role": "user", "content": "I want to close my account."},
               {"role": "assistant", "content": "I can help. Do you have money left in it?"}]
    last = {"role": "user", "content": "About 200 euros."}
    trl = _export(store, multi_turn, tmp_path / "trl", format="trl")
    assert [*earlier, last] in [r["prompt"] for r in trl]
    hf = _export(store, multi_turn, tmp_path / "hf", format="hf")
    assert [{"content": m["content"], "role": m["role"]} for m in [*earlier, last]] in \
        [r["prompt"] for r in hf]
    sharegpt = _export(store, multi_turn, tmp_path / "sg", format="llamafactory",
                       llamafactory_style="sharegpt")
    assert [{"from": "human", "value": earlier[0]["content"]},
            {"from": "gpt", "value": earlier[1]["content"]},
            {"from": "human", "value": last["content"]}] in [r["conversations"] for r in sharegpt]
    plain = _export(store, multi_turn, tmp_path / "plain", format="jsonl")
    assert {(r["prompt"], json.dumps(r["turns"])) for r in plain} >= {
        (last["content"], json.dumps(earlier)), ("What is a chargeback?", "[]")}


@pytest.mark.parametrize("options", [
    {"format": "trl", "conversational": False},
    {"format": "axolotl"},
    {"format": "axolotl", "axolotl_type": "user_defined"},
    {"format": "llamafactory"},
])
def test_formats_that_cannot_carry_a_conversation_refuse_it(
        multi_turn: Project, store: LocalStore, tmp_path: Path, options: dict[str, Any]) -> None:
    with pytest.raises(BadInputError) as caught:
        _export(store, multi_turn, tmp_path / "out", **options)
    assert "1 of the pairs have a multi-turn prompt" in caught.value.message
    assert "--llamafactory-style sharegpt" in (caught.value.hint or "")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# --- the annotation screen: earlier turns folded, pre-labels pre-selected -----------------


async def test_the_screen_folds_earlier_turns_and_preselects_the_pre_label(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    from textual.widgets import Collapsible, Input, Static

    from core.prompt_view import prompt_view
    from tui.app import make_app
    from tui.screens.annotate import AnnotateScreen
    from tui.widgets.candidate import CandidateCard

    messages = [{"role": "user", "content": "I lost my card."},
                {"role": "assistant", "content": "I've frozen it. Want a replacement?"},
                {"role": "user", "content": "Yes, send it home."}]
    rows = [{"messages": messages, "a": "OK.", "b": "Done: it arrives within 5 working days.",
             "winner": "b", "p_value": 0.01}]
    _run(store, write_jsonl(tmp_path / "ab.jsonl", rows), "abtest")
    item = store.get_item(store.execute_for_test("SELECT prompt_id FROM prompts")[0][0])
    assert item is not None
    view = prompt_view(store, item)
    assert [t.content for t in view.earlier_turns] == [m["content"] for m in messages[:2]]
    assert view.last_user_turn == "Yes, send it home."
    assert [(p.kind, p.details) for p in view.pre_labels] == [
        ("abtest", (("p_value", {"p": "0.01"}),))]  # ids: the screen words them

    app = make_app(project, store, annotator="alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        screen = pilot.app.screen
        assert isinstance(screen, AnnotateScreen)
        folded = screen.query_one("#earlier-turns", Collapsible)
        assert folded.collapsed and folded.title == "2 earlier turns"
        assert "Yes, send it home." in str(screen.query_one("#prompt", Static).render())
        cards = {c.label: c for c in screen.query(CandidateCard)}
        winner = next(n for n, c in cards.items() if "Done: it arrives" in c.text)
        assert f"Pre-label: {winner} over {3 - winner}, from A/B test (p = 0.01)" in str(
            screen.query_one("#pre-labels", Static).render())
        assert cards[winner].mark == "best"  # pre-selected, for the expert to confirm
        # Best and worst pre-selected: the box has focus, typing goes there.
        assert isinstance(pilot.app.focused, Input)
        await pilot.press(*[{" ": "space"}.get(ch, ch) for ch in "Confirmed: it says when."])
        await pilot.press("enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    chosen = store.execute_for_test("SELECT chosen_id, rejected_id FROM source_preferences")[0]
    assert store.execute_for_test(
        "SELECT annotator, best_candidate_id, worst_candidate_id FROM judgments") == [
        ("alice", *chosen)]




def test_import_kinds_work_through_the_server(project: Project, store: LocalStore,
                                              tmp_path: Path) -> None:
    """Through `prefer serve`: the file is uploaded, parsed and checked by the store; a bad row
    is reported with its line; the counts and pre-labels cross the wire typed."""
    from core.server import StoreServer
    from core.store.remote import RemoteStore

    server = StoreServer(project.root, store)
    server.bind()
    server.start_in_thread()
    try:
        with RemoteStore(server.socket_path) as remote:
            counts = import_source(remote, ROOT / "sample_data" / "sources" / "abtest.jsonl",  # type: ignore[arg-type]
                                   source_kind="abtest", actor="t",
                                   options=SourceOptions(max_p=0.5))
            assert counts.new_preferences == 3 and _ignored(counts) == {"a tie": 1}
            bad = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "Q", "original": 4,
                                                        "corrected": "x"}])
            with pytest.raises(ImportRowError, match=r"bad\.jsonl:1: field .original."):
                import_source(remote, bad, source_kind="corrections", actor="t")  # type: ignore[arg-type]
            prompt_id = store.execute_for_test(
                "SELECT prompt_id FROM source_preferences ORDER BY source_line LIMIT 1")[0][0]
            labels = remote.source_preferences(prompt_id)
            assert [(p.kind, p.p_value, p.source_line) for p in labels] == [("abtest", 0.01, 1)]
    finally:
        server.shutdown()


# --- refresh --------------------------------------------------------------------------------


def test_refresh_requeues_stale_decisions_and_the_report_counts_flips(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from core.annotation import AnnotationSession
    from core.refresh import changes_at_refresh, refresh
    from core.report import quality_report
    from core.sources import import_file
    from tests.conftest import item_rows

    rows = item_rows(4, candidates=3)
    for row, dimension in zip(rows, ["tone", "tone", "safety", "safety"], strict=True):
        row["dimension"] = dimension
    import_file(store, write_jsonl(tmp_path / "i.jsonl", rows), actor="t")
    _run(store, ROOT / "sample_data" / "sources" / "corrections.jsonl", "corrections",
         options=SourceOptions(trust=True))  # a source's judgments are never stale
    alice = AnnotationSession(store, project.config, "alice", "g-old")
    while alice.next_item() is not None:
        alice.press(1)
        alice.press(2)
        alice.save("One is clearer than two, which misses the point.")
    assert store.next_prompt_id("alice") is None
    later = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=100)

    with pytest.raises(BadInputError, match="--older-than DURATION"):
        refresh(store, project, actor="t")
    with pytest.raises(BadInputError, match="expected a duration"):
        refresh(store, project, actor="t", older_than="soon")
    dry = refresh(store, project, actor="t", older_than="90d", now=later, dry_run=True)
    # Alice's 4 decisions and her 3 on the corrections' items; the source's 3 are never stale.
    assert (dry.stale_decisions, dry.requests, dry.items) == (7, 7, 7)
    assert store.next_prompt_id("alice") is None  # a dry run re-queues nothing
    counts = refresh(store, project, actor="t", older_than="90d", now=later)
    assert counts.by_dimension == {"compliance": 2, "safety": 2, "tone": 2, "unspecified": 1}
    assert counts.by_annotator == {"alice": 7}
    again = refresh(store, project, actor="t", older_than="90d", now=later)
    assert (again.requests, again.already_queued) == (0, 7)
    assert refresh(store, project, actor="t", older_than="200d", now=later).stale_decisions == 0
    event = [e for e in store.events() if e.action == "refresh"]
    assert len(event) == 1 and json.loads(event[0].details)["requests"] == 7

    # Alice judges the re-queued items again: she flips the two tone items.
    alice = AnnotationSession(store, project.config, "alice", "g-new")
    seen = []
    while (screen := alice.next_item()) is not None:
        seen.append(screen.item.prompt.prompt_id)
        assert screen.revising  # her old decision is shown, to keep or change
        if screen.item.prompt.dimension == "tone":
            alice.press(3)
            alice.press(1)
        else:
            alice.press(1)
            alice.press(2)
        alice.save("Re-checked under the new tone guidelines.")
    assert len(seen) == 7 and store.next_prompt_id("alice") is None
    assert store.execute_for_test(
        "SELECT count(*) FROM current_judgments WHERE annotator = 'alice'") == [(7,)]
    changes = changes_at_refresh(store.refresh_outcomes())
    assert (changes.answered, changes.flipped) == (7, 2)
    assert changes.by_dimension == {"compliance": (2, 0), "safety": (2, 0), "tone": (2, 2),
                                    "unspecified": (1, 0)}
    report = quality_report(store, project, "t")
    assert report.sources is not None and report.sources.refresh == changes
    assert "experts" in report.sources.decided_by
    from core.report_html import render_html
    page = render_html(report)
    assert "Changed at refresh: 2 of 7 decisions re-made flipped" in page
    assert "<th scope=\"row\">tone</th><td>2</td><td>2</td>" in page
    assert store.verify_audit().ok

    # By guideline version: alice's decisions under g-new are current, nothing before it.
    assert refresh(store, project, actor="t", guideline_before="g-new").stale_decisions == 0
    moved = refresh(store, project, actor="t", guideline_before="g-newer", to=("bob",))
    assert moved.by_annotator == {"bob": 7}
    assert store.next_prompt_id("bob") is not None
    with pytest.raises(BadInputError, match="--to"):
        refresh(store, project, actor="t", guideline_before="x", to=("source:abtest",))


def test_cli_refresh_and_report(project: Project, store: LocalStore, tmp_path: Path) -> None:
    _run(store, ROOT / "sample_data" / "sources" / "dpo.jsonl", "dpo",
         options=SourceOptions(trust=True))
    store.close()
    where = ["-p", str(project.root)]
    result = runner.invoke(app, ["refresh", "--older-than", "30d", "--dry-run", *where])
    assert result.exit_code == 0, result.output
    assert "0 stale decisions" in result.output and "Dry run" in result.output
    result = runner.invoke(app, ["refresh", *where])
    assert result.exit_code == 2 and "--older-than DURATION" in result.output
    result = runner.invoke(app, ["report", *where], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Kept pairs by who decided: dpo" in result.output
    assert "Kept pairs by the prompt's user turns: 1 3 · 2 1." in result.output
    assert "Changed at refresh: no refreshed decision re-made yet." in result.output
    result = runner.invoke(app, ["pairs", "--source", "experts", *where], terminal_width=200)
    assert result.exit_code == 0 and "With --source experts: 0 kept." in result.output


def test_experts_confirm_or_overturn_pre_labels_and_the_report_counts_it(
        project: Project, store: LocalStore) -> None:
    from core.annotation import AnnotationSession
    from core.refresh import sources_section

    _run(store, ROOT / "sample_data" / "sources" / "corrections.jsonl", "corrections")
    for annotator, keep in (("alice", True), ("bob", False)):
        session = AnnotationSession(store, project.config, annotator, "g")
        while (screen := session.next_item()) is not None:
            assert screen.marks.complete  # the correction is pre-selected as best
            if not keep:
                session.press(screen.marks.worst)  # bob prefers the original: a new best
            session.save("The corrected text is right; the original is not." if keep else
                         "The original is shorter and says enough for a customer.")
    assert store.pre_label_outcomes() == [("corrections", 6, 3, 3)]
    assert sources_section(store).pre_labels == {"corrections": (6, 3, 3)}


def test_parquet_message_lists(store: LocalStore, tmp_path: Path) -> None:
    path = tmp_path / "conv.parquet"
    con = duckdb.connect()
    con.execute(
        "COPY (SELECT [{'role': 'user', 'content': 'Hi there'}, {'role': 'assistant', "
        "'content': 'Hello'}, {'role': 'user', 'content': 'Fees?'}] AS messages, "
        "[{'role': 'assistant', 'content': 'None in the euro area.'}] AS chosen, "
        f"[{{'role': 'assistant', 'content': 'Yes.'}}] AS rejected) TO '{path}' (FORMAT PARQUET)")
    con.close()
    counts = _run(store, path, "dpo")
    assert (counts.multi_turn_prompts, counts.new_preferences) == (1, 1)
    assert _rows(store, "SELECT prompt, turns FROM prompts") == [
        ("Fees?", [{"role": "user", "content": "Hi there"},
                   {"role": "assistant", "content": "Hello"}])]


def test_report_source_limits_the_pair_figures_as_pairs_does(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    """`prefer report --source` shares the option and the filter of pairs, balance and export:
    the scale, balance, confounds and staleness are of the pairs those sources decided."""
    from core.models import SourceFilter
    from core.report import quality_report
    from core.sources import parse_source_filter

    _run(store, ROOT / "sample_data" / "sources" / "dpo.jsonl", "dpo",
         options=SourceOptions(trust=True))
    everything = quality_report(store, project, "t")
    only_dpo = quality_report(store, project, "t", sources=parse_source_filter("dpo"))
    none = quality_report(store, project, "t", sources=parse_source_filter("no-dpo"))
    experts = quality_report(store, project, "t", sources=SourceFilter(("experts",)))
    assert everything.scale.kept == only_dpo.scale.kept == 4
    assert none.scale.kept == experts.scale.kept == 0
    assert none.filters.pairs_built == 0 and none.filters.dropped == {}
    assert sum(row.pairs for row in none.balance.dimension.rows) == 0
    assert sum(row.pairs for row in only_dpo.balance.dimension.rows) == 4
    assert none.confounds.length.pairs == 0 and only_dpo.confounds.length.pairs == 4
    assert only_dpo.filters.pairs_built == everything.filters.pairs_built
    store.close()
    where = ["-p", str(project.root)]
    result = runner.invoke(app, ["report", "--source", "no-dpo", *where], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Pairs decided by: not dpo (--source)" in result.output
    assert "0 kept pairs" in result.output
    result = runner.invoke(app, ["report", "--source", "dpo", "--json", *where])
    data = json.loads(result.output)
    assert data["scale"]["kept"] == 4 and data["source_filter"] == {"include": ["dpo"],
                                                                    "exclude": []}
    html = tmp_path / "r.html"
    result = runner.invoke(app, ["report", "--source", "experts", "--html", str(html), *where])
    assert result.exit_code == 0, result.output
    assert "Pairs decided by: experts (<code>--source</code>)" in html.read_text()
    result = runner.invoke(app, ["report", "--source", "abtests", *where])
    assert result.exit_code == 2 and "'abtests' names no source" in result.output


def test_refresh_to_another_annotator_supersedes_the_stale_decision(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    """`prefer refresh --to bob`: bob's new decision becomes the item's current one, alice's is
    superseded (both stay in the audit trail), pairs rest on bob's alone (no dispute), and
    "changed at refresh" counts bob's flips against alice's decisions."""
    from datetime import UTC, datetime, timedelta

    from core.annotation import AnnotationSession
    from core.pairs import build_pairs
    from core.refresh import changes_at_refresh, refresh
    from core.report import quality_report
    from core.sources import import_file
    from tests.conftest import item_rows

    rows = item_rows(3, candidates=3)
    for row in rows:
        row["dimension"] = "tone"
    import_file(store, write_jsonl(tmp_path / "i.jsonl", rows), actor="t")
    alice = AnnotationSession(store, project.config, "alice", "g-old")
    while alice.next_item() is not None:
        alice.press(1)
        alice.press(2)
        alice.save("One is clearer than two, which misses the point.")
    alice_ids = {r[0] for r in _rows(store, "SELECT judgment_id FROM judgments")}
    later = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=100)
    counts = refresh(store, project, actor="t", older_than="90d", now=later, to=("bob",))
    assert (counts.stale_decisions, counts.requests, counts.by_annotator) == (3, 3, {"bob": 3})

    bob = AnnotationSession(store, project.config, "bob", "g-new")
    screen = bob.next_item()
    assert screen is not None
    bob.skip()  # a skip leaves alice's decision in force
    skipped = screen.item.prompt.prompt_id
    current = _rows(store, "SELECT annotator FROM current_judgments WHERE kind = 'ranked' "
                           f"AND prompt_id = '{skipped}'")
    assert current == [("alice",)]
    alice_decisions = {r[0]: (r[1], r[2]) for r in _rows(
        store, "SELECT prompt_id, best_candidate_id, worst_candidate_id FROM judgments "
               "WHERE annotator = 'alice'")}
    flipped_items = []
    while (screen := bob.next_item()) is not None:
        prompt_id = screen.item.prompt.prompt_id
        ids = [c.candidate_id for c in screen.shown]
        best, worst = (ids.index(c) + 1 for c in alice_decisions[prompt_id])
        if prompt_id != skipped and not flipped_items:  # bob flips the first he decides
            best, worst = worst, best
            flipped_items.append(prompt_id)
        bob.press(best)
        bob.press(worst)
        bob.save("Re-checked under the new tone guidelines.")
    assert store.next_prompt_id("bob") is None
    # Every item's current decision is bob's; alice's rows are all still stored.
    assert _rows(store, "SELECT DISTINCT annotator FROM current_judgments "
                        "WHERE kind = 'ranked'") == [("bob",)]
    assert alice_ids <= {r[0] for r in _rows(store, "SELECT judgment_id FROM judgments")}
    assert sorted(r[0] for r in _rows(store, "SELECT judgment_id FROM refresh_superseded")) == \
        sorted(alice_ids)
    build = build_pairs(store, project.config, "t")
    assert build.held_back_disputed == 0 and build.kept > 0
    changes = changes_at_refresh(store.refresh_outcomes())
    assert (changes.answered, changes.flipped) == (3, 1)
    assert changes.by_dimension == {"tone": (3, 1)}
    report = quality_report(store, project, "t")
    assert report.sources is not None and report.sources.refresh == changes
    assert report.agreement.overall is None  # one current decision per item: nothing to compare
    # Bob came back to the item he skipped and decided it too. Alice's superseded decisions are
    # no longer current, so never found stale again: only bob's 3.
    assert refresh(store, project, actor="t", older_than="90d", now=later,
                   dry_run=True).by_annotator == {"bob": 3}
    assert store.verify_audit().ok


def test_jsonl_is_streamed_with_the_files_own_line_numbers(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    """A byte-order mark, CRLF endings and blank lines are read as the file has them; a line that
    is not UTF-8 is refused with its number (exit 2, nothing stored); a gzip file reads the same
    as the plain one."""
    rows = [json.dumps({"prompt": "Fees?", "response": r, "signal": s}).encode()
            for r, s in (("None.", "up"), ("Some.", "down"))]
    good = b"\xef\xbb\xbf" + rows[0] + b"\r\n\r\n   \n" + rows[1] + b"\n"
    plain = tmp_path / "log.jsonl"
    plain.write_bytes(good)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(good + b'{"prompt": "Q", "response": "caf\xe9", "signal": "up"}\n')
    before = _stored(store)
    with pytest.raises(ImportRowError) as caught:
        _run(store, bad, "feedback")
    assert caught.value.line == 5 and "not valid UTF-8" in caught.value.problem
    assert _stored(store) == before
    packed = tmp_path / "log.jsonl.gz"
    packed.write_bytes(gzip.compress(good))
    from_gzip = import_source(store, packed, source_kind="feedback", actor="t",
                              file_format="jsonl", dry_run=True)
    counts = _run(store, plain, "feedback")
    assert (counts.rows, counts.new_preferences) == (from_gzip.rows,
                                                    from_gzip.new_preferences) == (2, 1)
    store.close()
    result = runner.invoke(app, ["import", str(bad), "--kind", "feedback", "-p",
                                 str(project.root)])
    assert result.exit_code == 2 and f"{bad}:5: not valid UTF-8" in result.output


def test_the_issues_commands_run_as_written(project: Project, tmp_path: Path) -> None:
    """The commands of the issue's "What a user can do" block, on the sample files turned into
    the formats it names (CSV, Parquet, a CSV with other field names, HH transcripts)."""
    samples = ROOT / "sample_data" / "sources"
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM read_json('{samples / 'abtest.jsonl'}')) "
                f"TO '{tmp_path / 'ab_results.csv'}' (HEADER)")
    con.execute(f"COPY (SELECT * FROM read_json('{samples / 'corrections.jsonl'}')) "
                f"TO '{tmp_path / 'corrections.parquet'}' (FORMAT PARQUET)")
    con.execute("COPY (SELECT prompt AS question, response AS answer, score AS grade, reviewer, "
                f"rubric FROM read_json('{samples / 'ratings.jsonl'}')) "
                f"TO '{tmp_path / 'reviews.csv'}' (HEADER)")
    con.close()
    transcripts = [line for line in (samples / "dpo.jsonl").read_text().splitlines()
                   if '"prompt"' not in line]
    (tmp_path / "hh.jsonl").write_text("\n".join(transcripts) + "\n")
    where = ["-p", str(project.root)]
    commands = [
        ([str(samples / "feedback.jsonl"), "--kind", "feedback"], "Implied preferences: 4 added"),
        ([str(tmp_path / "ab_results.csv"), "--kind", "abtest", "--max-p", "0.05"],
         "Implied preferences: 2 added"),
        ([str(tmp_path / "corrections.parquet"), "--kind", "corrections"],
         "Implied preferences: 3 added"),
        ([str(tmp_path / "reviews.csv"), "--kind", "ratings", "--map",
          "prompt=question,response=answer,score=grade"], "Implied preferences: 3 added"),
        ([str(tmp_path / "hh.jsonl"), "--kind", "dpo"], "Prompts: 2 added (1 multi-turn)"),
    ]
    for arguments, expected in commands:
        result = runner.invoke(app, ["import", *arguments, *where], terminal_width=200)
        assert result.exit_code == 0, (arguments, result.output)
        assert expected in result.output, (arguments, result.output)
    result = runner.invoke(app, ["refresh", "--older-than", "90d", *where])
    assert result.exit_code == 0 and "0 stale decisions" in result.output, result.output


def test_map_reads_either_order() -> None:
    from core.sources import parse_field_map

    fields = ("prompt", "response", "score")
    assert parse_field_map("prompt=question,answer=response", fields) == {
        "question": "prompt", "answer": "response"}
    assert parse_field_map("score=response", fields) == {"score": "response"}  # both prefer's
    with pytest.raises(BadInputError, match="'grade' is not a field prefer reads"):
        parse_field_map("mark=grade", fields)
    with pytest.raises(BadInputError, match="both 'q' and 'question' map to 'prompt'"):
        parse_field_map("q=prompt,prompt=question", fields)
