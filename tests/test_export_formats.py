"""Export formats: golden files per format, loading with `datasets`, the validator, the CLI.

Regenerate the golden files after an intended change with
`PREFER_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_export_formats.py`.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from core.errors import BadInputError
from core.export import FORMATS, ExportOptions, export_dataset
from core.export_validate import ExportInvalidError, validate_file
from core.project import Project
from core.sources import import_file
from core.store import LocalStore
from tests.conftest import write_jsonl
from tests.test_export import _rank_all
from tui.cli import app

GOLDEN = Path(__file__).parent / "golden" / "export"
UPDATE = os.environ.get("PREFER_UPDATE_GOLDEN") == "1"

CASES: dict[str, ExportOptions] = {
    "trl": ExportOptions(format="trl"),
    "trl-standard": ExportOptions(format="trl", conversational=False),
    "axolotl": ExportOptions(format="axolotl"),
    "axolotl-user_defined": ExportOptions(format="axolotl", axolotl_type="user_defined"),
    "llamafactory": ExportOptions(format="llamafactory"),
    "llamafactory-sharegpt": ExportOptions(format="llamafactory", llamafactory_style="sharegpt"),
    "hf": ExportOptions(format="hf"),
    "jsonl": ExportOptions(format="jsonl"),
}
# Columns each trainer reads (shared/reference/export-formats.md).
COLUMNS = {
    "trl": {"prompt", "chosen", "rejected"},
    "trl-standard": {"prompt", "chosen", "rejected"},
    "axolotl": {"messages", "chosen", "rejected"},
    "axolotl-user_defined": {"system", "prompt", "chosen", "rejected"},
    "llamafactory": {"instruction", "input", "chosen", "rejected", "system", "history"},
    "llamafactory-sharegpt": {"conversations", "chosen", "rejected"},
    "hf": {"prompt", "chosen", "rejected"},
    "jsonl": {"prompt_id", "prompt", "system", "chosen", "rejected", "chosen_candidate_id",
              "rejected_candidate_id", "dimension", "language", "annotators", "decision", "split",
              "pair_id", "agreement", "prompt_group"},
}


# Three answers far enough apart that no filter drops a pair (near-identical needs 0.95).
ANSWERS = ("no.", "yes, in the app under Settings, then Security.",
           "only at a branch, with photo ID and the card itself.")


def _items(dimension: str, with_system: str = "some") -> list[dict[str, Any]]:
    prompts = ["How do I reset my online banking password?", "Can I close my account online?",
               "What is the daily card limit?", "How long does a transfer abroad take?"]
    rows = []
    for i, prompt in enumerate(prompts):
        row: dict[str, Any] = {
            "id": f"q{i + 1}", "prompt": prompt, "dimension": dimension, "language": "en",
            "candidates": [f"Answer to question {i + 1}: {ANSWERS[j]}" for j in range(3)]}
        if (with_system == "some" and i in (0, 2)) or with_system == "all":
            row["system"] = "You are Northwind Bank's assistant."
        rows.append(row)
    return rows


def _fill(store: LocalStore, project: Project, tmp_path: Path, with_system: str = "some") -> None:
    dimension = project.config.project.dimensions[0]
    import_file(store, write_jsonl(tmp_path / "items.jsonl", _items(dimension, with_system)), actor="t")
    _rank_all(store, project)


def _comparable(out: Path) -> dict[str, str]:
    """Every written file but the manifest (it holds a timestamp); Parquet as JSON rows."""
    files = {}
    for path in sorted(out.rglob("*")):
        if path.is_dir() or path.name == "manifest.json":
            continue
        name = path.relative_to(out).as_posix()
        if path.suffix == ".parquet":
            rows = duckdb.sql(f"SELECT * FROM read_parquet('{path}')").fetchall()
            files[name + ".json"] = "".join(json.dumps(list(r)) + "\n" for r in rows)
        else:
            files[name] = path.read_text(encoding="utf-8")
    return files


@pytest.mark.parametrize("case", list(CASES))
def test_golden_files(case: str, project: Project, store: LocalStore, tmp_path: Path) -> None:
    _fill(store, project, tmp_path, "all" if case == "axolotl-user_defined" else "some")
    out = tmp_path / "out"
    export_dataset(store, project.config, out, CASES[case], actor="alice",
                   project_name="golden")
    got = _comparable(out)
    golden = GOLDEN / case
    if UPDATE:
        for name, text in got.items():
            (golden / name).parent.mkdir(parents=True, exist_ok=True)
            (golden / name).write_text(text, encoding="utf-8")
    expected = {p.relative_to(golden).as_posix(): p.read_text(encoding="utf-8")
                for p in sorted(golden.rglob("*")) if p.is_file()}
    assert got == expected
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == CASES[case].format
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert set(manifest["files"]) == written - {"manifest.json"}


def _message(value: Any, keys: tuple[str, str] = ("role", "content")) -> bool:
    """A message as `datasets` loads it: a struct of exactly `keys`, non-empty strings."""
    return (isinstance(value, dict) and set(value) == set(keys)
            and all(isinstance(value[k], str) and value[k].strip() for k in keys))


def _text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _strings(*keys: str) -> Callable[[dict[str, Any]], None]:
    def check(row: dict[str, Any]) -> None:
        assert all(_text(row[k]) for k in keys), row
    return check


def _conversational_trl(row: dict[str, Any]) -> None:
    assert all(_message(m) for m in row["prompt"] + row["chosen"] + row["rejected"]), row
    roles = [m["role"] for m in row["prompt"]]
    assert roles[-1] == "user" and "system" not in roles[1:], row
    assert row["chosen"][0]["role"] == row["rejected"][0]["role"] == "assistant", row


def _standard_trl(row: dict[str, Any]) -> None:
    """TRL joins prompt + chosen into one string: the answer brings the separator (the
    reference's `"The sky is"` / `" blue."`), and the prompt ends with no whitespace."""
    _strings("prompt", "chosen", "rejected")(row)
    assert row["prompt"] == row["prompt"].rstrip(), row
    for key in ("chosen", "rejected"):
        assert row[key].startswith(" ") and not row[key][1:2].isspace(), row


def _axolotl_chat_template(row: dict[str, Any]) -> None:
    assert row["messages"] and all(_message(m) for m in row["messages"]), row
    assert row["messages"][-1]["role"] == "user", row
    for key in ("chosen", "rejected"):
        assert _message(row[key]) and row[key]["role"] == "assistant", row


def _alpaca(row: dict[str, Any]) -> None:
    assert all(_text(row[k]) for k in ("instruction", "chosen", "rejected")), row
    assert row["input"] == "" and row["history"] == [], row
    assert row["system"] == "" or _text(row["system"]), row  # "": the template's default


def _sharegpt(row: dict[str, Any]) -> None:
    turns = row["conversations"]
    assert all(_message(m, ("from", "value")) for m in turns), row
    assert "system" not in row, row  # a system prompt is the first turn instead
    if turns[0]["from"] == "system":
        assert _text(turns[0]["value"]), row
        turns = turns[1:]
    assert len(turns) % 2 == 1, row
    assert [m["from"] for m in turns] == ["human" if i % 2 == 0 else "gpt" for i in range(len(turns))]
    for key in ("chosen", "rejected"):
        assert _message(row[key], ("from", "value")) and row[key]["from"] == "gpt", row


def _jsonl(row: dict[str, Any]) -> None:
    assert all(_text(row[k]) for k in ("prompt_id", "prompt", "chosen", "rejected", "dimension",
                                       "language")), row
    assert row["system"] == "" or _text(row["system"]), row
    assert row["annotators"] and all(_text(a) for a in row["annotators"]), row
    assert row["split"] in ("train", "validation"), row


# What each trainer reads from a row once `datasets` has loaded it (shared/reference/export-formats.md).
ROW_SHAPES = {
    "trl": _conversational_trl,
    "trl-standard": _standard_trl,
    "axolotl": _axolotl_chat_template,
    "axolotl-user_defined": _strings("system", "prompt", "chosen", "rejected"),
    "llamafactory": _alpaca,
    "llamafactory-sharegpt": _sharegpt,
    "hf": _conversational_trl,
    "jsonl": _jsonl,
}


def _parquet_rows(path: Path) -> list[dict[str, Any]]:
    relation = duckdb.sql(f"SELECT * FROM read_parquet('{path}')")
    return [dict(zip(relation.columns, r, strict=True)) for r in relation.fetchall()]


@pytest.fixture
def hf_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Hugging Face `datasets`, offline, caching under tmp_path, with any network use an error.

    It is a test dependency (the `test` extra): a missing one skips locally but fails under CI
    (CI set), so these tests never skip there silently.
    """
    cache = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(cache))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache / "datasets"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    try:
        import datasets
    except ImportError as missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must load every export with `datasets` (the test extra): {missing}")
        pytest.skip(f"`datasets` is not installed (pip install -e '.[test]'): {missing}")
    import huggingface_hub.constants

    # The variables only count at the first import: an earlier test may have imported it.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache / "datasets")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"datasets tried to reach the network: {args}")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    return datasets


@pytest.mark.parametrize("case", list(CASES))
def test_every_export_loads_with_datasets(case: str, project: Project, store: LocalStore,
                                          tmp_path: Path, hf_datasets: Any) -> None:
    _fill(store, project, tmp_path, "all" if case == "axolotl-user_defined" else "some")
    out = tmp_path / "out"
    export_dataset(store, project.config, out, CASES[case], actor="alice")
    cache = str(tmp_path / "cache")
    if case == "hf":  # the folder itself, through the dataset card's `configs`
        loaded = hf_datasets.load_dataset(str(out), cache_dir=cache)
        assert set(loaded) == {"train", "test"}
        written = {split: _parquet_rows(out / "data" / f"{split}-00000-of-00001.parquet")
                   for split in loaded}
    else:
        # One file at a time, as the trainers load them (datasets infers one schema from the
        # first file of a call, and the validation file may have no system prompt at all).
        files = {"train": "train.jsonl", "validation": "val.jsonl"}
        loaded = {split: hf_datasets.load_dataset("json", data_files=str(out / name),
                                                  split="train", cache_dir=cache)
                  for split, name in files.items()}
        written = {split: [json.loads(line) for line in (out / name).read_text().splitlines()]
                   for split, name in files.items()}
    assert any(Path(cache).iterdir())  # the Arrow cache went to the temp folder
    for split, dataset in loaded.items():
        assert dataset.num_rows == len(written[split]) > 0
        assert set(dataset.column_names) <= COLUMNS[case]
        assert set(dataset.column_names) >= COLUMNS[case] - {"system"}
        rows = dataset.to_list()
        # What the trainer gets is what was written (a key a row lacks loads as None).
        assert rows == [{key: row.get(key) for key in dataset.column_names}
                        for row in written[split]]
        for row in rows:
            ROW_SHAPES[case](row)


# datasets' `json` builder takes the column types from the first chunk of a file (10 MiB) and
# casts every later chunk to them: a key that first appears, or first holds a string after only
# nulls, beyond that chunk fails the whole load ("Couldn't cast ... column names don't match").
# Reading one row per chunk shows on a small export what a large one would meet.
class ColumnDriftError(Exception):
    """A later chunk of a JSONL file did not fit the column types of its first chunk."""


@pytest.mark.parametrize("case", [case for case in CASES if case != "hf"])  # Parquet has a schema
def test_every_export_loads_with_datasets_in_any_chunking(case: str, project: Project,
                                                          store: LocalStore, tmp_path: Path,
                                                          hf_datasets: Any) -> None:
    _fill(store, project, tmp_path, "all" if case == "axolotl-user_defined" else "some")
    out = tmp_path / "out"
    export_dataset(store, project.config, out, CASES[case], actor="alice")
    for name in ("train.jsonl", "val.jsonl"):
        lines = (out / name).read_text(encoding="utf-8").splitlines(keepends=True)
        # Either order: a key or type that only shows up late must not depend on the row order.
        (out / f"reversed-{name}").write_text("".join(reversed(lines)), encoding="utf-8")
        for path in (out / name, out / f"reversed-{name}"):
            whole = hf_datasets.load_dataset("json", data_files=str(path), split="train",
                                             cache_dir=str(tmp_path / "whole"))
            try:
                by_row = hf_datasets.load_dataset("json", data_files=str(path), split="train",
                                                  cache_dir=str(tmp_path / "by-row"), chunksize=1)
            except hf_datasets.exceptions.DatasetGenerationError as error:
                if "Couldn't cast" in str(error.__cause__):
                    raise ColumnDriftError(f"{path.name}: {error.__cause__}") from error
                raise
            assert by_row.num_rows == len(lines)
            assert by_row.to_list() == whole.to_list()


def test_standard_rows_fold_every_system_prompt_into_the_prompt(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    """`--standard` never drops a system prompt: it is rendered into the prompt string (the
    reference: standard rows have no place for it), and the manifest counts and says so."""
    _fill(store, project, tmp_path, "some")
    out = tmp_path / "out"
    result = export_dataset(store, project.config, out, CASES["trl-standard"], actor="a")
    assert not result.conversational
    rows = [json.loads(line) for name in ("train.jsonl", "val.jsonl")
            for line in (out / name).read_text().splitlines()]
    by_prompt = {row["prompt"]: row for row in _items(project.config.project.dimensions[0])}
    folded = 0
    for row in rows:
        _standard_trl(row)
        system, _, prompt = row["prompt"].rpartition("\n\n")
        item = by_prompt[prompt]
        assert system == item.get("system", ""), row  # the system prompt, whole, before it
        folded += bool(system)
        assert row["chosen"][1:] in item["candidates"] and row["rejected"][1:] in item["candidates"]
    assert folded == 6  # q1 and q3 have a system prompt, 3 pairs each
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["row_format"] == "trl-standard"
    assert manifest["settings"]["standard_separator"] == " "
    assert manifest["system_prompts"]["pairs_with_system_prompt"] == 6
    assert "folded into the prompt" in manifest["system_prompts"]["written_as"]


@pytest.mark.parametrize("case", ["axolotl", "axolotl-user_defined"])
def test_axolotl_yaml_lists_the_validation_file_as_test_dataset(
        case: str, project: Project, store: LocalStore, tmp_path: Path) -> None:
    import yaml  # PyYAML: what Axolotl reads its config with

    _fill(store, project, tmp_path, "all" if case == "axolotl-user_defined" else "some")
    out = tmp_path / "out"
    export_dataset(store, project.config, out, CASES[case], actor="a")
    config = yaml.safe_load((out / "axolotl.yaml").read_text())
    assert [d["path"] for d in config["datasets"]] == ["./train.jsonl"]
    assert [d["path"] for d in config["test_datasets"]] == ["./val.jsonl"]
    # The same row reading for both (a JSON file's only split is `train`).
    assert config["test_datasets"][0] | {"path": "./train.jsonl"} == config["datasets"][0]
    assert config["test_datasets"][0]["split"] == "train"
    assert (out / "val.jsonl").read_text().strip()
    no_val = tmp_path / "no-val"
    export_dataset(store, project.config, no_val,
                   ExportOptions(format="axolotl", axolotl_type=CASES[case].axolotl_type,
                                 validation_fraction=0.0), actor="a")
    assert "test_datasets" not in yaml.safe_load((no_val / "axolotl.yaml").read_text())


def test_user_defined_without_any_system_has_no_system_field(project: Project, store: LocalStore,
                                                             tmp_path: Path) -> None:
    _fill(store, project, tmp_path, "none")
    out = tmp_path / "out"
    export_dataset(store, project.config, out, CASES["axolotl-user_defined"], actor="a")
    assert all("system" not in json.loads(line)
               for line in (out / "train.jsonl").read_text().splitlines())
    yaml = (out / "axolotl.yaml").read_text()
    assert "field_system" not in yaml and "{system}" not in yaml and "{prompt}" in yaml


def test_user_defined_refuses_mixed_system_prompts(project: Project, store: LocalStore,
                                                   tmp_path: Path) -> None:
    _fill(store, project, tmp_path, "some")
    out = tmp_path / "out"
    with pytest.raises(BadInputError, match="system prompt on every prompt or on none"):
        export_dataset(store, project.config, out, CASES["axolotl-user_defined"], actor="a")
    assert not out.exists()  # the export made the folder, and removed it when it failed


def test_hf_without_validation_has_only_train(project: Project, store: LocalStore,
                                              tmp_path: Path) -> None:
    _fill(store, project, tmp_path)
    out = tmp_path / "out"
    export_dataset(store, project.config, out,
                   ExportOptions(format="hf", validation_fraction=0.0), actor="a")
    assert sorted(p.name for p in (out / "data").iterdir()) == ["train-00000-of-00001.parquet"]
    card = (out / "README.md").read_text()
    assert "split: train" in card and "split: test" not in card


def test_a_broken_row_moves_nothing(project: Project, store: LocalStore, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _fill(store, project, tmp_path)
    out = tmp_path / "out"
    from core import export_formats

    broken = export_formats.AXOLOTL_CHAT_TEMPLATE.replace(
        "'content': chosen}", "'content': '<|im_start|>' || chosen}")
    monkeypatch.setattr(export_formats, "AXOLOTL_CHAT_TEMPLATE", broken)
    with pytest.raises(ExportInvalidError) as caught:
        export_dataset(store, project.config, out, ExportOptions(format="axolotl"), actor="a")
    assert caught.value.path == "train.jsonl" and caught.value.line == 1
    assert "template token <|im_start|>" in caught.value.message
    assert not out.exists()  # the export made the folder, and removed it when it failed
    assert not [e for e in store.events() if e.action == "export"]


# --- the validator: each rule refuses a crafted row ------------------------------------------

GOOD = {
    "trl": {"prompt": [{"role": "system", "content": "Be brief."},
                       {"role": "user", "content": "Sky?"}],
            "chosen": [{"role": "assistant", "content": "Blue."}],
            "rejected": [{"role": "assistant", "content": "Green."}]},
    "trl-standard": {"prompt": "The sky is", "chosen": " blue.", "rejected": " green."},
    "axolotl-chat_template": {"messages": [{"role": "user", "content": "Sky?"}],
                              "chosen": {"role": "assistant", "content": "Blue."},
                              "rejected": {"role": "assistant", "content": "Green."}},
    "axolotl-user_defined": {"prompt": "Sky?", "chosen": "Blue.", "rejected": "Green."},
    "llamafactory-alpaca": {"instruction": "Sky?", "input": "", "chosen": "Blue.",
                            "rejected": "Green.", "system": "Be brief.", "history": []},
    "llamafactory-sharegpt": {"conversations": [{"from": "human", "value": "Sky?"}],
                              "chosen": {"from": "gpt", "value": "Blue."},
                              "rejected": {"from": "gpt", "value": "Green."}},
}

BAD: list[tuple[str, str, Any, str]] = [
    # (layout in GOOD, key, bad value (or a whole row for key "*"), expected words of the rule)
    ("trl", "prompt", [{"role": "assistant", "content": "Sky?"}], "must end with a user"),
    ("trl", "prompt", [{"role": "user", "content": "a"}, {"role": "system", "content": "b"},
                       {"role": "user", "content": "c"}], "only be the first message"),
    ("trl", "chosen", [{"role": "user", "content": "Blue."}], "must start with an assistant"),
    ("trl", "rejected", [{"role": "assistant", "content": "Blue."}], "identical"),
    ("trl", "chosen", [{"role": "robot", "content": "Blue."}], "not one of"),
    ("trl", "chosen", [{"role": "assistant", "content": "Blue.", "name": "x"}],
     "exactly 'role' and 'content'"),
    ("trl", "chosen", [{"role": "assistant", "content": "  "}], "is empty"),
    ("trl", "chosen", [], "empty list"),
    ("trl", "chosen", "Blue.", "same types in every row"),
    ("trl", "messages", [{"role": "user", "content": "x"}], "keys must be"),
    ("trl-standard", "prompt", "The sky is ", "must not end with whitespace"),
    ("trl-standard", "prompt", "<s>The sky is", "template token <s>"),
    ("trl-standard", "chosen", "[INST] blue", "template token [INST]"),
    ("trl-standard", "chosen", "<|begin_of_text|>blue", "template token <|begin_of_text|>"),
    ("trl-standard", "chosen", "", "is empty"),
    ("trl-standard", "chosen", "blue.", "must start with the separator"),
    ("trl-standard", "rejected", "green.", "must start with the separator"),
    ("axolotl-chat_template", "chosen", {"role": "user", "content": "Blue."},
     "must be an assistant message"),
    ("axolotl-chat_template", "chosen", {"role": "assistant", "content": "Green."}, "identical"),
    ("llamafactory-alpaca", "system", "  ", "is empty"),
    ("llamafactory-alpaca", "input", "more", "must be empty here"),
    ("llamafactory-alpaca", "chosen", ["Blue."], "same types"),
    ("llamafactory-sharegpt", "conversations",
     [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}], "odd length"),
    ("llamafactory-sharegpt", "conversations",
     [{"from": "gpt", "value": "a"}], "alternate human/gpt"),
    ("llamafactory-sharegpt", "chosen", {"from": "human", "value": "Blue."}, "from: gpt"),
    ("llamafactory-sharegpt", "rejected", {"role": "gpt", "content": "x"}, "'from' and 'value'"),
]


def _kind(layout: str) -> str:
    return "trl" if layout.startswith("trl") else layout


@pytest.mark.parametrize("layout", list(GOOD))
def test_validator_accepts_the_reference_rows(layout: str, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "ok.jsonl", [GOOD[layout], GOOD[layout]])
    assert validate_file(path, _kind(layout)) == 2


@pytest.mark.parametrize(("layout", "key", "value", "rule"), BAD)
def test_validator_refuses_each_broken_rule(layout: str, key: str, value: Any, rule: str,
                                            tmp_path: Path) -> None:
    bad = {**GOOD[layout], key: value}
    path = write_jsonl(tmp_path / "bad.jsonl", [GOOD[layout], bad])
    with pytest.raises(ExportInvalidError) as caught:
        validate_file(path, _kind(layout), "bad.jsonl")
    assert caught.value.line == 2
    assert rule in caught.value.rule
    assert str(caught.value).startswith("bad.jsonl:2: ")


def test_validator_refuses_invalid_json_and_mixed_system_keys(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(GOOD["trl-standard"]) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(ExportInvalidError, match=r"x\.jsonl:2: not valid JSON"):
        validate_file(path, "trl")
    rows = [GOOD["axolotl-user_defined"], {**GOOD["axolotl-user_defined"], "system": "Be brief."}]
    with pytest.raises(ExportInvalidError, match="some prompts have a system prompt"):
        validate_file(write_jsonl(tmp_path / "y.jsonl", rows), "axolotl-user_defined")


# --- CLI --------------------------------------------------------------------------------------

def test_cli_format_choices(project: Project, store: LocalStore, tmp_path: Path) -> None:
    _fill(store, project, tmp_path)
    store.close()
    help_text = CliRunner().invoke(app, ["export", "--help"], terminal_width=200).output
    for name in FORMATS:
        assert name in help_text
    assert "--axolotl-type" in help_text and "--llamafactory-style" in help_text
    for args, expected in (
        (["--format", "axolotl"], {"axolotl.yaml", "train.jsonl", "val.jsonl", "manifest.json"}),
        (["--format", "llamafactory", "--llamafactory-style", "sharegpt"],
         {"dataset_info.json", "train.jsonl", "val.jsonl", "manifest.json"}),
        (["--format", "hf"], {"README.md", "data", "manifest.json"}),
        (["--format", "jsonl"], {"train.jsonl", "val.jsonl", "manifest.json"}),
    ):
        out = tmp_path / args[1] / (args[-1])
        result = CliRunner().invoke(app, ["export", *args, "--out", str(out), "-p",
                                          str(project.root)])
        assert result.exit_code == 0, result.output
        assert {p.name for p in out.iterdir()} == expected
    bad = CliRunner().invoke(app, ["export", "--format", "axolotl", "--axolotl-type", "chatml",
                                   "--out", str(tmp_path / "bad"), "-p", str(project.root)])
    assert bad.exit_code == 2 and "unknown Axolotl type 'chatml'" in bad.output
