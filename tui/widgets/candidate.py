"""A candidate response card: its label, its text (Markdown or raw), and whether it is marked."""

from __future__ import annotations

from collections.abc import Iterator

from rich.console import Console, ConsoleOptions
from rich.markdown import Markdown
from rich.segment import Segment
from rich.text import Text
from textual._context import active_app
from textual.color import Color
from textual.css.styles import RulesMap
from textual.strip import Strip
from textual.style import Style
from textual.visual import RenderOptions, Visual
from textual.widgets import Static

from core.annotation import LabelEntry, label_text
from core.text import printable
from tui.i18n import tr

# A mark's border shape and theme colour (the unmarked look is .candidate in app.tcss).
_MARK_LOOKS: dict[str, tuple[str, str]] = {"best": ("double", "success"),
                                           "worst": ("heavy", "error")}
_MARK_RULES = ("border_top", "border_right", "border_bottom", "border_left", "border_title_color",
               "border_title_style", "border_subtitle_color", "border_subtitle_style")


class RenderedMarkdown(Visual):
    """A candidate's Markdown as a Textual Visual that keeps its lines per width and its strips
    per width and style. Textual renders a card's content twice per frame (once to measure its
    height, once to draw it), and rendering it (Markdown to segments, the card's style on every
    segment, lines cut into strips) was most of the frame that shows the next item. A worker
    prepares the next item's cards for the width and style they will have (`prepare`) while the
    annotator reads the current one, so that frame only looks them up; any other width or style
    (a resize, another layout, focus) is rendered when first asked and kept."""

    def __init__(self, text: str) -> None:
        self.markdown = Markdown(printable(text, multiline=True))
        self._lines: dict[int, list[Segment]] = {}
        self._heights: dict[int, int] = {}
        self._strips: dict[tuple[int, Style], list[Strip]] = {}

    def render_for(self, console: Console, options: ConsoleOptions) -> list[Segment]:
        found = self._lines.get(options.max_width)
        if found is None:
            found = list(console.render(self.markdown, options))
            self._lines[options.max_width] = found
        return found

    def strips_for(self, console: Console, options: ConsoleOptions, style: Style) -> list[Strip]:
        """The lines at `options.max_width` with `style` under every segment, as Textual's
        RichVisual and the widget's post_render would make them."""
        key = (options.max_width, style)
        found = self._strips.get(key)
        if found is None:
            segments = self.render_for(console, options)
            base = style.rich_style
            if base:
                add = base.__add__
                segments = [Segment(text, add(own), None) for text, own, _ in segments]
            found = [Strip(line) for line in Segment.split_and_crop_lines(
                segments, options.max_width, include_new_lines=False, pad=False)]
            self._strips[key] = found
        return found

    def prepare(self, console: Console, options: ConsoleOptions, style: Style) -> None:
        """Render ahead for the width of `options` and `style` (from a worker thread)."""
        self.strips_for(console, options, style)
        self._height(console, options)

    def _height(self, console: Console, options: ConsoleOptions) -> int:
        found = self._heights.get(options.max_width)
        if found is None:
            found = sum(text.count("\n") for text, _, _ in self.render_for(console, options))
            self._heights[options.max_width] = found
        return found

    @staticmethod
    def _options(width: int) -> tuple[Console, ConsoleOptions]:
        app = active_app.get()
        return app.console, app.console_options.update(highlight=False).update_width(width)

    def render_strips(self, width: int, height: int | None, style: Style,
                      options: RenderOptions) -> list[Strip]:
        strips = self.strips_for(*self._options(width), style)
        return strips if height is None else strips[:height]

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return container_width  # Markdown fills the width it is given

    def get_height(self, rules: RulesMap, width: int) -> int:
        return self._height(*self._options(width))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        yield from self.render_for(console, options)  # printable with Rich too (tests, logs)


def markdown_of(text: str) -> RenderedMarkdown:
    """A candidate's text as the card renders it (parsed now: a worker may do it ahead, and
    render it for a width and style with `RenderedMarkdown.prepare`)."""
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
        self._marked_look = False
        # Links in a candidate are text to judge, not something to click: no per-line pass to
        # style them on every render.
        self.auto_links = False
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
        self._style_mark()
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

    def _style_mark(self) -> None:
        """Best and worst differ by border shape and by the word in the title, not only by
        colour. Set as the card's own styles, not as CSS classes: a class added or removed makes
        Textual match the whole stylesheet against the card again, about 2 ms of the frame that
        shows the next item (its cards lose the last item's marks; measured at 80x24)."""
        look = _MARK_LOOKS.get(self.mark or "")
        if look is None:
            if self._marked_look:
                for rule in _MARK_RULES:
                    self.styles.clear_rule(rule)
                self._marked_look = False
                self.refresh()
            return
        shape, variable = look
        # The variables of the theme in use (kept by the app since its CSS was last built).
        color = Color.parse(self.app.theme_variables.get(variable)
                            or self.app.get_css_variables()[variable])
        styles = self.styles
        styles.border = (shape, color)
        styles.border_title_color = color
        styles.border_title_style = "bold reverse"
        styles.border_subtitle_color = color
        styles.border_subtitle_style = "bold"
        self._marked_look = True

    def show_provenance(self, text: str | None) -> None:
        """Add how the candidate was made to its title, or remove it (None)."""
        self.provenance = text
        self._retitle()

    def show_mark(self, mark: str | None) -> None:
        """Reflect the mark: 'best', 'worst', a place in a ranking ('#2'), or None."""
        self.mark = mark
        self._style_mark()
        self._retitle()
