"""`--tokenizer PATH`: token lengths in the report and the manifest, with a tokenizer.json built
here by the `tokenizers` library itself (a word-level one, so every count is a word count)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.errors import BadInputError
from core.export import ExportOptions, export_dataset
from core.project import Project
from core.report import quality_report
from core.sources import import_file
from core.store import LocalStore
from core.token_lengths import token_lengths
from tests.conftest import write_jsonl
from tests.test_export import _rank_all
from tui.cli import app

ITEMS = [  # the first prompt has a system prompt, the second none
    {"id": "q1", "prompt": "How do I close my savings account?",
     "system": "You are Northwind's assistant.",
     "candidates": ["Use the app.",
                    "Open Settings, then Account, then choose Close this account.",
                    "Visit any branch with photo ID and your card and we close it the same day."]},
    {"id": "q2", "prompt": "What is the daily card limit?",
     "candidates": ["It is 500 euros.",
                    "The daily limit is 500 euros, and you can raise it in the app.",
                    "There is no limit at all."]},
]


def _tokenizer(path: Path) -> Path:
    """A word-level tokenizer.json: one token per run of word characters or punctuation."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=["[UNK]"])
    tokenizer.train_from_iterator(["the daily limit is 500 euros"], trainer=trainer)
    tokenizer.save(str(path))
    return path


def _words(text: str) -> int:
    from tokenizers import pre_tokenizers

    return len(pre_tokenizers.Whitespace().pre_tokenize_str(text))


@pytest.fixture
def ranked(project: Project, store: LocalStore, tmp_path: Path) -> LocalStore:
    import_file(store, write_jsonl(tmp_path / "items.jsonl", ITEMS), actor="t")
    _rank_all(store, project, best=2, worst=1)  # best: the second answer, worst: the first
    return store


def _expected(max_length: int) -> tuple[list[int], list[int], int]:
    prompts, longest = [], []
    for item in ITEMS:
        prompt = _words(item["prompt"]) + (_words(item["system"]) if "system" in item else 0)
        answers = [_words(c) for c in item["candidates"]]
        for _ in range(3):  # best-vs-rest, 3 candidates: 3 pairs, each with the best or worst
            prompts.append(prompt)
        longest += [prompt + max(answers[1], answers[0]), prompt + max(answers[1], answers[2]),
                    prompt + max(answers[2], answers[0])]
    return prompts, longest, sum(total > max_length for total in longest)


def test_token_lengths_count_with_the_given_tokenizer(project: Project, ranked: LocalStore,
                                                      tmp_path: Path) -> None:
    path = _tokenizer(tmp_path / "tokenizer.json")
    report = quality_report(ranked, project, "t", tokenizer=path, max_length=25, cutoff_len=30)
    lengths = report.token_lengths
    assert lengths is not None and lengths.pairs == 6
    prompts, longest, over_25 = _expected(25)
    assert lengths.prompt.max == max(prompts) == 8 + 7  # the system prompt counts with it
    limits = {c.setting: c for c in lengths.limits}
    assert limits["max_length"].over == over_25 > 0
    assert limits["cutoff_len"].over == sum(total > 30 for total in longest)
    assert limits["max_length"].prompt_alone == 0
    tiny = token_lengths(ranked, path, max_length=10, cutoff_len=13)
    assert {c.setting: c.prompt_alone for c in tiny.limits} == {"max_length": 3,
                                                                 "cutoff_len": 3}


def test_manifest_and_commands_carry_token_lengths(project: Project, ranked: LocalStore,
                                                   tmp_path: Path) -> None:
    path = _tokenizer(tmp_path / "tokenizer.json")
    out = tmp_path / "out"
    export_dataset(ranked, project.config, out,
                   ExportOptions(tokenizer=path, max_length=25, cutoff_len=30), actor="t")
    manifest = json.loads((out / "manifest.json").read_text())
    lengths = manifest["token_lengths"]
    assert lengths["pairs"] == 6 and lengths["tokenizer"] == str(path)
    assert lengths["limits"]["max_length"] == {"limit": 25, "pairs_over": _expected(25)[2],
                                               "prompt_alone_reaches_limit": 0}
    assert set(lengths["chosen"]) == {"mean", "median", "p95", "max"}
    ranked.close()
    runner = CliRunner()
    printed = runner.invoke(app, ["report", "-p", str(project.root), "--tokenizer", str(path),
                                  "--max-length", "25"])
    assert printed.exit_code == 0, printed.output
    assert f"max_length 25: {_expected(25)[2]} pairs over" in printed.output
    as_json = json.loads(runner.invoke(app, ["report", "-p", str(project.root), "--json",
                                             "--tokenizer", str(path)]).output)
    assert as_json["token_lengths"]["pairs"] == 6
    exported = runner.invoke(app, ["export", "-o", str(tmp_path / "cli"), "-p",
                                   str(project.root), "--tokenizer", str(path)])
    assert exported.exit_code == 0, exported.output
    assert "pairs over max_length 1,024" in exported.output


def test_a_bad_tokenizer_is_refused_before_anything_is_written(project: Project,
                                                               ranked: LocalStore,
                                                               tmp_path: Path) -> None:
    broken = tmp_path / "tokenizer.json"
    broken.write_text('{"not": "a tokenizer"}', encoding="utf-8")
    with pytest.raises(BadInputError, match=r"not a tokenizer\.json"):
        export_dataset(ranked, project.config, tmp_path / "out",
                       ExportOptions(tokenizer=broken), actor="t")
    assert not (tmp_path / "out").exists()
    ranked.close()
    missing = CliRunner().invoke(app, ["report", "-p", str(project.root), "--tokenizer",
                                       str(tmp_path / "nope.json")])
    assert missing.exit_code == 2
    assert "nope.json: no such file" in missing.output


def test_pair_texts_are_for_reviewers_and_paged(project: Project, ranked: LocalStore) -> None:
    """An annotator never reads the pairs' texts (other items, others' decisions); a reviewer
    reads them in pages of at most 10,000."""
    from core.errors import AccessDeniedError
    from core.pairs import build_pairs
    from core.server import Caller, authorize

    build_pairs(ranked, project.config, "t")
    alice = Caller("alice", 1001, "annotator", "alice")
    rita = Caller("rita", 1002, "reviewer", "rita")
    with pytest.raises(AccessDeniedError, match="needs reviewer"):
        authorize(ranked, alice, "kept_pair_texts", ["", 10], {})
    assert authorize(ranked, rita, "kept_pair_texts", ["", 10], {}) == {"after": "",
                                                                          "limit": 10}
    for limit in (0, 10_001):
        with pytest.raises(BadInputError, match="limit must be from 1 to 10,000"):
            ranked.kept_pair_texts("", limit)
    first = ranked.kept_pair_texts("", 4)
    rest = ranked.kept_pair_texts(first[-1][0], 4)
    assert len(first) == 4 and len(rest) == 2
    assert [row[0] for row in first + rest] == sorted(row[0] for row in first + rest)
