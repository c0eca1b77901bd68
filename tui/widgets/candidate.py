"""A candidate response card: its label (1..k), its text, and whether it is marked best or worst."""

from __future__ import annotations

from textual.widgets import Static


class CandidateCard(Static):
    """One candidate, labelled with the digit that marks it. Text is shown verbatim (no markup)."""

    def __init__(self, label: int, text: str) -> None:
        super().__init__(text, markup=False, classes="candidate")
        self.label = label
        self.border_title = f" {label} "

    def show_provenance(self, text: str | None) -> None:
        """Add how the candidate was made to its title, or remove it (None)."""
        self.border_title = f" {self.label} · {text} " if text else f" {self.label} "

    def show_mark(self, mark: str | None) -> None:
        """Reflect the mark: 'best', 'worst' or None."""
        self.set_class(mark == "best", "best")
        self.set_class(mark == "worst", "worst")
        self.border_subtitle = {"best": " BEST ", "worst": " WORST "}.get(mark or "", "")
