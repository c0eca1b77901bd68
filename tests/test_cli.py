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
