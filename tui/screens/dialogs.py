"""Modal dialogs: the list of keys, the guidelines, and dimension tags."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown, Static

from core.text import printable
from tui.i18n import tr


class HelpScreen(ModalScreen[None]):
    """Every key of the annotation screen and what it does."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,enter,f1", "dismiss", "close", key_display="Esc"),
    ]

    def __init__(self, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box", classes="dialog"):
            yield Static(tr("help.title"), classes="dialog-title")
            table = Table(box=None, show_header=False, padding=(0, 1), expand=True)
            table.add_column(style="bold", no_wrap=True, justify="right")
            table.add_column(ratio=1)
            for keys, text in self.rows:
                table.add_row(keys, text)
            yield Static(table, id="help-table")

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)


class GuidelinesScreen(ModalScreen[None]):
    """The project's guidelines.md, scrollable by keyboard."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,g,ctrl+g", "dismiss", "close", key_display="Esc"),
        Binding("j,down", "scroll(1)", "down", show=False),
        Binding("k,up", "scroll(-1)", "up", show=False),
        Binding("space,pagedown", "page(1)", "page down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
    ]

    def __init__(self, markdown: str) -> None:
        super().__init__()
        self.markdown = markdown

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="guidelines-box", classes="dialog"):
            yield Static(tr("guidelines.title"), classes="dialog-title")
            yield Markdown(self.markdown)

    def action_scroll(self, lines: int) -> None:
        self.query_one("#guidelines-box", VerticalScroll).scroll_relative(y=lines, animate=False)

    def action_page(self, direction: int) -> None:
        box = self.query_one("#guidelines-box", VerticalScroll)
        box.scroll_relative(y=direction * max(box.size.height - 2, 1), animate=False)

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)


class PromptScreen(GuidelinesScreen):
    """The whole system prompt and prompt, when they do not fit above the responses."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,p,ctrl+p", "dismiss", "close", key_display="Esc"),
        *GuidelinesScreen.BINDINGS[1:],
    ]

    def __init__(self, system: str | None, prompt: str) -> None:
        super().__init__("")
        self.system = system
        self.prompt = prompt

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="guidelines-box", classes="dialog"):
            yield Static(tr("prompt.title"), classes="dialog-title")
            if self.system:
                yield Static(printable(tr("prompt.system", text=self.system), multiline=True),
                             markup=False,
                             id="whole-system")
            yield Static(printable(self.prompt, multiline=True), markup=False, id="whole-prompt")


class TagScreen(ModalScreen[tuple[str, ...] | None]):
    """Toggle the behaviour dimensions a judgment is about; Enter keeps, Esc cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *[Binding(str(n), f"toggle({n})", show=False) for n in range(1, 10)],
        Binding("enter", "keep", "keep", key_display="Enter"),
        Binding("escape", "cancel", "cancel", key_display="Esc"),
    ]

    def __init__(self, dimensions: list[str], selected: tuple[str, ...]) -> None:
        super().__init__()
        self.dimensions = dimensions[:9]
        self.selected = set(selected)

    def compose(self) -> ComposeResult:
        with Vertical(id="tag-box", classes="dialog"):
            yield Static(tr("tag.title"), classes="dialog-title")
            yield Static(id="tag-list")
            yield Static(tr("tag.hint"), classes="dialog-hint")

    def on_mount(self) -> None:
        self._refresh()

    def _refresh(self) -> None:
        lines = [f"  {n}  [{'x' if dim in self.selected else ' '}] {printable(dim)}"
                 for n, dim in enumerate(self.dimensions, start=1)]
        self.query_one("#tag-list", Static).update("\n".join(lines).replace("[", r"\["))

    def action_toggle(self, number: int) -> None:
        if 1 <= number <= len(self.dimensions):
            self.selected ^= {self.dimensions[number - 1]}
            self._refresh()

    def action_keep(self) -> None:
        self.dismiss(tuple(d for d in self.dimensions if d in self.selected))

    def action_cancel(self) -> None:
        self.dismiss(None)


class QuitScreen(ModalScreen[bool]):
    """Asked on quitting with unsaved work: Enter (or the quit key again) quits, keeping it as a
    draft; Esc stays. Printable keys do nothing, so a sentence typed on cannot answer it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,ctrl+q,ctrl+c", "answer(True)", "quit", key_display="Enter",
                priority=True),
        Binding("escape", "answer(False)", "stay", key_display="Esc"),
    ]

    def __init__(self, item: str, words: str = "quit") -> None:
        """`words`: the catalogue prefix of the title, body and hint ("quit", or
        "adj.discard" on the adjudication screen, where nothing is kept as a draft)."""
        super().__init__()
        self.item = item
        self.words = words

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-box", classes="dialog"):
            yield Static(tr(f"{self.words}.title"), classes="dialog-title")
            yield Static(tr(f"{self.words}.body", item=printable(self.item)), markup=False)
            yield Static(tr(f"{self.words}.hint"), classes="dialog-hint")

    def action_answer(self, quit_now: bool) -> None:
        self.dismiss(quit_now)
