"""A Pilot test per binding of the annotation screen: each key does what the help says, and
the Ctrl commands work from the justification box too (they are not typing)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from core.project import Project
from core.sources import import_file
from core.store import LocalStore
from tests.conftest import item_rows, write_jsonl
from tests.test_tui import settle
from tui.app import PreferApp, make_app
from tui.bindings import ANNOTATE_COMMANDS
from tui.screens.annotate import AnnotateScreen
from tui.screens.dialogs import GuidelinesScreen, HelpScreen, PromptScreen, TagScreen
from tui.screens.diff import DiffScreen
from tui.screens.flag import FlagScreen
from tui.screens.history import HistoryScreen
from tui.screens.outcome import NoPreferenceScreen
from tui.widgets.candidate import CandidateCard


@pytest.fixture(autouse=True)
def _private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture
def app(project: Project, store: LocalStore, tmp_path: Path) -> PreferApp:
    rows = item_rows(3, candidates=3)
    rows[0]["candidates"] = ["Long answer. " * 300, "Short answer.", "Other answer."]
    import_file(store, write_jsonl(tmp_path / "items.jsonl", rows), actor="t")
    return make_app(project, store, annotator="alice", drafts_dir=tmp_path / "drafts")


def screen_of(app: PreferApp) -> AnnotateScreen:
    screen = next(s for s in app.screen_stack if isinstance(s, AnnotateScreen))
    return screen


Check = Callable[[Pilot, PreferApp, LocalStore], Awaitable[None]]


async def opens(pilot: Pilot, app: PreferApp, key: str, dialog: type) -> None:
    await pilot.press(key)
    await settle(pilot)
    assert isinstance(app.screen, dialog)


async def check_write(pilot: Pilot, app: PreferApp, store: LocalStore) -> None:
    await pilot.press("escape", "enter")
    assert isinstance(app.focused, Input)


async def check_choose(pilot: Pilot, app: PreferApp, store: LocalStore) -> None:
    await pilot.press("escape")
    assert not isinstance(app.focused, Input)


async def check_skip(pilot: Pilot, app: PreferApp, store: LocalStore) -> None:
    await pilot.press("ctrl+s")
    await settle(pilot)
    assert store.execute_for_test("SELECT prompt_id, kind FROM judgments") == [
        ("q000", "skipped")]
    assert "q000" in app.session.drafts  # the picks are kept as a draft


async def check_back(pilot: Pilot, app: PreferApp, store: LocalStore) -> None:
    await pilot.press(*["space" if c == " " else c for c in "A reason long enough to save"])
    await pilot.press("enter")
    await settle(pilot)
    await pilot.press("ctrl+z")
    await settle(pilot)
    current = app.session.current
    assert current is not None and current.item.prompt.prompt_id == "q000" and current.revising


async def check_raw(pilot: Pilot, app: PreferApp, store: LocalStore) -> None:
    await pilot.press("ctrl+y")
    assert all(card.raw for card in screen_of(app).query(CandidateCard))
    await pilot.press("ctrl+y")
    assert not any(card.raw for card in screen_of(app).query(CandidateCard))


async def check_provenance(pilot: Pilot, app: PreferApp, store: LocalStore) -> None:
    await pilot.press("ctrl+o")
    await settle(pilot)
    assert all("imported" in str(c.border_title) for c in screen_of(app).query(CandidateCard))


async def check_quit(pilot: Pilot, app: PreferApp, store: LocalStore) -> None:
    await pilot.press("ctrl+q")  # picks unsaved: asks
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()
    assert app.return_value is not None and app.return_value.drafts == ("q000",)


def scrolls(key: str, down: bool) -> Check:
    async def check(pilot: Pilot, app: PreferApp, store: LocalStore) -> None:
        await pilot.press("escape")
        box = screen_of(app).query_one("#candidates")
        if down:
            box.scroll_home(animate=False)
        else:
            box.scroll_end(animate=False)
        await pilot.pause()
        before = box.scroll_y
        await pilot.press(key)
        await pilot.pause()
        assert (box.scroll_y > before) if down else (box.scroll_y < before)
    return check


def dialog(key: str, kind: type) -> Check:
    async def check(pilot: Pilot, app: PreferApp, store: LocalStore) -> None:
        await opens(pilot, app, key, kind)  # from the justification box: not typed as text
        assert screen_of(app).query_one("#justification", Input).value == ""
    return check


CHECKS: dict[str, Check] = {
    "write": check_write,
    "choose": check_choose,
    "skip": check_skip,
    "back": check_back,
    "no_preference": dialog("ctrl+n", NoPreferenceScreen),
    "diff": dialog("ctrl+d", DiffScreen),
    "history": dialog("ctrl+r", HistoryScreen),
    "tag": dialog("ctrl+t", TagScreen),
    "flag": dialog("ctrl+f", FlagScreen),
    "prompt": dialog("ctrl+p", PromptScreen),
    "raw": check_raw,
    "provenance": check_provenance,
    "guidelines": dialog("ctrl+g", GuidelinesScreen),
    "help": dialog("f1", HelpScreen),
    "quit": check_quit,
    "scroll_down": scrolls("down", True),
    "scroll_up": scrolls("up", False),
    "page_down": scrolls("pagedown", True),
    "page_up": scrolls("pageup", False),
}


def test_every_binding_has_a_pilot_test() -> None:
    assert sorted(CHECKS) == sorted(c.id for c in ANNOTATE_COMMANDS)


@pytest.mark.parametrize("binding_id", list(CHECKS))
async def test_binding(app: PreferApp, store: LocalStore, binding_id: str) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("1", "3")  # best and worst: the box has focus when the key comes
        assert isinstance(app.focused, Input)
        await CHECKS[binding_id](pilot, app, store)
