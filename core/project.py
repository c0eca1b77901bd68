"""Finding and creating a project: a folder with prefer.toml, guidelines.md and prefer.duckdb."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from core.config import CONFIG_FILE, Config, load_config, write_config
from core.errors import ProjectExistsError, ProjectNotFoundError

DATABASE_FILE = "prefer.duckdb"
GUIDELINES_FILE = "guidelines.md"
PROJECT_ENV = "PREFER_PROJECT"


@dataclass(frozen=True)
class Project:
    """Paths of one project and its validated configuration."""

    root: Path
    config: Config

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def database_path(self) -> Path:
        return self.root / DATABASE_FILE

    @property
    def guidelines_path(self) -> Path:
        return self.root / GUIDELINES_FILE

    def guidelines_text(self) -> str:
        try:
            return self.guidelines_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return "(no guidelines.md in the project folder)"

    def guideline_version(self) -> str:
        """A short hash of guidelines.md, stored with each judgment so stale ones can be found."""
        try:
            data = self.guidelines_path.read_bytes()
        except FileNotFoundError:
            return "none"
        return "g-" + hashlib.sha256(data).hexdigest()[:12]


def find_project_root(explicit: Path | None = None, cwd: Path | None = None) -> Path:
    """The project folder: `explicit`, else $PREFER_PROJECT, else the nearest prefer.toml upward."""
    if explicit is None and os.environ.get(PROJECT_ENV):
        explicit = Path(os.environ[PROJECT_ENV])
    if explicit is not None:
        root = explicit.expanduser()
        if not (root / CONFIG_FILE).is_file():
            raise ProjectNotFoundError(
                f"{root}: no {CONFIG_FILE} here",
                hint=f"create a project with `prefer init {root}`",
            )
        return root.resolve()
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise ProjectNotFoundError(
        f"not inside a prefer project: no {CONFIG_FILE} in {here} or any folder above it",
        hint="create one with `prefer init DIR`, or point to one with -p DIR or PREFER_PROJECT",
    )


def open_project(explicit: Path | None = None, cwd: Path | None = None) -> Project:
    root = find_project_root(explicit, cwd)
    return Project(root=root, config=load_config(root / CONFIG_FILE))


def init_project(root: Path, force: bool = False, name: str | None = None) -> Project:
    """Write prefer.toml and guidelines.md into `root`; refuse to overwrite unless `force`.

    The database is created by the caller opening the store, so its schema comes from migrations.
    """
    root = root.expanduser()
    existing = [p for p in (CONFIG_FILE, GUIDELINES_FILE, DATABASE_FILE) if (root / p).exists()]
    if existing and not force:
        raise ProjectExistsError(
            f"{root}: already a prefer project ({', '.join(existing)} exist)",
            hint="use --force to overwrite prefer.toml and guidelines.md (the database is kept)",
        )
    root.mkdir(parents=True, exist_ok=True)
    config = Config()
    config.project.name = root.resolve().name or "alignment"
    if name:
        config.project.name = name
    write_config(config, root / CONFIG_FILE)
    template = resources.files("core").joinpath("templates/guidelines.md").read_text("utf-8")
    (root / GUIDELINES_FILE).write_text(template, encoding="utf-8")
    return Project(root=root.resolve(), config=config)
