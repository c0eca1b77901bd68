"""Pair building: strategies, where each item's decision comes from, every filter on crafted
cases, contradictions across near-duplicate prompts, balance plans, the split, the commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from core.export import ExportOptions, export_dataset
from core.models import Adjudication, Judgment
from core.pairs import build_pairs, pairs_from_judgment
from core.project import Project
from core.sources import import_file
from core.store import LocalStore
from core.store.pairs import ends_mid_sentence
from tests.conftest import item_rows, write_jsonl
from tui.cli import app

# Ordinary, clearly different answers: no filter drops a pair built from them.
GOOD = ("You can close the account online under Settings, then Account.",
        "Please visit a branch with photo ID; closing takes two working days.",
        "No.",
        "Call us on 0800 123 456 and we will send the closing form by post.",
        "Accounts with a loan cannot be closed before the loan is repaid.")


def _import(store: LocalStore, tmp_path: Path, rows: list[dict[str, Any]],
            name: str = "items.jsonl") -> None:
    import_file(store, write_jsonl(tmp_path / name, rows),
                actor="t")


def _ids(store: LocalStore, prompt_id: str) -> list[str]:
    item = store.get_item(prompt_id)
    assert item is not None
    return [c.candidate_id for c in item.candidates]


def _judge(store: LocalStore, annotator: str, prompt_id: str, best: int, worst: int,
           ranking: tuple[int, ...] | None = None, dimension: str | None = None) -> Judgment:
    ids = _ids(store, prompt_id)
    return store.save_judgment(Judgment(
        f"j_{annotator}_{prompt_id}", annotator, prompt_id, "ranked", tuple(ids),
        best_candidate_id=ids[best - 1], worst_candidate_id=ids[worst - 1],
        ranking=tuple(ids[r - 1] for r in ranking) if ranking else None,
        dimensions=(dimension,) if dimension else (), justification="My reading of the item."))


def _pairs(store: LocalStore, status: str | None = "kept") -> set[tuple[str, str, str]]:
    where = "" if status is None else f"WHERE status = '{status}'"
    return {tuple(r) for r in store.execute_for_test(
        f"SELECT prompt_id, chosen_id, rejected_id FROM pairs {where}")}


def _status_of(store: LocalStore) -> dict[tuple[str, str, str], str]:
    return {(r[0], r[1], r[2]): r[3] for r in store.execute_for_test(
        "SELECT prompt_id, chosen_id, rejected_id, status FROM pairs")}


# --- strategies ---------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [2, 3, 4, 5])
@pytest.mark.parametrize("strategy", ["best-vs-rest", "best-vs-worst", "all-ordered"])
def test_strategies_match_the_rule(project: Project, store: LocalStore, tmp_path: Path,
                                   k: int, strategy: str) -> None:
    _import(store, tmp_path, [{"id": "q1", "prompt": "May I close my account online?",
                               "candidates": list(GOOD[:k])}])
    judgment = _judge(store, "alice", "q1", 2, 1, ranking=(2, *range(3, k + 1), 1))
    build = build_pairs(store, project.config, "t", strategy=strategy)
    expected = pairs_from_judgment(
        judgment, strategy, tuple((c,) for c in judgment.ranking or ()))
    assert {(c, r) for _, c, r in _pairs(store)} == set(expected)
    assert build.kept == len(expected) == {
        "best-vs-rest": 2 * k - 3, "best-vs-worst": 1, "all-ordered": k * (k - 1) // 2}[strategy]


def test_all_ordered_gives_no_pair_between_tied_candidates(project: Project, store: LocalStore,
                                                           tmp_path: Path) -> None:
    _import(store, tmp_path, [{"id": "q1", "prompt": "May I close my account online?",
                               "candidates": list(GOOD[:4])}])
    a, b, c, d = _ids(store, "q1")
    judgment = _judge(store, "alice", "q1", 1, 4)
    store.execute_for_test("INSERT INTO judgment_rankings VALUES (?, ?, NULL)",
                           [judgment.judgment_id, [[a], [b, c], [d]]])
    build_pairs(store, project.config, "t", strategy="all-ordered")
    assert {(x, y) for _, x, y in _pairs(store)} == {(a, b), (a, c), (a, d), (b, d), (c, d)}


def test_decisions_come_from_adjudication_else_unanimous_annotators(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    _import(store, tmp_path, [{"id": f"q{i}", "prompt": f"Question {i}: {GOOD[i]}",
                               "candidates": list(GOOD[:3])} for i in range(4)])
    _judge(store, "alice", "q0", 1, 3)
    _judge(store, "bob", "q0", 1, 3)  # unanimous
    _judge(store, "alice", "q1", 1, 3)
    _judge(store, "bob", "q1", 2, 3)  # disputed, no decision: held back
    _judge(store, "alice", "q2", 1, 3)
    _judge(store, "bob", "q2", 2, 3)  # disputed, then adjudicated
    ids = _ids(store, "q2")
    store.save_adjudication(Adjudication("a1", "q2", "rita", "Two cites the policy.",
                                         best_candidate_id=ids[1], worst_candidate_id=ids[2]))
    _judge(store, "alice", "q3", 1, 3)  # flagged: held back
    from tests.test_adjudication import new_flag
    store.save_flag(new_flag("bob", "q3", "The prompt is cut off."))
    build = build_pairs(store, project.config, "t")
    decisions = dict(store.execute_for_test("SELECT DISTINCT prompt_id, decision FROM pairs"))
    assert decisions == {"q0": "unanimous", "q2": "adjudicated"}
    assert (build.held_back_disputed, build.held_back_flagged) == (1, 1)
    chosen_q2 = {c for p, c, _ in _pairs(store) if p == "q2" and c == ids[1]}
    assert chosen_q2 == {ids[1]}
    # Agreement: q0's pairs are implied by both annotators; q2's best-over-rest only by bob.
    agreement = {(p, c, r): a for p, c, r, a in store.execute_for_test(
        "SELECT prompt_id, chosen_id, rejected_id, agreement FROM pairs")}
    assert all(a == 1.0 for (p, _, _), a in agreement.items() if p == "q0")
    assert agreement[("q2", ids[1], ids[0])] == 0.5


# --- filters ------------------------------------------------------------------------------------


def _one_item_with(store: LocalStore, tmp_path: Path, bad: str, **extra: Any) -> list[str]:
    _import(store, tmp_path, [{"id": "q1", "prompt": "May I close my account online?",
                               "candidates": [GOOD[0], GOOD[1], bad], **extra}])
    return _ids(store, "q1")


@pytest.mark.parametrize("bad", ["\t\n  \n", "\u3000\u00a0"])
def test_empty_or_whitespace_only(project: Project, store: LocalStore, tmp_path: Path,
                                  bad: str) -> None:
    ids = _one_item_with(store, tmp_path, "Placeholder answer that will be blanked.")
    # Import refuses blank candidates; a buggy tool could still leave one behind.
    store.execute_for_test("UPDATE candidates SET text = ? WHERE candidate_id = ?", [bad, ids[2]])
    _judge(store, "alice", "q1", 1, 3)
    build = build_pairs(store, project.config, "t")
    assert build.dropped["empty"] == 2  # best > blank, middle > blank
    assert all(ids[2] not in (c, r) for _, c, r in _pairs(store))


@pytest.mark.parametrize("bad", ["Close it online.\x07", "Close it online \ufffd today."])
def test_control_characters_and_replacement_characters(project: Project, store: LocalStore,
                                                       tmp_path: Path, bad: str) -> None:
    ids = _one_item_with(store, tmp_path, bad)
    _judge(store, "alice", "q1", 1, 3)
    build = build_pairs(store, project.config, "t")
    assert build.dropped["encoding"] == 2 and build.kept == 1
    assert _pairs(store) == {("q1", ids[0], ids[1])}


def test_mid_sentence_rule_python_and_sql_agree(store: LocalStore) -> None:
    texts = {"Close it online.": False, "Close it online and then": True,
             "Steps:\n- open the app\n- tap Close": False, "| a | b |": False,
             "It costs 5": True, "He said \"fine\"": False, "Really?": False, "Nur so…": False,
             "Siehe Abschnitt 3:": False, "```\ncode\n```": False, "## Heading": False,
             "Ends with a comma,": True, "   ": False, "遅れます。": False,
             "Viel Spaß! 🎉": False, "Danke ❤️": False, "Gern 👍🏼 ": False}
    for text, mid in texts.items():
        assert ends_mid_sentence(text) is mid, text
    from core.store.pairs import COMPLETE_ENDING, STRUCTURED_LAST_LINE, SYMBOL_ENDING
    for text, mid in texts.items():
        if not text.strip():
            continue
        row = store.execute_for_test(
            "SELECT NOT regexp_matches(?, ?) AND NOT regexp_matches(?, ?) "
            "AND NOT regexp_matches(?, ?)",
            [text, COMPLETE_ENDING, text, STRUCTURED_LAST_LINE, text, SYMBOL_ENDING])
        assert row[0][0] is mid, text


def test_truncated_imported_and_generated(project: Project, store: LocalStore,
                                          tmp_path: Path) -> None:
    ids = _one_item_with(store, tmp_path, "To close the account you first need to")
    _judge(store, "alice", "q1", 1, 3)
    assert build_pairs(store, project.config, "t").dropped["truncated"] == 2
    # A generated candidate is judged by the generation's own flag (done_reason "length").
    store.execute_for_test("UPDATE candidates SET origin = 'generated' WHERE candidate_id = ?",
                           [ids[2]])
    assert build_pairs(store, project.config, "t").dropped["truncated"] == 0
    store.execute_for_test(
        "INSERT INTO generations (generation_id, run_id, prompt_id, variant, model, status, "
        "attempts, candidate_id, options, done_reason, truncated, started_at, finished_at) "
        "VALUES ('g1', 'r1', 'q1', 'thorough', 'm', 'ok', 1, ?, '{}', 'length', true, "
        "now(), now())", [ids[0]])
    build = build_pairs(store, project.config, "t")
    assert build.dropped["truncated"] == 2 and build.kept == 1  # the best is cut off


def test_near_identical_with_the_configured_threshold(project: Project, store: LocalStore,
                                                      tmp_path: Path) -> None:
    ids = _one_item_with(store, tmp_path, "you can CLOSE the account online under settings, "
                                          "then account!")
    _judge(store, "alice", "q1", 1, 3)
    build = build_pairs(store, project.config, "t")
    assert build.dropped["near_identical"] == 1
    assert _status_of(store)[("q1", ids[0], ids[2])] == "near_identical"
    similarity = store.execute_for_test(
        "SELECT similarity FROM pairs WHERE chosen_id = ? AND rejected_id = ?", [ids[0], ids[2]])
    assert 0.95 <= similarity[0][0] < 1.0
    # Only case and punctuation differ: a trivial pair, dropped whatever the threshold.
    assert build.trivial == 1
    project.config.pairs.near_identical_threshold = 0.995
    assert build_pairs(store, project.config, "t").dropped["near_identical"] == 1


def test_near_identical_without_meaning_follows_the_threshold(project: Project,
                                                              store: LocalStore,
                                                              tmp_path: Path) -> None:
    ids = _one_item_with(store, tmp_path, "You can close the account online under Settings, "
                                          "then Account, too.")
    _judge(store, "alice", "q1", 1, 3)
    build = build_pairs(store, project.config, "t")
    assert (build.dropped["near_identical"], build.trivial, build.minimal) == (1, 0, 0)
    assert _status_of(store)[("q1", ids[0], ids[2])] == "near_identical"
    project.config.pairs.near_identical_threshold = 0.995
    assert build_pairs(store, project.config, "t").dropped["near_identical"] == 0


def test_language_mismatch_uses_the_prompts_language(project: Project, store: LocalStore,
                                                     tmp_path: Path) -> None:
    ids = _one_item_with(store, tmp_path, "Sie können das Konto online unter Einstellungen "
                                          "schließen, dann unter Konto.", language="en")
    _judge(store, "alice", "q1", 1, 3)
    store.execute_for_test("UPDATE candidates SET language = CASE WHEN candidate_id = ? "
                           "THEN 'de' ELSE 'en' END", [ids[2]])
    build = build_pairs(store, project.config, "t")
    assert build.dropped["language_mismatch"] == 2 and build.kept == 1
    # Regional tags compare on the base language: en-GB prompts, en responses agree.
    store.execute_for_test("UPDATE prompts SET language = 'en-GB'")
    assert build_pairs(store, project.config, "t").dropped["language_mismatch"] == 2
    # Unknown languages ('und', too short to tell) never count as a mismatch.
    store.execute_for_test("UPDATE candidates SET language = 'und' WHERE candidate_id = ?",
                           [ids[2]])
    assert build_pairs(store, project.config, "t").dropped["language_mismatch"] == 0


def test_duplicate_pairs_keep_the_first(project: Project, store: LocalStore,
                                        tmp_path: Path) -> None:
    row = {"prompt": "May I close my account online?", "candidates": list(GOOD[:2])}
    _import(store, tmp_path, [{"id": "q1", **row}, {"id": "q2", **row}])
    _judge(store, "alice", "q1", 1, 2)
    _judge(store, "alice", "q2", 1, 2)
    build = build_pairs(store, project.config, "t")
    assert build.dropped["duplicate"] == 1 and build.kept == 1
    assert {p for p, _, _ in _pairs(store)} == {"q1"}


def test_contradictions_across_near_duplicate_prompts_are_held_back(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    answers = list(GOOD[:2])
    _import(store, tmp_path, [
        {"id": "q1", "prompt": "May I close my account online?", "candidates": answers},
        {"id": "q2", "prompt": "May I close my account online ?", "candidates": answers},
        {"id": "q3", "prompt": "What is the fee for a transfer abroad?", "candidates": answers},
    ])
    _judge(store, "alice", "q1", 1, 2)
    _judge(store, "alice", "q2", 2, 1)  # the opposite, on a near copy of q1
    _judge(store, "alice", "q3", 2, 1)  # same texts, unrelated prompt: no contradiction
    build = build_pairs(store, project.config, "t")
    assert build.dropped["contradiction"] == 2
    assert [(c.prompt_id, c.other_prompt_id) for c in build.contradictions] == [("q1", "q2")]
    assert build.contradictions[0].chosen_start == GOOD[0][:60]
    assert {p for p, _, _ in _pairs(store)} == {"q3"}
    groups = dict(store.execute_for_test("SELECT DISTINCT prompt_id, prompt_group FROM pairs"))
    assert groups["q1"] == groups["q2"] == "q1" and groups["q3"] == "q3"


# --- balance ------------------------------------------------------------------------------------


def test_balance_apply_keeps_the_highest_agreement_and_is_deterministic(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    rows = [{**r, "dimension": "tone" if i < 6 else "accuracy"}
            for i, r in enumerate(item_rows(8, candidates=2))]
    _import(store, tmp_path, rows)
    for i in range(8):
        _judge(store, "alice", f"q{i:03d}", 1, 2)
    # q000..q002: bob disagrees and a reviewer sides with alice: agreement 0.5 on their pair.
    for i in range(3):
        prompt_id = f"q{i:03d}"
        _judge(store, "bob", prompt_id, 2, 1)
        ids = _ids(store, prompt_id)
        store.save_adjudication(Adjudication(f"a{i}", prompt_id, "rita", "Alice is right.",
                                             best_candidate_id=ids[0], worst_candidate_id=ids[1]))
    store.save_balance_plan("dimension", {"tone": 0.5, "accuracy": 0.5}, 42, "t")
    build = build_pairs(store, project.config, "t")
    kept = _pairs(store)
    assert build.kept == 4 and build.balanced_out == 4
    tone = {p for p, _, _ in kept if p < "q006"}
    assert len(tone) == 2 and tone <= {"q003", "q004", "q005"}  # full agreement first
    assert build_pairs(store, project.config, "t").kept == 4 and _pairs(store) == kept
    store.save_balance_plan("dimension", None, 42, "t")
    assert build_pairs(store, project.config, "t").balanced_out == 0


def test_balance_command_shows_bars_deficits_and_applies(project: Project, store: LocalStore,
                                                        tmp_path: Path) -> None:
    rows = [{**r, "dimension": "tone" if i < 9 else "accuracy"}
            for i, r in enumerate(item_rows(10, candidates=2))]
    _import(store, tmp_path, rows)
    for i in range(10):
        _judge(store, "alice", f"q{i:03d}", 1, 2)
    store.close()
    runner = CliRunner()
    shown = runner.invoke(app, ["balance", "-p", str(project.root)])
    assert shown.exit_code == 0, shown.output
    assert "┃" in shown.output and "█" in shown.output
    # 1 of 10 is accuracy; 20% needs x with (1 + x) / (10 + x) = 0.2: x = 1.25, so 2 pairs.
    assert "accuracy needs 2 more pairs to reach 20%" in shown.output
    assert "safety needs" in shown.output
    bad = runner.invoke(app, ["balance", "-p", str(project.root), "--target", "humour=0.2"])
    assert bad.exit_code == 2 and "'humour' is not one of" in bad.output
    over = runner.invoke(app, ["balance", "-p", str(project.root), "--target",
                               "tone=0.8,accuracy=0.5"])
    assert over.exit_code == 2 and "add up to more than 1" in over.output
    applied = runner.invoke(app, ["balance", "-p", str(project.root), "--target",
                                  "tone=0.5,accuracy=0.5", "--apply", "--json"])
    assert applied.exit_code == 0, applied.output
    result = json.loads(applied.output)
    assert result["kept"] == 2 and result["balanced_out"] == 8
    out = tmp_path / "out"
    exported = runner.invoke(app, ["export", "-o", str(out), "-p", str(project.root)])
    assert exported.exit_code == 0, exported.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["balanced_out_pairs"] == 8
    assert manifest["settings"]["balance"] == {"by": "dimension",
                                               "targets": {"tone": 0.5, "accuracy": 0.5}}


# --- the split ----------------------------------------------------------------------------------


def test_split_is_grouped_by_near_duplicate_prompts_and_stratified(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    dims = project.config.project.dimensions
    sizes = {"tone": 40, "accuracy": 27, "compliance": 13, "disclosure": 7, "safety": 3}
    rows, n = [], 0
    for dim in dims:
        for _ in range(sizes[dim]):
            rows.append({**item_rows(n + 1)[n], "dimension": dim, "language": "en"})
            n += 1
    # Near copies of q000: they must land in q000's split.
    for copy in range(3):
        rows.append({**rows[0], "id": f"copy{copy}", "prompt": rows[0]["prompt"] + " " * copy
                     + ("!" if copy else "?"), "candidates": [f"Copy {copy}: {GOOD[copy]}",
                                                               GOOD[copy + 1]]})
    _import(store, tmp_path, rows)
    for row in rows:
        _judge(store, "alice", row["id"], 1, 2)
    out = tmp_path / "out"
    export_dataset(store, project.config, out, ExportOptions(format="jsonl"), actor="t")
    lines = [json.loads(x) for name in ("train.jsonl", "val.jsonl")
             for x in (out / name).read_text(encoding="utf-8").splitlines()]
    split_of: dict[str, set[str]] = {}
    for line in lines:
        split_of.setdefault(line["prompt_id"], set()).add(line["split"])
    assert all(len(s) == 1 for s in split_of.values())  # no prompt in both files
    assert split_of["copy0"] == split_of["copy1"] == split_of["copy2"] == split_of["q000"]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for dim, counts in manifest["counts"]["prompts_by_dimension"].items():
        total = counts["train"] + counts["validation"]
        # Within one prompt, plus the rest of a multi-prompt group drawn last (q000 and its
        # three copies are one group of four, in the first dimension).
        slack = 1 + (3 if dim == rows[0]["dimension"] else 0)
        assert abs(counts["validation"] - 0.15 * total) <= slack, (dim, counts)
    by_language = manifest["counts"]["pairs_by_split_dimension_language"]
    # 40 items of 3 candidates (3 pairs each) and 3 copies of 2 (1 pair each).
    assert by_language["train"]["tone"]["en"] + by_language["validation"]["tone"]["en"] == 123
    assert manifest["guideline_version"] is None or manifest["guideline_version"].startswith("g-")
    assert set(manifest["counts"]["dropped_pairs"]) >= {"empty", "near_identical", "contradiction"}


def test_pairs_command_explains_what_was_dropped(project: Project, store: LocalStore,
                                                 tmp_path: Path) -> None:
    ids = _one_item_with(store, tmp_path, "To close the account you first need to")
    _judge(store, "alice", "q1", 1, 3)
    store.close()
    result = CliRunner().invoke(app, ["pairs", "-p", str(project.root)])
    assert result.exit_code == 0, result.output
    assert "Built 3 pairs from 1 item (best-vs-rest); 1 kept." in result.output
    assert "truncated" in result.output and "ending mid-sentence" in result.output
    as_json = CliRunner().invoke(app, ["pairs", "-p", str(project.root), "--json",
                                       "--strategy", "best-vs-worst"])
    assert json.loads(as_json.output)["dropped"]["truncated"] == 1, ids
    bad = CliRunner().invoke(app, ["pairs", "-p", str(project.root), "--strategy", "random"])
    assert bad.exit_code == 2 and "unknown pair strategy 'random'" in bad.output
