"""prefer.toml: defaults, strict validation with file/key/expected, init refusing to overwrite."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from core.config import Config, dump_config, load_config, parse_config
from core.errors import ConfigError, ProjectExistsError
from core.project import init_project
from core.store import open_store


def test_init_writes_config_with_documented_defaults(tmp_path: Path) -> None:
    project = init_project(tmp_path / "p")
    raw = tomllib.loads(project.config_path.read_text())
    assert raw["project"]["dimensions"] == ["tone", "accuracy", "compliance", "disclosure",
                                            "safety"]
    assert raw["annotation"]["min_justification_chars"] == 20
    assert raw["annotation"]["randomise_order"] is True
    assert raw["export"]["validation_fraction"] == 0.15
    assert isinstance(raw["export"]["seed"], int)
    temperatures = sorted({v["temperature"] for v in raw["generation"]["variants"]})
    assert temperatures == [0.3, 0.7, 1.0]
    assert (tmp_path / "p" / "guidelines.md").read_text().startswith("# Annotation guidelines")
    assert load_config(project.config_path) == project.config


def test_round_trip_of_defaults() -> None:
    assert parse_config(dump_config(Config()), Path("prefer.toml")) == Config()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[annotation]\nmin_justification = 5\n",
         "prefer.toml: unknown key 'annotation.min_justification' (expected one of: "
         "min_justification_chars, randomise_order, order_seed, order, mode, max_candidates, "
         "language, languages)"),
        ("[export]\nseed = \"seven\"\n",
         "prefer.toml: key 'export.seed': expected an integer, got string \"seven\""),
        ("[annotation]\nrandomise_order = 1\n",
         "prefer.toml: key 'annotation.randomise_order': expected true or false, got int 1"),
        ("[project]\ndimensions = \"tone\"\n",
         "prefer.toml: key 'project.dimensions': expected a list of strings, got string \"tone\""),
        ("[export]\nvalidation_fraction = 1.5\n",
         "prefer.toml: key 'export.validation_fraction': expected a number from 0 up to "
         "(not including) 1, got 1.5"),
        ("colour = \"blue\"\n", "prefer.toml: unknown key 'colour'"),
        ("[[generation.variants]]\ntemperature = 0.2\n",
         "prefer.toml: key 'generation.variants[0].name' is required"),
        ("[[generation.variants]]\nname = \"x\"\ndimension = \"humour\"\n",
         "'generation.variants[0].dimension': 'humour' is not one of project.dimensions"),
        ("[keys]\nskip = 3\n", "prefer.toml: key 'keys.skip': expected a string, got int 3"),
        ("[export\n", "prefer.toml: not valid TOML"),
    ],
)
def test_bad_config_names_file_key_and_expectation(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("prefer.toml"))
    assert message in caught.value.message


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    project = init_project(tmp_path / "p")
    open_store(project.database_path).close()
    project.config_path.write_text(project.config_path.read_text().replace(
        'name = "p"', 'name = "edited"'))
    with pytest.raises(ProjectExistsError):
        init_project(tmp_path / "p")
    assert 'name = "edited"' in project.config_path.read_text()


def test_init_force_rewrites_config_and_keeps_the_data(tmp_path: Path) -> None:
    project = init_project(tmp_path / "p")
    with open_store(project.database_path) as store:
        store.append_event("tester", "note", None, {"kept": True})
    init_project(tmp_path / "p", force=True)
    with open_store(project.database_path) as store:
        assert [e.action for e in store.events()] == ["note"]


def test_init_writes_every_key_under_a_comment_and_reads_back_identical(tmp_path: Path) -> None:
    from core.config import iter_field_docs
    from core.project import init_project

    project = init_project(tmp_path / "alignment")
    text = project.config_path.read_text(encoding="utf-8")
    assert load_config(project.config_path) == project.config
    lines = text.splitlines()
    for number, line in enumerate(lines):
        is_key = "=" in line and not line.strip().startswith(("#", "["))
        if is_key or (line.strip().startswith("# ") and line.strip().endswith("(unset by default)")):
            assert lines[number - 1].strip().startswith("#"), f"line {number + 1}: {line}"
    flat = " ".join(" ".join(line.strip().lstrip("#").split()) for line in lines)
    for key, _type, doc in iter_field_docs():
        assert " ".join(doc.split()) in flat, f"the doc of {key} is not in prefer.toml"
    assert "[annotators]" in text and '# alice = "annotator"' in text


def test_a_config_with_every_kind_of_value_reads_back_identical() -> None:
    config = Config()
    config.annotators = {"alice": "annotator", "rita": "reviewer"}
    config.keys = {"skip": "x"}
    config.balance.targets = {"tone": 0.5}
    config.server.socket_group = "prefer"
    config.generation.variants[0].seed = 3
    assert parse_config(dump_config(config), Path("prefer.toml")) == config
