"""The justification box: one line of text; Enter saves, Esc returns to choosing."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Input


class JustificationInput(Input):
    """An Input whose footer says what Enter and Esc do while the annotator types."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "save", key_display="Enter"),
        Binding("escape", "screen.choose", "re-pick best/worst", key_display="Esc"),
    ]
