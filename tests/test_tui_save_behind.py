"""The next item shows at once on save while the judgment is stored behind it: the expert does
not wait for the store, and a save that is refused, stalls or is still on its way loses nothing.

The store is held at `save_judgment` (a gate the test opens) so what the screen shows before the
store confirms can be read; every assertion on stored rows reads the real store."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from core.drafts import load_drafts
from core.errors import PreferError
from core.models import Judgment
from core.project import Project
from core.sources import import_file
from core.store import LocalStore
from tests.conftest import item_rows, write_jsonl
from tests.test_tui import SIZE, screen_of, settle, text_of, type_text
from tui.app import PreferApp, make_app
from tui.screens.dialogs import QuitScreen
from tui.widgets.justification import JustificationInput

FIRST = "Two keeps the promise; four does not."
SECOND = "One keeps the promise; three does not."


class _GatedStore:
    """The store as the app sees it, with `save_judgment` held until `gate` is open and
    refusing with `refusal` when one is set."""

    def __init__(self, store: LocalStore) -> None:
        self._store = store
        self.gate = threading.Event()
        self.gate.set()
        self.refusal: Exception | None = None

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    def save_judgment(self, judgment: Judgment) -> Judgment:
        assert self.gate.wait(30), "the test never opened the gate"
        if self.refusal is not None:
            raise self.refusal
        return self._store.save_judgment(judgment)


@pytest.fixture
def gated(store: LocalStore, tmp_path: Path) -> _GatedStore:
    import_file(store, write_jsonl(tmp_path / "items.jsonl", item_rows(3, candidates=4)),
                actor="t")
    return _GatedStore(store)


@pytest.fixture
def app(project: Project, gated: _GatedStore, tmp_path: Path) -> PreferApp:
    return make_app(project, gated, annotator="alice",  # type: ignore[arg-type]
                    drafts_dir=tmp_path / "drafts")


async def until(pilot: Pilot, condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.02)


def judged(store: LocalStore) -> list[tuple[str, str]]:
    return store.execute_for_test(
        "SELECT prompt_id, justification FROM judgments ORDER BY prompt_id")  # type: ignore[return-value]


def showing(app: PreferApp) -> str | None:
    current = app.session.current
    return current.item.prompt.prompt_id if current is not None else None


async def judge(pilot: Pilot, best: str, worst: str, text: str) -> None:
    await pilot.press(best, worst)
    await type_text(pilot, text)
    await pilot.press("enter")


async def save_first_held(pilot: Pilot, app: PreferApp, gated: _GatedStore) -> None:
    """Judge q000 with its save held at the store, and wait until q001 is on screen with the
    candidates focused (the expert's next keys are picks)."""
    gated.gate.clear()
    await judge(pilot, "2", "4", FIRST)
    await until(pilot, lambda: showing(app) == "q001" and app.focused is not None
                and app.focused.id == "candidates")


async def test_the_next_item_shows_before_the_store_confirms_and_quitting_meanwhile_asks(
        app: PreferApp, gated: _GatedStore, store: LocalStore, tmp_path: Path) -> None:
    drafts_on_disk = lambda: load_drafts(tmp_path / "drafts", "alice")  # noqa: E731
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = screen_of(pilot)
        assert screen._ahead is not None and screen._ahead.after == "q000"
        gated.gate.clear()
        await judge(pilot, "2", "4", FIRST)
        await pilot.pause()
        # On screen at once, with nothing stored yet: the work on q000 is a draft meanwhile.
        assert showing(app) == "q001" and "q001" in text_of(pilot, "#topbar")
        assert judged(store) == []
        assert screen.unsaved_item() == "q000"
        assert "q000" in app.session.drafts
        # ...and on disk, so a killed process finds it again: the draft is written before the
        # commit starts.
        await until(pilot, lambda: "q000" in drafts_on_disk())
        assert drafts_on_disk()["q000"].justification == FIRST
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen))
        await pilot.press("escape")  # stay
        await until(pilot, lambda: not isinstance(app.screen, QuitScreen))

        gated.gate.set()
        await settle(pilot)
        assert judged(store) == [("q000", FIRST)]
        assert screen.unsaved_item() is None and "q000" not in app.session.drafts
        assert "q000" not in drafts_on_disk()
        assert any(n.message == "Saved." for n in app._notifications)
        assert "1/3 done" in text_of(pilot, "#topbar")
        assert showing(app) == "q001"


async def test_a_refused_save_comes_back_to_its_item_as_it_was(
        app: PreferApp, gated: _GatedStore, store: LocalStore) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = screen_of(pilot)
        gated.refusal = PreferError("alice may not judge q000 any more")
        await save_first_held(pilot, app, gated)
        await pilot.press("1")  # work on the next item before the refusal arrives
        assert app.session.current is not None and app.session.current.marks.best == 1

        gated.gate.set()
        await until(pilot, lambda: showing(app) == "q000")
        await settle(pilot)
        current = app.session.current
        assert current is not None and (current.marks.best, current.marks.worst) == (2, 4)
        assert screen.query_one("#justification", Input).value == FIRST
        assert any("may not judge q000" in n.message for n in app._notifications)
        assert judged(store) == []
        assert "q001" in app.session.drafts  # its pick is kept
        assert screen.behind is None and not screen.busy

        # Saved once the store accepts it; the next item comes back with its pick.
        gated.refusal = None
        await pilot.press("enter")
        await settle(pilot)
        assert judged(store) == [("q000", FIRST)]
        current = app.session.current
        assert current is not None and current.item.prompt.prompt_id == "q001"
        assert current.marks.best == 1 and current.restored_draft


