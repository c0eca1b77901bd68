"""The adjudication screen: an item annotators disagree on (or flagged), their choices side by side,
the reviewer's best/worst by digit, a required resolution note and an optional guideline change."""

from __future__ import annotations

from collections.abc import Callable

from rich import box
from rich.table import Table
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingsMap
from textual.containers import Vertical, VerticalScroll
from textual.markup import escape
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Static
from textual.worker import Worker, WorkerState

from core.adjudication import BEST, OPPOSITE, WORST, pseudonym_letters
from core.annotation import LabelEntry, label_text
from core.errors import JudgmentError, PreferError
from core.models import Adjudication
from core.review import ReviewScreenful, ReviewSession, check_adjudication
from core.text import printable
from tui.bindings import SCROLL_BINDINGS
from tui.i18n import tr
from tui.screens.dialogs import GuidelinesScreen, HelpScreen, PromptScreen, QuitScreen
from tui.widgets.candidate import CandidateCard, pending_label
from tui.widgets.justification import JustificationInput

# What annotators differ on (core.adjudication's names), in the reviewer's language.
DIFFERS_ON = {BEST: "adj.differs.best", WORST: "adj.differs.worst",
              OPPOSITE: "adj.differs.opposite"}


# Every key of the adjudication screen, as data: one registry feeds the footer and the help.
# Digits are not bindings: they are typed into a LabelEntry, as on the annotation screen, so
# labels above 9 (two digits, 01-12) read and type the same for annotators and reviewers.
def adjudicate_bindings() -> list[Binding]:
    """The adjudication screen's bindings in the current language."""
    return [
        Binding("enter", "write", tr("adj.key.write"), show=False, id="write"),
        Binding("escape", "choose", tr("adj.key.choose"), show=False, id="choose"),
        Binding("n,s", "skip", tr("adj.key.skip"), key_display="n", id="skip"),
        Binding("p", "prompt", tr("key.prompt"), id="prompt"),
        Binding("g", "guidelines", tr("key.guidelines"), id="guidelines"),
        Binding("question_mark", "help", tr("key.help"), key_display="?", id="help"),
        Binding("q", "quit", tr("key.quit"), id="quit"),
        *SCROLL_BINDINGS,
    ]


ADJUDICATE_BINDINGS: list[Binding] = adjudicate_bindings()

# Help for each binding id: the catalogue key of its line on the help screen.
ADJUDICATE_HELP: dict[str, str] = {
    "write": "adj.help.write", "choose": "adj.help.choose", "skip": "adj.help.skip",
    "prompt": "help.prompt", "guidelines": "help.guidelines", "help": "help.help",
    "quit": "adj.help.quit", "scroll_down": "help.scroll_down", "scroll_up": "help.scroll_up",
    "page_down": "help.page_down", "page_up": "help.page_up",
}


def adjudicate_help_rows() -> list[tuple[str, str]]:
    """(keys, what they do) for the help screen of the adjudication screen."""
    rows = [("1-9", tr("adj.help.mark")), ("Enter", tr("adj.help.save")),
            ("Tab", tr("adj.help.tab"))]
    for binding in ADJUDICATE_BINDINGS:
        if binding.id is None:
            continue
        key = (binding.key if "," in binding.key else binding.key_display or binding.key)
        key = key.replace(",", " / ")
        key = key.replace("enter", "Enter").replace("escape", "Esc")
        rows.append((key, tr(ADJUDICATE_HELP[binding.id]) if binding.id in ADJUDICATE_HELP
                     else binding.description))
    return rows


