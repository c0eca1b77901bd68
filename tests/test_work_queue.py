"""An annotator's work (core/store/work.py) answers exactly as the view-based queries did.

The reference queries below are the ones LocalStore ran before migration 009 (next item,
progress, current judgment, may-work-on), over the `current_judgments` view and the whole
project. Randomised projects go through every kind of write that changes a queue (imports,
an import whose clock is earlier than stored prompts, generated candidates, saves, skips,
revisions, imported judgments, assignments, releases, gold items), and after each write every
answer of the store equals the reference's, for every annotator and item.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest

import core.store.local as local_module
from core.assign import assign
from core.judgment_import import import_judgments
from core.models import GenerationRecord, Judgment, Run
from core.project import Project
from core.sources import import_file
from core.store import LocalStore, open_store, work
from tests.conftest import write_jsonl

ANNOTATORS = ("alice", "bob", "carol")
_READY = "(SELECT prompt_id FROM candidates GROUP BY prompt_id HAVING count(*) >= 2)"
_ASSIGNING = "EXISTS (SELECT 1 FROM assignments WHERE released_at IS NULL)"
_MINE = (f"(NOT {_ASSIGNING} OR EXISTS (SELECT 1 FROM assignments a WHERE a.prompt_id = "
         "p.prompt_id AND a.annotator = ? AND a.released_at IS NULL) "
         "OR EXISTS (SELECT 1 FROM gold_items g WHERE g.prompt_id = p.prompt_id))")


def reference_next(store: LocalStore, annotator: str, exclude: tuple[str, ...] = ()
                   ) -> str | None:
    rows = store.execute_for_test(
        f"""
        SELECT p.prompt_id FROM prompts p
        JOIN {_READY} r USING (prompt_id)
        LEFT JOIN (SELECT prompt_id, kind FROM current_judgments WHERE annotator = ?) c
               USING (prompt_id)
        WHERE (c.kind IS NULL OR c.kind = 'skipped') AND NOT list_contains(?, p.prompt_id)
          AND {_MINE}
        ORDER BY c.kind IS NOT NULL, p.imported_at, p.source, p.source_line, p.prompt_id
        LIMIT 1
        """, [annotator, list(exclude), annotator])
    return rows[0][0] if rows else None


def reference_progress(store: LocalStore, annotator: str) -> tuple[int, int, int]:
    row = store.execute_for_test(
        f"""
        SELECT count(*) FILTER (WHERE kind = 'ranked'), count(*) FILTER (WHERE kind = 'skipped'),
               (SELECT count(*) FROM prompts p JOIN {_READY} USING (prompt_id) WHERE {_MINE})
        FROM current_judgments WHERE annotator = ?
        """, [annotator, annotator])[0]
    return int(row[0]), int(row[1]), int(row[2])


def reference_current(store: LocalStore, annotator: str, prompt_id: str) -> str | None:
    rows = store.execute_for_test(
        "SELECT judgment_id FROM current_judgments WHERE annotator = ? AND prompt_id = ? "
        "ORDER BY created_at DESC LIMIT 1", [annotator, prompt_id])
    return rows[0][0] if rows else None


def reference_may_work_on(store: LocalStore, annotator: str, prompt_id: str) -> bool:
    rows = store.execute_for_test(
        f"SELECT count(*) FROM prompts p WHERE p.prompt_id = ? AND {_MINE}",
        [prompt_id, annotator])
    return bool(rows[0][0])


def assert_same_answers(store: LocalStore, rng: random.Random, every_item: bool = False) -> None:
    """Every annotator's next items, progress, and current judgments and permissions (of a
    sample of items, or of every item)."""
    prompt_ids = [r[0] for r in store.execute_for_test("SELECT prompt_id FROM prompts")]
    checked = prompt_ids if every_item else rng.sample(prompt_ids, min(6, len(prompt_ids)))
    for annotator in ANNOTATORS:
        first = reference_next(store, annotator)
        assert store.next_prompt_id(annotator) == first, annotator
        excludes = [(first,)] if first else []
        excludes.append(tuple(rng.sample(prompt_ids, min(3, len(prompt_ids)))))
        if first:
            excludes.append((first, *rng.sample(prompt_ids, min(2, len(prompt_ids)))))
        for exclude in excludes:
            assert store.next_prompt_id(annotator, exclude) == reference_next(
                store, annotator, exclude), (annotator, exclude)
        progress = store.progress(annotator)
        assert (progress.judged, progress.skipped, progress.total) == reference_progress(
            store, annotator), annotator
        for prompt_id in checked:
            current = store.current_judgment(annotator, prompt_id)
            assert (current.judgment_id if current else None) == reference_current(
                store, annotator, prompt_id), (annotator, prompt_id)
            assert store.is_assigned(annotator, prompt_id) == reference_may_work_on(
                store, annotator, prompt_id), (annotator, prompt_id)
    assert store.is_assigned("alice", "no-such-item") is False


class Walk:
    """A randomised project: each step one write that may change someone's queue."""

    def __init__(self, store: LocalStore, tmp_path: Path, rng: random.Random,
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.store, self.tmp_path, self.rng, self.monkeypatch = store, tmp_path, rng, monkeypatch
        self.files = 0
        self.generated = 0
        self.saves = 0
        store.start_run(Run("r1", "admin", "m", ("h",), ("brief",), 1, "{}", 1, 0, None, None,
                            "running", local_module.utc_now(), None))

    def prompt_ids(self, ready_only: bool = False) -> list[str]:
        sql = ("SELECT prompt_id FROM candidates GROUP BY prompt_id HAVING count(*) >= 2"
               if ready_only else "SELECT prompt_id FROM prompts")
        return sorted(r[0] for r in self.store.execute_for_test(sql))

    def candidates(self, prompt_id: str) -> list[str]:
        return [r[0] for r in self.store.execute_for_test(
            "SELECT candidate_id FROM candidates WHERE prompt_id = ? ORDER BY position",
            [prompt_id])]

    def import_prompts(self, earlier_clock: bool = False) -> None:
        self.files += 1
        rows = []
        for i in range(self.rng.randint(1, 6)):
            n = self.rng.choice([0, 1, 2, 2, 3, 4])
            row = {"id": f"f{self.files}_{i}", "prompt": f"File {self.files} question {i}?"}
            if n:
                row["candidates"] = [f"Answer {j} of {self.files}/{i}." for j in range(n)]
            rows.append(row)
        self.rng.shuffle(rows)  # source_line order differs from id order
        path = write_jsonl(self.tmp_path / f"f{self.files}.jsonl", rows)
        if earlier_clock:  # prompts that sort before every stored one
            with self.monkeypatch.context() as patch:
                patch.setattr(local_module, "utc_now",
                              lambda: dt.datetime(2000, 1, 1) + dt.timedelta(seconds=self.files))
                import_file(self.store, path, actor="admin")
        else:
            import_file(self.store, path, actor="admin")

    def generate(self) -> None:
        short = [p for p in self.prompt_ids() if len(self.candidates(p)) < 2]
        if not short:
            return
        records = []
        for prompt_id in self.rng.sample(short, min(3, len(short))):
            self.generated += 1
            now = local_module.utc_now()
            records.append(GenerationRecord(
                f"g{self.generated}", "r1", prompt_id, "brief", "m", None, "h", "ok", None, 1,
                f"Generated answer {self.generated}.", None, json.dumps({"temperature": 0.3}),
                "stop", False, 1, 1, 1, 1, 1, 1, 0.1, now, now))
        self.store.record_generations(records)

    def save(self, kind: str) -> None:
        ready = self.prompt_ids(ready_only=True)
        if not ready:
            return
        annotator = self.rng.choice(ANNOTATORS)
        # mostly the item the queue offers, as on the screen; sometimes any item (a revision)
        prompt_id = (self.store.next_prompt_id(annotator) if self.rng.random() < 0.6 else None
                     ) or self.rng.choice(ready)
        shown = self.candidates(prompt_id)
        self.saves += 1
        if kind == "ranked":
            best, worst = self.rng.sample(shown, 2)
            judgment = Judgment(f"k{self.saves}", annotator, prompt_id, "ranked", tuple(shown),
                                best, worst, justification="Because the best one is exact.")
        else:
            judgment = Judgment(f"k{self.saves}", annotator, prompt_id, "skipped", tuple(shown))
        self.store.save_judgment(judgment)

    def import_judgment(self) -> None:
        ready = self.prompt_ids(ready_only=True)
        if not ready:
            return
        prompt_id = self.rng.choice(ready)
        best, worst = self.rng.sample(self.candidates(prompt_id), 2)
        self.files += 1
        import_judgments(self.store, write_jsonl(self.tmp_path / f"j{self.files}.jsonl", [
            {"annotator": self.rng.choice(ANNOTATORS), "prompt_id": prompt_id, "best": best,
             "worst": worst, "justification": f"Imported {self.files}."}]), actor="admin")

    def assign(self) -> None:
        names = self.rng.sample(ANNOTATORS, self.rng.randint(1, 3))
        try:
            assign(self.store, names, actor="admin", per_item=self.rng.randint(1, len(names)))
        except Exception as error:  # nothing left to assign is a usage error, fine here
            if "nothing" not in str(error).lower() and "no " not in str(error).lower():
                raise

    def release(self) -> None:
        self.store.release_open_assignments(self.rng.choice(ANNOTATORS), "admin")

    def gold(self) -> None:
        ready = self.prompt_ids(ready_only=True)
        if ready:
            prompt_id = self.rng.choice(ready)
            self.store.set_gold(prompt_id, self.candidates(prompt_id)[0], None, None, "admin")

    ACTIONS = ("import", "import_earlier", "generate", "ranked", "skipped", "import_judgment",
               "assign", "release", "gold")

    def step(self, action: str | None = None) -> str:
        action = action or self.rng.choices(self.ACTIONS, weights=[3, 1, 2, 10, 3, 2, 1, 1, 1])[0]
        {"import": self.import_prompts,
         "import_earlier": lambda: self.import_prompts(earlier_clock=True),
         "generate": self.generate, "ranked": lambda: self.save("ranked"),
         "skipped": lambda: self.save("skipped"), "import_judgment": self.import_judgment,
         "assign": self.assign, "release": self.release, "gold": self.gold}[action]()
        return action


@pytest.mark.parametrize("seed", [1, 2])
def test_answers_equal_the_view_based_queries_on_randomised_projects(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    rng = random.Random(seed)
    with open_store(project.database_path) as store:
        walk = Walk(store, tmp_path, rng, monkeypatch)
        walk.import_prompts()
        # every kind of write once (saves first, so that later ones meet judged items), then
        # a random walk
        for action in [*("ranked", "skipped", "ranked"), *Walk.ACTIONS,
                       *(None for _ in range(20))]:
            walk.step(action)
            assert_same_answers(store, rng)
        assert_same_answers(store, rng, every_item=True)
    with open_store(project.database_path) as reopened:  # no remembered hints, same answers
        assert_same_answers(reopened, rng, every_item=True)


def test_work_order_is_rebuilt_to_the_same_rows(project: Project, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """work_order is derived: numbering it again from prompts and candidates changes nothing."""
    with open_store(project.database_path) as store:
        walk = Walk(store, tmp_path, random.Random(9), monkeypatch)
        for earlier in (False, True, False):
            walk.import_prompts(earlier_clock=earlier)
        walk.generate()
        kept = store.execute_for_test("SELECT prompt_id, ord, ready FROM work_order ORDER BY ord")
        assert [row[1] for row in kept] == list(range(1, len(kept) + 1))
        store.execute_for_test("BEGIN TRANSACTION")
        work.rebuild(store._cursor())
        store.execute_for_test("COMMIT")
        assert store.execute_for_test(
            "SELECT prompt_id, ord, ready FROM work_order ORDER BY ord") == kept


def test_the_queue_after_many_items_is_found_from_where_it_was(project: Project,
                                                               tmp_path: Path) -> None:
    """Past the first windows of places: 300 items, the first 200 judged by import."""
    rows = [{"id": f"q{i:04d}", "prompt": f"Question {i}?",
             "candidates": [f"Yes {i}.", f"No {i}."]} for i in range(300)]
    with open_store(project.database_path) as store:
        import_file(store, write_jsonl(tmp_path / "many.jsonl", rows), actor="admin")
        import_judgments(store, write_jsonl(tmp_path / "done.jsonl", [
            {"annotator": "alice", "prompt_id": f"q{i:04d}", "best": f"Yes {i}.",
             "worst": f"No {i}.", "justification": "Done before."} for i in range(200)]),
            actor="admin")
        assert store.next_prompt_id("alice") == "q0200" == reference_next(store, "alice")
        assert store.next_prompt_id("alice", ("q0200",)) == "q0201"
        assert store.progress("alice").judged == 200
        assert store.next_prompt_id("bob") == "q0000"
