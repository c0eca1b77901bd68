"""A candidate response card: its label (1..k), its text, and whether it is marked best or worst."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from core.text import printable


class CandidateCard(Static):
    """One candidate, labelled with the digit that marks it. Text is shown as written (never as
    markup), lines and tabs kept, control characters as visible escapes (core.text.printable)."""

    def __init__(self, label: int, text: str) -> None:
        super().__init__(printable(text, multiline=True), markup=False, classes="candidate")
        self.label = label
        self.border_title = f" {label} "

    def show_provenance(self, text: str | None) -> None:
        """Add how the candidate was made to its title, or remove it (None)."""
        self.border_title = (Text(f" {self.label} · {printable(text)} ") if text
                             else f" {self.label} ")

    def show_mark(self, mark: str | None) -> None:
        """Reflect the mark: 'best', 'worst' or None."""
        self.set_class(mark == "best", "best")
        self.set_class(mark == "worst", "worst")
        self.border_subtitle = {"best": " BEST ", "worst": " WORST "}.get(mark or "", "")