async def test_a_save_pressed_before_the_one_behind_is_confirmed_follows_it(
        app: PreferApp, gated: _GatedStore, store: LocalStore) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = screen_of(pilot)
        await save_first_held(pilot, app, gated)
        await judge(pilot, "1", "3", SECOND)
        await pilot.pause()
        assert judged(store) == [] and screen.busy  # waits for q000's save
        assert showing(app) == "q001"

        gated.gate.set()
        await settle(pilot)
        assert judged(store) == [("q000", FIRST), ("q001", SECOND)]
        assert showing(app) == "q002"
        assert "2/3 done" in text_of(pilot, "#topbar")


async def test_the_item_read_ahead_is_never_the_one_whose_save_is_still_on_its_way(
        app: PreferApp, gated: _GatedStore, store: LocalStore) -> None:
    # The read ahead after q001 starts while q000's save is still held: the store still lists
    # q000 as waiting, but the next item is q002. Showing q000 again (and then q002, once the
    # queue was asked) flashed the judged item and dropped the picks typed meanwhile.
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = screen_of(pilot)
        await save_first_held(pilot, app, gated)
        await until(pilot, lambda: screen._ahead is not None and screen._ahead.after == "q001")
        assert screen._ahead.loaded is not None
        assert screen._ahead.loaded.item.prompt.prompt_id == "q002"
        gated.gate.set()
        await until(pilot, lambda: screen.behind is None)

        opened: list[str] = []
        open_item = app.session._open

        def noting_open(prompt_id: str, *args: object, **kwargs: object) -> object:
            opened.append(prompt_id)
            return open_item(prompt_id, *args, **kwargs)  # type: ignore[arg-type]

        app.session._open = noting_open  # type: ignore[method-assign]
        await judge(pilot, "1", "3", SECOND)
        assert showing(app) == "q002"
        await pilot.press("2")  # typed at once: a pick on q002, kept
        await settle(pilot)
        assert opened == ["q002"]
        assert judged(store) == [("q000", FIRST), ("q001", SECOND)]
        current = app.session.current
        assert current is not None and current.marks.best == 2


async def test_a_skip_pressed_before_the_save_behind_is_confirmed_follows_it(
        app: PreferApp, gated: _GatedStore, store: LocalStore) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await save_first_held(pilot, app, gated)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert showing(app) == "q001" and judged(store) == []

        gated.gate.set()
        await settle(pilot)
        kinds = store.execute_for_test("SELECT prompt_id, kind FROM judgments ORDER BY prompt_id")
        assert kinds == [("q000", "ranked"), ("q001", "skipped")]
        assert showing(app) == "q002"


async def test_an_unexpected_failure_of_the_save_behind_never_leaves_the_screen_waiting(
        app: PreferApp, gated: _GatedStore, store: LocalStore) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = screen_of(pilot)
        gated.refusal = RuntimeError("the disk went away")
        await save_first_held(pilot, app, gated)
        gated.gate.set()
        await until(pilot, lambda: showing(app) == "q000")
        await settle(pilot)
        assert screen.behind is None and not screen.busy
        assert any("the disk went away" in n.message for n in app._notifications)
        gated.refusal = None
        await pilot.press("enter")  # the same judgment again: saved, and on to the next
        await settle(pilot)
        assert judged(store) == [("q000", FIRST)] and showing(app) == "q001"


async def test_picks_typed_straight_after_the_save_are_the_next_items_picks(
        app: PreferApp, store: LocalStore) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = screen_of(pilot)
        await pilot.press("2", "4")
        await type_text(pilot, FIRST)
        # Hold what waits for the next frame, as a busy machine does: the keys below arrive
        # before the focus has left the box (it moves after the frame showing the next item).
        held: list[tuple[object, tuple[object, ...]]] = []
        real_call = screen.after_frame.call
        screen.after_frame.call = lambda callback, *args: held.append((callback, args))  # type: ignore[method-assign]
        await pilot.press("enter")
        assert showing(app) == "q001" and screen._focus_after_frame is not None
        await pilot.press("1", "3", "O", "n", "e")
        screen.after_frame.call = real_call  # type: ignore[method-assign]
        for callback, args in held:  # the frame comes: its focus move must not undo the picks
            callback(*args)  # type: ignore[operator]
        await settle(pilot)
        current = app.session.current
        assert current is not None and current.item.prompt.prompt_id == "q001"
        assert (current.marks.best, current.marks.worst) == (1, 3)
        box = screen.query_one("#justification", JustificationInput)
        assert app.focused is box and not box.locked
        assert box.value == "One"
        assert judged(store) == [("q000", FIRST)]
