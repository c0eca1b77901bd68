"""The history screen: the annotator's own judgments, newest first, filtered by dimension,
outcome or flag; Enter opens one on the annotation screen to revise it (the revision supersedes
it, and both stay in the audit trail).

The "flagged" filter lists the items the annotator flagged, judged or not, with the flag's note
and, once a reviewer resolved it, the reviewer's answer (store.flags_of: one's own flags only).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from core.annotation import AnnotationSession, label_text
from core.models import Flag, Judgment
from core.text import printable
from tui.i18n import tr

FLAGGED = ":flagged"
CELL_CHARS = 60  # the "why" cell; the highlighted row's whole text shows under the table


def flag_text(flag: Flag) -> str:
    """A flag's note, and the reviewer's answer once resolved."""
    if flag.resolution is None:
        return tr("history.flag_open", note=flag.note)
    return tr("history.flag_resolved", note=flag.note, resolution=flag.resolution)


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
        Binding("ctrl+f", "flagged", tr("key.flagged"), key_display="^F", priority=True),
    ]

    class Loaded(Message):
        def __init__(self, judgments: list[Judgment], flags: list[Flag]) -> None:
            super().__init__()
            self.judgments = judgments
            self.flags = flags

    def __init__(self, session: AnnotationSession) -> None:
        super().__init__()
        self.session = session
        self.judgments: list[Judgment] = []
        self.flags: dict[str, list[Flag]] = {}  # prompt id -> the annotator's flags, oldest first
        self.details: dict[str, str] = {}  # prompt id -> the row's text in full
        dimensions = list(session.config.project.dimensions)
        # (title, test) for each filter: everything, each dimension, no preference, skipped,
        # flagged
        self.filters: list[tuple[str, str | None]] = [
            (tr("history.all"), None), *[(d, d) for d in dimensions],
            (tr("history.no_preference"), ":no_preference"), (tr("history.skipped"), ":skipped"),
            (tr("history.flagged"), FLAGGED)]
        self.filter_index = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="history-box", classes="dialog"):
            yield Static(id="history-title", classes="dialog-title")
            yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
            # The highlighted row's justification (or flag and the reviewer's answer) in full,
            # wrapped: the table's cell is cut to fit 80 columns.
            yield Static(id="history-detail")
            yield Static(tr("history.hint"), classes="dialog-hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(tr("history.when"), tr("history.item"), tr("history.decision"),
                          tr("history.seconds"), tr("history.tags"), tr("history.why"))
        self._retitle()
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="history")
    def load(self) -> None:
        store, annotator = self.session.store, self.session.annotator
        judgments = store.judgments_of(annotator)
        self.post_message(self.Loaded(list(reversed(judgments)), store.flags_of(annotator)))

    @on(Loaded)
    def loaded(self, event: Loaded) -> None:
        self.judgments = event.judgments
        self.flags = {}
        for flag in event.flags:
            self.flags.setdefault(flag.prompt_id, []).append(flag)
        self._fill()

    def shown(self) -> list[tuple[str, Judgment | None]]:
        """(prompt id, current judgment or None) of each row, newest first."""
        test = self.filters[self.filter_index][1]
        rows: list[tuple[str, Judgment | None]] = [(j.prompt_id, j) for j in self.judgments]
        if test is None:
            return rows
        if test == FLAGGED:
            judged = {prompt_id for prompt_id, _ in rows}
            # The flagged items one judged (newest judgment first), then those flagged but
            # never judged (newest flag first).
            unjudged = sorted((p for p in self.flags if p not in judged),
                              key=lambda p: self.flags[p][-1].created_at or datetime.min,
                              reverse=True)
            return [row for row in rows if row[0] in self.flags] + [(p, None) for p in unjudged]
        judgments = self.judgments
        if test == ":skipped":
            judgments = [j for j in judgments if j.kind == "skipped"]
        elif test == ":no_preference":
            judgments = [j for j in judgments if j.kind not in ("ranked", "skipped")]
        else:
            judgments = [j for j in judgments if test in j.dimensions]
        return [(j.prompt_id, j) for j in judgments]

    def _retitle(self) -> None:
        self.query_one("#history-title", Static).update(
            tr("history.title", filter=printable(self.filters[self.filter_index][0])))

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        self.details = {}
        self.query_one("#history-detail", Static).update("")
        flagged_view = self.filters[self.filter_index][1] == FLAGGED
        for prompt_id, judgment in self.shown():
            flags = self.flags.get(prompt_id, [])
            at = judgment.created_at if judgment else flags[-1].created_at if flags else None
            when = at.strftime("%m-%d %H:%M") if at else ""
            # The flag mark in every view; in the flagged view the flag's note (and the
            # reviewer's answer) take the place of the justification.
            item = ("⚑ " if flags else "") + printable(prompt_id)
            why = printable(flag_text(flags[-1]) if flagged_view and flags
                            else (judgment.justification or "") if judgment else "")
            self.details[prompt_id] = why
            table.add_row(when, item,
                          outcome_text(judgment) if judgment else tr("history.not_judged"),
                          f"{judgment.seconds_spent:.0f}" if judgment and judgment.seconds_spent
                          else "",
                          printable(", ".join(judgment.dimensions)) if judgment else "",
                          why if len(why) <= CELL_CHARS else why[:CELL_CHARS - 1] + "…",
                          key=prompt_id)
        table.focus()

    def action_filter(self, step: int) -> None:
        self.filter_index = (self.filter_index + step) % len(self.filters)
        self._retitle()
        self._fill()

    def action_flagged(self) -> None:
        """Straight to the items one flagged, and back to all."""
        flagged = next(i for i, (_, test) in enumerate(self.filters) if test == FLAGGED)
        self.filter_index = 0 if self.filter_index == flagged else flagged
        self._retitle()
        self._fill()

    @on(DataTable.RowHighlighted)
    def show_detail(self, event: DataTable.RowHighlighted) -> None:
        # Text, not markup: what an annotator typed is shown as typed.
        self.query_one("#history-detail", Static).update(
            Text(self.details.get(str(event.row_key.value), "")))

    @on(DataTable.RowSelected)
    def open_row(self, event: DataTable.RowSelected) -> None:
        self.dismiss(event.row_key.value)

    def action_close(self) -> None:
        self.dismiss(None)
