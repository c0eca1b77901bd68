"""`prefer annotate`: the keyboard-driven annotation TUI."""

from __future__ import annotations

from typing import Annotated

import typer

from core.project import open_project
from core.store import open_store
from tui.commands.common import ProjectOption, os_user, reports_errors


@reports_errors
def annotate(
    project: ProjectOption = None,
    as_: Annotated[str | None, typer.Option("--as", help="Annotate under this name instead "
                                            "of your OS user name.")] = None,
) -> None:
    """Rank candidate responses in the terminal, by keyboard.

    Shows the prompt and every candidate, numbered. Press the number of the best response,
    then the number of the worst, write a one-sentence justification and press Enter: the
    judgment is saved at once and the next item opens. s skips, u goes back to change an
    earlier item, g shows the guidelines, ? lists every key, q quits.

    **Examples**

    ```
      prefer annotate -p ./alignment
      prefer annotate --as dr_weber
    ```
    """
    from tui.app import make_app  # Textual loads only for this command

    proj = open_project(project)
    store = open_store(proj.database_path)
    try:
        app = make_app(proj, store, annotator=as_ or os_user())
        app.run()
    finally:
        store.close()
