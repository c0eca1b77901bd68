"""A candidate response card: its label, its text (Markdown or raw), and whether it is marked."""

from __future__ import annotations

from collections.abc import Iterator

from rich.console import Console, ConsoleOptions
from rich.markdown import Markdown
from rich.segment import Segment
from rich.text import Text
from textual.widgets import Static

from core.annotation import LabelEntry, label_text
from core.text import printable
from tui.i18n import tr


class RenderedMarkdown:
    """A candidate's Markdown with its lines kept per width: Textual renders a card's content
    twice per frame (once to measure its height, once to draw it), and rendering Markdown was
    most of the frame that shows the next item. A worker renders the next item's cards for the
    width they will have (`render_for`) while the annotator reads the current one, so the frame
    only copies lines; any other width (a resize, another layout) is rendered when first asked
    and kept."""

    def __init__(self, text: str) -> None:
        self.markdown = Markdown(printable(text, multiline=True))
        self._lines: dict[int, list[Segment]] = {}

    def render_for(self, console: Console, options: ConsoleOptions) -> list[Segment]:
        found = self._lines.get(options.max_width)
        if found is None:
            found = list(console.render(self.markdown, options))
            self._lines[options.max_width] = found
        return found

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        yield from self.render_for(console, options)


def markdown_of(text: str) -> RenderedMarkdown:
    """A candidate's text as the card renders it (parsed now: a worker may do it ahead, and
    render it for a width with `RenderedMarkdown.render_for`)."""
    return RenderedMarkdown(text)


def pending_label(entry: LabelEntry) -> str:
    """The first digit of a two-digit label while the second is awaited, as markup to append
    to the marks line (empty otherwise)."""
    return f" [reverse] {entry.typed}_ [/reverse]" if entry.typed else ""


class CandidateCard(Static):
    """One candidate, labelled with the number that marks it. The text is rendered as Markdown
    (or shown raw on request), never as Textual markup; control characters become visible
    escapes (core.text.printable). The mark is named in words in the card's top border, so it
    reads without colour and stays on screen with the card's first line."""

    def __init__(self, label: int, text: str, count: int, raw: bool = False,
                 markdown: RenderedMarkdown | None = None) -> None:
        super().__init__(markup=False, classes="candidate")
        self.raw = raw
        self.show_candidate(label, text, count, markdown)

    def show_candidate(self, label: int, text: str, count: int,
                       markdown: RenderedMarkdown | None = None) -> None:
        """Show another candidate in this card (unmarked): the screen keeps its cards from item
        to item and changes what they show, cheaper than removing and mounting new ones.
        `markdown` is `markdown_of(text)` when a worker parsed it ahead."""
        self.label = label
        self.count = count
        self.text = printable(text, multiline=True)
        self._markdown = markdown
        self.mark: str | None = None
        self.provenance: str | None = None
        self.set_class(False, "best")
        self.set_class(False, "worst")
        self._render_text()
        self._retitle()

    def _render_text(self) -> None:
        if self.raw:
            self.update(Text(self.text))
            return
        if self._markdown is None:
            self._markdown = RenderedMarkdown(self.text)
        self.update(self._markdown)

    def _retitle(self) -> None:
        parts = [label_text(self.label, self.count)]
        if self.mark == "best":
            parts.append("▲ " + tr("card.best"))
        elif self.mark == "worst":
            parts.append("▼ " + tr("card.worst"))
        elif self.mark:
            parts.append(self.mark)
        if self.provenance:
            parts.append(printable(self.provenance))
        self.border_title = Text(" " + " · ".join(parts) + " ")

    def show_raw(self, raw: bool) -> None:
        """Show the text as written (True) or as rendered Markdown (False)."""
        self.raw = raw
        self._render_text()

    def show_provenance(self, text: str | None) -> None:
        """Add how the candidate was made to its title, or remove it (None)."""
        self.provenance = text
        self._retitle()

    def show_mark(self, mark: str | None) -> None:
        """Reflect the mark: 'best', 'worst', a place in a ranking ('#2'), or None."""
        self.mark = mark
        self.set_class(mark == "best", "best")
        self.set_class(mark == "worst", "worst")
        self._retitle()
