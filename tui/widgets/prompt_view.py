"""The conversation above the candidates: earlier turns folded, the last user turn prominent,
and what imported sources say (pre-labels), from core.prompt_view.PromptView."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Collapsible, Static

from core.models import Candidate
from core.prompt_view import PreLabel, PromptView, numbered_pre_labels
from core.text import printable
from tui.i18n import tr


class PromptContext(Vertical):
    """Earlier turns in a collapsed section (Enter or a click unfolds them), then the
    pre-labels. Empty, and hidden, for a single-turn prompt without pre-labels."""

    DEFAULT_CSS = """
    PromptContext { height: auto; }
    PromptContext Collapsible { padding: 0; border: none; }
    PromptContext #earlier-turns-text { color: $text-muted; }
    PromptContext #pre-labels { color: $warning; }
    """

    def compose(self) -> ComposeResult:
        with Collapsible(title=tr("prompt.earlier_turns", count=0), collapsed=True,
                         id="earlier-turns"):
            yield Static(id="earlier-turns-text", markup=False)
        yield Static(id="pre-labels", markup=False)

    def show(self, view: PromptView | None, shown: tuple[Candidate, ...] = ()) -> None:
        """Show `view`'s earlier turns (folded again) and its pre-labels in the numbers of the
        candidates as `shown`; hide what it lacks."""
        turns = view.earlier_turns if view else ()
        folded = self.query_one("#earlier-turns", Collapsible)
        folded.collapsed = True
        folded.title = tr("prompt.earlier_turns", count=len(turns))  # always 2 or more: pairs
        folded.display = bool(turns)
        self.query_one("#earlier-turns-text", Static).update(printable("\n\n".join(
            tr(f"prompt.role_{t.role}", text=t.content) for t in turns), multiline=True))
        notes = [tr("prompt.pre_label", text=pre_label_text(chosen, rejected, label))
                 for chosen, rejected, label in (numbered_pre_labels(view, shown) if view
                                                 else [])]
        pre = self.query_one("#pre-labels", Static)
        more = ("\n" + tr("prompt.more_pre_labels", count=len(notes) - 3)) if len(notes) > 3 else ""
        pre.update(printable("\n".join(notes[:3]) + more, multiline=True))
        pre.display = bool(notes)
        self.display = bool(turns or notes)


def pre_label_text(chosen: int, rejected: int, label: PreLabel) -> str:
    """A pre-label in the screen's language: "2 over 1, from A/B test (p = 0.01)"."""
    details = ", ".join(tr(f"pre_label.{detail}", **values) for detail, values in label.details)
    return tr("prompt.pre_label_line", chosen=chosen, rejected=rejected,
              source=tr(f"pre_label.kind.{label.kind}"),
              details=tr("pre_label.details", details=details) if details else "",
              trusted=tr("pre_label.trusted") if label.trusted else "")
