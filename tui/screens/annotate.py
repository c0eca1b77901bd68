"""The annotation screen: a prompt, every candidate at once, picks by digit, a justification.

Typing is always safe: digits pick, letters write, Ctrl+letter commands (tui/bindings.py).
Printable keys typed before the picks are complete only show a hint; the box takes focus by
itself once they are. Every store call runs in a thread worker, never on the event loop; a save
in flight shows on screen, an unreachable store says so at once and the save is retried with
the same judgment (the store keeps it once) until it is confirmed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import ActiveBinding, BindingsMap
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.message import Message
from textual.screen import Screen
from textual.style import Style
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState, get_current_worker

from core.adjudication import new_flag
from core.annotation import (
    AnnotationSession,
    LabelEntry,
    LoadedItem,
    Screenful,
    label_text,
    parse_ranking,
)
from core.errors import JudgmentError, PreferError, ServerUnavailableError
from core.models import Judgment, Progress
from core.text import printable
from tui.bindings import annotate_bindings, help_rows
from tui.frames import AfterFrame, collect_between_items
from tui.i18n import tr
from tui.screens.dialogs import GuidelinesScreen, HelpScreen, PromptScreen, TagScreen
from tui.screens.diff import DiffScreen
from tui.screens.flag import FlagScreen
from tui.screens.history import HistoryScreen
from tui.screens.outcome import NoPreferenceScreen
from tui.widgets.candidate import CandidateCard, markdown_of, pending_label
from tui.widgets.footer import StableFooter
from tui.widgets.justification import JustificationInput
from tui.widgets.prompt import PromptPanel

DRAWN_WAIT_S = 0.5  # the longest a save behind the next item waits for it to be drawn
T = TypeVar("T")

MIN_COLUMN_WIDTH = 56  # narrower columns are not readable: stack the candidates instead
RETRY_DELAYS_S = (1.0, 2.0, 4.0, 8.0)  # then every 8 s until the store answers
HINT_EVERY_S = 2.0
# "Saving…" appears only when a save takes longer than this: showing and hiding the line moves
# the candidates (two layouts and repaints of the screen) for a save that takes milliseconds.
SAVING_SHOWN_AFTER_S = 0.25


def store_answers(session: AnnotationSession) -> bool:
    """A quick probe (well under a second) of the store server, when there is one."""
    socket_path = getattr(session.store, "socket_path", None)
    if socket_path is None:
        return True
    from core.store.remote import server_answers

    return server_answers(socket_path, timeout=0.5)


def columns_for(width: int, count: int) -> int:
    """Side by side when two or more readable columns fit, else stacked."""
    return max(1, min(count, width // MIN_COLUMN_WIDTH))


class ReadAhead:
    """The item the queue names after `after`, read from the store (and its candidates' Markdown
    parsed) by a worker while the annotator judges `after`; the save shows it at once if the
    queue still names it then (AnnotationSession.next_item)."""

    def __init__(self, after: str, loaded: LoadedItem | None,
                 markdown: dict[str, object]) -> None:
        self.after, self.loaded, self.markdown = after, loaded, markdown


class AnnotateScreen(Screen[None]):
    """Shows one item at a time from an AnnotationSession and forwards keys to it."""

    AUTO_FOCUS = None

    class ItemLoaded(Message):
        """A new item (or none: the queue is done) is ready to show, with fresh progress."""

        def __init__(self, screenful: Screenful | None, progress: Progress | None,
                     note: str | None = None, saved: AnnotateScreen.JudgmentSaved | None = None,
                     markdown: dict[str, object] | None = None) -> None:
            super().__init__()
            self.screenful = screenful
            self.progress = progress  # None: read after the item is shown (load_progress)
            self.note = note
            self.saved = saved  # the save that led to this item, confirmed once it is shown
            self.markdown = markdown or {}  # candidate id -> its text parsed ahead

    class ProgressLoaded(Message):
        def __init__(self, progress: Progress) -> None:
            super().__init__()
            self.progress = progress

    class SaveStalled(Message):
        """The store did not answer a save; it is retried in `retry_in` seconds. `behind`: the
        prompt id of a save made behind the next item (`save_behind`)."""

        def __init__(self, reason: str, attempt: int, retry_in: float,
                     behind: str | None = None) -> None:
            super().__init__()
            self.reason, self.attempt, self.retry_in = reason, attempt, retry_in
            self.behind = behind

    class SaveRefused(Message):
        """The store refused the save (a rule, not the network); nothing was stored."""

        def __init__(self, reason: str, behind: str | None = None) -> None:
            super().__init__()
            self.reason = reason
            self.behind = behind

    class SavedBehind(Message):
        """A save made behind the next item was committed; `queue_next` is what the queue
        names next now (the item on screen unless the queue changed meanwhile)."""

        def __init__(self, saved: AnnotateScreen.JudgmentSaved, queue_next: str | None,
                     queue_asked: bool) -> None:
            super().__init__()
            self.saved, self.queue_next, self.queue_asked = saved, queue_next, queue_asked

    class JudgmentSaved(Message):
        """A judgment was committed to the store (after `attempts` tries)."""

        def __init__(self, judgment: Judgment, attempts: int, outcome: str = "saved") -> None:
            super().__init__()
            self.judgment = judgment
            self.attempts = attempts
            self.outcome = outcome  # saved_outcome, worked out before the next item opened

    class FlagSaved(Message):
        """An annotator's flag on an item was committed to the store."""

        def __init__(self, prompt_id: str) -> None:
            super().__init__()
            self.prompt_id = prompt_id

    class ProvenanceLoaded(Message):
        def __init__(self, found: dict[int, object]) -> None:
            super().__init__()
            self.found = found

    def __init__(self, session: AnnotationSession, guidelines: str, project_name: str,
                 keymap: dict[str, str] | None = None) -> None:
        super().__init__()
        self._bindings = BindingsMap([*Screen.BINDINGS, *annotate_bindings(keymap)])
        self.keymap = dict(keymap or {})
        self.session = session
        self.guidelines = guidelines
        self.project_name = project_name
        self.busy = False  # a store call for this item is in flight
        self.saving_since: float | None = None
        self.save_problem: str | None = None
        self.showing_provenance = False
        self.raw = False
        self.progress: Progress | None = None
        self.entry = LabelEntry(0)  # digits typed towards a label (two above 9 candidates)
        self._last_hint = 0.0
        self._ahead: ReadAhead | None = None  # set by the read_ahead worker
        self._focus_after_frame: Screenful | None = None  # the item whose focus move waits
        # The judgment stored behind the item on screen (`save_behind`), until confirmed, and
        # what waits for it (a save of the next item pressed before it was confirmed).
        self.behind: Judgment | None = None
        self._when_saved: list[Callable[[], object]] = []

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        """Textual's active bindings, in this screen's own order whatever has focus: Textual
        puts the focused widget's first, so the footer's keys would move (and its first build
        would depend on where the focus was)."""
        found = super().active_bindings
        order = {key: place for place, key in enumerate(self._bindings.key_to_bindings)}
        return dict(sorted(found.items(), key=lambda item: order.get(item[0], len(order))))

    def compose(self) -> ComposeResult:
        yield Static(id="topbar")
        yield PromptPanel(id="prompt-pane")
        yield VerticalScroll(id="candidates")
        yield Static(id="marks")
        yield Static(id="save-status")
        yield JustificationInput(id="justification", placeholder=tr("box.placeholder"))
        yield StableFooter()

    def on_mount(self) -> None:
        # Focus moves, toasts and workers that follow the frame showing an item (frames.py).
        self.after_frame = AfterFrame(self)
        self.query_one("#save-status").display = False
        self.query_one("#candidates").focus()
        self.set_interval(30, self._show_topbar)
        self.busy = True
        self.load_item(direction="next")

    # --- loading (thread workers: no store call on the event loop) ---------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="store")
    def load_item(self, direction: str, note: str | None = None,
                  prompt_id: str | None = None,
                  saved: AnnotateScreen.JudgmentSaved | None = None) -> None:
        """Open the next item ("next"), the one before in the history ("back") or `prompt_id`
        ("open"); `saved` is the save that led here, confirmed once the item is shown."""
        markdown = None
        if direction == "back":
            screenful = self.session.previous_item()
            if screenful is None:
                self.post_message(self.ItemLoaded(self.session.current, self.progress,
                                                  tr("note.no_earlier")))
                return
        elif direction == "open" and prompt_id is not None:
            screenful = self.session.open(prompt_id)
        else:
            current = self.session.current
            ahead = self._ahead_after(current.item.prompt.prompt_id) if current else None
            markdown = ahead.markdown if ahead else None
            screenful = self.session.next_item(ahead.loaded if ahead else None)
        self.post_message(self.ItemLoaded(screenful, self.session.progress(), note, saved=saved,
                                          markdown=markdown))

    @on(ItemLoaded)
    def show_item(self, event: ItemLoaded) -> None:
        self.busy = False
        self.entry = LabelEntry(event.screenful.count if event.screenful else 0)
        self._ahead = None
        self.progress = event.progress or self.progress
        box = self.query_one("#candidates", VerticalScroll)
        field = self.query_one("#justification", JustificationInput)
        screenful = event.screenful
        prompt = self.query_one(PromptPanel)
        if screenful is None:
            field.locked = False
            box.remove_children()
            reason, values = self.session.empty_queue_reason()
            prompt.show(None, tr(f"queue.{reason}", **values))
            field.value = ""
            field.disabled = True
            self._show_marks()
            self._show_topbar()
            box.focus()
        else:
            field.disabled = False
            prompt.show(screenful.item, view=screenful.view, shown=screenful.shown)
            self._layout_columns(screenful.count)
            self._show_cards(box, screenful, event.markdown)
            box.scroll_home(animate=False)
            field.value = screenful.justification
            self.showing_provenance = False
            self._show_marks()
            self._show_topbar()
            if self.session.ready() and not screenful.revising:
                field.locked = False
                self._focus_box()
            elif self.focused is box:
                field.locked = False
            else:
                # The focus moves after the frame that shows the item: Textual repaints the
                # whole screen on a focus change, which would hold that frame up. Meanwhile
                # the box still has focus and stays locked, so no key lands in it.
                self._focus_after_frame = screenful
                self.after_frame.call(self._focus_candidates, screenful)
        # Notes after the frame that shows the item: a toast changes the screen's top layer,
        # which makes the compositor repaint the whole screen, not only the changed widgets.
        if event.saved is not None:
            self.saving_since = None
            if self.query_one("#save-status", Static).display:
                self._show_save_status(None)
            self.after_frame.call(self.confirm_saved, event.saved)
        if event.note:
            self.after_frame.call(self.notify, printable(event.note), markup=False, timeout=3)
        if screenful is not None:
            if screenful.restored_draft:
                self.after_frame.call(self.notify, tr("note.draft_restored"), timeout=4)
            # After the frame: the read competes with nothing the annotator waits for, and the
            # cards' widths (for rendering the next item's Markdown ahead) are laid out by then.
            self.after_frame.call(self._start_read_ahead, screenful.item.prompt.prompt_id)
            self.after_frame.call(collect_between_items)
        if event.progress is None:
            self.after_frame.call(self.load_progress)

    def _focus_candidates(self, screenful: Screenful) -> bool:
        """The focus move `show_item` left for after the frame, once (a pick typed first makes
        it early); False when another item was shown since (it placed the focus)."""
        if self._focus_after_frame is not screenful:
            return False
        self._focus_after_frame = None
        current = self.session.current
        if current is None or current.item.prompt.prompt_id != screenful.item.prompt.prompt_id:
            return False
        self.query_one("#justification", JustificationInput).locked = False
        self.set_focus(self.query_one("#candidates", VerticalScroll))
        return True

    def _show_cards(self, box: VerticalScroll, screenful: Screenful,
                    markdown: dict[str, object]) -> None:
        """The item's candidates in the cards already there when their number matches (their
        content changed in place), else in new cards."""
        cards = list(box.query_children(CandidateCard))
        shown = list(enumerate(screenful.shown, start=1))
        if len(cards) == len(shown) and len(box.children) == len(cards):
            for card, (n, candidate) in zip(cards, shown, strict=True):
                card.show_candidate(n, candidate.text, screenful.count,
                                    markdown.get(candidate.candidate_id))  # type: ignore[arg-type]
            return
        box.remove_children()
        box.mount_all(CandidateCard(n, c.text, screenful.count, raw=self.raw,
                                    markdown=markdown.get(c.candidate_id))  # type: ignore[arg-type]
                      for n, c in shown)

    def _start_read_ahead(self, after: str) -> None:
        # The cards' widths and styles now are those the next item's cards will have when it
        # has as many candidates (another focus or layout then renders in the frame).
        looks = tuple((card.size.width, card.visual_style) for card in self.query(CandidateCard))
        self.read_ahead(after, looks)

    @work(thread=True, exclusive=True, exit_on_error=False, group="ahead")
    def read_ahead(self, after: str, looks: tuple[tuple[int, Style], ...] = ()) -> None:
        """Read the item that follows `after` in the queue, and render its candidates' Markdown
        for the cards' `looks` (width and style: the next item's cards will have them if it has
        as many candidates), while the annotator judges `after` (a head start only: any failure
        leaves it to the save)."""
        try:
            loaded = self.session.read_ahead(after)
            markdown = ({c.candidate_id: markdown_of(c.text) for c in loaded.shown}
                        if loaded is not None and not self.raw else {})
            if markdown and loaded is not None and len(looks) == len(loaded.shown):
                options = self.app.console_options.update(highlight=False)
                for (width, style), candidate in zip(looks, loaded.shown, strict=True):
                    markdown[candidate.candidate_id].prepare(
                        self.app.console, options.update_width(width), style)
        except Exception:  # the save reads the item itself
            return
        self._ahead = ReadAhead(after, loaded, markdown)  # type: ignore[arg-type]

    def _ahead_after(self, prompt_id: str) -> ReadAhead | None:
        """What `read_ahead` found after `prompt_id`, if it is done and still about it."""
        ahead = self._ahead
        return ahead if ahead is not None and ahead.after == prompt_id else None

    @work(thread=True, exclusive=True, exit_on_error=False, group="progress")
    def load_progress(self) -> None:
        try:
            progress = self.session.progress()
        except Exception:  # the top line keeps its count until the next item
            return
        self.post_message(self.ProgressLoaded(progress))

    @on(ProgressLoaded)
    def show_progress(self, event: ProgressLoaded) -> None:
        self.progress = event.progress
        self._show_topbar()

    def on_resize(self, event: events.Resize) -> None:
        current = self.session.current
        if current is not None:
            self._layout_columns(current.count)

    def _layout_columns(self, count: int) -> None:
        box = self.query_one("#candidates", VerticalScroll)
        columns = columns_for(self.size.width, count)
        box.set_class(columns > 1, "side-by-side")
        box.styles.grid_size_columns = columns

    # --- display ---------------------------------------------------------------------------

    def _show_topbar(self) -> None:
        summary = self.session.summary()
        minutes = int(summary.seconds // 60)
        parts = [f"[b]{escape(printable(self.project_name))}[/b]",
                 escape(printable(self.session.annotator))]
        if self.progress is not None:
            parts.append(tr("top.done", judged=self.progress.judged, total=self.progress.total))
        parts.append(tr("top.session", saved=summary.saved, clock=f"{minutes // 60}:"
                                                                    f"{minutes % 60:02d}"))
        parts.append(tr("top.pace", pace=f"{summary.pace:.0f}") if summary.pace else
                     tr("top.no_pace"))
        current = self.session.current
        if current is not None:
            lang = current.item.prompt.language
            parts.append(escape(printable(current.item.prompt.prompt_id
                                          + (f" ({lang})" if lang else ""))))
            if current.revising:
                parts.append(f"[reverse] {tr('top.revising')} [/reverse]")
        self.query_one("#topbar", Static).update(" · ".join(parts))

    def _show_marks(self) -> None:
        current = self.session.current
        line = self.query_one("#marks", Static)
        if current is None:
            line.update("")
            return
        count = current.count
        labels = f"{label_text(1, count)}-{label_text(count, count)}"
        tags = (" · " + tr("marks.tags", tags=escape(printable(', '.join(current.dimensions))))
                if current.dimensions else "")
        need = self.session.config.annotation.min_justification_chars
        if self.session.mode == "rank":
            ranking = current.ranking()
            places = {n: place for place, group in enumerate(ranking.groups, start=1)
                      for n in group}
            for card in self.query(CandidateCard):
                place = places.get(card.label)
                card.show_mark("best" if place == 1 and len(ranking.groups[0]) == 1 else
                               "worst" if place == len(ranking.groups) and place > 1
                               and len(ranking.groups[-1]) == 1 else
                               f"#{place}" if place else None)
            if ranking.empty:
                text = tr("marks.rank_start", labels=labels)
            elif ranking.problem:
                problem = tr(f"rank.{ranking.problem_code}", **dict(ranking.problem_values))
                text = tr("marks.rank_partial", echo=escape(ranking.echo() or "…"),
                          problem=escape(problem))
            else:
                text = tr("marks.rank_done", echo=escape(ranking.echo()), need=need) + tags
            line.update(text)
            return
        marks = current.marks
        for card in self.query(CandidateCard):
            card.show_mark("best" if card.label == marks.best else
                           "worst" if card.label == marks.worst else None)
        pending = pending_label(self.entry)
        if marks.best is None:
            text = tr("marks.pick_best", labels=labels) + pending
        elif marks.worst is None:
            text = tr("marks.pick_worst", best=label_text(marks.best, count)) + pending
        else:
            text = tr("marks.complete", best=label_text(marks.best, count),
                      worst=label_text(marks.worst, count), need=need) + tags
        line.update(text)

    def _show_save_status(self, text: str | None, severity: str = "") -> None:
        status = self.query_one("#save-status", Static)
        status.display = text is not None
        status.set_class(severity == "error", "error")
        status.update(text or "")

    # --- keys that are typing, not commands --------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        """Digits pick (or rank); any other printable key outside the box is ignored with a
        hint, so typing never fires a command."""
        if self.app.screen is not self:
            return
        if isinstance(self.focused, Input):
            # The box stops the keys it takes; a printable key seen here was queued for the
            # candidates before the box took focus (a burst typed on after the last pick), or
            # reached a locked box.
            box = self.focused
            if event.is_printable and isinstance(box, JustificationInput) and event.character:
                event.stop()
                if not box.locked:
                    box.insert_text_at_cursor(event.character)
                elif (event.character.isdigit() and not self.busy
                      and self._focus_after_frame is not None
                      and self._focus_candidates(self._focus_after_frame)):
                    # A pick typed on the next item before the focus left the box (it moves
                    # after the frame that shows the item): it is a pick, not lost.
                    self._type_digit(event.character)
                else:
                    self.app.bell()
            return
        current = self.session.current
        character = event.character or ""
        if current is not None and not self.busy and self.session.mode == "rank" and (
                character.isdigit() or character in " =" or event.key == "backspace"):
            event.stop()
            text = current.ranking_text[:-1] if event.key == "backspace" \
                else current.ranking_text + character
            self.session.set_ranking_text(text)
            self._show_marks()
            self._scroll_to_last_typed()
            if self.session.ready() and character in " " and \
                    parse_ranking(text.strip(), current.count).complete:
                self._focus_box()
            return
        if character.isdigit() and current is not None:
            event.stop()
            if not self.busy:
                self._type_digit(character)
            else:  # the item is being saved or replaced: the pick would land on the wrong one
                self.app.bell()
            return
        if event.is_printable and self.session.ready() and not self.busy:
            # Picks complete: whatever is typed is the justification (after Esc too).
            event.stop()
            box = self.query_one("#justification", JustificationInput)
            self._focus_box()
            if not box.locked:
                box.insert_text_at_cursor(character)
            return
        if event.is_printable:
            event.stop()
            self.session.touch()
            now = time.monotonic()
            if now - self._last_hint > HINT_EVERY_S:
                self._last_hint = now
                self.notify(tr("hint.letters"), timeout=3)

    def _type_digit(self, digit: str) -> None:
        label = self.entry.type(digit)
        if label is None:
            self._show_marks()
            return
        marks = self.session.press(label)
        self._show_marks()
        for card in self.query(CandidateCard):
            if card.label == label:
                self.query_one("#candidates", VerticalScroll).scroll_to_widget(
                    card, animate=False, top=False)
        if marks.complete:
            self._focus_box()

    def _scroll_to_last_typed(self) -> None:
        current = self.session.current
        if current is None:
            return
        ranking = current.ranking()
        if ranking.groups:
            last = ranking.groups[-1][-1]
            for card in self.query(CandidateCard):
                if card.label == last:
                    self.query_one("#candidates", VerticalScroll).scroll_to_widget(
                        card, animate=False)

    @on(Input.Changed, "#justification")
    def keep_text(self, event: Input.Changed) -> None:
        self.session.set_justification(event.value)

    # --- actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        needs_item = ("skip", "tag", "write", "prompt", "provenance", "flag", "diff",
                      "no_preference", "raw")
        return not (action in needs_item and self.session.current is None)

    def action_write(self) -> None:
        if self.session.ready():
            self._focus_box()
        else:
            self.notify(tr("hint.pick_first"), timeout=3)

    def action_choose(self) -> None:
        self.set_focus(self.query_one("#candidates"))

    def _focus_box(self) -> None:
        """Focus the justification box now, not after the keys already queued: an expert who
        types straight on after the last pick must find every letter in the box."""
        self.set_focus(self.query_one("#justification", Input))

    def _leaving(self) -> str | None:
        """The note for leaving the current item: its unsaved work is kept as a draft."""
        if self.session.unsaved():
            self.session.keep_draft()
            self.app.save_drafts()  # type: ignore[attr-defined]
            return tr("note.draft_kept")
        return None

    def _wait_for_behind(self, action: Callable[[], object]) -> bool:
        """Hold `action` (a save, skip or back) until the save behind the item on screen is
        confirmed, so the store and the queue see them in the order they were pressed."""
        if self.behind is None:
            return False
        self.busy = True
        self.query_one("#justification", JustificationInput).locked = True
        self.saving_since = time.monotonic()
        self.set_timer(SAVING_SHOWN_AFTER_S, self._show_saving_if_slow)
        self._when_saved.append(action)
        return True

    def action_skip(self) -> None:
        if self.session.current is None or self.busy or self._wait_for_behind(self.action_skip):
            return
        self.busy = True
        self.skip_item(self._leaving())

    @work(thread=True, exclusive=True, exit_on_error=False, group="store")
    def skip_item(self, draft_note: str | None) -> None:
        after = self.session.current.item.prompt.prompt_id if self.session.current else ""
        ahead = self._ahead_after(after)
        skipped = self.session.skip()
        note = tr("note.skipped") if skipped else None
        if draft_note:
            note = f"{note} {draft_note}" if note else draft_note
        screenful = self.session.next_item(ahead.loaded if ahead else None)
        self.post_message(self.ItemLoaded(screenful, self.session.progress(), note,
                                          markdown=ahead.markdown if ahead else None))

    def action_back(self) -> None:
        if self.busy or self._wait_for_behind(self.action_back):
            return
        self.busy = True
        self.load_item(direction="back", note=self._leaving())

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(help_rows(self.keymap, self.session.mode)))

    def action_prompt(self) -> None:
        current = self.session.current
        if current is not None:
            prompt = current.item.prompt
            self.app.push_screen(PromptScreen(prompt.system, prompt.prompt))

    def action_raw(self) -> None:
        self.raw = not self.raw
        for card in self.query(CandidateCard):
            card.show_raw(self.raw)
        self.notify(tr("note.raw_on" if self.raw else "note.raw_off"), timeout=2)

    def action_diff(self) -> None:
        current = self.session.current
        if current is None or current.count < 2:
            return
        first, second = 1, 2
        if self.session.mode == "rank":
            groups = current.ranking().groups
            if len(groups) >= 2:
                first, second = groups[0][0], groups[-1][-1]
        elif current.marks.complete:
            assert current.marks.best is not None and current.marks.worst is not None
            first, second = current.marks.best, current.marks.worst
        self.app.push_screen(DiffScreen([c.text for c in current.shown], first, second))

    def action_history(self) -> None:
        def opened(prompt_id: str | None) -> None:
            if prompt_id and not self.busy:
                self.busy = True
                self.load_item(direction="open", prompt_id=prompt_id, note=self._leaving())

        self.app.push_screen(HistoryScreen(self.session), opened)

    def action_provenance(self) -> None:
        if self.session.current is None:
            return
        self.showing_provenance = not self.showing_provenance
        if not self.showing_provenance:
            for card in self.query(CandidateCard):
                card.show_provenance(None)
            return
        self.load_provenance()

    @work(thread=True, exclusive=True, exit_on_error=False, group="provenance")
    def load_provenance(self) -> None:
        self.post_message(self.ProvenanceLoaded(dict(self.session.provenance())))

    @on(ProvenanceLoaded)
    def show_provenance(self, event: ProvenanceLoaded) -> None:
        if not self.showing_provenance:
            return
        for card in self.query(CandidateCard):
            made = event.found.get(card.label)
            if made is None:
                card.show_provenance(tr("card.imported"))
            else:
                text = f"{made.variant}, t={made.temperature}, {made.model}"  # type: ignore[attr-defined]
                card.show_provenance(text + (", " + tr("card.truncated")
                                             if made.truncated else ""))  # type: ignore[attr-defined]

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
        self.notify(tr("note.flagged", item=printable(event.prompt_id)), markup=False,
                    timeout=3)

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

    def action_no_preference(self) -> None:
        if self.session.current is None or self.busy:
            return

        def keep(answer: tuple[str, str] | None) -> None:
            if answer is not None:
                self._start_save(answer[1], answer[0])

        self.app.push_screen(
            NoPreferenceScreen(self.session.config.annotation.min_justification_chars), keep)

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
        self._start_save(event.value, "ranked")

    def _start_save(self, text: str, outcome: str) -> None:
        need = self.session.config.annotation.min_justification_chars
        if self.session.ready() and len(text.strip()) < need:
            self.notify(tr("save.too_short", need=need, typed=len(text.strip())),
                        severity="warning", timeout=4)
            return
        # The item before not confirmed yet (a few milliseconds, or a slow store): this save
        # follows it, so the queue never sees them out of order.
        if self._wait_for_behind(partial(self._start_save, text, outcome)):
            return
        try:
            judgment = self.session.prepare(text, outcome)
        except JudgmentError as error:
            self.notify(printable(error.message), markup=False, severity="warning", timeout=4)
            if not self.session.ready():
                self.query_one("#candidates").focus()
            return
        ahead = self._ahead_after(judgment.prompt_id)
        if ahead is not None and ahead.loaded is not None:
            # The next item was read (and rendered) while this one was judged: show it now and
            # store this judgment behind it; a stalled or refused save comes back to this item.
            self.behind = judgment
            # Locked until the focus leaves it after the frame (show_item), as for any save.
            self.query_one("#justification", JustificationInput).locked = True
            screenful = self.session.move_on(judgment, ahead.loaded)
            # The count is read again once the store confirms the save (saved_behind).
            self.show_item(self.ItemLoaded(screenful, self.progress, markdown=ahead.markdown))
            drawn = threading.Event()
            self.save_behind(judgment, drawn)
            self.after_frame.call(drawn.set)
            return
        self.busy = True
        self.saving_since = time.monotonic()
        self.query_one("#justification", JustificationInput).locked = True
        self.set_timer(SAVING_SHOWN_AFTER_S, self._show_saving_if_slow)
        self.save_judgment(judgment)

    def _show_saving_if_slow(self) -> None:
        status = self.query_one("#save-status", Static)
        if (self.saving_since is not None and not status.display
                and time.monotonic() - self.saving_since >= SAVING_SHOWN_AFTER_S * 0.9):
            self._show_save_status(tr("save.saving"))

    @work(thread=True, exclusive=True, exit_on_error=False, group="store")
    def save_judgment(self, judgment: Judgment) -> None:
        """Send the judgment until the store confirms it; the same judgment each time, so a save
        that reached the store before the link dropped is kept once."""
        committed = self._commit_until_stored(lambda: self.session.commit(judgment))
        if committed is None:
            return
        stored, attempt = committed
        saved = self.JudgmentSaved(stored, attempt + 1, self.session.saved_outcome(stored))
        self.app.save_drafts()  # type: ignore[attr-defined]  # the commit dropped its draft
        ahead = self._ahead_after(judgment.prompt_id)
        while True:
            try:
                screenful = self.session.next_item(ahead.loaded if ahead else None)
                break
            except ServerUnavailableError as error:
                attempt += 1
                self._stalled(error.message, attempt)
            except BaseException:
                self.post_message(saved)  # saved all the same; the worker's error follows
                raise
        # One message: the next item, then the confirmation (one update of the screen, not
        # two); the progress count is read after the item is on screen.
        self.post_message(self.ItemLoaded(screenful, None, saved=saved,
                                          markdown=ahead.markdown if ahead else None))

    @work(thread=True, exit_on_error=False, group="behind")
    def save_behind(self, judgment: Judgment, drawn: threading.Event) -> None:
        """Store `judgment` while the next item is on screen (`move_on`): as `save_judgment`,
        retried until the store confirms it; then ask the queue what comes next, so a queue
        changed since the read ahead is followed."""
        # Until the store has it, the judged item's work is a draft on disk: a crash or a kill
        # from here on finds it again when the item is opened. (A full disk does not stop the
        # save: the draft stays in memory, as before any save.)
        with contextlib.suppress(OSError):
            self.app.save_drafts()  # type: ignore[attr-defined]
        # The commit starts once the next item is drawn: sharing the core with that frame
        # would slow what the expert waits for.
        drawn.wait(DRAWN_WAIT_S)
        committed = self._commit_until_stored(lambda: self.session.commit_behind(judgment),
                                              behind=judgment.prompt_id)
        if committed is None:
            return
        (stored, outcome), attempt = committed
        queue_next, asked = None, True
        try:  # saved all the same whatever fails here; the item on screen stays
            self.app.save_drafts()  # type: ignore[attr-defined]  # the commit dropped its draft
            queue_next = self.session.queue_next(judgment.prompt_id)
        except Exception:
            asked = False
        self.post_message(self.SavedBehind(self.JudgmentSaved(stored, attempt + 1, outcome),
                                           queue_next, asked))

    @on(SavedBehind)
    def saved_behind(self, event: SavedBehind) -> None:
        self.behind = None
        self.load_progress()
        prompt_id = event.saved.judgment.prompt_id
        current = self.session.current
        shown = current.item.prompt.prompt_id if current is not None else None
        if shown == prompt_id:
            # The save stalled and the screen came back to its item: on to the next, as a save
            # that waited for the store does.
            self.busy = True
            self.load_item(direction="next", saved=event.saved)
        else:
            self.confirm_saved(event.saved)
            if (event.queue_asked and event.queue_next != shown and not self.busy
                    and not self.session.unsaved()):
                # The queue changed since the read ahead (an item judged in another session,
                # re-queued or assigned): open what it names, as long as nothing was typed here.
                self.busy = True
                self.load_item(direction="next")
        waiting, self._when_saved = self._when_saved, []
        if waiting:
            self.busy = False
            self.saving_since = None
            self.query_one("#justification", JustificationInput).locked = False
            if self.query_one("#save-status", Static).display:
                self._show_save_status(None)
        for action in waiting:
            action()

    def _come_back(self, prompt_id: str) -> None:
        """Reopen the item whose save (made behind the next item) did not go through, as it
        was; the next item keeps its work as a draft."""
        current = self.session.current
        if current is not None and current.item.prompt.prompt_id == prompt_id:
            return
        self._when_saved.clear()  # a save pressed on the item left is not made
        screenful = self.session.go_back_to(prompt_id)
        self.show_item(self.ItemLoaded(screenful, self.progress))

    def _commit_until_stored(self, commit: Callable[[], T],
                             behind: str | None = None) -> tuple[T, int] | None:
        """Call `commit` until the store answers (saying on screen each time it does not):
        its result and the failed attempts before it, or None when the store refused (said on
        screen) or the worker was cancelled. The same judgment each time, so a save that
        reached the store before the link dropped is kept once. `behind`: the prompt id of a
        save made behind the next item, which any failure brings back to its item."""
        worker = get_current_worker()
        attempt = 0
        while True:
            if not store_answers(self.session):
                attempt += 1
                self._stalled(tr("save.unreachable"), attempt, behind)
                if worker.is_cancelled:
                    return None
                continue
            try:
                return commit(), attempt
            except ServerUnavailableError as error:
                attempt += 1
                self._stalled(error.message, attempt, behind)
                if worker.is_cancelled:
                    return None
            except PreferError as error:
                self.post_message(self.SaveRefused(error.message, behind))
                return None
            except Exception as error:
                if behind is None:
                    raise  # the worker's error is shown (on_worker_state_changed)
                # Not saved: back to its item, never a save left waiting.
                self.post_message(self.SaveRefused(str(error) or type(error).__name__, behind))
                return None

    def _stalled(self, reason: str, attempt: int, behind: str | None = None) -> None:
        delay = RETRY_DELAYS_S[min(attempt - 1, len(RETRY_DELAYS_S) - 1)]
        self.post_message(self.SaveStalled(reason, attempt, delay, behind))
        time.sleep(delay)

    @on(SaveStalled)
    def show_stalled(self, event: SaveStalled) -> None:
        if event.behind is not None:
            self._come_back(event.behind)
            self.busy = True  # as a save that waits: the item stays still until it is stored
            self.query_one("#justification", JustificationInput).locked = True
        self._show_save_status(tr("save.stalled", reason=printable(event.reason),
                                  attempt=event.attempt, seconds=f"{event.retry_in:.0f}"),
                               "error")

    @on(SaveRefused)
    def show_refused(self, event: SaveRefused) -> None:
        if event.behind is not None:
            self.behind = None
            self._come_back(event.behind)
        self.busy = False
        self.saving_since = None
        self.query_one("#justification", JustificationInput).locked = False
        self._show_save_status(None)
        self.notify(tr("save.refused", reason=printable(event.reason)), markup=False,
                    severity="error", timeout=8)

    @on(JudgmentSaved)
    def confirm_saved(self, event: JudgmentSaved) -> None:
        if self.query_one("#save-status", Static).display:
            self._show_save_status(None)
        self.saving_since = None
        key = f"save.{event.outcome}"
        if event.attempts > 1:
            key = "save.saved_after_retry"
        self.notify(tr(key), timeout=3 if event.attempts > 1 else 2)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.busy = False
            self.query_one("#justification", JustificationInput).locked = False
            self._show_save_status(None)
            error = event.worker.error
            message = error.message if isinstance(error, PreferError) else str(error)
            self.notify(tr("save.failed", reason=printable(message)), markup=False,
                        severity="error", timeout=8)

    # --- quitting --------------------------------------------------------------------------

    def unsaved_item(self) -> str | None:
        """The prompt id whose picks or text are not saved (None when nothing would be lost)."""
        if self.behind is not None:
            return self.behind.prompt_id
        if self.busy and self.saving_since is not None and self.session.current is not None:
            return self.session.current.item.prompt.prompt_id
        if self.session.unsaved() and self.session.current is not None:
            return self.session.current.item.prompt.prompt_id
        return None

