"""Annotation rules: display order, marking best and worst, saving, skipping, revising."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.annotation import AnnotationSession, Draft, Marks, check_judgment, display_order
from core.errors import JudgmentError
from core.project import Project
from core.sources import import_file
from core.store import LocalStore, open_store
from tests.conftest import REPO_ROOT, item_rows, write_jsonl


@pytest.fixture
def session(project: Project, store: LocalStore, tmp_path: Path) -> AnnotationSession:
    import_file(store, write_jsonl(tmp_path / "items.jsonl", item_rows(4, candidates=4)), actor="t")
    return AnnotationSession(store, project.config, "alice", "g-test")


def test_marks_best_then_worst() -> None:
    marks = Marks(4).press(2)
    assert (marks.best, marks.worst, marks.complete) == (2, None, False)
    marks = marks.press(4)
    assert (marks.best, marks.worst, marks.complete) == (2, 4, True)
    assert marks.press(3) == Marks(4, 3, None)  # a digit after both starts over
    assert Marks(4).press(2).press(2) == Marks(4)  # the best again clears it
    assert Marks(4).press(7) == Marks(4)  # no such candidate


def test_with_two_candidates_the_other_is_the_worst() -> None:
    assert Marks(2).press(2) == Marks(2, 2, 1)


def test_a_judgment_needs_best_worst_and_a_long_enough_justification() -> None:
    with pytest.raises(JudgmentError, match="best"):
        check_judgment(Marks(3), "x" * 30, 20)
    with pytest.raises(JudgmentError, match="worst"):
        check_judgment(Marks(3, 1), "x" * 30, 20)
    with pytest.raises(JudgmentError, match="at least 20 characters"):
        check_judgment(Marks(3, 1, 2), "   too short   ", 20)
    check_judgment(Marks(3, 1, 2), "B misstates the refund deadline.", 20)


def test_display_order_is_seeded_per_annotator_and_prompt(session: AnnotationSession) -> None:
    item = session.store.get_item("q000")
    assert item is not None
    alice = display_order(item, "alice", 7, True)
    assert display_order(item, "alice", 7, True) == alice
    orders = {tuple(c.candidate_id for c in display_order(item, name, 7, True))
              for name in ("alice", "bob", "carol", "dave", "erin")}
    assert len(orders) > 1
    assert display_order(item, "alice", 7, False) == item.candidates


def test_save_records_order_best_worst_and_guideline_version(session: AnnotationSession) -> None:
    screen = session.next_item()
    assert screen is not None and screen.item.prompt.prompt_id == "q000"
    session.press(3)
    session.press(1)
    stored = session.save("Three answers the question; one dodges it.")
    shown_ids = [c.candidate_id for c in screen.shown]
    assert stored.shown_order == tuple(shown_ids)
    assert stored.best_candidate_id == shown_ids[2]
    assert stored.worst_candidate_id == shown_ids[0]
    assert stored.guideline_version == "g-test"
    assert stored.seconds_spent is not None and stored.seconds_spent >= 0
    assert session.progress().judged == 1
    assert session.next_item().item.prompt.prompt_id == "q001"  # type: ignore[union-attr]


def test_skipped_items_come_back_last(session: AnnotationSession) -> None:
    session.next_item()
    session.skip()
    order = []
    screen = session.next_item()
    while screen is not None and len(order) < 4:
        order.append(screen.item.prompt.prompt_id)
        session.press(1)
        session.press(2)
        session.save("A justification that is long enough.")
        screen = session.next_item()
    assert order == ["q001", "q002", "q003", "q000"]
    assert session.progress().skipped == 0 and session.progress().judged == 4


def test_going_back_and_changing_supersedes_the_old_judgment(session: AnnotationSession) -> None:
    session.next_item()
    session.press(1)
    session.press(2)
    first = session.save("First thoughts on this one, written fast.")
    session.next_item()
    screen = session.previous_item()
    assert screen is not None and screen.revising
    assert screen.item.prompt.prompt_id == "q000"
    assert (screen.marks.best, screen.marks.worst) == (1, 2)
    assert screen.justification == "First thoughts on this one, written fast."
    session.press(4)
    session.press(3)
    second = session.save("On reflection four is the most accurate.")
    assert second.supersedes == first.judgment_id
    current = session.store.current_judgment("alice", "q000")
    assert current is not None and current.judgment_id == second.judgment_id
    every_row = session.store.judgments_of("alice", include_superseded=True)
    assert [j.judgment_id for j in every_row] == [first.judgment_id, second.judgment_id]
    assert session.progress().judged == 1


def test_back_walks_through_history_and_stops_at_the_start(session: AnnotationSession) -> None:
    for _ in range(2):
        session.next_item()
        session.press(1)
        session.press(2)
        session.save("A justification that is long enough.")
    session.next_item()
    assert session.previous_item().item.prompt.prompt_id == "q001"  # type: ignore[union-attr]
    assert session.previous_item().item.prompt.prompt_id == "q000"  # type: ignore[union-attr]
    assert session.previous_item() is None


def test_an_annotator_never_sees_another_annotators_marks(session: AnnotationSession,
                                                         project: Project) -> None:
    session.next_item()
    session.press(1)
    session.press(2)
    session.save("Alice's reasons, which Bob must not see.")
    bob = AnnotationSession(session.store, project.config, "bob", "g-test")
    screen = bob.next_item()
    assert screen is not None and screen.item.prompt.prompt_id == "q000"
    assert screen.marks == Marks(4) and screen.justification == "" and not screen.revising


def test_a_saved_judgment_survives_kill_9(project: Project, tmp_path: Path) -> None:
    with open_store(project.database_path) as store:
        import_file(store, write_jsonl(tmp_path / "i.jsonl", item_rows(2)), actor="t")
    script = textwrap.dedent(f"""
        import sys, time
        from core.annotation import AnnotationSession
        from core.project import open_project
        from core.store import open_store
        from pathlib import Path
        project = open_project(Path({str(project.root)!r}))
        store = open_store(project.database_path)
        session = AnnotationSession(store, project.config, "alice", "g")
        session.next_item(); session.press(1); session.press(2)
        stored = session.save("Saved just before the process is killed.")
        print(stored.judgment_id, flush=True)
        time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    judgment_id = child.stdout.readline().strip()
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    with open_store(project.database_path) as store:
        rows = store.execute_for_test("SELECT judgment_id FROM judgments")
    assert rows == [(judgment_id,)]


