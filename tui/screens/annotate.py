"""The annotation screen: a prompt, every candidate at once, best/worst by digit, a justification."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Static
from textual.worker import Worker, WorkerState

from core.adjudication import new_flag
from core.annotation import AnnotationSession, Screenful, check_judgment
from core.errors import JudgmentError, PreferError
from core.models import Judgment
from core.text import printable
from tui.bindings import ANNOTATE_BINDINGS, help_rows
from tui.screens.dialogs import GuidelinesScreen, HelpScreen, PromptScreen, TagScreen
from tui.screens.flag import FlagScreen
from tui.widgets.candidate import CandidateCard
from tui.widgets.justification import JustificationInput


class AnnotateScreen(Screen[None]):
    """Shows one item at a time from an AnnotationSession and forwards keys to it."""

    BINDINGS = ANNOTATE_BINDINGS

    class ItemLoaded(Message):
        """A new item (or none: the queue is done) is ready to show."""

        def __init__(self, screenful: Screenful | None, note: str | None = None) -> None:
            super().__init__()
            self.screenful = screenful
            self.note = note

    class JudgmentSaved(Message):
        """A judgment was committed to the store."""

        def __init__(self, judgment: Judgment) -> None:
            super().__init__()
            self.judgment = judgment

    class FlagSaved(Message):
        """An annotator's flag on an item was committed to the store."""

        def __init__(self, prompt_id: str) -> None:
            super().__init__()
            self.prompt_id = prompt_id

    def __init__(self, session: AnnotationSession, guidelines: str, project_name: str) -> None:
        super().__init__()
        self.session = session
        self.guidelines = guidelines
        self.project_name = project_name
        self.busy = False
        self.showing_provenance = False

    def compose(self) -> ComposeResult:
        yield Static(id="topbar")
        with VerticalScroll(id="prompt-pane"):
            yield Static(id="system", markup=False)
            yield Static(id="prompt", markup=False)
        yield VerticalScroll(id="candidates")
        yield Static(id="marks")
        yield JustificationInput(
            id="justification",
            placeholder="One sentence: why is the best better and the worst worse?")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#candidates").focus()
        self.load_item(direction="next")

    # --- loading ---------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="store")
    def load_item(self, direction: str, note: str | None = None) -> None:
        if direction == "back":
            screenful = self.session.previous_item()
            if screenful is None:
                self.post_message(self.ItemLoaded(self.session.current,
                                                  "no earlier item to go back to"))
                return
        else:
            screenful = self.session.next_item()
        self.post_message(self.ItemLoaded(screenful, note))

    @on(ItemLoaded)
    def show_item(self, event: ItemLoaded) -> None:
        self.busy = False
        if event.note:
            self.notify(printable(event.note), markup=False, timeout=3)
        box = self.query_one("#candidates", VerticalScroll)
        box.remove_children()
        field = self.query_one("#justification", Input)
        screenful = event.screenful
        if screenful is None:
            self.query_one("#system", Static).update("")
            self.query_one("#prompt", Static).update(self.session.empty_queue_message())
            field.value = ""
            field.disabled = True
            self._show_marks()
            self._show_topbar()
            box.focus()
            return
        field.disabled = False
        system = screenful.item.prompt.system
        self.query_one("#system", Static).update(
            printable(f"System: {system}", multiline=True) if system else "")
        self.query_one("#system", Static).display = bool(system)
        self.query_one("#prompt", Static).update(
            printable(screenful.item.prompt.prompt, multiline=True))
        self.query_one("#prompt-pane", VerticalScroll).scroll_home(animate=False)
        box.mount_all(CandidateCard(n, c.text) for n, c in enumerate(screenful.shown, start=1))
        box.scroll_home(animate=False)
        field.value = screenful.justification
        self.showing_provenance = False
        self._show_marks()
        self._show_topbar()
        box.focus()

    # --- display ---------------------------------------------------------------------------

    def _show_topbar(self) -> None:
        progress = self.session.progress()
        pace = self.session.pace()
        current = self.session.current
        parts = [f"[b]{escape(printable(self.project_name))}[/b]",
                 escape(printable(self.session.annotator)),
                 f"{progress.judged}/{progress.total} done",
                 f"{pace:.0f}/h" if pace is not None else "–/h"]
        if current is not None:
            lang = current.item.prompt.language
            parts.append(escape(printable(current.item.prompt.prompt_id
                                          + (f" ({lang})" if lang else ""))))
            if current.revising:
                parts.append("[reverse] revising [/reverse]")
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
        tags = (f" · tags: {escape(printable(', '.join(current.dimensions)))}"
                if current.dimensions else "")
        count = marks.count
        if marks.best is None:
            text = f"Press the number of the [b]best[/b] response (1-{count})."
        elif marks.worst is None:
            text = f"Best: [b]{marks.best}[/b]. Now the number of the [b]worst[/b]."
        else:
            need = self.session.config.annotation.min_justification_chars
            text = (f"Best [b]{marks.best}[/b] · worst [b]{marks.worst}[/b]{tags} · "
                    f"why? ({need}+ chars) · Enter saves · Esc re-picks")
        line.update(text)

    # --- actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        needs_item = ("skip", "tag", "write", "prompt", "provenance", "flag")
        return not (action in needs_item and self.session.current is None)

    def action_mark(self, label: int) -> None:
        if self.session.current is None or self.busy:
            return
        marks = self.session.press(label)
        self._show_marks()
        if marks.complete:
            self.query_one("#justification", Input).focus()

    def action_write(self) -> None:
        current = self.session.current
        if current is not None and current.marks.complete:
            self.query_one("#justification", Input).focus()
        else:
            self.notify("Pick the best and the worst first (press their numbers).", timeout=3)

    def action_choose(self) -> None:
        self.query_one("#candidates").focus()

    def action_skip(self) -> None:
        if self.session.current is None or self.busy:
            return
        self.busy = True
        self.skip_item()

    @work(thread=True, exclusive=True, exit_on_error=False, group="store")
    def skip_item(self) -> None:
        skipped = self.session.skip()
        note = "Skipped: it comes back at the end of your queue." if skipped else None
        self.post_message(self.ItemLoaded(self.session.next_item(), note))

    def action_back(self) -> None:
        if self.busy:
            return
        self.busy = True
        self.load_item(direction="back")

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(help_rows(getattr(self.app, "keymap_overrides", None))))

    def action_prompt(self) -> None:
        current = self.session.current
        if current is not None:
            prompt = current.item.prompt
            self.app.push_screen(PromptScreen(prompt.system, prompt.prompt))

    def action_provenance(self) -> None:
        if self.session.current is None:
            return
        self.showing_provenance = not self.showing_provenance
        found = self.session.provenance() if self.showing_provenance else {}
        for card in self.query(CandidateCard):
            made = found.get(card.label)
            if not self.showing_provenance:
                card.show_provenance(None)
            elif made is None:
                card.show_provenance("imported")
            else:
                text = f"{made.variant}, t={made.temperature}, {made.model}"
                card.show_provenance(text + (", cut off at the token limit"
                                             if made.truncated else ""))

    def action_guidelines(self) -> None:
        self.app.push_screen(GuidelinesScreen(self.guidelines))

    def action_flag(self) -> None:
        current = self.session.current
        if current is None:
            return
        prompt_id = current.item.prompt.prompt_id

        def keep(note: str | None) -> None:
            if note:
                self.save_flag(prompt_id, note)

        self.app.push_screen(FlagScreen(prompt_id), keep)

    @work(thread=True, exit_on_error=False, group="flag")
    def save_flag(self, prompt_id: str, note: str) -> None:
        self.session.store.save_flag(new_flag(self.session.annotator, prompt_id, note))
        self.post_message(self.FlagSaved(prompt_id))

    @on(FlagSaved)
    def confirm_flagged(self, event: FlagSaved) -> None:
        self.notify(f"Flagged {printable(event.prompt_id)} for a reviewer; it stays in your "
                    "queue.", markup=False, timeout=3)

    def action_tag(self) -> None:
        current = self.session.current
        if current is None:
            return

        def keep(selected: tuple[str, ...] | None) -> None:
            if selected is not None:
                self.session.set_dimensions(selected)
                self._show_marks()

        self.app.push_screen(TagScreen(self.session.config.project.dimensions,
                                       current.dimensions), keep)

    def action_quit(self) -> None:
        self.app.exit()

    def action_scroll(self, lines: int) -> None:
        self.query_one("#candidates", VerticalScroll).scroll_relative(y=lines * 2, animate=False)

    def action_page(self, direction: int) -> None:
        box = self.query_one("#candidates", VerticalScroll)
        box.scroll_relative(y=direction * max(box.size.height - 2, 1), animate=False)

    # --- saving ----------------------------------------------------------------------------

    @on(Input.Submitted, "#justification")
    def submit(self, event: Input.Submitted) -> None:
        if self.session.current is None or self.busy:
            return
        try:
            check_judgment(self.session.current.marks, event.value,
                           self.session.config.annotation.min_justification_chars)
        except JudgmentError as error:
            self.notify(printable(error.message), markup=False, severity="warning", timeout=4)
            if self.session.current.marks.complete is False:
                self.query_one("#candidates").focus()
            return
        self.busy = True
        self.save_judgment(event.value)

    @work(thread=True, exclusive=True, exit_on_error=False, group="store")
    def save_judgment(self, justification: str) -> None:
        judgment = self.session.save(justification)
        self.post_message(self.JudgmentSaved(judgment))
        self.post_message(self.ItemLoaded(self.session.next_item()))

    @on(JudgmentSaved)
    def confirm_saved(self, event: JudgmentSaved) -> None:
        self.notify(self.session.saved_message(event.judgment), timeout=2)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.busy = False
            error = event.worker.error
            message = error.message if isinstance(error, PreferError) else str(error)
            self.notify(f"Not saved: {printable(message)}", markup=False, severity="error",
                        timeout=8)
