"""The "no preference" dialog: no meaningful difference, or cannot judge, with the reason."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, RadioButton, RadioSet, Static

from core.annotation import NO_PREFERENCE_KINDS
from tui.i18n import tr


class NoPreferenceScreen(ModalScreen[tuple[str, str] | None]):
    """Returns (kind, reason) with kind in NO_PREFERENCE_KINDS, or None on Esc. The reason box
    has focus from the start, so typing is always writing; ↑↓ choose the outcome."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "cancel", key_display="Esc"),
        Binding("up", "choose(-1)", show=False, priority=True),
        Binding("down", "choose(1)", show=False, priority=True),
    ]

    def __init__(self, min_chars: int) -> None:
        super().__init__()
        self.min_chars = min_chars
        self.kind = NO_PREFERENCE_KINDS[0]

    def compose(self) -> ComposeResult:
        with Vertical(id="outcome-box", classes="dialog"):
            yield Static(tr("outcome.title"), classes="dialog-title")
            with RadioSet(id="outcome-kind"):
                for n, kind in enumerate(NO_PREFERENCE_KINDS):
                    yield RadioButton(tr(f"outcome.{kind}"), value=n == 0, id=f"kind-{kind}")
            yield Input(id="outcome-reason",
                        placeholder=tr("outcome.placeholder", chars=self.min_chars))
            yield Static(tr("outcome.hint"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#outcome-reason", Input).focus()

    def action_choose(self, step: int) -> None:
        index = (NO_PREFERENCE_KINDS.index(self.kind) + step) % len(NO_PREFERENCE_KINDS)
        self.kind = NO_PREFERENCE_KINDS[index]
        self.query_one(f"#kind-{self.kind}", RadioButton).value = True

    @on(RadioSet.Changed)
    def chosen(self, event: RadioSet.Changed) -> None:
        self.kind = NO_PREFERENCE_KINDS[event.index]
        self.query_one("#outcome-reason", Input).focus()

    @on(Input.Submitted, "#outcome-reason")
    def keep(self, event: Input.Submitted) -> None:
        if len(event.value.strip()) < self.min_chars:
            self.notify(tr("outcome.too_short", chars=self.min_chars,
                           typed=len(event.value.strip())), severity="warning", timeout=3)
            return
        self.dismiss((self.kind, event.value.strip()))

    def action_cancel(self) -> None:
        self.dismiss(None)