# --- what the screen says when there is nothing to show, and after a save ---------------------

def test_an_empty_project_says_there_is_nothing_to_rank_yet(project: Project,
                                                          store: LocalStore) -> None:
    session = AnnotationSession(store, project.config, "alice", "g-test")
    assert session.next_item() is None
    message = session.empty_queue_message()
    assert message.startswith("Nothing to rank yet: this project has no item")
    assert "prefer import" in message and "every item in your queue" not in message


def test_an_annotator_with_nothing_assigned_is_told_so(session: AnnotationSession,
                                                       store: LocalStore) -> None:
    store.add_assignments([("q000", "bob")], actor="admin", details={})
    assert session.next_item() is None  # alice: items exist, none of them hers
    message = session.empty_queue_message()
    assert message.startswith("Nothing is assigned to you (alice) yet.")
    assert "prefer assign --annotators alice" in message


def test_a_finished_queue_says_how_many_items_were_ranked(session: AnnotationSession) -> None:
    while session.next_item() is not None:
        session.press(1)
        session.press(2)
        session.save("The first answer is the most accurate one.")
    assert session.empty_queue_message().startswith(
        "Nothing left to rank: all 4 items in your queue have a judgment.")


def test_saving_again_without_a_change_is_not_a_revision(session: AnnotationSession,
                                                         store: LocalStore) -> None:
    session.next_item()
    session.press(1)
    session.press(2)
    first = session.save("The first answer is the most accurate one.")
    assert session.saved_message(first) == "Saved."
    session.next_item()
    assert session.previous_item() is not None and session.current is not None
    assert session.current.revising
    again = session.save("The first answer is the most accurate one.")
    assert again.judgment_id == first.judgment_id
    assert session.saved_message(again) == "Unchanged: nothing to save."
    assert store.status().superseded == 0
    assert len(store.judgments_of("alice", include_superseded=True)) == 1
    session.previous_item()
    changed = session.save("On reflection the first answer is accurate and complete.")
    assert session.saved_message(changed) == "Change saved."
    assert store.status().superseded == 1


# --- reading the next item ahead (the annotation screen's worker, while the expert reads) -------


def _judge_current(session: AnnotationSession) -> None:
    session.press(1)
    session.press(2)
    session.save("A justification that is long enough.")


def test_the_item_read_ahead_is_shown_without_reading_it_again(
        session: AnnotationSession, monkeypatch: pytest.MonkeyPatch) -> None:
    session.next_item()
    ahead = session.read_ahead("q000")
    assert ahead is not None and ahead.item.prompt.prompt_id == "q001"
    assert session.current is not None and session.current.item.prompt.prompt_id == "q000"
    _judge_current(session)
    reads: list[str] = []
    get_item = session.store.get_item
    monkeypatch.setattr(session.store, "get_item",
                        lambda prompt_id: reads.append(prompt_id) or get_item(prompt_id))
    screen = session.next_item(ahead)
    assert screen is not None and screen.item.prompt.prompt_id == "q001"
    assert reads == []  # the queue was asked (it still names q001), the item was not read
    assert [c.candidate_id for c in screen.shown] == [c.candidate_id for c in ahead.shown]


def test_an_item_read_ahead_is_not_shown_when_the_queue_changed_meanwhile(
        session: AnnotationSession, store: LocalStore, project: Project) -> None:
    session.next_item()
    ahead = session.read_ahead("q000")
    assert ahead is not None and ahead.item.prompt.prompt_id == "q001"
    # Meanwhile the same annotator judged q001 in another session: it is no longer next.
    other = AnnotationSession(store, project.config, "alice", "g-test")
    other.open("q001")
    _judge_current(other)
    _judge_current(session)
    screen = session.next_item(ahead)
    assert screen is not None and screen.item.prompt.prompt_id == "q002"


def test_an_item_read_ahead_gets_the_draft_kept_after_it_was_read(
        session: AnnotationSession) -> None:
    session.next_item()
    ahead = session.read_ahead("q000")
    assert ahead is not None
    session.drafts["q001"] = Draft("q001", justification="Half a thought, kept as a draft.")
    _judge_current(session)
    screen = session.next_item(ahead)
    assert screen is not None and screen.item.prompt.prompt_id == "q001"
    assert screen.restored_draft and screen.justification == "Half a thought, kept as a draft."


def test_a_skip_shows_the_item_read_ahead(session: AnnotationSession) -> None:
    session.next_item()
    ahead = session.read_ahead("q000")
    session.skip()
    screen = session.next_item(ahead)
    assert screen is not None and screen.item.prompt.prompt_id == "q001"
    assert session.progress().skipped == 1
