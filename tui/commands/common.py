"""What every command shares: the project option, error printing, opening the store."""

from __future__ import annotations

import functools
import getpass
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from core.errors import PreferError
from core.project import Project, open_project
from core.store import Store, connect_store
from core.text import printable

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)

ProjectOption = Annotated[
    Path | None,
    typer.Option(
        "--project", "-p", envvar="PREFER_PROJECT", show_envvar=True,
        help="Project folder (holds prefer.toml). Default: the nearest prefer.toml upward from "
             "the working directory.",
        file_okay=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout, for scripts.")]
SourceOption = Annotated[str | None, typer.Option(
    "--source", help="Only pairs decided by these: experts, or a trusted import kind "
    "(feedback, abtest, corrections, ratings, dpo), comma-separated; no-KIND excludes one "
    "(docs/sources.md).")]
StrategyOption = Annotated[str | None, typer.Option(
    "--strategy", "-s", help="How a ranked item becomes pairs: best-vs-rest (best against each "
    "other candidate, each against the worst), best-vs-worst (one pair per item) or all-ordered "
    "(every ordered pair of a full ranking). Default from prefer.toml.")]


def share_bar(share: float, target: float | None, scale: float, width: int) -> Text:
    """A bar of `share` (a full bar is `scale`) in `width` cells, the target marked by ┃."""
    filled = round(width * share / scale) if scale else 0
    mark = (min(width - 1, round(width * target / scale)) if target is not None and scale
            else None)
    bar = Text()
    for cell in range(width):
        if cell == mark:
            bar.append("┃", style="bold")
        elif cell < filled:
            bar.append("█", style="cyan")
        else:
            bar.append("░", style="dim")
    return bar

def print_table(columns: Sequence[str], rows: Sequence[Sequence[str]],
                right: Sequence[str] = (), clipped: str | None = None) -> None:
    """A plain table on stdout, one line per row: every column as wide as its widest value, and
    `clipped` (default: the last column) cut with … to fit the terminal. Values must already be
    printable (core.text.printable)."""
    clipped = clipped or columns[-1]
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    at = list(columns).index(clipped)
    room = stdout.width - sum(w + 2 for i, w in enumerate(widths) if i != at) - 1
    widths[at] = max(len(clipped), min(widths[at], room))

    def line(values: Sequence[str]) -> str:
        cells = []
        for i, (value, width) in enumerate(zip(values, widths, strict=True)):
            if len(value) > width:
                value = value[: width - 1] + "…"
            cells.append(value.rjust(width) if columns[i] in right else value.ljust(width))
        return " " + "  ".join(cells).rstrip()

    stdout.print(line(list(columns)), style="bold", markup=False, highlight=False)
    for row in rows:
        stdout.print(line(row), markup=False, highlight=False)


F = TypeVar("F", bound=Callable[..., Any])


def shown(value: object) -> Text:
    """A stored name, id or text as one line of terminal output: its control characters escaped
    (core.text.printable), never read as markup. Use it for every value that came from a file,
    the store or a user, in a table cell or appended to a Text."""
    return Text(printable(str(value)))


def print_error(error: PreferError) -> None:
    """`error: message` and `hint: hint` on stderr; both may quote a file's or a user's values,
    so they are printed as text (escaped, never markup)."""
    stderr.print(Text.assemble(("error:", "bold red"), " ", printable(error.message)),
                 soft_wrap=True, highlight=False)
    if error.hint:
        stderr.print(Text.assemble(("hint:", "dim"), " ", printable(error.hint)), soft_wrap=True)


def reports_errors(command: F) -> F:
    """Turn expected failures into one line on stderr and the right exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except PreferError as error:
            print_error(error)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            stderr.print("interrupted: everything saved before the interrupt is kept")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def os_user() -> str:
    return getpass.getuser()


@contextmanager
def project_store(project_dir: Path | None, act_as: str | None = None
                  ) -> Iterator[tuple[Project, Store]]:
    """The project and its store: through `prefer serve` when it runs, else the file itself."""
    project = open_project(project_dir)
    store = connect_store(project.root, act_as=act_as)
    try:
        yield project, store
    finally:
        store.close()


