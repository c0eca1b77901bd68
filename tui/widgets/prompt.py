"""The prompt panel: the system prompt and the user's question above the candidates.

One widget so other parts (earlier turns of a conversation, pre-labels) can extend it. When the
question does not fit, its bottom border says so and names the key that shows it whole.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from core.models import Candidate, Item
from core.prompt_view import PromptView
from core.text import printable
from tui.i18n import tr
from tui.widgets.prompt_view import PromptContext


class PromptPanel(VerticalScroll, can_focus=False):
    """Shows an item's system prompt and prompt, at most a third of the screen high."""

    def compose(self) -> ComposeResult:
        yield Static(id="system", markup=False)
        yield PromptContext(id="prompt-context")
        yield Static(id="prompt", markup=False)

    def show(self, item: Item | None, message: str = "", view: PromptView | None = None,
             shown: tuple[Candidate, ...] = ()) -> None:
        """Show `item`'s prompt (a conversation's earlier turns folded above its last user turn,
        and what imported sources say), or `message` when there is no item."""
        system = item.prompt.system if item is not None else None
        system_box = self.query_one("#system", Static)
        system_box.update(printable(tr("prompt.system", text=system), multiline=True)
                          if system else "")
        system_box.display = bool(system)
        self.query_one(PromptContext).show(view, shown)
        last_turn = printable(item.prompt.prompt, multiline=True) if item is not None else message
        self.query_one("#prompt", Static).update(
            Text.assemble((tr("prompt.user"), "bold"), (last_turn, "bold"))
            if item is not None and item.prompt.turns else last_turn)
        self.scroll_home(animate=False)

    def on_mount(self) -> None:
        # After every layout of the screen, not `call_after_refresh` from `show`: that can run
        # before the layout of the new question (tui/frames.py) and read the old one's height.
        self.screen.screen_layout_refresh_signal.subscribe(self, lambda _screen: self.mark_if_cut())

    def mark_if_cut(self) -> None:
        """Name the cut and the key to see it whole, in the panel's bottom border."""
        self.border_subtitle = tr("prompt.cut") if self.max_scroll_y > 0 else ""
