"""A store you can trust: texts cleaned once at import, exports that never clobber a folder,
terminal-safe names and texts, validated annotator names, files that are files."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from core.project import Project
from tests.conftest import item_rows, write_jsonl
from tui.cli import app

runner = CliRunner()


def _invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


# --- 6. only regular files are imported ---------------------------------------------------------


def _invoke_unblocking(fifo: Path, *args: str) -> Result:
    """Run the command in a thread; if it hangs on the FIFO, write to it so the test ends."""
    outcome: list[Result] = []
    worker = threading.Thread(target=lambda: outcome.append(_invoke(*args)), daemon=True)
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():
        with fifo.open("w") as writer:  # unblocks a reader that opened the FIFO
            writer.write("")
        worker.join(timeout=20)
        pytest.fail("the command opened the FIFO and blocked")
    return outcome[0]


@pytest.mark.parametrize("command", ["import", "import-judgments"])
def test_a_fifo_or_folder_is_not_a_regular_file(project: Project, tmp_path: Path,
                                                command: str) -> None:
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    result = _invoke_unblocking(fifo, command, str(fifo), "-p", str(project.root))
    assert result.exit_code == 2, result.output
    assert f"error: {fifo}: not a regular file" in result.output
    assert "Traceback" not in result.output

    folder = tmp_path / "folder.jsonl"
    folder.mkdir()
    result = _invoke(command, str(folder), "-p", str(project.root))
    assert result.exit_code == 2, result.output
    assert f"error: {folder}: not a regular file" in result.output

    missing = tmp_path / "missing.jsonl"
    result = _invoke(command, str(missing), "-p", str(project.root))
    assert result.exit_code == 2, result.output
    assert f"error: {missing}: no such file" in result.output


def test_a_device_is_not_a_regular_file(project: Project) -> None:
    result = _invoke("import", "/dev/null", "--format", "jsonl", "-p", str(project.root))
    assert result.exit_code == 2, result.output
    assert "error: /dev/null: not a regular file" in result.output


def test_a_symlink_to_a_regular_file_imports(project: Project, tmp_path: Path) -> None:
    target = write_jsonl(tmp_path / "rows.jsonl", item_rows(2))
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    result = _invoke("import", str(link), "-p", str(project.root))
    assert result.exit_code == 0, result.output
