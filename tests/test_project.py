"""Project discovery: -p, else PREFER_PROJECT, else the nearest prefer.toml upward."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ProjectNotFoundError
from core.project import find_project_root, init_project


def test_explicit_folder_wins_over_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    a = init_project(tmp_path / "a").root
    b = init_project(tmp_path / "b").root
    monkeypatch.setenv("PREFER_PROJECT", str(b))
    assert find_project_root(a) == a
    assert find_project_root(None, cwd=a) == b


def test_nearest_prefer_toml_upward(tmp_path: Path) -> None:
    root = init_project(tmp_path / "p").root
    deep = root / "data" / "raw"
    deep.mkdir(parents=True)
    assert find_project_root(None, cwd=deep) == root


def test_outside_a_project_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ProjectNotFoundError) as caught:
        find_project_root(None, cwd=tmp_path)
    assert "not inside a prefer project" in caught.value.message
    assert "prefer init" in (caught.value.hint or "")


def test_explicit_folder_without_config(tmp_path: Path) -> None:
    with pytest.raises(ProjectNotFoundError) as caught:
        find_project_root(tmp_path)
    assert "no prefer.toml here" in caught.value.message
