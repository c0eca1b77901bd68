"""The diff view: a word-level comparison of two candidates, marked by more than colour."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from core.annotation import label_text, label_width
from core.text import printable
from core.textdiff import Segment, changed_words, word_diff
from tui.i18n import tr


def render_diff(segments: list[Segment]) -> Text:
    """Deleted words struck through inside [- -], inserted ones underlined inside {+ +}: the
    brackets carry the meaning without colour, the styles help with it."""
    text = Text()
    for segment in segments:
        if segment.kind == "same":
            text.append(segment.text)
        elif segment.kind == "deleted":
            text.append("[-", style="bold red")
            text.append(segment.text, style="strike red")
            text.append("-]", style="bold red")
        else:
            text.append("{+", style="bold green")
            text.append(segment.text, style="underline green")
            text.append("+}", style="bold green")
    return text


class DiffScreen(ModalScreen[None]):
    """Compares candidate `first` with `second` (labels); typing two other labels compares
    those instead. Esc closes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,ctrl+d,q", "dismiss", "close", key_display="Esc"),
        Binding("down", "scroll(1)", show=False),
        Binding("up", "scroll(-1)", show=False),
        Binding("pagedown", "page(1)", show=False),
        Binding("pageup", "page(-1)", show=False),
    ]

    def __init__(self, texts: list[str], first: int, second: int) -> None:
        super().__init__()
        self.texts = texts
        self.first, self.second = first, second
        self._typed = ""

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="diff-box", classes="dialog"):
            yield Static(id="diff-title", classes="dialog-title")
            yield Static(id="diff-text")
            yield Static(classes="dialog-hint", id="diff-hint")

    def on_mount(self) -> None:
        self.show_pair(self.first, self.second)

    def show_pair(self, first: int, second: int) -> None:
        self.first, self.second = first, second
        count = len(self.texts)
        segments = word_diff(printable(self.texts[first - 1], multiline=True),
                             printable(self.texts[second - 1], multiline=True))
        self.segments = segments
        self.query_one("#diff-title", Static).update(Text(tr(
            "diff.title", first=label_text(first, count), second=label_text(second, count),
            words=changed_words(segments)), style="bold"))
        self.query_one("#diff-text", Static).update(render_diff(segments))
        self.query_one("#diff-hint", Static).update(Text(tr(
            "diff.hint", first=label_text(first, count), second=label_text(second, count))))

    def on_key(self, event: events.Key) -> None:
        if event.character and event.character.isdigit():
            event.stop()
            self._typed += event.character
            width = label_width(len(self.texts))
            if len(self._typed) == 2 * width:
                a, b = int(self._typed[:width]), int(self._typed[width:])
                self._typed = ""
                if a != b and 1 <= a <= len(self.texts) and 1 <= b <= len(self.texts):
                    self.show_pair(a, b)

    def action_scroll(self, lines: int) -> None:
        self.query_one("#diff-box", VerticalScroll).scroll_relative(y=lines, animate=False)

    def action_page(self, direction: int) -> None:
        box = self.query_one("#diff-box", VerticalScroll)
        box.scroll_relative(y=direction * max(box.size.height - 2, 1), animate=False)

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)
