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


class HelpScreen(ModalScreen[None]):
    """Every key of the annotation screen and what it does."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,enter", "dismiss", "close", key_display="Esc"),
    ]

    def __init__(self, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box", classes="dialog"):
            yield Static("[b]Keys[/b]  (Esc closes)", classes="dialog-title")
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
        Binding("escape,q,g", "dismiss", "close", key_display="Esc"),
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
            yield Static("[b]Guidelines[/b]  (Esc closes, ↑↓ scroll)", classes="dialog-title")
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
        Binding("escape,q,p", "dismiss", "close", key_display="Esc"),
        *GuidelinesScreen.BINDINGS[1:],
    ]

    def __init__(self, system: str | None, prompt: str) -> None:
        super().__init__("")
        self.system = system
        self.prompt = prompt

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="guidelines-box", classes="dialog"):
            yield Static("[b]Prompt[/b]  (Esc closes, ↑↓ scroll)", classes="dialog-title")
            if self.system:
                yield Static(printable(f"System: {self.system}", multiline=True), markup=False,
                             id="whole-system")
            yield Static(printable(self.prompt, multiline=True), markup=False, id="whole-prompt")


class TagScreen(ModalScreen[tuple[str, ...] | None]):
    """Toggle the behaviour dimensions a judgment is about; Enter keeps, Esc cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *[Binding(str(n), f"toggle({n})", show=False) for n in range(1, 10)],
        Binding("enter", "keep", "keep"),
        Binding("escape", "cancel", "cancel"),
    ]

    def __init__(self, dimensions: list[str], selected: tuple[str, ...]) -> None:
        super().__init__()
        self.dimensions = dimensions[:9]
        self.selected = set(selected)

    def compose(self) -> ComposeResult:
        with Vertical(id="tag-box", classes="dialog"):
            yield Static("[b]What is this decision about?[/b]", classes="dialog-title")
            yield Static(id="tag-list")
            yield Static("digits toggle · Enter keeps · Esc cancels", classes="dialog-hint")

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
