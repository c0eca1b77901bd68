"""The layout at both sizes (issue 11, point 8): at 80x24 the question is never cut without a
marker naming the key that shows it whole; a picked candidate scrolls into view; best and worst
are named in words at the top of their cards; Markdown is rendered, with a key for the raw
text; side by side when wide (no 200-character lines), stacked when narrow."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.geometry import Region

from core.config import write_config
from core.project import Project, open_project
from core.sources import import_file
from core.store import LocalStore
from tests.conftest import write_jsonl
from tests.test_tui import settle
from tui.app import PreferApp, make_app
from tui.i18n import tr
from tui.screens.dialogs import PromptScreen
from tui.widgets.candidate import CandidateCard
from tui.widgets.prompt import PromptPanel

LONG_QUESTION = (
    "I ordered a standing desk three weeks ago (order #CS-448120) and the tracking hasn't moved "
    "in 9 days. The carrier says it is at the Columbus hub, your chat said it left, and the "
    "e-mail says it was delivered. If it's not here by Friday I want my money back, and I want "
    "to know who pays the return shipping if it does arrive after I have bought another one, "
    "because the desk is 40 kg and I cannot carry it to a post office on my own. Final words.")
ANSWER = ("I can see order **#CS-448120** at the Columbus hub for 9 days.\n\n"
          "- If it is lost, you choose a refund or a replacement.\n"
          "- I cannot promise Friday.\n\n" + "More detail on the trace. " * 12)


@pytest.fixture(autouse=True)
def _private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def app_with(project: Project, store: LocalStore, tmp_path: Path, question: str) -> PreferApp:
    project.config.annotation.randomise_order = False
    write_config(project.config, project.config_path)
    project = open_project(project.root)
    rows = [{"id": "cs-1", "prompt": question,
             "candidates": [ANSWER, *(f"Answer {n}. " * 40 for n in range(2, 7))]}]
    import_file(store, write_jsonl(tmp_path / "items.jsonl", rows), actor="t")
    return make_app(project, store, annotator="alice", drafts_dir=tmp_path / "drafts")


def visible(card: CandidateCard, viewport: Region) -> bool:
    """The card's top border (where BEST/WORST is written) is inside the viewport."""
    return viewport.contains(card.region.x + 1, card.region.y)


async def test_a_long_question_at_80x24_is_marked_cut_and_shown_whole_on_ctrl_p(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    app = app_with(project, store, tmp_path, LONG_QUESTION)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        panel = app.screen.query_one(PromptPanel)
        assert panel.max_scroll_y > 0  # it does not fit ...
        assert str(panel.border_subtitle) == tr("prompt.cut")  # ... and says so, with the key
        assert panel.region.height <= 24 // 3 + 2
        await pilot.press("ctrl+p")
        await settle(pilot)
        assert isinstance(app.screen, PromptScreen)
        assert LONG_QUESTION.endswith("Final words.") and "Final words." in str(
            app.screen.query_one("#whole-prompt").render())


async def test_a_short_question_has_no_marker(project: Project, store: LocalStore,
                                              tmp_path: Path) -> None:
    app = app_with(project, store, tmp_path, "How much salt?")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        panel = app.screen.query_one(PromptPanel)
        assert panel.max_scroll_y == 0 and not panel.border_subtitle


async def test_picked_candidates_scroll_into_view_named_in_words(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    app = app_with(project, store, tmp_path, "How much salt?")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        viewport = app.screen.query_one("#candidates").region
        cards = {card.label: card for card in app.screen.query(CandidateCard)}
        assert not visible(cards[5], viewport)  # far below at 80x24
        await pilot.press("5")
        await pilot.pause()
        assert visible(cards[5], viewport)
        assert tr("card.best") in str(cards[5].border_title)  # in words, on its top border
        await pilot.press("1")
        await pilot.pause()
        assert visible(cards[1], viewport)
        assert tr("card.worst") in str(cards[1].border_title)


async def test_markdown_is_rendered_and_ctrl_y_shows_the_raw_text(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    from rich.console import Console

    def text_of(card: CandidateCard) -> str:
        console = Console(width=76, record=True)
        console.print(card.content)
        return console.export_text()

    app = app_with(project, store, tmp_path, "How much salt?")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        card = next(c for c in app.screen.query(CandidateCard) if c.label == 1)
        rendered = text_of(card)
        assert "•" in rendered and "**" not in rendered  # a list and bold, as Markdown
        await pilot.press("ctrl+y")
        await pilot.pause()
        raw = text_of(card)
        assert "**#CS-448120**" in raw and "- If it is lost" in raw
        await pilot.press("ctrl+y")
        await pilot.pause()
        assert "**" not in text_of(card)


@pytest.mark.parametrize("size, columns", [((80, 24), 1), ((200, 50), 3)])
async def test_side_by_side_when_wide_stacked_when_narrow(
        project: Project, store: LocalStore, tmp_path: Path, size: tuple[int, int],
        columns: int) -> None:
    app = app_with(project, store, tmp_path, LONG_QUESTION)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        cards = list(app.screen.query(CandidateCard))
        assert len({card.region.x for card in cards}) == columns
        # No line runs the width of a 200-column terminal.
        assert all(card.region.width <= 80 for card in cards)
