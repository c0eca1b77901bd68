"""The docs match the code: every command, config key and key binding is documented."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest

from core.config import iter_field_docs
from tests import docs_runner
from tests.conftest import REPO_ROOT
from tui.bindings import ANNOTATE_BINDINGS
from tui.cli import app

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
DOCS = {p.name: p.read_text(encoding="utf-8") for p in (REPO_ROOT / "docs").glob("*.md")}
CONFIG_DOC = DOCS["configuration.md"]


def _command_names() -> list[str]:
    return [c.name or (c.callback.__name__ if c.callback else "") for c in
            app.registered_commands]


@pytest.mark.parametrize("command", _command_names())
def test_every_command_appears_in_the_readme(command: str) -> None:
    assert f"prefer {command}" in README


def test_readme_gives_the_two_commands() -> None:
    assert "make demo" in README and "make test" in README


@pytest.mark.parametrize("key", [k for k, _, _ in iter_field_docs()])
def test_every_config_key_is_documented(key: str) -> None:
    assert f"`{key}`" in CONFIG_DOC


def test_every_binding_id_is_documented() -> None:
    for binding in ANNOTATE_BINDINGS:
        assert binding.id is not None
        documented = binding.id if not binding.id.startswith("mark_") else "mark_1"
        assert f"`{documented}`" in CONFIG_DOC


def test_links_in_readme_point_to_files() -> None:
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if not target.startswith("http"):
            assert (REPO_ROOT / target).exists(), target


# --- the docs run: every command block of README.md and docs/*.md (tests/docs_runner.py) --------

DOCUMENTS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda p: p.name)
def test_every_command_block_runs_and_prints_what_the_docs_show(doc: Path) -> None:
    from tests.ollama_standin import StandinOllama

    blocks = docs_runner.command_blocks(doc)
    if not blocks:
        pytest.skip(f"{doc.name} has no command block")
    text = doc.read_text(encoding="utf-8")
    # A short folder, not tmp_path: under pytest-xdist tmp_path is long enough that a path the
    # 80-column output prints on a line of its own is cut in two, and no longer reads as the
    # docs' folder.
    folder = Path(tempfile.mkdtemp(prefix="prefer-docs-"))
    with StandinOllama(latency=0.01) as first, StandinOllama(latency=0.01) as second:
        ports = {"11434": str(first.port), "11435": str(second.port)} if "1143" in text else {}
        session = docs_runner.make_session(folder / "work", ports)
        problems: list[str] = []
        try:
            for block in blocks:
                if block.mode == "skip":
                    continue
                problems.extend(docs_runner.run_block(session, block))
        finally:
            session.close()
            shutil.rmtree(folder, ignore_errors=True)
    assert not problems, "\n\n".join(problems)


def test_every_marker_gives_a_reason() -> None:
    for doc in DOCUMENTS:
        for block in docs_runner.command_blocks(doc):
            if block.mode != "compare":
                assert len(block.reason.split()) >= 3, f"{block.where()}: say why ({block.mode})"


def test_the_runner_reads_sessions_gaps_and_markers(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("Intro\n<!-- docs-test: setup: echo hi > f.txt -->\n```\n$ cat f.txt\nhi\n"
                    "$ prefer --version   # a comment\n...\n```\n\n<!-- docs-test: skip: "
                    "needs a GPU box -->\n```\nprefer generate\n```\n```python\nprint()\n```\n")
    blocks = docs_runner.command_blocks(page)
    assert [b.mode for b in blocks] == ["compare", "skip"]
    assert blocks[0].setup == ["echo hi > f.txt"]
    assert [c.text for c in blocks[0].commands] == ["cat f.txt", "prefer --version"]
    assert docs_runner.differences(["a", "...", "z"], ["a", "b", "c", "z"], "/w") is None
    assert docs_runner.differences(["a", "z"], ["a", "b"], "/w") is not None
    assert docs_runner.normalise("run r_a2e3a7d3e47241eb at 2026-11-22 04:59 UTC", "/w") == \
        "run r_<id> at <time>"


def _help_of(path: list[str]) -> str:
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=100)
    assert result.exit_code == 0, (path, result.output)
    return result.output


def _command_paths() -> list[list[str]]:
    paths = [[name] for name in _command_names()]
    for group in app.registered_groups:
        assert group.typer_instance is not None
        name = group.name or group.typer_instance.info.name
        paths.append([str(name)])
        paths.extend([str(name), c.name or ""] for c in group.typer_instance.registered_commands)
    return paths


@pytest.mark.parametrize("path", _command_paths(), ids=" ".join)
def test_help_renders_without_stray_markers(path: list[str]) -> None:
    """No `<bool>` after a flag (it takes no value), no `▌` from a docstring line that starts
    with ">" (Markdown mode reads it as a block quote)."""
    shown = _help_of(path)
    assert "<bool>" not in shown
    assert "▌" not in shown
