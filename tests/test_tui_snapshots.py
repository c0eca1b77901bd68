"""SVG snapshots of the annotation screens at 80x24 and 200x50, in two languages.

Each picture is Textual's own `export_screenshot()`, compared with the SVG committed under
tests/snapshots/. After a deliberate change of the screens, look at the new pictures and
commit them: `PREFER_UPDATE_SNAPSHOTS=1 pytest tests/test_tui_snapshots.py`.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from core.config import write_config
from core.project import Project, open_project
from core.sources import import_file
from core.store import LocalStore
from tests.conftest import write_jsonl
from tests.test_tui import settle
from tui.app import PreferApp, make_app
from tui.i18n import set_language
from tui.widgets.footer import StableFooter

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("PREFER_UPDATE_SNAPSHOTS") == "1"

ITEMS = [
    {"id": "cs-448", "system": "You are the customer care assistant of Contoso Shop.",
     "prompt": "I ordered a standing desk three weeks ago (order #CS-448120) and the tracking "
               "hasn't moved in 9 days. If it's not here by Friday I want my money back.",
     "candidates": [
         "I can see order **#CS-448120** has been at the Columbus hub for 9 days. I've opened "
         "a trace with the carrier, which takes up to 5 business days.\n\n- If it is lost, "
         "you choose a refund or a replacement.\n- I cannot promise Friday.",
         "I've upgraded the shipment to priority handling, so it will be delivered by Friday, "
         "with a $25 voucher for the inconvenience.",
         "I can see order **#CS-448120** has been at the Columbus hub for 9 days. I've opened "
         "a trace with the carrier, which takes up to 3 business days.",
         "Parcels that stall like this almost always move again within a couple of days."]},
    {"id": "med-2", "prompt": "How much salt is in the recipe?",
     "candidates": ["Take 4 g of salt.", "Take 8 g of salt.", "No salt at all."]},
]


@pytest.fixture(autouse=True)
def _private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    yield
    set_language("en")


def app_in(project: Project, store: LocalStore, tmp_path: Path, language: str,
           mode: str = "best-worst") -> PreferApp:
    project.config.annotation.language = language
    project.config.annotation.mode = mode
    project.config.annotation.randomise_order = False
    write_config(project.config, project.config_path)
    project = open_project(project.root)
    import_file(store, write_jsonl(tmp_path / "items.jsonl", ITEMS), actor="t")
    app = make_app(project, store, annotator="alice", drafts_dir=tmp_path / "drafts")
    # A clock that stands still: the header's session time and pace do not depend on how fast
    # this machine runs the test.
    app.session._clock = app.session._item_clock.now = lambda: 1000.0
    app.session.started = 1000.0
    return app


async def type_text(pilot: Pilot, text: str) -> None:
    names = {" ": "space", ";": "semicolon", ".": "full_stop", ",": "comma", "=": "equals_sign"}
    await pilot.press(*[names.get(ch, ch) for ch in text])


def check(app: PreferApp, name: str) -> None:
    svg = app.export_screenshot(title=name)
    path = SNAPSHOTS / f"{name}.svg"
    if UPDATE or not path.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(svg, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"{path} was missing: written now; look at it and commit it")
    assert svg == path.read_text(encoding="utf-8"), (
        f"{name} differs from {path}; if the change is meant, run with "
        "PREFER_UPDATE_SNAPSHOTS=1 and commit the new picture")


async def picture(pilot: Pilot, app: PreferApp, name: str) -> None:
    app.clear_notifications()
    for box in app.query(Input):
        box.cursor_blink = False
    for screen in app.screen_stack:
        for box in screen.query(Input):
            box.cursor_blink = False
    # Rebuild every footer (the main screen's shows below a modal one) from the settled state,
    # so the picture does not depend on when its first build happened.
    for screen in app.screen_stack:
        for footer in screen.query(StableFooter):
            footer._shown = None
        screen.refresh_bindings()
    await pilot.pause()
    await pilot.pause()
    check(app, name)


async def main_screen(pilot: Pilot, app: PreferApp) -> None:
    await pilot.press("1", "2")
    await type_text(pilot, "One keeps to the policy; two promises Friday.")


async def diff_view(pilot: Pilot, app: PreferApp) -> None:
    await pilot.press("1", "3", "ctrl+d")


async def help_screen(pilot: Pilot, app: PreferApp) -> None:
    await pilot.press("f1")


async def history_screen(pilot: Pilot, app: PreferApp) -> None:
    await pilot.press("1", "2")
    await type_text(pilot, "One keeps to the policy; two promises Friday.")
    await pilot.press("enter")
    await settle(pilot)
    app.session.store.execute_for_test(  # type: ignore[attr-defined]
        "UPDATE judgments SET created_at = TIMESTAMP '2026-12-07 09:30:00', seconds_spent = 42")
    await pilot.press("ctrl+r")
    await settle(pilot)


async def history_flagged(pilot: Pilot, app: PreferApp) -> None:
    await pilot.press("ctrl+f")
    await type_text(pilot, "The order number is not in the system.")
    await pilot.press("enter")
    await settle(pilot)
    store = app.session.store
    flag = store.flags_of("alice")[0]  # type: ignore[attr-defined]
    store.resolve_flag(flag.flag_id, "rita", "Fixed the number; judge it again.")  # type: ignore[attr-defined]
    await history_screen(pilot, app)
    store.execute_for_test(  # type: ignore[attr-defined]
        "UPDATE flags SET created_at = TIMESTAMP '2026-12-07 09:00:00'")
    await pilot.press("escape")
    await settle(pilot)
    await pilot.press("ctrl+r")
    await settle(pilot)
    await pilot.press("ctrl+f")


Scenario = Callable[[Pilot, PreferApp], Awaitable[None]]
SCENARIOS: list[tuple[str, Scenario, str, tuple[int, int]]] = [
    ("main", main_screen, "best-worst", (80, 24)),
    ("main", main_screen, "best-worst", (200, 50)),
    ("diff", diff_view, "best-worst", (80, 24)),
    ("help", help_screen, "best-worst", (80, 24)),
    ("history", history_screen, "best-worst", (80, 24)),
    ("history-flagged", history_flagged, "best-worst", (80, 24)),
]


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("name, scenario, mode, size", SCENARIOS,
                         ids=[f"{n}-{w}x{h}" for n, _, _, (w, h) in SCENARIOS])
async def test_snapshot(project: Project, store: LocalStore, tmp_path: Path, language: str,
                        name: str, scenario: Scenario, mode: str, size: tuple[int, int]) -> None:
    app = app_in(project, store, tmp_path, language, mode)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await scenario(pilot, app)
        await settle(pilot)
        await picture(pilot, app, f"{name}-{size[0]}x{size[1]}-{language}")


@pytest.mark.parametrize("language", ["en", "de"])
async def test_snapshot_rank_mode(project: Project, store: LocalStore, tmp_path: Path,
                                  language: str) -> None:
    app = app_in(project, store, tmp_path, language, "rank")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_text(pilot, "3 1=4")
        await picture(pilot, app, f"rank-80x24-{language}")
