"""The flag dialog: an annotator tells a reviewer what is wrong with an item, in one note."""

from __future__ import annotations

from typing import ClassVar

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from core.text import printable
from tui.i18n import tr


class FlagScreen(ModalScreen[str | None]):
    """Ask for a note; Enter returns it (a blank note is refused), Esc cancels with None."""

    DEFAULT_CSS = """
    FlagScreen {
        align: center middle;
    }
    #flag-box {
        width: 90%;
        max-width: 80;
        height: auto;
        border: thick $warning;
        background: $surface;
        padding: 0 1;
    }
    #flag-hint {
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "cancel", key_display="Esc"),
    ]

    def __init__(self, prompt_id: str) -> None:
        super().__init__()
        self.prompt_id = prompt_id

    def compose(self) -> ComposeResult:
        with Vertical(id="flag-box"):
            yield Static(tr("flag.title", item=escape(printable(self.prompt_id))),
                         classes="dialog-title")
            yield Static(tr("flag.question"), id="flag-hint")
            yield Input(id="flag-note", placeholder=tr("flag.placeholder"))
            yield Static(tr("flag.hint"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#flag-note", Input).focus()

    @on(Input.Submitted, "#flag-note")
    def keep(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.notify(tr("flag.empty"), severity="warning", timeout=3)
            return
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
