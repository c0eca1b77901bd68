"""Disagreements and adjudication: the rule, the store, permissions, the CLI and the reviewer screen."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static
from typer.testing import CliRunner

from core.adjudication import BEST, OPPOSITE, WORST, differences, implied_preferences, new_flag
from core.errors import AccessDeniedError, JudgmentError
from core.models import Adjudication, ItemJudgment, Judgment
from core.project import Project
from core.server import Caller, StoreServer, authorize
from core.sources import import_file
from core.store import LocalStore
from core.store.remote import RemoteStore
from tests.conftest import insert_judgment_row, item_rows, write_jsonl
from tests.test_tui import settle
from tui.adjudication_app import AdjudicationApp, make_adjudication_app
from tui.cli import app as cli
from tui.screens.adjudicate import AdjudicateScreen
from tui.screens.dialogs import HelpScreen
from tui.widgets.candidate import CandidateCard

SIZE = (80, 24)
NOTE = "Two follows the refund policy; four invents a fee."


# --- the rule, over plain data ----------------------------------------------------------------

def _bw(annotator: str, best: str | None, worst: str | None,
        shown: tuple[str, ...] = ("a", "b", "c", "d")) -> ItemJudgment:
    return ItemJudgment(f"j_{annotator}", annotator, "q", "judgment", shown,
                        best_candidate_id=best, worst_candidate_id=worst)


def _ranked(annotator: str, *groups: tuple[str, ...]) -> ItemJudgment:
    shown = tuple(c for g in groups for c in g)
    return ItemJudgment(f"r_{annotator}", annotator, "q", "judgment", shown, groups=groups)


def _pairwise(annotator: str, first: str, second: str, winner: str) -> ItemJudgment:
    return ItemJudgment(f"p_{annotator}_{first}{second}", annotator, "q", "pairwise",
                        (first, second), winner=winner)


def test_implied_preferences_of_each_form() -> None:
    assert implied_preferences(_bw("x", "b", "d")) == {
        ("b", "a"), ("b", "c"), ("b", "d"), ("a", "d"), ("c", "d")}
    assert implied_preferences(_ranked("x", ("c",), ("a", "b"), ("d",))) == {
        ("c", "a"), ("c", "b"), ("c", "d"), ("a", "d"), ("b", "d")}
    assert implied_preferences(_pairwise("x", "a", "b", "second")) == {("b", "a")}
    assert implied_preferences(_pairwise("x", "a", "b", "tie")) == set()


def test_agreeing_annotators_differ_on_nothing() -> None:
    assert differences([_bw("x", "a", "d"), _bw("y", "a", "d", shown=("d", "c", "b", "a"))]) == ()
    assert differences([_bw("x", "a", "d")]) == ()  # one annotator cannot disagree
    # A ranking that agrees on the ends and ties the middle: no opposite pair.
    assert differences([_bw("x", "a", "d"), _ranked("y", ("a",), ("b", "c"), ("d",))]) == ()


def test_best_or_worst_differs() -> None:
    assert differences([_bw("x", "a", "d"), _bw("y", "b", "d")]) == (BEST, OPPOSITE)
    assert differences([_bw("x", "a", "d"), _bw("y", "a", "c")]) == (WORST, OPPOSITE)
    assert differences([_bw("x", "a", "d"), _bw("y", "d", "a")]) == (BEST, WORST, OPPOSITE)


def test_opposite_pairs_from_rankings_and_pairwise_labels() -> None:
    # Same ends, but the ranking orders b over c and the other ranking c over b.
    assert differences([_ranked("x", ("a",), ("b",), ("c",), ("d",)),
                        _ranked("y", ("a",), ("c",), ("b",), ("d",))]) == (OPPOSITE,)
    # A pairwise label from another tool contradicts a best/worst judgment.
    assert differences([_bw("x", "a", "d"), _pairwise("y", "a", "c", "second")]) == (OPPOSITE,)
    assert differences([_bw("x", "a", "d"), _pairwise("y", "a", "c", "first")]) == ()
    # A tie, and an annotator contradicting only themselves, are not disagreements.
    assert differences([_bw("x", "a", "d"), _pairwise("y", "a", "c", "tie")]) == ()
    assert differences([_bw("x", "a", "d"), _pairwise("x", "c", "a", "first")]) == ()
    # A tied first group names no best: only the implied pairs can differ.
    assert differences([_ranked("x", ("a", "b"), ("c", "d")), _bw("y", "a", "d")]) == ()


# --- the store ----------------------------------------------------------------------------------

@pytest.fixture
def items(project: Project, store: LocalStore, tmp_path: Path) -> LocalStore:
    rows = item_rows(4, candidates=4)
    rows[1]["system"] = "You are the support assistant of Fabrikam Telecom."
    import_file(store, write_jsonl(tmp_path / "items.jsonl", rows), actor="t")
    return store


def candidates_of(store: LocalStore, prompt_id: str) -> list[str]:
    item = store.get_item(prompt_id)
    assert item is not None
    return [c.candidate_id for c in item.candidates]


def judge(store: LocalStore, annotator: str, prompt_id: str, best: int, worst: int,
          why: str = "My independent reading of the item.") -> Judgment:
    """A ranked judgment with best and worst as 1-based positions in stored order."""
    ids = candidates_of(store, prompt_id)
    return store.save_judgment(Judgment(
        f"j_{annotator}_{prompt_id}", annotator, prompt_id, "ranked", tuple(ids),
        best_candidate_id=ids[best - 1], worst_candidate_id=ids[worst - 1],
        dimensions=("accuracy",), justification=why))


@pytest.fixture
def disputed(items: LocalStore) -> LocalStore:
    """q000: alice and bob differ on best; q001: they agree; q002: bob flagged it (alice alone)."""
    judge(items, "alice", "q000", 1, 4, "One is polite and correct; four is rude.")
    judge(items, "bob", "q000", 2, 4, "Two is the only one citing the policy.")
    judge(items, "alice", "q001", 1, 2)
    judge(items, "bob", "q001", 1, 2)
    judge(items, "alice", "q002", 1, 2)
    items.save_flag(new_flag("bob", "q002", "The prompt is cut off mid-sentence."))
    return items


def test_disagreements_lists_disputed_and_flagged_items(disputed: LocalStore) -> None:
    found = disputed.disagreements()
    assert [(d.prompt_id, d.differs_on, d.open_flags, d.annotators) for d in found] == [
        ("q000", (BEST, OPPOSITE), 0, 2), ("q002", (), 1, 1)]
    judgments = disputed.item_judgments("q000")
    assert [(j.annotator, j.justification) for j in judgments] == [
        ("alice", "One is polite and correct; four is rude."),
        ("bob", "Two is the only one citing the policy.")]


def test_pairwise_labels_and_rankings_count(items: LocalStore) -> None:
    ids = candidates_of(items, "q003")
    judge(items, "alice", "q003", 1, 4)
    # A label from another tool: carol preferred the worst of alice's over her second.
    items.execute_for_test(
        "INSERT INTO pairwise_judgments VALUES ('pw1', 'carol', 'q003', ?, ?, 'first', [], "
        "'Clearer.', 'elsewhere.jsonl', now(), NULL)", [ids[3], ids[1]])
    assert [(d.prompt_id, d.differs_on) for d in items.disagreements()] == [("q003", (OPPOSITE,))]
    # dave ranks q000 (rank mode, no best/worst stored) with the same ends as erin: the middle
    # candidates erin leaves unordered, so nothing is opposite.
    q0 = candidates_of(items, "q000")
    judge(items, "erin", "q000", 1, 4)
    insert_judgment_row(items, Judgment("j_dave", "dave", "q000", "ranked", tuple(q0)))
    items.execute_for_test("INSERT INTO judgment_rankings VALUES ('j_dave', ?, NULL)",
                           [[[q0[0]], [q0[2]], [q0[1]], [q0[3]]]])
    assert [(d.prompt_id, d.differs_on) for d in items.disagreements()] == [("q003", (OPPOSITE,))]
    items.execute_for_test("UPDATE judgment_rankings SET groups = ? WHERE judgment_id = 'j_dave'",
                           [[[q0[3]], [q0[1], q0[2]], [q0[0]]]])
    assert [(d.prompt_id, d.differs_on) for d in items.disagreements()] == [
        ("q000", (BEST, WORST, OPPOSITE)), ("q003", (OPPOSITE,))]


def test_adjudication_resolves_and_is_audited(disputed: LocalStore) -> None:
    ids = candidates_of(disputed, "q000")
    saved = disputed.save_adjudication(Adjudication(
        "adj_1", "q000", "rita", "  " + NOTE + " ", best_candidate_id=ids[1],
        worst_candidate_id=ids[3], guideline_change="Add: cite the policy clause."))
    assert saved.note == NOTE and saved.supersedes is None
    again = disputed.save_adjudication(Adjudication("adj_1", "q000", "rita", NOTE,
                                                    best_candidate_id=ids[1],
                                                    worst_candidate_id=ids[3]))
    assert again == saved  # the same id twice is stored once
    assert [d.prompt_id for d in disputed.disagreements()] == ["q002"]
    listed = disputed.disagreements(include_adjudicated=True)
    assert [(d.prompt_id, d.adjudicated, d.unresolved) for d in listed] == [
        ("q002", False, True), ("q000", True, False)]
    second = disputed.save_adjudication(Adjudication(
        "adj_2", "q000", "rita", NOTE, best_candidate_id=ids[0], worst_candidate_id=ids[3]))
    assert second.supersedes == saved.adjudication_id
    current = disputed.current_adjudication("q000")
    assert current is not None and current.adjudication_id == second.adjudication_id
    events = [e for e in disputed.events() if e.action == "adjudicate"]
    assert [(e.actor, e.subject) for e in events] == [("rita", "q000"), ("rita", "q000")]
    details = json.loads(events[0].details)
    assert details["guideline_change"] == "Add: cite the policy clause."
    with pytest.raises(JudgmentError, match="not a candidate"):
        disputed.save_adjudication(Adjudication("adj_3", "q000", "rita", NOTE,
                                                best_candidate_id="c_nope",
                                                worst_candidate_id=ids[3]))
    with pytest.raises(JudgmentError, match="note"):
        disputed.save_adjudication(Adjudication("adj_4", "q000", "rita", "  ",
                                                best_candidate_id=ids[0],
                                                worst_candidate_id=ids[3]))


def test_flags_open_and_resolve(disputed: LocalStore) -> None:
    [flag] = disputed.open_flags()
    assert (flag.annotator, flag.prompt_id, flag.note) == (
        "bob", "q002", "The prompt is cut off mid-sentence.")
    resolved = disputed.resolve_flag(flag.flag_id, "rita", "Re-imported the full prompt.")
    assert resolved.resolved_by == "rita"
    assert disputed.open_flags() == []
    assert disputed.execute_for_test("SELECT resolved_by, resolution FROM flag_resolutions") == [
        ("rita", "Re-imported the full prompt.")]
    assert [e.action for e in disputed.events()][-2:] == ["flag", "flag.resolve"]
    with pytest.raises(JudgmentError):
        new_flag("bob", "q002", "   ")


# --- permissions ---------------------------------------------------------------------------------

ALICE = Caller("alice", 1001, "annotator", "alice")
RITA = Caller("rita", 1002, "reviewer", "rita")
ADMIN = Caller("root", 0, "admin", "root")


def test_annotators_flag_but_never_read_others_judgments(disputed: LocalStore) -> None:
    flag = new_flag("alice", "q000", "Both answers miss the question.")
    authorize(disputed, ALICE, "save_flag", [flag], {})
    refusals = [
        ("disagreements", [], {}, "needs reviewer"),
        ("item_judgments", ["q000"], {}, "needs reviewer"),
        ("current_adjudication", ["q000"], {}, "needs reviewer"),
        ("open_flags", [], {}, "needs reviewer"),
        ("save_adjudication", [Adjudication("a", "q000", "alice", NOTE)], {}, "needs reviewer"),
        ("resolve_flag", ["f", "alice", NOTE], {}, "needs reviewer"),
        ("save_flag", [new_flag("bob", "q000", "Not mine to flag.")], {}, "only their own work"),
    ]
    for method, args, kwargs, message in refusals:
        with pytest.raises(AccessDeniedError, match=message):
            authorize(disputed, ALICE, method, args, kwargs)
    from core.assign import assign
    assign(disputed, ["alice", "bob"], actor="admin", per_item=1)
    theirs = [p for (p,) in disputed.execute_for_test(
        "SELECT prompt_id FROM assignments WHERE annotator = 'bob'")]
    with pytest.raises(AccessDeniedError, match="not assigned to alice"):
        authorize(disputed, ALICE, "save_flag", [new_flag("alice", theirs[0], "Odd item.")], {})


def test_reviewers_and_admins_adjudicate(disputed: LocalStore) -> None:
    decision = Adjudication("a", "q000", "rita", NOTE)
    for method, args in [("disagreements", []), ("item_judgments", ["q000"]),
                         ("current_adjudication", ["q000"]), ("open_flags", []),
                         ("save_adjudication", [decision]), ("resolve_flag", ["f", "rita", NOTE]),
                         ("get_item", ["q000"])]:
        authorize(disputed, RITA, method, args, {})
        authorize(disputed, ADMIN, method, args, {})
    with pytest.raises(AccessDeniedError, match="only their own work"):
        authorize(disputed, RITA, "save_adjudication",
                  [Adjudication("a", "q000", "someone_else", NOTE)], {})


@pytest.fixture
def served(project: Project, disputed: LocalStore) -> Iterator[StoreServer]:
    server = StoreServer(project.root, disputed)
    server.bind()
    server.start_in_thread()
    yield server
    server.shutdown()


def test_everything_crosses_the_socket(served: StoreServer) -> None:
    with RemoteStore(served.socket_path) as remote:
        found = remote.disagreements()
        assert [d.prompt_id for d in found] == ["q000", "q002"]
        judgments = remote.item_judgments("q000")
        assert isinstance(judgments[0], ItemJudgment)
        ids = candidates_of(served.store, "q000")
        who = remote.identity["annotator"]
        saved = remote.save_adjudication(
            Adjudication("adj_r", "q000", who, NOTE, best_candidate_id=ids[1],
                         worst_candidate_id=ids[3]), resolve_flags=())
        assert saved.reviewer == who and remote.current_adjudication("q000") == saved
        [flag] = remote.open_flags("q002")
        assert remote.resolve_flag(flag.flag_id, who, NOTE).resolution == NOTE


# --- the CLI ---------------------------------------------------------------------------------------

def test_cli_disagreements(project: Project, disputed: LocalStore) -> None:
    disputed.close()
    runner = CliRunner()
    result = runner.invoke(cli, ["disagreements", "-p", str(project.root)])
    assert result.exit_code == 0, result.output
    assert "q000" in result.output and "best, opposite pairs" in result.output
    assert "q002" in result.output and "flagged (1)" in result.output
    assert "q001" not in result.output
    result = runner.invoke(cli, ["disagreements", "--json", "-p", str(project.root)])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["prompt_id"], r["differs_on"], r["open_flags"], r["unresolved"]) for r in rows] == [
        ("q000", ["best", "opposite pairs"], 0, True), ("q002", [], 1, True)]


def test_cli_all_lists_adjudicated_items(project: Project, disputed: LocalStore) -> None:
    ids = candidates_of(disputed, "q000")
    disputed.save_adjudication(Adjudication("adj_1", "q000", "rita", NOTE,
                                            best_candidate_id=ids[1], worst_candidate_id=ids[3]))
    disputed.close()
    runner = CliRunner()
    result = runner.invoke(cli, ["disagreements", "-p", str(project.root)])
    assert "q000" not in result.output and "q002" in result.output
    result = runner.invoke(cli, ["disagreements", "--all", "-p", str(project.root)])
    assert result.exit_code == 0 and "q000" in result.output and "yes" in result.output


def test_cli_adjudicate_needs_a_terminal(project: Project) -> None:
    result = CliRunner().invoke(cli, ["adjudicate", "-p", str(project.root)])
    assert result.exit_code == 2 and "needs a terminal" in result.output


# --- the reviewer screen, driven by keys ---------------------------------------------------------

def text_of(pilot: Pilot, selector: str) -> str:
    widget = pilot.app.screen.query_one(selector, Static)
    return str(widget.render())


def annotators_text(pilot: Pilot) -> str:
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(pilot.app.screen.query_one("#review-annotators", Static).content)
    return console.export_text()


async def type_text(pilot: Pilot, text: str) -> None:
    await pilot.press(*[{" ": "space"}.get(ch, ch) for ch in text])


@pytest.fixture
def review_app(project: Project, disputed: LocalStore) -> AdjudicationApp:
    return make_adjudication_app(project, disputed, reviewer="rita")


async def test_best_worst_note_enter_stores_the_adjudication(review_app: AdjudicationApp,
                                                             disputed: LocalStore) -> None:
    ids = candidates_of(disputed, "q000")
    async with review_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(pilot.app.screen, AdjudicateScreen)
        assert "q000" in text_of(pilot, "#topbar")
        assert "2 unresolved" in text_of(pilot, "#topbar")
        assert [c.label for c in pilot.app.screen.query(CandidateCard)] == [1, 2, 3, 4]
        table = annotators_text(pilot)
        assert "Annotator A" in table and "Annotator B" in table
        assert "alice" not in table and "bob" not in table  # names hidden by default
        assert "Two is the only one citing the policy." in table
        assert "best" in text_of(pilot, "#review-status")

        await pilot.press("2", "4")
        assert isinstance(pilot.app.focused, Input) and pilot.app.focused.id == "note"
        await type_text(pilot, NOTE)
        await pilot.press("tab")
        assert pilot.app.focused is not None and pilot.app.focused.id == "guideline"
        await type_text(pilot, "Cite the clause")
        await pilot.press("enter")
        await settle(pilot)

        assert disputed.execute_for_test(
            "SELECT prompt_id, reviewer, best_candidate_id, worst_candidate_id, note, "
            "guideline_change FROM adjudications") == [
            ("q000", "rita", ids[1], ids[3], NOTE, "Cite the clause")]
        assert [e.action for e in disputed.events()][-1] == "adjudicate"
        assert "q002" in text_of(pilot, "#topbar")  # the next unresolved item
        assert pilot.app.screen.query_one("#note", Input).value == ""


async def test_a_short_note_saves_nothing(review_app: AdjudicationApp,
                                          disputed: LocalStore) -> None:
    async with review_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("1", "3")
        await type_text(pilot, "too short")
        await pilot.press("enter")
        await settle(pilot)
        assert disputed.execute_for_test("SELECT count(*) FROM adjudications") == [(0,)]
        assert "q000" in text_of(pilot, "#topbar")


async def test_names_are_shown_on_request(project: Project, disputed: LocalStore) -> None:
    app = make_adjudication_app(project, disputed, reviewer="rita", show_names=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = annotators_text(pilot)
        assert "alice" in table and "bob" in table and "Annotator A" not in table


async def test_skip_and_quit(review_app: AdjudicationApp, disputed: LocalStore) -> None:
    async with review_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "q000" in text_of(pilot, "#topbar")
        await pilot.press("n")
        await settle(pilot)
        assert "q002" in text_of(pilot, "#topbar")
        await pilot.press("s")
        await settle(pilot)
        assert "q000" in text_of(pilot, "#topbar")  # skipped items come round again
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(pilot.app.screen, HelpScreen)
        assert {"1-9", "Enter", "Tab", "n / s", "?", "q"} <= {k for k, _ in pilot.app.screen.rows}
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
    assert disputed.execute_for_test("SELECT count(*) FROM adjudications") == [(0,)]


async def test_a_flag_is_resolved_by_the_note(review_app: AdjudicationApp,
                                              disputed: LocalStore) -> None:
    async with review_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert "q002" in text_of(pilot, "#topbar")
        assert "cut off mid-sentence" in text_of(pilot, "#review-flags")
        assert "Annotator" in text_of(pilot, "#review-flags")
        await pilot.press("enter")  # no disagreement: the note alone resolves the flag
        assert isinstance(pilot.app.focused, Input)
        await type_text(pilot, "Prompt re-imported in full; judge it again.")
        await pilot.press("enter")
        await settle(pilot)
        assert disputed.open_flags() == []
        assert disputed.execute_for_test("SELECT resolved_by, resolution FROM flag_resolutions") == [
            ("rita", "Prompt re-imported in full; judge it again.")]
        assert disputed.execute_for_test("SELECT count(*) FROM adjudications") == [(0,)]
        assert "q000" in text_of(pilot, "#topbar")


async def test_deciding_a_flagged_disagreement_resolves_its_flag(review_app: AdjudicationApp,
                                                                 disputed: LocalStore) -> None:
    disputed.save_flag(new_flag("alice", "q000", "Answer two quotes an old tariff."))
    async with review_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "q000" in text_of(pilot, "#topbar")
        assert "old tariff" in text_of(pilot, "#review-flags")
        await pilot.press("1", "4")
        await type_text(pilot, NOTE)
        await pilot.press("enter")
        await settle(pilot)
    assert [f.prompt_id for f in disputed.open_flags()] == ["q002"]
    [(adjudication_id,)] = disputed.execute_for_test("SELECT adjudication_id FROM adjudications")
    event = [e for e in disputed.events() if e.action == "adjudicate"][-1]
    assert json.loads(event.details)["adjudication_id"] == adjudication_id
    assert len(json.loads(event.details)["resolved_flags"]) == 1


async def test_everything_resolved_says_so_and_scrolls_at_80x24(project: Project,
                                                                items: LocalStore) -> None:
    long = "A very long justification that goes on. " * 30
    judge(items, "alice", "q001", 1, 4, long)
    judge(items, "bob", "q001", 4, 1, long)
    app = make_adjudication_app(project, items, reviewer="rita")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        body = pilot.app.screen.query_one("#review-body")
        assert body.max_scroll_y > 0
        await pilot.press("pagedown")
        await pilot.pause()
        assert body.scroll_y > 0
        for selector in ("#topbar", "#marks", "#note", "#guideline"):
            region = pilot.app.screen.query_one(selector).region
            assert region.height >= 1 and region.bottom <= 24
        await pilot.press("4", "1")
        await type_text(pilot, NOTE)
        await pilot.press("enter")
        await settle(pilot)
        assert "Nothing left to adjudicate" in text_of(pilot, "#prompt")


# --- pair building applies the same rule ----------------------------------------------------------

@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_export_holds_back_exactly_the_disagreements(project: Project, store: LocalStore,
                                                     tmp_path: Path, seed: int) -> None:
    import random

    from core.export import ExportOptions, export_dataset

    rng = random.Random(seed)
    rows = item_rows(30, candidates=4)
    import_file(store, write_jsonl(tmp_path / "i.jsonl", rows),
                actor="t")
    ranked: set[str] = set()
    endless: set[str] = set()  # some judgment lacks a stored best or worst: pairs may be fewer
    for row in rows:
        prompt_id = row["id"]
        ids = candidates_of(store, prompt_id)
        for annotator in ("ann", "ben", "cat"):
            form = rng.choice(["none", "bw", "bw", "bw", "rank", "best_only"])
            if form == "none":
                continue
            order = rng.sample(ids, len(ids))
            if form == "rank":
                cut = sorted(rng.sample(range(1, 4), rng.randint(1, 3)))
                groups = [order[a:b] for a, b in zip([0, *cut], [*cut, 4], strict=True)]
                ends_known = rng.random() < 0.5  # as stored by import-judgments, or left out
                insert_judgment_row(store, Judgment(
                    f"j_{annotator}_{prompt_id}", annotator, prompt_id, "ranked", tuple(order),
                    best_candidate_id=groups[0][0] if ends_known and len(groups[0]) == 1 else None,
                    worst_candidate_id=groups[-1][0] if ends_known and len(groups[-1]) == 1
                    else None))
                if not (ends_known and len(groups[0]) == len(groups[-1]) == 1):
                    endless.add(prompt_id)
                store.execute_for_test("INSERT INTO judgment_rankings VALUES (?, ?, NULL)",
                                       [f"j_{annotator}_{prompt_id}", groups])
            else:
                insert_judgment_row(store, Judgment(
                    f"j_{annotator}_{prompt_id}", annotator, prompt_id, "ranked", tuple(order),
                    best_candidate_id=order[0],
                    worst_candidate_id=order[-1] if form == "bw" else None))
                if form != "bw":
                    endless.add(prompt_id)
            ranked.add(prompt_id)
        if rng.random() < 0.3:
            first, second = rng.sample(ids, 2)
            store.execute_for_test(
                "INSERT INTO pairwise_judgments VALUES (?, ?, ?, ?, ?, ?, [], NULL, 'x', now(), "
                "NULL)",
                [f"pw_{prompt_id}", rng.choice(["ann", "dan"]), prompt_id, first, second,
                 rng.choice(["first", "second", "tie"])])
    disputed = {d.prompt_id for d in store.disagreements() if d.differs_on}
    assert disputed and ranked - disputed  # the data exercises both outcomes
    result = export_dataset(store, project.config, tmp_path / "out",
                            ExportOptions(validation_fraction=0.0), actor="t")
    text_of_prompt = {row["prompt"]: row["id"] for row in rows}
    exported = {text_of_prompt[r["prompt"]] for r in _read_jsonl(tmp_path / "out" / "train.jsonl")}
    assert result.held_back_prompts == len(ranked & disputed)
    assert not exported & disputed
    assert exported >= ranked - disputed - endless


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --- more than 9 candidates: the same labels and two-digit entry as the annotation screen -------

async def test_twelve_candidates_are_labelled_and_picked_as_on_the_annotation_screen(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    from core.annotation import AnnotationSession
    from core.config import write_config
    from core.project import open_project

    project.config.annotation.max_candidates = 12
    write_config(project.config, project.config_path)
    project = open_project(project.root)
    import_file(store, write_jsonl(tmp_path / "i.jsonl", item_rows(1, candidates=12)), actor="t")
    ids = candidates_of(store, "q000")
    # Two annotators disagree on the best (candidates 11 and 12 in stored order).
    for name, best, worst in (("alice", ids[10], ids[0]), ("bob", ids[11], ids[0])):
        session = AnnotationSession(store, project.config, name, "g")
        screen = session.next_item()
        assert screen is not None
        shown = [c.candidate_id for c in screen.shown]
        session.press(shown.index(best) + 1)
        session.press(shown.index(worst) + 1)
        session.save(f"Response {shown.index(best) + 1:02d} is the careful one.")
    app = make_adjudication_app(project, store, reviewer="rita")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        cards = list(pilot.app.screen.query(CandidateCard))
        assert [c.label for c in cards] == list(range(1, 13))  # all twelve, none cut
        assert "01-12" in text_of(pilot, "#marks")
        table = annotators_text(pilot)
        assert "11" in table and "12" in table and "01" in table  # best/worst as two digits
        assert "→11" in table and "→12" in table  # their numbers read in the reviewer's
        await pilot.press("1")  # the first digit waits for the second
        assert pilot.app.screen.session.current.marks.best is None
        assert "1_" in text_of(pilot, "#marks")
        await pilot.press("2", "0", "3")  # best 12, worst 3
        marks = pilot.app.screen.session.current.marks
        assert (marks.best, marks.worst) == (12, 3)
        assert "BEST" in str(cards[11].border_title) and "WORST" in str(cards[2].border_title)
        body = pilot.app.screen.query_one("#review-body")
        assert cards[2].region.y >= body.region.y  # the picked card scrolled into view
        assert isinstance(pilot.app.focused, Input) and pilot.app.focused.id == "note"
        assert "best 12 · worst 03" in text_of(pilot, "#marks").replace("[b]", "")
        await type_text(pilot, NOTE)
        await pilot.press("enter")
        await settle(pilot)
    assert store.execute_for_test(
        "SELECT best_candidate_id, worst_candidate_id FROM adjudications") == [(ids[11], ids[2])]
    # The decision's pairs cover all twelve: the best over the eleven others.
    from core.pairs import build_pairs
    build_pairs(store, project.config, "rita")
    chosen = store.execute_for_test(
        "SELECT DISTINCT chosen_id, count(*) FROM pairs WHERE prompt_id = 'q000' GROUP BY ALL")
    assert (ids[11], 11) in chosen


async def test_leaving_an_item_with_unsaved_picks_or_notes_asks_first(
        review_app: AdjudicationApp, disputed: LocalStore) -> None:
    from tui.screens.dialogs import QuitScreen

    async with review_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "4")
        await type_text(pilot, "Two cites the policy")
        await pilot.press("escape")  # back on the item: letters are commands again
        for key in ("n", "s", "q"):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(pilot.app.screen, QuitScreen), key
            await pilot.press("escape")  # stay: nothing lost
            await settle(pilot)
            assert isinstance(pilot.app.screen, AdjudicateScreen)
            assert pilot.app.screen.query_one("#note", Input).value == "Two cites the policy"
            assert "q000" in text_of(pilot, "#topbar")
        await pilot.press("n", "enter")  # discard on purpose: the next item
        await settle(pilot)
        assert "q002" in text_of(pilot, "#topbar")
        await pilot.press("q")  # nothing unsaved here: quits at once
        await pilot.pause()
        assert not pilot.app.is_running
    assert disputed.execute_for_test("SELECT count(*) FROM adjudications") == [(0,)]


# --- a Pilot test per binding of the adjudication screen ------------------------------------------

async def _adj_write(pilot: Pilot) -> None:
    await pilot.press("enter")  # nothing picked yet: stays on the item
    assert not isinstance(pilot.app.focused, Input)
    await pilot.press("1", "3", "escape")
    assert not isinstance(pilot.app.focused, Input)
    await pilot.press("enter")  # picks complete: Enter goes to the note
    assert isinstance(pilot.app.focused, Input) and pilot.app.focused.id == "note"


async def _adj_choose(pilot: Pilot) -> None:
    await pilot.press("1", "3")
    assert isinstance(pilot.app.focused, Input)
    await pilot.press("escape")
    assert not isinstance(pilot.app.focused, Input)
    await pilot.press("2")  # digits pick again: a new best
    assert pilot.app.screen.session.current.marks.best == 2


async def _adj_skip(pilot: Pilot) -> None:
    for key, item in (("n", "q002"), ("s", "q000")):
        await pilot.press(key)
        await settle(pilot)
        assert item in text_of(pilot, "#topbar")


def _adj_opens(key: str, kind: str) -> Callable[[Pilot], Awaitable[None]]:
    async def check(pilot: Pilot) -> None:
        from tui.screens import dialogs

        await pilot.press(key)
        await settle(pilot)
        assert isinstance(pilot.app.screen, getattr(dialogs, kind))
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(pilot.app.screen, AdjudicateScreen)
    return check


async def _adj_quit(pilot: Pilot) -> None:
    await pilot.press("q")
    await pilot.pause()
    assert not pilot.app.is_running


def _adj_scrolls(key: str, down: bool) -> Callable[[Pilot], Awaitable[None]]:
    async def check(pilot: Pilot) -> None:
        body = pilot.app.screen.query_one("#review-body")
        if not down:
            body.scroll_end(animate=False)
            await pilot.pause()
        before = body.scroll_y
        await pilot.press(key)
        await pilot.pause()
        assert (body.scroll_y > before) if down else (body.scroll_y < before)
    return check


ADJUDICATE_CHECKS: dict[str, Callable[[Pilot], Awaitable[None]]] = {
    "write": _adj_write,
    "choose": _adj_choose,
    "skip": _adj_skip,
    "prompt": _adj_opens("p", "PromptScreen"),
    "guidelines": _adj_opens("g", "GuidelinesScreen"),
    "help": _adj_opens("question_mark", "HelpScreen"),
    "quit": _adj_quit,
    "scroll_down": _adj_scrolls("down", True),
    "scroll_up": _adj_scrolls("up", False),
    "page_down": _adj_scrolls("pagedown", True),
    "page_up": _adj_scrolls("pageup", False),
}


def test_every_adjudication_binding_has_a_pilot_test() -> None:
    from tui.screens.adjudicate import adjudicate_bindings

    assert sorted(ADJUDICATE_CHECKS) == sorted(b.id for b in adjudicate_bindings())


@pytest.mark.parametrize("binding_id", list(ADJUDICATE_CHECKS))
async def test_adjudication_binding(review_app: AdjudicationApp, binding_id: str) -> None:
    async with review_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "q000" in text_of(pilot, "#topbar")
        await ADJUDICATE_CHECKS[binding_id](pilot)
