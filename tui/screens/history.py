"""The history screen: the annotator's own judgments, newest first, filtered by dimension or
outcome; Enter opens one on the annotation screen to revise it (the revision supersedes it, and
both stay in the audit trail)."""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from core.annotation import AnnotationSession, label_text
from core.models import Judgment
from core.text import printable
from tui.i18n import tr


def outcome_text(judgment: Judgment) -> str:
    """A judgment's decision in the numbers the annotator saw."""
    shown = list(judgment.shown_order)
    count = len(shown)

    def label(candidate_id: str | None) -> str:
        return label_text(shown.index(candidate_id) + 1, count) if candidate_id in shown else "?"

    if judgment.kind != "ranked":
        return tr(f"outcome.short.{judgment.kind}")
    if judgment.groups:
        return " > ".join("=".join(label(c) for c in group) for group in judgment.groups)
    return tr("history.best_worst", best=label(judgment.best_candidate_id),
              worst=label(judgment.worst_candidate_id))


class HistoryScreen(ModalScreen[str | None]):
    """Returns the prompt id to open, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,ctrl+r", "close", tr("key.close"), key_display="Esc"),
        Binding("left", "filter(-1)", tr("key.filter"), key_display="←→", priority=True),
        Binding("right", "filter(1)", show=False, priority=True),
    ]

    class Loaded(Message):
        def __init__(self, judgments: list[Judgment]) -> None:
            super().__init__()
            self.judgments = judgments

    def __init__(self, session: AnnotationSession) -> None:
        super().__init__()
        self.session = session
        self.judgments: list[Judgment] = []
        dimensions = list(session.config.project.dimensions)
        # (title, test) for each filter: everything, each dimension, no preference, skipped
        self.filters: list[tuple[str, str | None]] = [
            (tr("history.all"), None), *[(d, d) for d in dimensions],
            (tr("history.no_preference"), ":no_preference"), (tr("history.skipped"), ":skipped")]
        self.filter_index = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="history-box", classes="dialog"):
            yield Static(id="history-title", classes="dialog-title")
            yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
            yield Static(tr("history.hint"), classes="dialog-hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(tr("history.when"), tr("history.item"), tr("history.decision"),
                          tr("history.seconds"), tr("history.tags"), tr("history.why"))
        self._retitle()
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="history")
    def load(self) -> None:
        judgments = self.session.store.judgments_of(self.session.annotator)
        self.post_message(self.Loaded(list(reversed(judgments))))

    @on(Loaded)
    def loaded(self, event: Loaded) -> None:
        self.judgments = event.judgments
        self._fill()

    def shown(self) -> list[Judgment]:
        test = self.filters[self.filter_index][1]
        if test is None:
            return self.judgments
        if test == ":skipped":
            return [j for j in self.judgments if j.kind == "skipped"]
        if test == ":no_preference":
            return [j for j in self.judgments if j.kind not in ("ranked", "skipped")]
        return [j for j in self.judgments if test in j.dimensions]

    def _retitle(self) -> None:
        self.query_one("#history-title", Static).update(
            tr("history.title", filter=printable(self.filters[self.filter_index][0])))

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for judgment in self.shown():
            when = judgment.created_at.strftime("%m-%d %H:%M") if judgment.created_at else ""
            why = printable(judgment.justification or "")
            table.add_row(when, printable(judgment.prompt_id), outcome_text(judgment),
                          f"{judgment.seconds_spent:.0f}" if judgment.seconds_spent else "",
                          printable(", ".join(judgment.dimensions)),
                          why if len(why) <= 60 else why[:59] + "…",
                          key=judgment.prompt_id)
        table.focus()

    def action_filter(self, step: int) -> None:
        self.filter_index = (self.filter_index + step) % len(self.filters)
        self._retitle()
        self._fill()

    @on(DataTable.RowSelected)
    def open_row(self, event: DataTable.RowSelected) -> None:
        self.dismiss(event.row_key.value)

    def action_close(self) -> None:
        self.dismiss(None)
