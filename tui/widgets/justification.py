"""The justification box: one line of text; Enter saves, Esc returns to choosing."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.widgets import Input

from tui.i18n import tr


class JustificationInput(Input):
    """An Input that keeps its text still while a save of it is in flight (`locked`), so what
    is saved is what the annotator sees."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "save", key_display="Enter"),
        Binding("escape", "screen.choose", "re-pick", key_display="Esc"),
    ]

    locked = False

    def __init__(self, **kwargs: object) -> None:
        # Focus must never select the text: the next key would replace a whole justification.
        super().__init__(select_on_focus=False, **kwargs)  # type: ignore[arg-type]
        # The line above the box says what Enter and Esc do; the footer keeps to commands.
        self._bindings.key_to_bindings["enter"] = [
            Binding("enter", "submit", tr("key.save"), key_display="Enter", show=False)]
        self._bindings.key_to_bindings["escape"] = [
            Binding("escape", "screen.choose", tr("key.choose"), key_display="Esc",
                    show=False)]

    async def _on_key(self, event: events.Key) -> None:
        if self.locked and event.is_printable:
            # Not typed here; the screen decides (a digit right after a save is the next
            # item's pick) and rings the bell for the rest.
            event.prevent_default()
            return
        if self.locked and event.key in ("backspace", "delete"):
            event.stop()
            event.prevent_default()
            self.app.bell()
            return
        await super()._on_key(event)
