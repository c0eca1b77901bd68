"""The annotation TUI driven by keys through Textual's Pilot, asserting on stored rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input, Static

from core.project import Project
from core.sources import import_file
from core.store import LocalStore
from tests.conftest import item_rows, write_jsonl
from tui.app import PreferApp, make_app
from tui.screens.annotate import AnnotateScreen
from tui.screens.dialogs import GuidelinesScreen, HelpScreen, PromptScreen, TagScreen
from tui.widgets.candidate import CandidateCard

SIZE = (80, 24)


@pytest.fixture
def app(project: Project, store: LocalStore, tmp_path: Path) -> PreferApp:
    rows = item_rows(3, candidates=4)
    rows[0]["system"] = "You are the support assistant of Fabrikam Telecom."
    rows[1]["candidates"] = ["Long answer. " * 200, "Short answer.", "Other answer.",
                             "Wrong answer."]
    import_file(store, write_jsonl(tmp_path / "items.jsonl", rows), actor="t")
    return make_app(project, store, annotator="alice", drafts_dir=tmp_path / "drafts")


def _still_moving(app: App[object]) -> bool:
    """Work the annotation screen has queued for after its next frame (tui/frames.py) or a
    save still stored behind the item on screen."""
    return any(isinstance(screen, AnnotateScreen)
               and (screen.after_frame.pending or screen.behind is not None)
               for screen in app.screen_stack)


async def settle(pilot: Pilot) -> None:
    """Let workers finish and their messages be handled, and what the screen does after the
    frame that shows an item (pauses of a frame at most, a few seconds in all)."""
    for _ in range(300):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if not _still_moving(pilot.app) and all(w.is_finished for w in pilot.app.workers):
            return
        await pilot.pause(0.01)
    raise AssertionError("the screen did not settle in 3 s")


def screen_of(pilot: Pilot) -> AnnotateScreen:
    screen = pilot.app.screen
    assert isinstance(screen, AnnotateScreen)
    return screen


def text_of(pilot: Pilot, selector: str) -> str:
    return str(pilot.app.screen.query_one(selector, Static).render())


async def type_text(pilot: Pilot, text: str) -> None:
    await pilot.press(*[{" ": "space"}.get(ch, ch) for ch in text])


async def test_best_worst_justify_save_loads_the_next_item(app: PreferApp,
                                                           store: LocalStore) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = screen_of(pilot)
        cards = list(screen.query(CandidateCard))
        assert [c.label for c in cards] == [1, 2, 3, 4]
        assert "Fabrikam Telecom" in text_of(pilot, "#system")
        assert "q000" in text_of(pilot, "#topbar")
        shown = [c.candidate_id for c in app.session.current.shown]  # type: ignore[union-attr]

        await pilot.press("2")
        assert cards[1].mark == "best" and cards[1].styles.border_top[0] == "double"
        await pilot.press("4")
        assert cards[3].mark == "worst" and cards[3].styles.border_top[0] == "heavy"
        assert cards[0].styles.border_top[0] == "round"  # unmarked: .candidate in app.tcss
        assert isinstance(app.focused, Input)  # the justification takes focus

        await type_text(pilot, "Two keeps the promise; four does not.")
        await pilot.press("enter")
        await settle(pilot)

        rows = store.execute_for_test(
            "SELECT annotator, prompt_id, best_candidate_id, worst_candidate_id, justification,"
            " shown_order FROM judgments")
        assert rows == [("alice", "q000", shown[1], shown[3],
                         "Two keeps the promise; four does not.", shown)]
        assert "q001" in text_of(pilot, "#topbar")
        assert "1/3 done" in text_of(pilot, "#topbar")
        assert app.screen.query_one("#justification", Input).value == ""


async def test_short_justification_is_refused_and_nothing_saved(app: PreferApp,
                                                                store: LocalStore) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("1", "3")
        await type_text(pilot, "too short")
        await pilot.press("enter")
        await settle(pilot)
        assert store.execute_for_test("SELECT count(*) FROM judgments") == [(0,)]
        assert "q000" in text_of(pilot, "#topbar")


async def test_skip_records_a_skip_and_moves_on(app: PreferApp, store: LocalStore) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert store.execute_for_test("SELECT prompt_id, kind FROM judgments") == [
            ("q000", "skipped")]
        assert "q001" in text_of(pilot, "#topbar")


async def test_back_and_edit_supersedes(app: PreferApp, store: LocalStore) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("1", "2")
        await type_text(pilot, "First reading of this item, quickly.")
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("ctrl+z")
        await settle(pilot)
        assert "q000" in text_of(pilot, "#topbar")
        assert "revising" in text_of(pilot, "#topbar")
        field = app.screen.query_one("#justification", Input)
        assert field.value == "First reading of this item, quickly."
        await pilot.press("3", "4")  # start over: best 3, worst 4
        assert isinstance(app.focused, Input)
        field.value = ""
        await type_text(pilot, "Second reading: three is the careful one.")
        await pilot.press("enter")
        await settle(pilot)
        rows = store.execute_for_test(
            "SELECT justification, supersedes IS NOT NULL FROM judgments ORDER BY created_at")
        assert rows == [("First reading of this item, quickly.", False),
                        ("Second reading: three is the careful one.", True)]
        current = store.current_judgment("alice", "q000")
        assert current is not None and current.justification.startswith("Second reading")
        assert "q001" in text_of(pilot, "#topbar")


async def test_escape_returns_to_choosing(app: PreferApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("1", "2")
        assert isinstance(app.focused, Input)
        await pilot.press("escape")
        assert not isinstance(app.focused, Input)
        await pilot.press("3")
        assert app.session.current.marks.best == 3  # type: ignore[union-attr]


async def test_help_lists_every_key(app: PreferApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = [keys for keys, _ in app.screen.rows]
        for key in ("1-9", "Enter", "Esc", "^S", "^Z", "^T", "^P", "^G", "F1", "^Q", "^D",
                    "^R", "^N", "^Y", "^O", "^F"):
            assert key in keys
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, AnnotateScreen)


async def test_guidelines_open_and_close(app: PreferApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert isinstance(app.screen, GuidelinesScreen)
        assert "Annotation guidelines" in app.screen.markdown
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, AnnotateScreen)


async def test_tagging_dimensions_is_stored(app: PreferApp, store: LocalStore) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert isinstance(app.screen, TagScreen)
        await pilot.press("2", "3", "enter")  # accuracy, compliance
        await pilot.pause()
        await pilot.press("1", "2")
        await type_text(pilot, "Two cites the correct policy clause.")
        await pilot.press("enter")
        await settle(pilot)
        assert store.execute_for_test("SELECT dimensions FROM judgments") == [
            (["accuracy", "compliance"],)]


async def test_quit_keeps_what_was_saved(app: PreferApp, store: LocalStore) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("1", "2")
        await type_text(pilot, "Saved before quitting, must be kept.")
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_code == 0 or app.return_code is None
    assert store.execute_for_test("SELECT count(*) FROM judgments") == [(1,)]


async def test_long_candidates_scroll_at_80x24(app: PreferApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("1", "2")
        await type_text(pilot, "Moving on to the long item now.")
        await pilot.press("enter")
        await settle(pilot)
        box = app.screen.query_one("#candidates")
        assert box.max_scroll_y > 0  # the long answer does not fit: it scrolls
        assert box.scroll_y == 0
        await pilot.press("pagedown")
        await pilot.pause()
        assert box.scroll_y > 0
        # Everything an annotator needs stays on screen at 80x24.
        for selector in ("#topbar", "#marks", "#justification"):
            region = app.screen.query_one(selector).region
            assert region.height >= 1 and region.bottom <= 24


async def test_queue_done_message(app: PreferApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for _ in range(3):
            await pilot.press("1", "2")
            await type_text(pilot, "A justification long enough.")
            await pilot.press("enter")
            await settle(pilot)
        assert "Nothing left to judge" in text_of(pilot, "#prompt")
        assert "3/3 done" in text_of(pilot, "#topbar")


async def test_whole_prompt_opens_on_p(app: PreferApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        assert app.screen.system == "You are the support assistant of Fabrikam Telecom."
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, AnnotateScreen)


async def test_provenance_is_hidden_until_asked_for(project: Project, store: LocalStore,
                                                    tmp_path: Path) -> None:
    import json as _json

    from core.models import GenerationRecord
    from core.store.local import utc_now

    import_file(store, write_jsonl(tmp_path / "one.jsonl", [{"id": "x1", "prompt": "Q?",
                                                             "candidates": ["Imported answer."]}]), actor="t")
    now = utc_now()
    store.record_generations([GenerationRecord(
        generation_id="g1", run_id="r1", prompt_id="x1", variant="flawed", model="llama3.1:8b",
        model_digest="d" * 64, host="http://h:11434", status="ok", error=None, attempts=1,
        text="Generated answer.", system=None, options=_json.dumps({"temperature": 0.7}),
        done_reason="length", truncated=True, prompt_eval_count=5, eval_count=9,
        total_duration_ns=1, load_duration_ns=1, prompt_eval_duration_ns=1, eval_duration_ns=1,
        latency_s=0.1, started_at=now, finished_at=now)])
    app = make_app(project, store, annotator="alice", drafts_dir=tmp_path / "drafts")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [str(c.border_title) for c in app.screen.query(CandidateCard)]
        assert all("flawed" not in t and "imported" not in t for t in titles)
        await pilot.press("ctrl+o")
        await settle(pilot)
        titles = sorted(str(c.border_title) for c in app.screen.query(CandidateCard))
        assert any("flawed, t=0.7, llama3.1:8b, cut off at the token limit" in t for t in titles)
        assert any("imported" in t for t in titles)
        await pilot.press("ctrl+o")
        titles = [str(c.border_title) for c in app.screen.query(CandidateCard)]
        assert all("flawed" not in t for t in titles)


async def test_flag_records_a_note_and_keeps_the_item(app: PreferApp, store: LocalStore) -> None:
    from tui.screens.flag import FlagScreen

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+f")
        await pilot.pause()
        assert isinstance(app.screen, FlagScreen)
        await pilot.press("escape")  # cancelling records nothing
        await pilot.pause()
        assert isinstance(app.screen, AnnotateScreen)
        assert store.execute_for_test("SELECT count(*) FROM flags") == [(0,)]
        await pilot.press("ctrl+f")
        await pilot.pause()
        await pilot.press("enter")  # a blank note is refused
        await pilot.pause()
        assert isinstance(app.screen, FlagScreen)
        await type_text(pilot, "The question is cut off.")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, AnnotateScreen)
        assert store.execute_for_test("SELECT annotator, prompt_id, note FROM flags") == [
            ("alice", "q000", "The question is cut off.")]
        assert [f.prompt_id for f in store.open_flags()] == ["q000"]
        assert "q000" in text_of(pilot, "#topbar")  # flagging does not replace ranking
        assert store.execute_for_test("SELECT count(*) FROM judgments") == [(0,)]
        assert store.events()[-1].action == "flag"


async def test_save_shows_the_queues_next_item_even_when_it_changed_after_the_read_ahead(
        app: PreferApp, store: LocalStore, project: Project) -> None:
    from core.annotation import AnnotationSession

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = screen_of(pilot)
        cards = list(screen.query(CandidateCard))
        ahead = screen._ahead
        assert ahead is not None and ahead.after == "q000"  # read while q000 is on screen
        assert ahead.loaded is not None and ahead.loaded.item.prompt.prompt_id == "q001"
        # The same annotator judges q001 in another session meanwhile.
        other = AnnotationSession(store, project.config, "alice", "g-test")
        other.open("q001")
        other.press(1)
        other.press(2)
        other.save("Judged in another window, before this save.")

        await pilot.press("2", "4")
        await type_text(pilot, "Two keeps the promise; four does not.")
        await pilot.press("enter")
        await settle(pilot)
        assert "q002" in text_of(pilot, "#topbar")
        assert "2/3 done" in text_of(pilot, "#topbar")
        # The cards stayed and show q002's candidates, unmarked.
        assert list(screen.query(CandidateCard)) == cards
        shown = app.session.current.shown  # type: ignore[union-attr]
        assert [c.text for c in cards] == [c.text for c in shown]
        assert not any(c.mark for c in cards)
        assert {c.styles.border_top[0] for c in cards} == {"round"}  # the marks' looks cleared

        # Without a change the item read ahead is the one shown.
        assert screen._ahead is not None and screen._ahead.after == "q002"
        await pilot.press("1", "3")
        await type_text(pilot, "One keeps the promise; three does not.")
        await pilot.press("enter")
        await settle(pilot)
        assert "3/3 done" in text_of(pilot, "#topbar")
