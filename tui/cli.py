"""The root of the `prefer` command: one subcommand per pipeline step."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperOption

from core import __version__
from tui.commands.adjudicate import adjudicate, disagreements
from tui.commands.agreement import agreement, gold
from tui.commands.annotate import annotate
from tui.commands.annotators import annotators_app
from tui.commands.audit import audit
from tui.commands.export import export
from tui.commands.generate import generate, runs
from tui.commands.import_ import import_
from tui.commands.imports import imports_app
from tui.commands.init import init
from tui.commands.items import items_app
from tui.commands.judge import judge
from tui.commands.judgments import import_judgments
from tui.commands.pairs import balance, pairs
from tui.commands.refresh import refresh
from tui.commands.report import report
from tui.commands.serve import assign, serve
from tui.commands.status import status

# Typer's Rich help prints a value type after every option, and for a flag (which takes no
# value) that is a misleading `<bool>`: show nothing there for flags. tests/test_docs.py renders
# every command's help and fails on a `<bool>` (or a stray quote marker from a line that starts
# with ">" in a docstring, which Markdown mode reads as a block quote).
# (Guarded: another Typer release may name or draw it otherwise; the help test then says so.)
_value_type_shown = getattr(TyperOption, "display_type_rich", None)


def _no_type_for_flags(self: TyperOption, ctx: Any) -> str | None:
    assert _value_type_shown is not None
    return None if self.is_flag else _value_type_shown(self, ctx)


if _value_type_shown is not None:
    TyperOption.display_type_rich = _no_type_for_flags  # type: ignore[method-assign]

app = typer.Typer(
    name="prefer",
    help=(
        "Build DPO preference datasets on your own server: import prompts, rank candidate "
        "responses in the terminal, export pairs for training.\n\n"
        "**A first session**\n\n"
        "```\n"
        "prefer init ./alignment\n"
        "prefer import prompts.jsonl -p ./alignment\n"
        "prefer generate -p ./alignment\n"
        "prefer annotate -p ./alignment\n"
        "prefer pairs -p ./alignment\n"
        "prefer report -p ./alignment\n"
        "prefer export --format trl --out ./out -p ./alignment\n"
        "```\n\n"
        "Commands find the project from -p DIR, else $PREFER_PROJECT, else the nearest "
        "prefer.toml above the working directory."
    ),
    rich_markup_mode="markdown",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"prefer {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """prefer: DPO preference datasets, on premises."""


app.command("init")(init)
app.command("import")(import_)
app.command("import-judgments")(import_judgments)
app.command("status")(status)
app.add_typer(items_app)
app.add_typer(imports_app)
app.add_typer(annotators_app)
app.command("generate")(generate)
app.command("runs")(runs)
app.command("judge")(judge)
app.command("assign")(assign)
app.command("annotate")(annotate)
app.command("serve")(serve)
app.command("agreement")(agreement)
app.command("gold")(gold)
app.command("disagreements")(disagreements)
app.command("adjudicate")(adjudicate)
app.command("pairs")(pairs)
app.command("balance")(balance)
app.command("report")(report)
app.command("refresh")(refresh)
app.command("export")(export)
app.command("audit")(audit)


def main() -> None:
    app()
