"""Typing is always safe and nothing typed is lost: the annotation screen driven by keys."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input

from core.project import Project
from core.sources import import_file
from core.store import LocalStore
from tests.conftest import item_rows, write_jsonl
from tests.test_tui import settle
from tui.app import PreferApp, make_app, summary_text
from tui.screens.annotate import AnnotateScreen
from tui.screens.dialogs import QuitScreen

SIZE = (80, 24)

# Sentences an expert types, full of the letters that used to be commands (s, u, t, f, p, v,
# g, q), punctuation and a question mark; digits only where they are meant as text.
SENTENCES = [
    "the sure quick fox; quietly go past the flag?",
    "Should users get a full refund, per policy: yes/no!",
    "Very grave typo (scatering vs. scattering) - quote it.",
]
IN_BOX = "Response 8 said 4 g, not 8 g; it ignores the policy quote."


@pytest.fixture(autouse=True)
def _private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # never the user's own


@pytest.fixture
def app(project: Project, store: LocalStore, tmp_path: Path) -> PreferApp:
    import_file(store, write_jsonl(tmp_path / "items.jsonl", item_rows(3, candidates=4)),
                actor="t")
    return make_app(project, store, annotator="alice", drafts_dir=tmp_path / "drafts")


async def type_text(pilot: Pilot, text: str) -> None:
    names = {" ": "space", "?": "question_mark", "!": "exclamation_mark", ";": "semicolon",
             ":": "colon", "(": "left_parenthesis", ")": "right_parenthesis", ".": "full_stop",
             ",": "comma", "-": "minus", "/": "slash"}
    await pilot.press(*[names.get(ch, ch) for ch in text])


def state(app: PreferApp, store: LocalStore) -> tuple:
    """Everything a stray key could change besides the picks and the text."""
    current = app.session.current
    assert current is not None
    return (current.item.prompt.prompt_id, current.dimensions, len(app.screen_stack),
            type(app.screen).__name__, app.is_running, app.return_value,
            store.execute_for_test("SELECT count(*) FROM judgments"),
            store.execute_for_test("SELECT count(*) FROM flags"))


async def test_sentences_typed_at_every_stage_change_only_picks_and_text(
        app: PreferApp, store: LocalStore) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = state(app, store)
        box = app.screen.query_one("#justification", Input)
        current = app.session.current
        assert current is not None

        # 1. Nothing picked yet: letters do nothing but show a hint.
        for sentence in SENTENCES:
            await type_text(pilot, sentence)
        await settle(pilot)
        assert state(app, store) == before
        assert app.session.current.marks.empty and box.value == ""  # type: ignore[union-attr]

        # 2. The best picked: still nothing.
        await pilot.press("2")
        for sentence in SENTENCES:
            await type_text(pilot, sentence)
        await settle(pilot)
        assert state(app, store) == before
        assert app.session.current.marks.best == 2  # type: ignore[union-attr]
        assert app.session.current.marks.worst is None  # type: ignore[union-attr]
        assert box.value == ""

        # 3. Best and worst: the box has taken focus; everything typed is text, digits too.
        await pilot.press("4")
        assert app.focused is box
        await type_text(pilot, IN_BOX)
        for sentence in SENTENCES:
            await type_text(pilot, " " + sentence)
        await settle(pilot)
        assert state(app, store) == before
        assert box.value == IN_BOX + "".join(" " + s for s in SENTENCES)
        marks = app.session.current.marks  # type: ignore[union-attr]
        assert (marks.best, marks.worst) == (2, 4)

        # 4. Back to choosing with Esc, picks and text kept: letters typed now go on with the
        #    text (the picks are complete), they fire nothing.
        await pilot.press("escape")
        assert app.focused is not box
        typed = IN_BOX + "".join(" " + s for s in SENTENCES)
        for sentence in SENTENCES:
            await type_text(pilot, " " + sentence)
            typed += " " + sentence
        await settle(pilot)
        assert state(app, store) == before
        assert box.value == typed
        assert app.session.current.justification == box.value  # type: ignore[union-attr]
        await pilot.press("escape")

        # 5. Enter goes back to the box and saves what was typed.
        await pilot.press("enter")
        assert app.focused is box
        await pilot.press("enter")
        await settle(pilot)
        assert store.execute_for_test("SELECT justification FROM judgments") == [(typed,)]


async def test_sentences_typed_at_every_stage_of_rank_mode_change_only_ranking_and_text(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    """Rank mode: digits, spaces and = are the ranking; every other letter of a sentence does
    nothing before the ranking is complete, and is text after."""
    from core.config import write_config
    from core.project import open_project

    project.config.annotation.mode = "rank"
    write_config(project.config, project.config_path)
    project = open_project(project.root)
    import_file(store, write_jsonl(tmp_path / "items.jsonl", item_rows(3, candidates=4)),
                actor="t")
    app = make_app(project, store, annotator="alice", drafts_dir=tmp_path / "drafts")
    words = [sentence.translate(str.maketrans("", "", "0123456789 =")) for sentence in SENTENCES]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = state(app, store)
        box = app.screen.query_one("#justification", Input)
        for stage in ("", "3 1", "=4 "):
            await type_text(pilot, stage)
            typed = app.session.current.ranking_text  # type: ignore[union-attr]
            for sentence in words:  # letters and punctuation only: no ranking key
                await type_text(pilot, sentence)
            await settle(pilot)
            assert state(app, store) == before, stage
            assert app.session.current.ranking_text == typed  # type: ignore[union-attr]
            assert box.value == ""
        await type_text(pilot, "2 ")  # complete: the box takes over, sentences are text
        assert app.focused is box
        for sentence in SENTENCES:
            await type_text(pilot, sentence + " ")
        await settle(pilot)
        assert state(app, store) == before
        assert box.value == "".join(sentence + " " for sentence in SENTENCES)
        assert app.session.current.ranking().echo() == "3 > 1 = 4 > 2"  # type: ignore[union-attr]


async def test_typing_straight_on_after_the_last_pick_loses_no_letter(app: PreferApp) -> None:
    """Keys arriving in one burst (a fast typist, a paste over SSH) after the pick that
    completes the marks all land in the box."""
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        for character in "24Quick typing after picks.":
            # Queued together, as a terminal delivers a burst, before any of them is handled.
            key = {" ": "space", ".": "full_stop"}.get(character, character)
            app.post_message(events.Key(key, character))
        await settle(pilot)
        assert screen.query_one("#justification", Input).value == "Quick typing after picks."


async def test_typed_text_survives_a_resize(app: PreferApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("1", "3")
        await type_text(pilot, "Half a thought before the window")
        await pilot.resize_terminal(200, 50)
        await pilot.pause()
        assert "side-by-side" in app.screen.query_one("#candidates").classes
        await type_text(pilot, " changed size")
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert "side-by-side" not in app.screen.query_one("#candidates").classes
        box = app.screen.query_one("#justification", Input)
        assert box.value == "Half a thought before the window changed size"
        assert app.focused is box
        marks = app.session.current.marks  # type: ignore[union-attr]
        assert (marks.best, marks.worst) == (1, 3)


@pytest.mark.parametrize("quit_key", ["ctrl+q", "ctrl+c"])
async def test_quitting_with_unsaved_work_asks_and_keeps_a_draft(
        project: Project, store: LocalStore, app: PreferApp, tmp_path: Path,
        quit_key: str) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3", "1")
        await type_text(pilot, "Three is careful but I am not done")
        await pilot.press(quit_key)
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        await type_text(pilot, "typing on does not answer it")  # printable keys do nothing
        assert isinstance(app.screen, QuitScreen) and app.is_running
        await pilot.press("escape")  # stay
        await pilot.pause()
        assert isinstance(app.screen, AnnotateScreen)
        assert app.screen.query_one("#justification", Input).value == (
            "Three is careful but I am not done")
        await pilot.press(quit_key)
        await pilot.pause()
        await pilot.press("enter")  # quit
        await pilot.pause()
    summary = app.return_value
    assert summary is not None and summary.saved == 0 and summary.drafts == ("q000",)
    assert "q000" in summary_text(summary)
    saved = json.loads((tmp_path / "drafts" / "alice.json").read_text())
    assert saved["drafts"][0]["justification"] == "Three is careful but I am not done"
    assert store.execute_for_test("SELECT count(*) FROM judgments") == [(0,)]

    # The draft comes back when the item opens again.
    again = make_app(project, store, annotator="alice", drafts_dir=tmp_path / "drafts")
    async with again.run_test(size=SIZE) as pilot:
        await settle(pilot)
        box = again.screen.query_one("#justification", Input)
        assert box.value == "Three is careful but I am not done"
        marks = again.session.current.marks  # type: ignore[union-attr]
        assert (marks.best, marks.worst) == (3, 1)
        assert again.focused is box  # picks complete: ready to go on typing
        await type_text(pilot, ", now I am.")
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("ctrl+q")  # nothing unsaved: no question
        await pilot.pause()
    assert store.execute_for_test("SELECT justification FROM judgments") == [
        ("Three is careful but I am not done, now I am.",)]
    assert not (tmp_path / "drafts" / "alice.json").exists()  # the draft is gone once saved
    assert again.return_value is not None and again.return_value.saved == 1


async def test_quitting_with_nothing_unsaved_prints_the_summary(app: PreferApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for _ in range(2):
            await pilot.press("1", "2")
            await type_text(pilot, "One is the careful, correct answer.")
            await pilot.press("enter")
            await settle(pilot)
        await pilot.press("ctrl+q")
        await pilot.pause()
    summary = app.return_value
    assert summary is not None and summary.saved == 2 and summary.drafts == ()
    assert summary.pace is not None and summary.pace > 0
    assert summary_text(summary).startswith("This session: 2 saved in 0:00")


async def test_a_hang_up_keeps_the_work_as_a_draft(app: PreferApp, tmp_path: Path) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "3")
        await type_text(pilot, "The SSH link drops mid-sentence")
        os.kill(os.getpid(), signal.SIGHUP)  # what sshd sends when the link drops
        await pilot.pause()
        await pilot.pause()
    assert app.return_value is not None and app.return_value.drafts == ("q000",)
    saved = json.loads((tmp_path / "drafts" / "alice.json").read_text())
    assert saved["drafts"][0]["justification"] == "The SSH link drops mid-sentence"


async def test_skip_with_unsaved_work_keeps_a_draft(app: PreferApp, store: LocalStore) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.session.current.item.prompt.prompt_id == "q001"  # type: ignore[union-attr]
        assert "q000" in app.session.drafts
        # Back at q000 later (skips come last): the pick is there again.
        for _ in range(2):
            await pilot.press("1", "2")
            await type_text(pilot, "A justification long enough.")
            await pilot.press("enter")
            await settle(pilot)
        current = app.session.current
        assert current is not None and current.item.prompt.prompt_id == "q000"
        assert current.marks.best == 2 and current.restored_draft


class _ThreadCheckingStore:
    """The store as the app sees it, noting every call made on the event loop's thread."""

    def __init__(self, store: LocalStore) -> None:
        self._store = store
        self.on_event_loop: list[str] = []
        self.calls = 0

    def __getattr__(self, name: str) -> object:
        import threading

        found = getattr(self._store, name)
        if not callable(found):
            return found

        def call(*args: object, **kwargs: object) -> object:
            self.calls += 1
            if threading.current_thread() is threading.main_thread():
                self.on_event_loop.append(name)
            return found(*args, **kwargs)

        return call