class AdjudicateScreen(Screen[None]):
    """Shows one unresolved item at a time from a ReviewSession and forwards keys to it."""

    BINDINGS = ADJUDICATE_BINDINGS

    class ItemLoaded(Message):
        """The next unresolved item (or none: nothing is left) is ready to show."""

        def __init__(self, screenful: ReviewScreenful | None, note: str | None = None) -> None:
            super().__init__()
            self.screenful = screenful
            self.note = note

    class AdjudicationSaved(Message):
        """A decision (or a flag resolution, `adjudication` None) was committed."""

        def __init__(self, adjudication: Adjudication | None) -> None:
            super().__init__()
            self.adjudication = adjudication

    def __init__(self, session: ReviewSession, guidelines: str, project_name: str) -> None:
        super().__init__()
        self._bindings = BindingsMap([*Screen.BINDINGS, *adjudicate_bindings()])
        self.session = session
        self.guidelines = guidelines
        self.project_name = project_name
        self.busy = False
        self.entry = LabelEntry(0)  # digits typed towards a label (two above 9 candidates)

    def compose(self) -> ComposeResult:
        yield Static(id="topbar")
        with VerticalScroll(id="review-body"):
            yield Static(id="review-status")
            yield Static(id="review-flags")
            yield Static(id="system", markup=False)
            yield Static(id="prompt", markup=False)
            yield Vertical(id="review-candidates")
            yield Static(id="review-annotators")
        yield Static(id="marks")
        yield JustificationInput(id="note", placeholder=tr("adj.note.placeholder"))
        yield JustificationInput(id="guideline", placeholder=tr("adj.guideline.placeholder"))
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#review-body").focus()
        self.busy = True
        self.load_item()

    # --- loading ---------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="store")
    def load_item(self) -> None:
        self.post_message(self.ItemLoaded(self.session.next_item()))

    @on(ItemLoaded)
    def show_item(self, event: ItemLoaded) -> None:
        self.busy = False
        self.entry = LabelEntry(len(event.screenful.shown) if event.screenful else 0)
        if event.note:
            self.notify(printable(event.note), markup=False, timeout=3)
        box = self.query_one("#review-candidates", Vertical)
        box.remove_children()
        screenful = event.screenful
        fields = [self.query_one("#note", Input), self.query_one("#guideline", Input)]
        for field in fields:
            field.value = ""
            field.disabled = screenful is None
        if screenful is None:
            for selector in ("#review-status", "#system", "#review-annotators", "#review-flags"):
                self.query_one(selector, Static).update("")
            self.query_one("#prompt", Static).update(tr("adj.done"))
            self._show_marks()
            self._show_topbar()
            self.query_one("#review-body").focus()
            return
        prompt = screenful.item.prompt
        self.query_one("#system", Static).update(
            printable(tr("prompt.system", text=prompt.system), multiline=True)
            if prompt.system else "")
        self.query_one("#system", Static).display = bool(prompt.system)
        self.query_one("#prompt", Static).update(printable(prompt.prompt, multiline=True))
        self.query_one("#review-status", Static).update(self._status_text(screenful))
        count = len(screenful.shown)
        box.mount_all(CandidateCard(n, c.text, count)
                      for n, c in enumerate(screenful.shown, start=1))
        self.query_one("#review-annotators", Static).update(self._annotator_table(screenful))
        flags = Text("\n").join(Text.assemble((tr("adj.flag_by", who=self._annotator_name(who)), "bold"),
                                              printable(flag.note, multiline=True))
                                for who, flag in screenful.flags)
        self.query_one("#review-flags", Static).update(flags)
        self.query_one("#review-flags", Static).display = bool(screenful.flags)
        body = self.query_one("#review-body", VerticalScroll)
        body.scroll_home(animate=False)
        self._show_marks()
        self._show_topbar()
        body.focus()

    # --- display ---------------------------------------------------------------------------

    @staticmethod
    def _status_text(screenful: ReviewScreenful) -> Text:
        found = screenful.disagreement
        text = Text()
        if found.differs_on:
            text.append(tr("adj.differ", on=", ".join(tr(DIFFERS_ON[on]) if on in DIFFERS_ON
                                                      else printable(on)
                                                      for on in found.differs_on)),
                        style="bold")
        if screenful.flags:
            text.append((" " if found.differs_on else "") +
                        tr("adj.open_flags", count=len(screenful.flags)), style="bold")
        if screenful.previous is not None:
            count = len(screenful.shown)
            labels = {c.candidate_id: label_text(n, count)
                      for n, c in enumerate(screenful.shown, start=1)}
            text.append("\n" + tr(
                "adj.before", reviewer=printable(screenful.previous.reviewer),
                best=labels.get(screenful.previous.best_candidate_id or "", "?"),
                worst=labels.get(screenful.previous.worst_candidate_id or "", "?")))
        return text

    def _annotator_name(self, name: str) -> str:
        """An annotator as the reviewer sees them: "Annotator B" in the screen's language, or
        the real name when names are shown."""
        letters = None if self.session.show_names else pseudonym_letters(name)
        return tr("adj.annotator", letters=letters) if letters else printable(name)

    def _annotator_table(self, screenful: ReviewScreenful) -> Table:
        table = Table(box=box.SIMPLE_HEAD, expand=True, padding=(0, 1), show_edge=False)
        table.add_column("", style="bold", no_wrap=True)
        for column in screenful.columns:
            table.add_column(Text(self._annotator_name(column.name)), ratio=1)

        def row(title: str, values: list[str | None]) -> None:
            if any(values):
                table.add_row(title, *[Text(printable(v or "–", multiline=True))
                                       for v in values])

        columns = screenful.columns
        count = len(screenful.shown)
        row(tr("adj.row.best"), [label_text(c.best, count) if c.best is not None else None
                                 for c in columns])
        row(tr("adj.row.worst"), [label_text(c.worst, count) if c.worst is not None else None
                                  for c in columns])
        row(tr("adj.row.ranking"), [c.ranking for c in columns])
        row(tr("adj.row.pairs"), [", ".join(c.pairs) or None for c in columns])
        row(tr("adj.row.why"), ["\n".join(c.justifications) or None for c in columns])
        row(tr("adj.row.tags"), [", ".join(c.dimensions) or None for c in columns])
        return table

    def _show_topbar(self) -> None:
        parts = [f"[b]{escape(printable(self.project_name))}[/b]",
                 tr("adj.top.reviewer", name=escape(printable(self.session.reviewer))),
                 tr("adj.top.unresolved", count=self.session.unresolved)]
        current = self.session.current
        if current is not None:
            parts.append(escape(printable(current.item.prompt.prompt_id)))
        self.query_one("#topbar", Static).update(" · ".join(parts))

    def _show_marks(self) -> None:
        current = self.session.current
        line = self.query_one("#marks", Static)
        if current is None:
            line.update("")
            return
        marks = current.marks
        for card in self.query(CandidateCard):
            card.show_mark("best" if card.label == marks.best else
                           "worst" if card.label == marks.worst else None)
        need = self.session.config.annotation.min_justification_chars
        count = marks.count
        pending = pending_label(self.entry)
        if marks.complete:
            text = tr("adj.marks.complete", best=label_text(marks.best, count),
                      worst=label_text(marks.worst, count), need=need)
        elif marks.best is not None:
            text = tr("adj.marks.pick_worst", best=label_text(marks.best, count)) + pending
        elif current.needs_decision:
            text = tr("adj.marks.pick_best",
                      labels=f"{label_text(1, count)}-{label_text(count, count)}") + pending
        else:
            text = tr("adj.marks.flagged", need=need) + pending
        line.update(text)

    # --- actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        needs_item = ("skip", "write", "prompt")
        return not (action in needs_item and self.session.current is None)

    def on_key(self, event: events.Key) -> None:
        """Digits pick, one or two a label as on the annotation screen (the note and guideline
        boxes take their own digits)."""
        character = event.character or ""
        if (self.app.screen is not self or isinstance(self.focused, Input)
                or not character.isdigit()):
            return
        event.stop()
        if self.session.current is None or self.busy:
            return
        label = self.entry.type(character)
        if label is None:
            self._show_marks()
            return
        marks = self.session.press(label)
        self._show_marks()
        for card in self.query(CandidateCard):
            if card.label == label:
                self.query_one("#review-body", VerticalScroll).scroll_to_widget(
                    card, animate=False, top=False)
        if marks.complete:
            self.query_one("#note", Input).focus()

    def action_write(self) -> None:
        current = self.session.current
        if current is not None and (current.marks.complete or not current.needs_decision):
            self.query_one("#note", Input).focus()
        else:
            self.notify(tr("adj.pick_first"), timeout=3)

    def action_choose(self) -> None:
        self.query_one("#review-body").focus()

    def unsaved(self) -> bool:
        """Picks or text on the current item that leaving it would lose."""
        current = self.session.current
        return current is not None and (not current.marks.empty or any(
            self.query_one(selector, Input).value.strip() for selector in ("#note", "#guideline")))

    def _after_asking(self, then: Callable[[], None]) -> None:
        """`then` at once, or once the reviewer agreed to discard unsaved picks and notes (a
        letter typed on after Esc must not lose them)."""
        current = self.session.current
        if current is None or not self.unsaved():
            then()
            return

        def answered(discard: bool | None) -> None:
            if discard:
                then()

        self.app.push_screen(QuitScreen(current.item.prompt.prompt_id, "adj.discard"), answered)

    def action_skip(self) -> None:
        if self.session.current is None or self.busy:
            return
        self._after_asking(self._skip_now)

    def _skip_now(self) -> None:
        if self.busy:
            return
        self.busy = True
        self.skip_item()

    @work(thread=True, exclusive=True, exit_on_error=False, group="store")
    def skip_item(self) -> None:
        self.post_message(self.ItemLoaded(self.session.skip(), tr("adj.skipped")))

    def action_prompt(self) -> None:
        current = self.session.current
        if current is not None:
            self.app.push_screen(PromptScreen(current.item.prompt.system, current.item.prompt.prompt))

    def action_guidelines(self) -> None:
        self.app.push_screen(GuidelinesScreen(self.guidelines))

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(adjudicate_help_rows()))

    def action_quit(self) -> None:
        self._after_asking(self.app.exit)

    def action_scroll(self, lines: int) -> None:
        self.query_one("#review-body", VerticalScroll).scroll_relative(y=lines * 2, animate=False)

    def action_page(self, direction: int) -> None:
        body = self.query_one("#review-body", VerticalScroll)
        body.scroll_relative(y=direction * max(body.size.height - 2, 1), animate=False)

    # --- saving ----------------------------------------------------------------------------

    @on(Input.Submitted, "#note, #guideline")
    def submit(self, event: Input.Submitted) -> None:
        current = self.session.current
        if current is None or self.busy:
            return
        note = self.query_one("#note", Input).value
        need = self.session.config.annotation.min_justification_chars
        # The two refusals a reviewer meets, in their language (check_adjudication's words are
        # the store's, in English).
        marks = current.marks
        if (current.needs_decision or marks.best is not None) and not marks.complete:
            self.notify(tr("adj.pick_first"), severity="warning", timeout=4)
            self.query_one("#review-body").focus()
            return
        if len(note.strip()) < need:
            self.notify(tr("adj.note_too_short", need=need, typed=len(note.strip())),
                        severity="warning", timeout=4)
            self.query_one("#note", Input).focus()
            return
        try:
            check_adjudication(current, note, need)
        except JudgmentError as error:
            self.notify(printable(error.message), markup=False, severity="warning", timeout=4)
            if not current.marks.complete and current.needs_decision:
                self.query_one("#review-body").focus()
            else:
                self.query_one("#note", Input).focus()
            return
        self.busy = True
        self.save_decision(note, self.query_one("#guideline", Input).value)

    @work(thread=True, exclusive=True, exit_on_error=False, group="store")
    def save_decision(self, note: str, guideline_change: str) -> None:
        stored = self.session.save(note, guideline_change)
        self.post_message(self.AdjudicationSaved(stored))
        self.post_message(self.ItemLoaded(self.session.next_item()))

    @on(AdjudicationSaved)
    def confirm_saved(self, event: AdjudicationSaved) -> None:
        self.notify(tr("adj.saved" if event.adjudication else "adj.resolved"), timeout=2)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.busy = False
            error = event.worker.error
            message = error.message if isinstance(error, PreferError) else str(error)
            self.notify(tr("save.failed", reason=printable(message)), markup=False,
                        severity="error", timeout=8)
