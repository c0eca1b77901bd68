"""`prefer init`: create a project folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from core.project import init_project
from core.store import open_store
from core.text import printable
from tui.commands.common import reports_errors, stdout


@reports_errors
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the new project (created if "
                                                   "missing).")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite prefer.toml and "
                                        "guidelines.md of an existing project; the database "
                                        "and everything in it is kept.")] = False,
    name: Annotated[str | None, typer.Option(help="Project name (default: the folder's "
                                                  "name).")] = None,
) -> None:
    """Create a project: prefer.toml, guidelines.md and an empty prefer.duckdb.

    **Examples**

    ```
      prefer init ./alignment
      prefer init . --name claims-assistant
      prefer init ./alignment --force     # rewrite the config, keep the data
    ```
    """
    project = init_project(directory, force=force, name=name)
    open_store(project.database_path).close()
    stdout.print(Text.assemble("Created project ", (printable(project.config.project.name), "bold"),
                               f" in {printable(str(project.root))}"))
    for path in (project.config_path, project.guidelines_path, project.database_path):
        stdout.print(f"  {path.name:<14} {printable(str(path))}", markup=False)
    stdout.print("\nNext:")
    stdout.print(f"  prefer import prompts.jsonl -p {printable(str(directory))}", markup=False)
    stdout.print(f"  prefer annotate -p {printable(str(directory))}", markup=False)
