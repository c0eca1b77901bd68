"""Export: the pair rule, a seeded split grouped by prompt, TRL rows that parse, the manifest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from core.annotation import AnnotationSession
from core.errors import NothingToExportError
from core.export import ExportOptions, export_dataset
from core.models import Judgment
from core.pairs import pairs_from_judgment
from core.project import Project
from core.sources import import_file
from core.store import LocalStore
from tests.conftest import item_rows, write_jsonl
from tui.cli import app

TEMPLATE_TOKENS = ("<|im_start|>", "<|begin_of_text|>", "[INST]", "<s>", "</s>")


def _rank_all(store: LocalStore, project: Project, annotator: str = "alice",
              best: int = 1, worst: int = 2) -> int:
    session = AnnotationSession(store, project.config, annotator, "g")
    done = 0
    while session.next_item() is not None:
        session.press(best)
        session.press(worst)
        session.save("The best is accurate; the worst is not.")
        done += 1
    return done


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _check_trl_rows(rows: list[dict[str, Any]], conversational: bool) -> None:
    """The validator checklist of shared/reference/export-formats.md, for TRL explicit rows."""
    assert rows
    keys = {tuple(row) for row in rows}
    assert keys == {("prompt", "chosen", "rejected")}
    for row in rows:
        if conversational:
            prompt, chosen, rejected = row["prompt"], row["chosen"], row["rejected"]
            assert all(isinstance(m, dict) and set(m) == {"role", "content"}
                       for m in [*prompt, *chosen, *rejected])
            assert prompt[-1]["role"] == "user"
            assert all(m["role"] != "system" for m in prompt[1:])
            assert chosen[0]["role"] == rejected[0]["role"] == "assistant"
            texts = [m["content"] for m in [*prompt, *chosen, *rejected]]
            assert chosen != rejected
        else:
            texts = [row["prompt"], row["chosen"], row["rejected"]]
            assert all(isinstance(t, str) for t in texts)
            assert row["chosen"] != row["rejected"]
            assert row["prompt"] == row["prompt"].rstrip()
            # The separator TRL needs between prompt and answer, once.
            assert row["chosen"][0] == row["rejected"][0] == " "
        assert all(t.strip() for t in texts)
        assert not any(token in t for t in texts for token in TEMPLATE_TOKENS)


@pytest.mark.parametrize(("k", "expected"), [(2, 1), (3, 3), (4, 5), (5, 7)])
def test_pair_rule_counts(k: int, expected: int) -> None:
    shown = tuple(f"c{i}" for i in range(k))
    judgment = Judgment("j", "a", "p", "ranked", shown, best_candidate_id="c1",
                        worst_candidate_id="c0")
    pairs = pairs_from_judgment(judgment)
    assert len(pairs) == expected
    assert all(chosen == "c1" for chosen, _ in pairs[: k - 1])
    assert all(rejected == "c0" for _, rejected in pairs[k - 1:])
    assert len(set(pairs)) == len(pairs)


def test_export_follows_the_pair_rule(project: Project, store: LocalStore,
                                      tmp_path: Path) -> None:
    import_file(store, write_jsonl(tmp_path / "i.jsonl", item_rows(1, candidates=4)), actor="t")
    session = AnnotationSession(store, project.config, "alice", "g")
    screen = session.next_item()
    assert screen is not None
    texts = [c.text for c in screen.shown]
    session.press(2)
    session.press(4)
    session.save("Two is complete; four gives wrong advice.")
    export_dataset(store, project.config, tmp_path / "out",
                   ExportOptions(validation_fraction=0.0), actor="alice")
    rows = _read(tmp_path / "out" / "train.jsonl")
    got = sorted((r["chosen"].removeprefix(" "), r["rejected"].removeprefix(" ")) for r in rows)
    best, worst = texts[1], texts[3]
    expected = sorted([(best, texts[0]), (best, texts[2]), (best, worst),
                       (texts[0], worst), (texts[2], worst)])
    assert got == expected


def test_split_is_seeded_grouped_by_prompt_and_85_15(project: Project, store: LocalStore,
                                                     tmp_path: Path) -> None:
    import_file(store, write_jsonl(tmp_path / "i.jsonl", item_rows(40, candidates=3)), actor="t")
    _rank_all(store, project)
    first = export_dataset(store, project.config, tmp_path / "a", ExportOptions(), actor="t")
    train = _read(tmp_path / "a" / "train.jsonl")
    val = _read(tmp_path / "a" / "val.jsonl")
    assert first.prompts_by_split == {"train": 34, "validation": 6}
    assert len(train) + len(val) == 40 * 3
    assert not {r["prompt"] for r in train} & {r["prompt"] for r in val}
    again = export_dataset(store, project.config, tmp_path / "b", ExportOptions(), actor="t")
    assert again.files == first.files  # same seed, same bytes
    other = export_dataset(store, project.config, tmp_path / "c", ExportOptions(seed=99),
                           actor="t")
    assert other.files != first.files


def test_standard_rows_without_system_prompts(project: Project, store: LocalStore,
                                              tmp_path: Path) -> None:
    import_file(store, write_jsonl(tmp_path / "i.jsonl", item_rows(10)), actor="t")
    _rank_all(store, project)
    result = export_dataset(store, project.config, tmp_path / "out", ExportOptions(), actor="t")
    assert not result.conversational
    _check_trl_rows(_read(tmp_path / "out" / "train.jsonl"), conversational=False)


def test_conversational_rows_put_the_system_message_first(project: Project, store: LocalStore,
                                                          tmp_path: Path) -> None:
    rows = item_rows(10)
    rows[0]["system"] = "You are the assistant of Contoso Health. Never diagnose."
    import_file(store, write_jsonl(tmp_path / "i.jsonl", rows),
                actor="t")
    _rank_all(store, project)
    result = export_dataset(store, project.config, tmp_path / "out",
                            ExportOptions(validation_fraction=0.0), actor="t")
    assert result.conversational
    exported = _read(tmp_path / "out" / "train.jsonl")
    _check_trl_rows(exported, conversational=True)
    with_system = [r for r in exported if r["prompt"][0]["role"] == "system"]
    assert len(with_system) == 3
    assert with_system[0]["prompt"][0]["content"].startswith("You are the assistant of Contoso")
    assert with_system[0]["prompt"][1] == {"role": "user", "content": rows[0]["prompt"]}


def test_conversational_flag_forces_messages(project: Project, store: LocalStore,
                                             tmp_path: Path) -> None:
    import_file(store, write_jsonl(tmp_path / "i.jsonl", item_rows(3)), actor="t")
    _rank_all(store, project)
    export_dataset(store, project.config, tmp_path / "out",
                   ExportOptions(conversational=True, validation_fraction=0.0), actor="t")
    rows = _read(tmp_path / "out" / "train.jsonl")
    _check_trl_rows(rows, conversational=True)
    assert rows[0]["prompt"] == [{"role": "user", "content": rows[0]["prompt"][0]["content"]}]


def test_manifest_counts_settings_and_hashes(project: Project, store: LocalStore,
                                             tmp_path: Path) -> None:
    rows = item_rows(20)
    for i, row in enumerate(rows):
        row["dimension"] = ["tone", "safety"][i % 2]
    import_file(store, write_jsonl(tmp_path / "i.jsonl", rows), actor="t")
    _rank_all(store, project)
    export_dataset(store, project.config, tmp_path / "out", ExportOptions(), actor="alice")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    for name in ("train.jsonl", "val.jsonl"):
        data = (tmp_path / "out" / name).read_bytes()
        assert manifest["files"][name]["sha256"] == hashlib.sha256(data).hexdigest()
        assert manifest["files"][name]["pairs"] == len(data.splitlines())
    counts = manifest["counts"]
    assert counts["pairs"]["train"] + counts["pairs"]["validation"] == 60
    assert sum(counts["pairs_by_dimension"]["train"].values()) == counts["pairs"]["train"]
    assert set(counts["pairs_by_dimension"]["train"]) <= {"tone", "safety"}
    assert manifest["settings"]["seed"] == project.config.export.seed
    assert manifest["settings"]["validation_fraction"] == 0.15
    events = [e for e in store.events() if e.action == "export"]
    assert len(events) == 1 and events[0].actor == "alice"
    assert json.loads(events[0].details)["files"]["train.jsonl"] == \
        manifest["files"]["train.jsonl"]["sha256"]


def test_dimension_tag_beats_the_prompts_dimension(project: Project, store: LocalStore,
                                                   tmp_path: Path) -> None:
    import_file(store, write_jsonl(tmp_path / "i.jsonl", item_rows(1, dimension="tone")), actor="t")
    session = AnnotationSession(store, project.config, "alice", "g")
    session.next_item()
    session.press(1)
    session.press(2)
    session.set_dimensions(("accuracy",))
    session.save("The worst one gives a wrong deadline.")
    result = export_dataset(store, project.config, tmp_path / "out",
                            ExportOptions(validation_fraction=0.0), actor="t")
    assert result.pairs_by_split_and_dimension["train"] == {"accuracy": 3}


def test_disagreeing_annotators_hold_the_item_back(project: Project, store: LocalStore,
                                                   tmp_path: Path) -> None:
    import_file(store, write_jsonl(tmp_path / "i.jsonl", item_rows(3)), actor="t")
    _rank_all(store, project, "alice", best=1, worst=2)
    session = AnnotationSession(store, project.config, "bob", "g")
    alice_best = {p: store.current_judgment("alice", p) for p in ("q000", "q001", "q002")}
    while (screen := session.next_item()) is not None:
        ids = [c.candidate_id for c in screen.shown]
        mine = alice_best[screen.item.prompt.prompt_id]
        assert mine is not None
        best = ids.index(mine.best_candidate_id) + 1
        worst = ids.index(mine.worst_candidate_id) + 1
        if screen.item.prompt.prompt_id == "q001":
            best, worst = worst, best  # Bob disagrees here
        session.press(best)
        session.press(worst)
        session.save("My independent view on this item.")
    result = export_dataset(store, project.config, tmp_path / "out",
                            ExportOptions(validation_fraction=0.0), actor="t")
    assert result.held_back_prompts == 1
    assert result.pairs_by_split["train"] == 6


def test_empty_and_identical_texts_never_reach_the_output(project: Project, store: LocalStore,
                                                          tmp_path: Path) -> None:
    import_file(store, write_jsonl(tmp_path / "i.jsonl", item_rows(2)), actor="t")
    # Behind the tool's back, as a buggy importer or generator could leave them.
    store.execute_for_test("UPDATE candidates SET text = '   ' WHERE prompt_id = 'q000' "
                           "AND position = 3")
    store.execute_for_test("UPDATE candidates SET text = 'Same words.' WHERE prompt_id = 'q001'"
                           " AND position IN (1, 2)")
    _rank_all(store, project)
    result = export_dataset(store, project.config, tmp_path / "out",
                            ExportOptions(validation_fraction=0.0), actor="t")
    rows = _read(tmp_path / "out" / "train.jsonl")
    _check_trl_rows(rows, conversational=False)
    assert result.dropped["empty"] >= 1
    assert result.dropped["near_identical"] + result.dropped["duplicate"] >= 1


def test_nothing_to_export_is_a_clear_error(project: Project, store: LocalStore,
                                            tmp_path: Path) -> None:
    with pytest.raises(NothingToExportError, match="no pair to export"):
        export_dataset(store, project.config, tmp_path / "out", ExportOptions(), actor="t")
    assert not (tmp_path / "out" / "train.jsonl").exists()


def test_cli_export(project: Project, store: LocalStore, tmp_path: Path) -> None:
    import_file(store, write_jsonl(tmp_path / "i.jsonl", item_rows(20)), actor="t")
    _rank_all(store, project)
    store.close()
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["export", "--format", "trl", "--out", str(out), "-p",
                                      str(project.root)])
    assert result.exit_code == 0, result.output
    assert "train.jsonl" in result.output and "val.jsonl" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "train.jsonl", "val.jsonl"]
    bad = CliRunner().invoke(app, ["export", "--format", "csv", "--out", str(tmp_path / "csv"),
                                   "-p", str(project.root)])
    assert bad.exit_code == 2 and "unknown export format 'csv'" in bad.output


def _disagree_on_q001(store: LocalStore, project: Project, tmp_path: Path) -> None:
    """alice and bob agree on q000 and q002 and swap best and worst on q001."""
    import_file(store, write_jsonl(tmp_path / "i.jsonl", item_rows(3)), actor="t")
    _rank_all(store, project, "alice", best=1, worst=2)
    session = AnnotationSession(store, project.config, "bob", "g")
    while (screen := session.next_item()) is not None:
        ids = [c.candidate_id for c in screen.shown]
        mine = store.current_judgment("alice", screen.item.prompt.prompt_id)
        assert mine is not None
        best = ids.index(mine.best_candidate_id) + 1
        worst = ids.index(mine.worst_candidate_id) + 1
        if screen.item.prompt.prompt_id == "q001":
            best, worst = worst, best
        session.press(best)
        session.press(worst)
        session.save("My independent view on this item.")


def test_an_adjudication_releases_the_item_and_its_decision_is_used(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    from core.models import Adjudication

    _disagree_on_q001(store, project, tmp_path)
    item = store.get_item("q001")
    assert item is not None
    texts = {c.candidate_id: c.text for c in item.candidates}
    best, middle, worst = (c.candidate_id for c in item.candidates)  # stored order
    store.save_adjudication(Adjudication("adj_1", "q001", "rita", "The first answer is exact.",
                                         best_candidate_id=best, worst_candidate_id=worst))
    result = export_dataset(store, project.config, tmp_path / "out",
                            ExportOptions(validation_fraction=0.0), actor="t")
    assert result.held_back_prompts == 0
    assert result.pairs_by_split["train"] == 9
    prompt = item.prompt.prompt
    got = sorted((r["chosen"][1:], r["rejected"][1:])
                 for r in _read(tmp_path / "out" / "train.jsonl") if r["prompt"] == prompt)
    assert got == sorted([(texts[best], texts[middle]), (texts[best], texts[worst]),
                          (texts[middle], texts[worst])])


def test_an_open_flag_holds_the_item_back_until_resolved(project: Project, store: LocalStore,
                                                         tmp_path: Path) -> None:
    from core.adjudication import new_flag

    import_file(store, write_jsonl(tmp_path / "i.jsonl", item_rows(3)), actor="t")
    _rank_all(store, project)
    flag = store.save_flag(new_flag("alice", "q002", "The third answer is cut off."))
    result = export_dataset(store, project.config, tmp_path / "a",
                            ExportOptions(validation_fraction=0.0), actor="t")
    assert result.held_back_prompts == 1
    assert result.pairs_by_split["train"] == 6
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["counts"]["held_back_items"]["flagged"] == 1
    store.resolve_flag(flag.flag_id, "rita", "Checked: the answer is complete as written.")
    result = export_dataset(store, project.config, tmp_path / "b",
                            ExportOptions(validation_fraction=0.0), actor="t")
    assert result.held_back_prompts == 0
    assert result.pairs_by_split["train"] == 9
