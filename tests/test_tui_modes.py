"""Rank mode, the no-preference outcome, more than 9 candidates, the diff view and history."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static
from typer.testing import CliRunner

from core.annotation import parse_ranking
from core.config import write_config
from core.project import Project, open_project
from core.sources import import_file
from core.store import LocalStore
from core.textdiff import word_diff
from tests.conftest import item_rows, write_jsonl
from tests.test_tui import settle
from tui.app import PreferApp, make_app
from tui.cli import app as cli
from tui.screens.annotate import AnnotateScreen
from tui.screens.diff import DiffScreen
from tui.screens.history import HistoryScreen
from tui.screens.outcome import NoPreferenceScreen
from tui.widgets.candidate import CandidateCard

SIZE = (80, 24)


@pytest.fixture(autouse=True)
def _private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def configure(project: Project, **annotation: object) -> Project:
    for key, value in annotation.items():
        setattr(project.config.annotation, key, value)
    write_config(project.config, project.config_path)
    return open_project(project.root)


async def type_text(pilot: Pilot, text: str) -> None:
    names = {" ": "space", ";": "semicolon", ".": "full_stop", ",": "comma", "=": "equals_sign"}
    await pilot.press(*[names.get(ch, ch) for ch in text])


def app_for(project: Project, store: LocalStore, tmp_path: Path, count: int = 4,
            candidates: int = 4) -> PreferApp:
    import_file(store, write_jsonl(tmp_path / "items.jsonl", item_rows(count, candidates)),
                actor="t")
    return make_app(project, store, annotator="alice", drafts_dir=tmp_path / "drafts")


# --- rank mode -------------------------------------------------------------------------------

def test_a_ranking_is_read_with_ties() -> None:
    ranking = parse_ranking("3 1=4 2", 4)
    assert ranking.complete and ranking.groups == ((3,), (1, 4), (2,))
    assert ranking.echo() == "3 > 1 = 4 > 2"
    assert parse_ranking("3 1", 4).problem == "still to place: 2, 4"
    assert parse_ranking("3 3 1 2 4", 4).problem == "response 3 is ranked twice"
    assert parse_ranking("5 1 2 3 4", 4).problem == "there is no response 5"
    assert parse_ranking("1=2=3=4", 4).problem is not None  # all tied: no preference


async def test_rank_mode_saves_the_whole_ranking_with_ties(project: Project, store: LocalStore,
                                                           tmp_path: Path) -> None:
    project = configure(project, mode="rank")
    app = app_for(project, store, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        shown = [c.candidate_id for c in app.session.current.shown]  # type: ignore[union-attr]
        marks = app.screen.query_one("#marks", Static)
        await type_text(pilot, "3 1=4")
        assert "3 > 1 = 4" in str(marks.render()) and "still to place: 2" in str(marks.render())
        assert not isinstance(app.focused, Input)
        await pilot.press("backspace", "4", "space", "2", "space")
        assert "3 > 1 = 4 > 2" in str(marks.render())
        titles = {c.label: str(c.border_title) for c in app.screen.query(CandidateCard)}
        assert "BEST" in titles[3] and "WORST" in titles[2] and "#2" in titles[1]
        assert isinstance(app.focused, Input)  # complete: the box takes over
        await type_text(pilot, "Three cites the rule, two invents one.")
        await pilot.press("enter")
        await settle(pilot)
    rows = store.execute_for_test(
        "SELECT j.kind, j.best_candidate_id, j.worst_candidate_id, r.groups FROM judgments j "
        "JOIN judgment_rankings r USING (judgment_id)")
    assert rows == [("ranked", shown[2], shown[1],
                     [[shown[2]], [shown[0], shown[3]], [shown[1]]])]
    assert store.verify_audit().ok


async def test_a_tie_at_the_top_names_no_single_best(project: Project, store: LocalStore,
                                                     tmp_path: Path) -> None:
    project = configure(project, mode="rank")
    app = app_for(project, store, tmp_path, candidates=3)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_text(pilot, "1=2 3 ")
        await type_text(pilot, "One and two are equally careful.")
        await pilot.press("enter")
        await settle(pilot)
    assert store.execute_for_test(
        "SELECT best_candidate_id IS NULL, worst_candidate_id IS NOT NULL FROM judgments") == [
        (True, True)]


# --- no preference -------------------------------------------------------------------------------

@pytest.mark.parametrize("down, kind", [(0, "no_difference"), (1, "cannot_judge")])
async def test_no_preference_is_an_outcome_with_a_reason_and_no_pair(
        project: Project, store: LocalStore, tmp_path: Path, down: int, kind: str) -> None:
    app = app_for(project, store, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, NoPreferenceScreen)
        for _ in range(down):
            await pilot.press("down")
        await type_text(pilot, "short")
        await pilot.press("enter")  # too short: refused, the dialog stays
        await pilot.pause()
        assert isinstance(app.screen, NoPreferenceScreen)
        await type_text(pilot, ", all four say the same thing in other words.")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, AnnotateScreen)
        assert app.session.current.item.prompt.prompt_id == "q001", [  # type: ignore[union-attr]
            n.message for n in app._notifications]
        assert "1/4 done" in str(app.screen.query_one("#topbar", Static).render())
    assert store.execute_for_test(
        "SELECT kind, best_candidate_id, justification FROM judgments") == [
        (kind, None, "short, all four say the same thing in other words.")]
    assert store.next_prompt_id("alice") == "q001"
    assert store.verify_audit().ok


# --- more than 9 candidates -----------------------------------------------------------------------

def test_import_refuses_an_item_above_max_candidates(project: Project, tmp_path: Path) -> None:
    rows = item_rows(3, candidates=4)
    rows[1]["candidates"] = [f"Answer {n} about the fee." for n in range(10)]
    data = write_jsonl(tmp_path / "ten.jsonl", rows)
    result = CliRunner().invoke(cli, ["import", str(data), "-p", str(project.root)])
    assert result.exit_code == 2, result.output
    assert f"{data}:2: field 'candidates'" in result.output
    assert "10 responses" in result.output and "max_candidates" in result.output
    # Nothing was stored; a project that allows more takes the same file.
    with LocalStore.open(project.database_path) as store:
        assert store.execute_for_test("SELECT count(*) FROM prompts") == [(0,)]
    configure(project, max_candidates=12)
    result = CliRunner().invoke(cli, ["import", str(data), "-p", str(project.root)])
    assert result.exit_code == 0, result.output


def test_import_counts_responses_already_stored(project: Project, tmp_path: Path) -> None:
    configure(project, max_candidates=3)
    first = write_jsonl(tmp_path / "a.jsonl", [{"id": "x", "prompt": "Q?",
                                                "candidates": ["A one.", "B two."]}])
    assert CliRunner().invoke(cli, ["import", str(first), "-p", str(project.root)]).exit_code == 0
    more = write_jsonl(tmp_path / "b.jsonl", [{"id": "x", "prompt": "Q?", "response": "C."},
                                              {"id": "x", "prompt": "Q?", "response": "D."}])
    result = CliRunner().invoke(cli, ["import", str(more), "-p", str(project.root)])
    assert result.exit_code == 2 and f"{more}:2: field 'candidates'" in result.output
    assert "2 already stored" in result.output


async def test_twelve_candidates_are_all_shown_and_picked_by_two_digits(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    project = configure(project, max_candidates=12)
    app = app_for(project, store, tmp_path, count=2, candidates=12)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        cards = list(app.screen.query(CandidateCard))
        assert [c.label for c in cards] == list(range(1, 13))
        assert "01-12" in str(app.screen.query_one("#marks", Static).render())
        await pilot.press("1")
        assert app.session.current.marks.best is None  # type: ignore[union-attr]
        await pilot.press("1", "0", "2")  # best 11, worst 2
        marks = app.session.current.marks  # type: ignore[union-attr]
        assert (marks.best, marks.worst) == (11, 2)
        assert "BEST" in str(cards[10].border_title)
        box = app.screen.query_one("#candidates")
        assert cards[1].region.y >= box.region.y  # the picked card was scrolled into view
        assert isinstance(app.focused, Input)


# --- diff -------------------------------------------------------------------------------------

def test_word_diff_marks_changed_words() -> None:
    segments = word_diff("Take 4 g of scattering salt.", "Take 8 g of scatering salt.")
    changed = [(s.kind, s.text) for s in segments if s.kind != "same"]
    assert changed == [("deleted", "4"), ("inserted", "8"), ("deleted", "scattering"),
                       ("inserted", "scatering")]


async def test_diff_shows_best_against_worst_and_any_two(project: Project, store: LocalStore,
                                                         tmp_path: Path) -> None:
    import_file(store, write_jsonl(tmp_path / "d.jsonl", [{
        "id": "d1", "prompt": "How much salt?",
        "candidates": ["Take 4 g of salt.", "Take 8 g of salt.", "Take no salt at all."]}]),
        actor="t")
    project = configure(project, randomise_order=False)
    app = make_app(project, store, annotator="alice", drafts_dir=tmp_path / "drafts")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("1", "2", "ctrl+d")
        await pilot.pause()
        assert isinstance(app.screen, DiffScreen)
        shown = str(app.screen.query_one("#diff-text", Static).render())
        assert shown == "Take [-4-]{+8+} g of salt."
        assert "1 → response 2" in str(app.screen.query_one("#diff-title", Static).render())
        await pilot.press("1", "3")
        assert (app.screen.first, app.screen.second) == (1, 3)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, AnnotateScreen)
        assert isinstance(app.focused, Input)  # back where the annotator was typing


# --- history ------------------------------------------------------------------------------------

async def test_history_lists_newest_first_and_opens_one_to_revise(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    app = app_for(project, store, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+t", "2", "enter")  # tag accuracy
        await pilot.press("1", "2")
        await type_text(pilot, "First item, one is clearly better.")
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("3", "4")
        await type_text(pilot, "Second item, three is the careful one.")
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)
        table = app.screen.query_one(DataTable)
        assert [table.get_row_at(n)[1] for n in range(table.row_count)] == ["q001", "q000"]
        assert table.get_row_at(0)[2] == "best 3 · worst 4"
        await pilot.press("right")  # filter: the first dimension (tone): none
        assert table.row_count == 0
        await pilot.press("right")  # accuracy: the first item only
        assert [table.get_row_at(n)[1] for n in range(table.row_count)] == ["q000"]
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, AnnotateScreen)
        current = app.session.current
        assert current is not None and current.item.prompt.prompt_id == "q000"
        assert current.revising and (current.marks.best, current.marks.worst) == (1, 2)
        await pilot.press("2", "1")
        box = app.screen.query_one("#justification", Input)
        box.value = ""
        await type_text(pilot, "On reflection two is better than one.")
        await pilot.press("enter")
        await settle(pilot)
    rows = store.execute_for_test(
        "SELECT prompt_id, justification, supersedes IS NOT NULL, seconds_spent >= 0 "
        "FROM judgments ORDER BY created_at")
    assert rows == [("q000", "First item, one is clearly better.", False, True),
                    ("q001", "Second item, three is the careful one.", False, True),
                    ("q000", "On reflection two is better than one.", True, True)]
    assert [e.action for e in store.events()][-1] == "judgment.revise"


async def test_history_lists_ones_own_flags_and_opens_a_flagged_item(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    from core.adjudication import new_flag

    app = app_for(project, store, tmp_path)
    bob_flag = store.save_flag(new_flag("bob", "q002", "Bob's note, not alice's business."))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.session.current.item.prompt.prompt_id == "q000"  # type: ignore[union-attr]
        await pilot.press("1", "2")
        await type_text(pilot, "First item, one is clearly better.")
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("ctrl+f")  # q001: flagged, not judged
        await type_text(pilot, "The prompt is cut off.")
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("ctrl+z")  # back to q000, flag it too
        await settle(pilot)
        await pilot.press("ctrl+f")
        await type_text(pilot, "Both answers cite a rule that was repealed.")
        await pilot.press("enter")
        await settle(pilot)
        flags = {f.prompt_id: f for f in store.flags_of("alice")}
        assert sorted(flags) == ["q000", "q001"]
        store.resolve_flag(flags["q000"].flag_id, "rita", "Rule still applies, judge it.")
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)
        table = app.screen.query_one(DataTable)

        def rows() -> list[list[str]]:
            return [[str(cell) for cell in table.get_row_at(n)] for n in range(table.row_count)]

        assert [r[1] for r in rows()] == ["⚑ q000"]  # all: the judged item, marked flagged
        await pilot.press("ctrl+f")  # the annotator's own flags, judged or not
        assert "flagged" in str(app.screen.query_one("#history-title", Static).render())
        assert [(r[1], r[2]) for r in rows()] == [("⚑ q000", "best 1 · worst 2"),
                                                  ("⚑ q001", "not judged")]
        assert rows()[0][5] == "flag: Both answers cite a rule that was repealed. · reviewe…"
        assert rows()[1][5] == "flag (open): The prompt is cut off."
        # the highlighted row's text in full under the table (the cell is cut at 80 columns)
        detail = str(app.screen.query_one("#history-detail", Static).render())
        assert "reviewer: Rule still applies, judge it." in detail
        assert bob_flag.prompt_id not in {r[1].removeprefix("⚑ ") for r in rows()}
        await pilot.press("ctrl+f")  # and back to all
        assert [r[1] for r in rows()] == ["⚑ q000"]
        await pilot.press("left")  # ←: the filter before "all" is "flagged"
        assert table.row_count == 2
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, AnnotateScreen)
        current = app.session.current
        assert current is not None and current.item.prompt.prompt_id == "q001"


def test_no_difference_counts_in_agreement_as_ties_and_cannot_judge_rates_nothing() -> None:
    from core.agreement import TIE
    from core.agreement_report import collect_labels

    shown = ["a", "b", "c"]
    rows = {"judgments": [
        ("alice", "p1", "no_difference", shown, None, None, None, [], 10.0),
        ("bob", "p1", "ranked", shown, "a", "c", None, [], 10.0),
        ("carol", "p1", "cannot_judge", shown, None, None, None, [], 10.0),
        ("dave", "p1", "skipped", shown, None, None, None, [], 1.0)],
        "pairwise": []}
    _, ratings = collect_labels(rows)
    assert {unit.pair: labels["alice"] for unit, labels in ratings.items()} == {
        ("a", "b"): TIE, ("a", "c"): TIE, ("b", "c"): TIE}
    assert all(set(labels) == {"alice", "bob"} for labels in ratings.values())


# --- the reviewer reads the annotators' numbers in their own -------------------------------------

def test_translate_labels_rewrites_numbers_that_name_responses() -> None:
    from core.review import translate_labels

    their = ("a", "b", "c", "d", "e", "f", "g", "h")
    mine = {"h": 5, "e": 8, "a": 1, "c": 2}
    assert translate_labels("Response 8 follows policy best; it costs 40 euros, worst 5.",
                            their, mine) == (
        "Response 8→5 follows policy best; it costs 40 euros, worst 5→8.")
    assert translate_labels("Ranking 3 > 1 = 8", their, mine) == "Ranking 3→2 > 1→1 = 8→5"
    assert translate_labels("Antwort 8 ist besser als Antwort 12", their, mine) == (
        "Antwort 8→5 ist besser als Antwort 12")


async def test_the_reviewer_sees_each_justification_in_their_own_numbers(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    from core.annotation import AnnotationSession
    from core.review import ReviewSession

    import_file(store, write_jsonl(tmp_path / "i.jsonl", item_rows(1, candidates=5)), actor="t")
    picks = {"alice": (0, 4), "bob": (4, 0)}  # opposite choices: a disagreement to review
    wrote = {}
    for name, (best_id, worst_id) in picks.items():
        session = AnnotationSession(store, project.config, name, "g")
        current = session.next_item()
        assert current is not None
        ids = [c.candidate_id for c in current.shown]
        item_ids = [c.candidate_id for c in current.item.candidates]
        best = ids.index(item_ids[best_id]) + 1
        worst = ids.index(item_ids[worst_id]) + 1
        session.press(best)
        session.press(worst)
        wrote[name] = (best, worst)
        session.save(f"Response {best} follows the policy, response {worst} does not.")
    review = ReviewSession(store, project.config, "rita", show_names=True)
    screen = review.next_item()
    assert screen is not None
    # The reviewer shows candidates in stored order: the first is 1, the fifth is 5.
    for column in screen.columns:
        best, worst = wrote[column.name]
        mine_best, mine_worst = (1, 5) if column.name == "alice" else (5, 1)
        assert column.justifications == (
            f"Response {best}→{mine_best} follows the policy, response {worst}→{mine_worst} "
            "does not.",)
        assert (column.best, column.worst) == (mine_best, mine_worst)


# --- the store refuses what the screen would never send --------------------------------------------

@pytest.mark.parametrize("change, message", [
    ({"kind": "maybe"}, "kind: one of"),
    ({"kind": "no_difference"}, "names no best, worst or ranking"),
    ({"kind": "cannot_judge", "best_candidate_id": None, "worst_candidate_id": None,
      "groups": None, "justification": "too short"}, "justification: at least 20"),
    ({"groups": "missing"}, "groups: every response shown"),
    ({"groups": "twice"}, "groups: every response shown"),
    ({"groups": "one place"}, "groups: every response shown"),
    ({"groups": "tied top", "best_candidate_id": "first"}, "best and worst: the responses alone"),
])
def test_the_store_refuses_bad_outcomes_and_rankings(store: LocalStore, tmp_path: Path,
                                                     change: dict, message: str) -> None:
    import dataclasses

    from core.errors import JudgmentError
    from core.models import Judgment

    import_file(store, write_jsonl(tmp_path / "i.jsonl", item_rows(1, candidates=3)), actor="t")
    item = store.get_item("q000")
    assert item is not None
    a, b, c = (x.candidate_id for x in item.candidates)
    judgment = Judgment("j_1", "alice", "q000", "ranked", (a, b, c), best_candidate_id=a,
                        worst_candidate_id=c, groups=((a,), (b,), (c,)),
                        justification="A long enough reason for the store.")
    groups = {"missing": ((a,), (b,)), "twice": ((a,), (b, a), (c,)), "one place": ((a, b, c),),
              "tied top": ((a, b), (c,))}
    if change.get("groups") is not None:
        change = {**change, "groups": groups[change["groups"]]}
    if change.get("best_candidate_id") == "first":
        change = {**change, "best_candidate_id": a}
    with pytest.raises(JudgmentError, match=message):
        store.save_judgment(dataclasses.replace(judgment, **change))
    assert store.execute_for_test("SELECT count(*) FROM judgments") == [(0,)]


@pytest.mark.parametrize("key, action", [("escape", "close"), ("ctrl+r", "close"),
                                         ("right", "filter"), ("left", "filter"),
                                         ("ctrl+f", "flagged")])
async def test_each_history_key(project: Project, store: LocalStore, tmp_path: Path, key: str,
                                action: str) -> None:
    # every key of the history screen is one of the parameters above
    assert {b.key for b in HistoryScreen.BINDINGS} == {  # type: ignore[union-attr]
        "escape,ctrl+r", "left", "right", "ctrl+f"}
    app = app_for(project, store, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, HistoryScreen) and screen.filter_index == 0
        await pilot.press(key)
        await settle(pilot)
        if action == "close":
            assert isinstance(app.screen, AnnotateScreen)
        else:
            expected = {"right": 1, "left": len(screen.filters) - 1,
                        "ctrl+f": len(screen.filters) - 1}[key]
            assert app.screen is screen and screen.filter_index == expected
