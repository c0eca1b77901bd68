"""The docs match the code: every command, config key and key binding is documented."""

from __future__ import annotations

import re

import pytest

from core.config import iter_field_docs
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
