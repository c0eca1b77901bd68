"""The CLI end to end through Typer's runner: help with examples, discovery, errors, status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import item_rows, write_jsonl
from tui.cli import app

COMMANDS = ["init", "import", "status", "annotate", "export", "audit"]
runner = CliRunner()


def test_root_help_teaches_a_first_session() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output
    assert "prefer init ./alignment" in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Examples" in result.output
    assert f"prefer {command}" in result.output


def test_init_import_status_round_trip(tmp_path: Path) -> None:
    root = tmp_path / "alignment"
    result = runner.invoke(app, ["init", str(root)])
    assert result.exit_code == 0, result.output
    assert {p.name for p in root.iterdir()} >= {"prefer.toml", "guidelines.md", "prefer.duckdb"}
    again = runner.invoke(app, ["init", str(root)])
    assert again.exit_code == 2 and "already a prefer project" in again.output

    data = write_jsonl(tmp_path / "p.jsonl", item_rows(6, dimension="tone", language="en"))
    dry = runner.invoke(app, ["import", str(data), "-p", str(root), "--dry-run"])
    assert dry.exit_code == 0 and "Would add 6 prompts and 18 candidates." in dry.output
    result = runner.invoke(app, ["import", str(data), "-p", str(root), "--json"])
    assert json.loads(result.output)["new_prompts"] == 6

    status = runner.invoke(app, ["status", "-p", str(root)])
    assert status.exit_code == 0
    assert "6 ready to annotate" in status.output
    assert "tone 6" in status.output
    as_json = json.loads(runner.invoke(app, ["status", "-p", str(root), "--json"]).output)
    assert as_json["prompts"] == 6 and as_json["candidates"] == 18


def test_project_from_environment_and_from_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "alignment"
    runner.invoke(app, ["init", str(root)])
    monkeypatch.setenv("PREFER_PROJECT", str(root))
    assert runner.invoke(app, ["status"]).exit_code == 0
    monkeypatch.delenv("PREFER_PROJECT")
    (root / "sub").mkdir()
    monkeypatch.chdir(root / "sub")
    assert runner.invoke(app, ["status"]).exit_code == 0


def test_outside_a_project_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 2
    assert "not inside a prefer project" in result.output
    assert "prefer init" in result.output
    assert "Traceback" not in result.output


def test_missing_import_file(tmp_path: Path) -> None:
    root = tmp_path / "p"
    runner.invoke(app, ["init", str(root)])
    result = runner.invoke(app, ["import", str(tmp_path / "nope.jsonl"), "-p", str(root)])
    assert result.exit_code == 2


def test_a_bad_config_is_reported_with_file_and_key(tmp_path: Path) -> None:
    root = tmp_path / "p"
    runner.invoke(app, ["init", str(root)])
    config = root / "prefer.toml"
    config.write_text(config.read_text().replace("seed = 42", 'seed = "x"'))
    result = runner.invoke(app, ["status", "-p", str(root)])
    assert result.exit_code == 2
    assert f"{config}: key 'export.seed': expected an integer" in result.output


def test_locked_store_is_a_clear_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = tmp_path / "p"
    runner.invoke(app, ["init", str(root)])
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('open', flush=True); time.sleep(60)", str(root / "prefer.duckdb")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        result = runner.invoke(app, ["status", "-p", str(root)])
        assert result.exit_code == 1
        assert "in use by another process" in result.output
    finally:
        holder.kill()
        holder.wait()


def test_annotate_refuses_without_a_terminal(tmp_path: Path) -> None:
    root = tmp_path / "p"
    runner.invoke(app, ["init", str(root)])
    result = runner.invoke(app, ["annotate", "-p", str(root)])
    assert result.exit_code == 2
    assert "prefer annotate needs a terminal" in result.output


# --- the small untruths ------------------------------------------------------------------------

def test_counts_of_one_are_singular(tmp_path: Path) -> None:
    root = tmp_path / "p"
    runner.invoke(app, ["init", str(root)])
    data = write_jsonl(tmp_path / "one.jsonl", [{"prompt": "Only one?", "response": "Yes."}])
    result = runner.invoke(app, ["import", str(data), "-p", str(root)])
    assert result.exit_code == 0, result.output
    assert "1 row, valid." in result.output
    assert "Added 1 prompt and 1 candidate." in result.output


@pytest.mark.parametrize(("suffix", "column"), [
    ("csv", "responses"), ("parquet", "completions"), ("jsonl", "answers")])
def test_a_candidates_column_under_another_name_is_refused_with_a_hint_to_map(
        tmp_path: Path, suffix: str, column: str) -> None:
    import duckdb

    root = tmp_path / "p"
    runner.invoke(app, ["init", str(root)])
    data = tmp_path / f"misnamed.{suffix}"
    if suffix == "csv":
        data.write_text(f'prompt,{column}\nHow do I reset it?,"[""Hold the button."", '
                        f'""Unplug it.""]"\n', encoding="utf-8")
    elif suffix == "jsonl":
        write_jsonl(data, [{"prompt": "How do I reset it?",
                            column: ["Hold the button.", "Unplug it."]}])
    else:
        duckdb.sql(f"COPY (SELECT 'How do I reset it?' AS prompt, "
                   f"['Hold the button.', 'Unplug it.'] AS {column}) TO '{data}'")
    refused = runner.invoke(app, ["import", str(data), "-p", str(root)])
    assert refused.exit_code == 2
    assert f"{data}:1: field '{column}':" in refused.output
    assert f"--map {column}=candidates" in refused.output
    status = json.loads(runner.invoke(app, ["status", "-p", str(root), "--json"]).output)
    assert status["prompts"] == 0  # nothing stored
    mapped = runner.invoke(app, ["import", str(data), "-p", str(root),
                                 "--map", f"{column}=candidates"])
    assert mapped.exit_code == 0, mapped.output
    assert "Added 1 prompt and 2 candidates." in mapped.output


def test_a_map_naming_a_missing_field_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "p"
    runner.invoke(app, ["init", str(root)])
    data = write_jsonl(tmp_path / "p.jsonl", item_rows(2))
    result = runner.invoke(app, ["import", str(data), "-p", str(root), "--map", "nope=response"])
    assert result.exit_code == 2 and "the file has no field 'nope'" in result.output
    # prefer's field first is read the other way round: prompt is the file's colour, missing.
    result = runner.invoke(app, ["import", str(data), "-p", str(root), "--map", "prompt=colour"])
    assert result.exit_code == 2 and "the file has no field 'colour'" in result.output
    result = runner.invoke(app, ["import", str(data), "-p", str(root), "--map", "hue=colour"])
    assert result.exit_code == 2 and "'colour' is not a field prefer reads" in result.output
