"""Writes share commits and builds never hold up saves (core/store/group_commit.py,
LocalStore.build_pairs): concurrent saves in one commit are all stored and answered, a failing
one costs the others nothing, nothing acknowledged is lost on kill -9, a save commits while a
pair build is paused mid-computation, and the build's pairs come from its snapshot. Nothing
here is timed; the speed is measured by tests/benchmarks/bench_saves.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import duckdb
import pytest

from core.config import Config
from core.errors import JudgmentError, StoreError
from core.models import ExportRequest, Flag, Judgment, PairSettings
from core.pairs import build_pairs
from core.project import Project
from core.sources import import_file
from core.store import LocalStore, open_store, validation
from core.store import pairs as pair_sql
from core.store.group_commit import is_read
from tests.conftest import REPO_ROOT, item_rows, write_jsonl

SETTINGS = PairSettings("best-vs-rest", 0.95, 0.9, 7)
UNIVERSE = {"dimension": list(Config().project.dimensions)}


@pytest.fixture
def items(store: LocalStore, tmp_path: Path) -> list[str]:
    import_file(store, write_jsonl(tmp_path / "items.jsonl", item_rows(40)), actor="t")
    return [row[0] for row in store.execute_for_test(
        "SELECT prompt_id FROM prompts ORDER BY prompt_id")]


def _judgment(store: LocalStore, annotator: str, prompt_id: str, tag: str = "",
              best: int = 0, worst: int = -1) -> Judgment:
    item = store.get_item(prompt_id)
    assert item is not None
    shown = tuple(c.candidate_id for c in item.candidates)
    return Judgment(f"j_{annotator}_{prompt_id}{tag}", annotator, prompt_id, "ranked", shown,
                    best_candidate_id=shown[best], worst_candidate_id=shown[worst],
                    justification="The first answer cites the policy, the last does not.")


def _sid(judgment: Judgment) -> str:
    """The id the store keeps for a judgment sent with this key (namespaced by its annotator)."""
    return validation.record_id("j", judgment.annotator, judgment.judgment_id)


def _stored_ids(path: Path) -> set[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {row[0] for row in con.execute("SELECT judgment_id FROM judgments").fetchall()}
    finally:
        con.close()


def _in_one_batch(store: LocalStore, calls: list[Any]) -> list[Any]:
    """Run `calls` (no-argument functions) at once, queued behind the write lock so that they
    form batches; each result or the exception it raised, in order."""
    results: list[Any] = [None] * len(calls)

    def run(k: int) -> None:
        try:
            results[k] = calls[k]()
        except Exception as exc:  # the test looks at it
            results[k] = exc

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(calls))]
    with store._write_lock:  # hold every writer back until all are queued
        for thread in threads:
            thread.start()
        while store._write_lock._queued < len(calls):
            threading.Event().wait(0.005)
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    return results


# --- group commit ----------------------------------------------------------------------------


def test_concurrent_saves_share_commits_and_are_all_stored_and_answered(
        store: LocalStore, items: list[str], project: Project) -> None:
    first = [_judgment(store, f"ann{k}", items[k]) for k in range(12)]
    revisions = [_judgment(store, f"ann{k}", items[k], tag="-2", best=1) for k in range(12)]
    before = store.write_stats()
    saved = _in_one_batch(store, [lambda j=j: store.save_judgment(j) for j in first])
    revised = _in_one_batch(store, [lambda j=j: store.save_judgment(j) for j in revisions])
    stats = store.write_stats()
    assert stats["commits"] - before["commits"] < 24  # some commits held several saves
    assert stats["largest_batch"] > 1
    assert stats["redone"] == before["redone"] and stats["rolled_back"] == 0
    for original, stored in zip(first, saved, strict=True):
        assert stored.judgment_id == _sid(original) and stored.supersedes is None
    for original, later, stored in zip(first, revisions, revised, strict=True):
        assert stored.supersedes == _sid(original)  # answered with what it superseded
        assert store.current_judgment(later.annotator, later.prompt_id).judgment_id == \
            _sid(later)
    # Every save has its audit event, the chain is unbroken, and all of it is on disk.
    assert store.execute_for_test("SELECT count(*) FROM events WHERE action LIKE 'judgment.%'"
                                  )[0][0] == 24
    from core.audit import verify_chain
    assert verify_chain(store.events()).ok
    # ... each event vouches for its row (its digest), and the head file notes the batches.
    report = store.verify_audit()
    assert report.ok, report
    store.close()
    assert {_sid(j) for j in first + revisions} <= _stored_ids(project.database_path)


def test_a_save_and_its_revision_in_one_batch(store: LocalStore, items: list[str]) -> None:
    """The second sees the first (appended earlier in the same open transaction) as current."""
    # Each says something else (an unchanged save is no revision: the store keeps the current).
    one, two = _judgment(store, "ann", items[0]), _judgment(store, "ann", items[0], tag="-2",
                                                            worst=-2)
    three = _judgment(store, "ann", items[0], tag="-3", best=1)
    results = _in_one_batch(store, [lambda: store.save_judgment(one),
                                    lambda: store.save_judgment(one),  # a retried call
                                    lambda: store.save_judgment(two),
                                    lambda: store.save_judgment(three)])
    assert [r.judgment_id for r in results] == [_sid(one), _sid(one), _sid(two), _sid(three)]
    # Threads join the batch in whatever order the scheduler gives: whatever it was, the three
    # form one chain, each superseding the one saved before it, and the last is current.
    stored = dict(store.execute_for_test("SELECT judgment_id, supersedes FROM judgments"))
    assert len(stored) == 3
    heads = [j for j, s in stored.items() if s is None]
    assert len(heads) == 1
    chain = heads
    while (following := [j for j, s in stored.items() if s == chain[-1]]):
        assert len(following) == 1
        chain.append(following[0])
    assert len(chain) == 3
    current = store.current_judgment("ann", items[0])
    assert current is not None and current.judgment_id == chain[-1]


def test_a_write_failing_before_it_writes_costs_the_batch_nothing(
        store: LocalStore, items: list[str]) -> None:
    judgments = [_judgment(store, f"ann{k}", items[k]) for k in range(6)]
    calls: list[Any] = [lambda j=j: store.save_judgment(j) for j in judgments]
    # Reads the store, finds no such item, raises: nothing of it was written.
    calls.insert(3, lambda: store.save_flag(Flag("f1", "ann9", "no-such-item", "broken")))
    results = _in_one_batch(store, calls)
    assert isinstance(results[3], JudgmentError)
    assert [r.judgment_id for r in results if isinstance(r, Judgment)] == \
        [_sid(j) for j in judgments]
    stats = store.write_stats()
    assert stats["rolled_back"] == 0 and stats["redone"] == 0
    assert store.verify_audit().ok
    assert {_sid(j) for j in judgments} <= \
        {r[0] for r in store.execute_for_test("SELECT judgment_id FROM judgments")}


def test_a_write_failing_after_it_wrote_rolls_back_and_the_others_are_redone(
        store: LocalStore, items: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    good = [_judgment(store, f"ann{k}", items[k]) for k in range(6)]
    bad = _judgment(store, "saboteur", items[10])
    original = LocalStore._append_event

    def failing(self: LocalStore, cur: Any, actor: str, *args: Any) -> Any:
        if actor == "saboteur":  # after its judgment row went into the batch
            raise RuntimeError("the disk said no")
        return original(self, cur, actor, *args)

    monkeypatch.setattr(LocalStore, "_append_event", failing)
    calls: list[Any] = [lambda j=j: store.save_judgment(j) for j in good]
    calls.insert(2, lambda: store.save_judgment(bad))
    results = _in_one_batch(store, calls)
    assert isinstance(results[2], RuntimeError)
    assert [r.judgment_id for r in results if isinstance(r, Judgment)] == \
        [_sid(j) for j in good]
    stats = store.write_stats()
    assert stats["rolled_back"] >= 1 and stats["redone"] >= 1
    stored = {r[0] for r in store.execute_for_test("SELECT judgment_id FROM judgments")}
    assert {_sid(j) for j in good} <= stored and _sid(bad) not in stored
    events = store.execute_for_test("SELECT count(*) FROM events WHERE actor LIKE 'ann%'")
    assert events[0][0] == len(good)
    # The rolled-back batch's events left no trace in the chain's tip: redone writes chain on
    # from the last commit, every event vouches for its rows, the head file follows.
    report = store.verify_audit()
    assert report.ok, report


def test_a_key_reused_for_another_judgment_is_refused_in_a_batch(
        store: LocalStore, items: list[str]) -> None:
    """The stored id is the annotator's key namespaced (core/store/validation.py): a key sent
    again for a different item is found by its id and refused before anything is written, so
    the batch goes on and the others are committed."""
    taken = _judgment(store, "ann0", items[0])
    store.save_judgment(taken)
    reused = Judgment(**{**_judgment(store, "ann0", items[5]).__dict__,
                         "judgment_id": taken.judgment_id})
    good = [_judgment(store, f"ann{k}", items[k + 10]) for k in range(5)]
    calls: list[Any] = [lambda j=j: store.save_judgment(j) for j in good]
    calls.insert(1, lambda: store.save_judgment(reused))
    results = _in_one_batch(store, calls)
    assert isinstance(results[1], JudgmentError) and "already used" in str(results[1])
    assert [r.judgment_id for r in results[:1] + results[2:]] == [_sid(j) for j in good]
    assert store.write_stats()["rolled_back"] == 0
    assert store.execute_for_test("SELECT count(*) FROM judgments")[0][0] == 6
    assert store.verify_audit().ok


def test_nothing_acknowledged_is_lost_on_kill_9(project: Project, tmp_path: Path) -> None:
    with open_store(project.database_path) as store:
        import_file(store, write_jsonl(tmp_path / "items.jsonl", item_rows(60)), actor="t")
    acknowledged = tmp_path / "acknowledged.txt"
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import os, sys, threading, uuid
        from core.models import Judgment
        from core.store import open_store
        store = open_store(sys.argv[1])
        ids = [r[0] for r in store.execute_for_test("SELECT prompt_id FROM prompts")]
        out = open(sys.argv[2], "a")
        lock = threading.Lock()
        def annotate(k):
            n = 0
            while True:
                for prompt_id in ids:
                    item = store.get_item(prompt_id)
                    shown = tuple(c.candidate_id for c in item.candidates)
                    j = Judgment(f"j_{k}_{n}", f"ann{k}", prompt_id, "ranked", shown,
                                 best_candidate_id=shown[0], worst_candidate_id=shown[-1],
                                 justification="Saved as fast as possible, then killed.")
                    saved = store.save_judgment(j)
                    with lock:  # heard "saved": on disk before the child goes on
                        out.write(saved.judgment_id + "\\n"); out.flush(); os.fsync(out.fileno())
                    n += 1
        for k in range(8):
            threading.Thread(target=annotate, args=(k,), daemon=True).start()
        threading.Event().wait()
    """), str(project.database_path), str(acknowledged)],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    try:
        while not acknowledged.exists() or len(acknowledged.read_text().split()) < 150:
            assert child.poll() is None, "the saving process died"
            threading.Event().wait(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    heard = set(acknowledged.read_text().split())
    with open_store(project.database_path) as store:  # replays the WAL
        stored = {r[0] for r in store.execute_for_test("SELECT judgment_id FROM judgments")}
        from core.audit import verify_chain
        assert verify_chain(store.events()).ok
    assert heard <= stored


def test_current_judgment_lookup_agrees_with_the_view(store: LocalStore,
                                                      items: list[str]) -> None:
    from core.store.local import _current_judgment_id

    for k in range(30):  # revisions by several annotators, on a few items
        annotator, prompt_id = f"ann{k % 4}", items[k % 5]
        store.save_judgment(_judgment(store, annotator, prompt_id, tag=f"-{k}",
                                     best=k % 2, worst=k % 2 - 1))
    cur = store._cursor()
    for annotator in ("ann0", "ann1", "ann2", "ann3", "nobody"):
        for prompt_id in items[:6]:
            view = cur.execute("SELECT judgment_id FROM current_judgments WHERE annotator = ? "
                               "AND prompt_id = ?", [annotator, prompt_id]).fetchall()
            assert _current_judgment_id(cur, annotator, prompt_id) == \
                (view[0][0] if view else None)


@pytest.mark.parametrize(("sql", "read"), [
    ("SELECT 1", True), ("  select * from t", True), ("-- note\nSELECT 1", True),
    ("(SELECT 1) UNION (SELECT 2)", True), ("FROM t", True), ("INSERT INTO t VALUES (1)", False),
    ("UPDATE t SET a = 1", False), ("WITH x AS (SELECT 1) SELECT * FROM x", False),
    ("SELECT 1; DELETE FROM t", False), ("CREATE TEMP TABLE x AS SELECT 1", False),
    ("/* c */ DELETE FROM t", False),
])
def test_only_plain_reads_count_as_reads(sql: str, read: bool) -> None:
    assert is_read(sql) is read


# --- builds beside saves ---------------------------------------------------------------------


class PausedBuild:
    """A build in a thread, stopped inside its computation (the near-identical step) until
    `go` is set."""

    def __init__(self, store: LocalStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.paused, self.go = threading.Event(), threading.Event()
        self.result: Any = None
        original = pair_sql._near_identical

        def pausing(con: Any, threshold: float) -> None:
            self.paused.set()
            assert self.go.wait(60)
            original(con, threshold)

        monkeypatch.setattr(pair_sql, "_near_identical", pausing)

        def run() -> None:
            try:
                self.result = store.build_pairs(SETTINGS, "builder", UNIVERSE)
            except Exception as exc:  # the test looks at it
                self.result = exc

        self.thread = threading.Thread(target=run)
        self.thread.start()
        assert self.paused.wait(60)

    def finish(self) -> Any:
        self.go.set()
        self.thread.join(timeout=120)
        assert not self.thread.is_alive()
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def _kept_items(store: LocalStore) -> set[str]:
    return {r[0] for r in store.execute_for_test(
        "SELECT DISTINCT prompt_id FROM latest_pairs WHERE status = 'kept'")}


def test_a_save_commits_while_a_build_is_running(store: LocalStore, items: list[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for prompt_id in items[:10]:
        store.save_judgment(_judgment(store, "ann0", prompt_id))
    first = store.build_pairs(SETTINGS, "builder", UNIVERSE)
    build = PausedBuild(store, monkeypatch)
    # The build holds its snapshot, mid-computation: saves go on and commit.
    late = store.save_judgment(_judgment(store, "ann1", items[20]))
    dispute = store.save_judgment(_judgment(store, "ann1", items[0], best=1, worst=0))
    seen = open_store_reader(store).execute(
        "SELECT judgment_id FROM judgments WHERE judgment_id IN (?, ?)",
        [late.judgment_id, dispute.judgment_id]).fetchall()
    assert len(seen) == 2  # committed, visible to any other connection
    assert build.thread.is_alive()
    # Reads of the previous build go on meanwhile too (their own snapshot).
    assert _kept_items(store) == set(items[:10])
    assert store.pair_counts("dimension") == first.kept_by_dimension
    result = build.finish()
    # The build's pairs come from its snapshot: neither the new item nor the dispute.
    assert result.items == 10 and result.held_back_disputed == 0
    assert _kept_items(store) == set(items[:10])
    assert store.execute_for_test("SELECT count(DISTINCT build_id) FROM pairs")[0][0] == 1
    again = store.build_pairs(SETTINGS, "builder", UNIVERSE)  # a fresh snapshot sees both
    assert again.held_back_disputed == 1 and items[20] in _kept_items(store)
    assert items[0] not in _kept_items(store)


def open_store_reader(store: LocalStore) -> duckdb.DuckDBPyConnection:
    return store._con.cursor()  # another connection to the same database


def test_two_builds_at_once_leave_one_consistent_build(store: LocalStore, items: list[str]
                                                       ) -> None:
    for prompt_id in items[:15]:
        store.save_judgment(_judgment(store, "ann0", prompt_id))
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(
        store.build_pairs(SETTINGS, "builder", UNIVERSE))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 3 and len({r.build_id for r in results}) == 3
    assert {r.kept for r in results} == {results[0].kept}
    latest = store.execute_for_test("SELECT build_id FROM pair_builds ORDER BY built_at DESC, "
                                    "build_id DESC LIMIT 1")[0][0]
    assert store.execute_for_test("SELECT DISTINCT build_id FROM pairs") == [(latest,)]
    assert store.execute_for_test("SELECT count(*), count(DISTINCT pair_id) FROM pairs")[0] == \
        (results[0].pairs_built, results[0].pairs_built)


def test_an_export_of_a_replaced_build_fails_rather_than_write_other_pairs(
        store: LocalStore, items: list[str], tmp_path: Path) -> None:
    for prompt_id in items[:5]:
        store.save_judgment(_judgment(store, "ann0", prompt_id))
    old = store.build_pairs(SETTINGS, "builder", UNIVERSE)
    store.build_pairs(SETTINGS, "builder", UNIVERSE)
    request = ExportRequest("trl", 0.2, 7, None, build_id=old.build_id)
    with pytest.raises(StoreError, match="replaced"):
        store.export_pairs(request, "t")


def test_the_report_and_export_read_the_previous_build_while_one_runs(
        project: Project, store: LocalStore, items: list[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for prompt_id in items[:8]:
        store.save_judgment(_judgment(store, "ann0", prompt_id))
    first = build_pairs(store, project.config, "builder")
    build = PausedBuild(store, monkeypatch)
    facts = store.quality_facts(first.built_at)
    assert facts.latest_build[0] == first.build_id and facts.kept == first.kept
    request = ExportRequest("trl", 0.2, 7, None, build_id=first.build_id)
    counts = store.export_pairs(request, "t")
    assert sum(counts.pairs_by_split.values()) == first.kept
    assert build.finish().kept == first.kept


def test_the_build_steps_give_the_same_in_a_worker_process(
        store: LocalStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large builds run the near-identical check and the prompt grouping in a child process
    (core/store/pair_worker.py); forced here on a small store, the pairs are the same."""
    from core.store import pair_worker

    rows = item_rows(12)
    rows += [{**row, "id": row["id"] + "-copy", "prompt": row["prompt"] + "!"} for row in rows[:4]]
    rows[5]["candidates"][2] = rows[5]["candidates"][0] + "!"  # near-identical to candidate 1
    import_file(store, write_jsonl(tmp_path / "items.jsonl", rows), actor="t")
    for (prompt_id,) in store.execute_for_test("SELECT prompt_id FROM prompts"):
        store.save_judgment(_judgment(store, "ann0", prompt_id))
    columns = "prompt_id, chosen_id, rejected_id, status, round(similarity, 9), prompt_group"

    def built() -> set[tuple]:
        store.build_pairs(SETTINGS, "builder", UNIVERSE)
        return set(store.execute_for_test(f"SELECT {columns} FROM latest_pairs"))

    here = built()
    monkeypatch.setattr(pair_worker, "CHILD_ROWS", 0)
    calls: list[list[str]] = []
    real_run = subprocess.run
    monkeypatch.setattr(pair_worker.subprocess, "run",
                        lambda args, **kw: calls.append(args) or real_run(args, **kw))
    assert built() == here
    assert [c[3] for c in calls] == ["similarity", "groups"]
    statuses = {row[3] for row in here}
    assert "near_identical" in statuses and len({row[5] for row in here}) < 16
