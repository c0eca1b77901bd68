"""`prefer annotate`: the keyboard-driven annotation TUI."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from core.assign import check_annotator_names
from core.errors import BadInputError
from core.project import open_project
from core.store import connect_store
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
    judgment is saved at once and the next item opens. Digits pick, letters write, Ctrl+letter
    commands: Ctrl+S skips, Ctrl+Z goes back, Ctrl+D compares two responses word by word,
    Ctrl+R lists your judgments, F1 lists every key, Ctrl+Q quits (unsaved work is kept as a
    draft). When `prefer serve` runs, you annotate as your OS user and see only the items
    assigned to you. On quitting, a summary of the session is printed.

    **Examples**

    ```
      prefer annotate -p ./alignment
      prefer annotate --as dr_weber
    ```
    """
    from tui.app import make_app, summary_text  # Textual loads only for this command

    if as_ is not None:
        check_annotator_names([as_], "--as")
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise BadInputError("prefer annotate needs a terminal",
                            hint="run it in a terminal, or over ssh with a TTY (ssh -t)")
    proj = open_project(project)
    store = connect_store(proj.root, act_as=as_)
    try:
        # Through the server, the server says who we are (from the OS user); --as is honoured
        # there only for admins. In embedded mode the OS user, or --as.
        identity = getattr(store, "identity", None)
        annotator = identity["annotator"] if identity else (as_ or os_user())
        app = make_app(proj, store, annotator=annotator)
        summary = app.run()
        if summary is not None:
            typer.echo(summary_text(summary))
    finally:
        store.close()