async def test_no_store_call_runs_on_the_event_loop(project: Project, store: LocalStore,
                                                     tmp_path: Path) -> None:
    import_file(store, write_jsonl(tmp_path / "items.jsonl", item_rows(4, candidates=3)),
                actor="t")
    watched = _ThreadCheckingStore(store)
    app = make_app(project, watched, annotator="alice",  # type: ignore[arg-type]
                   drafts_dir=tmp_path / "drafts")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("1", "2")
        await type_text(pilot, "One is the careful, correct answer.")
        await pilot.press("enter")
        await settle(pilot)
        for keys in (("ctrl+o",), ("ctrl+o",), ("ctrl+s",), ("ctrl+z",), ("ctrl+r",),
                     ("escape",), ("ctrl+f",)):
            await pilot.press(*keys)
            await settle(pilot)
        await type_text(pilot, "The question is cut off.")
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        await type_text(pilot, "All three say the same thing in other words.")
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert watched.calls > 10
    assert watched.on_event_loop == []


async def test_an_empty_queue_says_why(project: Project, store: LocalStore,
                                       tmp_path: Path) -> None:
    app = make_app(project, store, annotator="alice", drafts_dir=tmp_path / "drafts")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        shown = str(app.screen.query_one("#prompt").render())
        assert "Nothing to judge yet" in shown and "no item with two or more responses" in shown
        await type_text(pilot, "still safe to type")
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_value is not None and app.return_value.saved == 0
