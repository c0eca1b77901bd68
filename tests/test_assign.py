"""Assignment: K per item or overlap, balanced loads, seeded, only new prompts, unassign."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.annotation import AnnotationSession
from core.assign import assign, plan_assignments
from core.errors import BadInputError
from core.project import Project
from core.sources import import_file
from core.store import LocalStore
from tests.conftest import item_rows, write_jsonl
from tui.cli import app

NAMES = ["alice", "bob", "carol"]


def _load(store: LocalStore, project: Project, tmp_path: Path, count: int, prefix: str = "q"
          ) -> None:
    rows = item_rows(count)
    for row in rows:
        row["id"] = prefix + str(row["id"])
        row["prompt"] = f"{prefix}: {row['prompt']}"
    import_file(store, write_jsonl(tmp_path / f"{prefix}.jsonl", rows), actor="t")


@pytest.mark.parametrize("per_item", [1, 2, 3])
def test_k_annotators_per_item_with_balanced_loads(per_item: int) -> None:
    prompts = [f"p{i}" for i in range(31)]
    pairs, overlapped = plan_assignments(prompts, NAMES, per_item=per_item, seed=3)
    per_prompt = Counter(p for p, _ in pairs)
    assert set(per_prompt.values()) == {per_item} and overlapped == 0
    assert all(len({a for p2, a in pairs if p2 == p}) == per_item for p in prompts)
    loads = Counter(a for _, a in pairs)
    assert max(loads.values()) - min(loads.values()) <= 1


def test_overlap_gives_a_fraction_to_everyone_and_the_rest_once() -> None:
    prompts = [f"p{i}" for i in range(50)]
    pairs, overlapped = plan_assignments(prompts, NAMES, overlap=0.2, seed=3)
    per_prompt = Counter(p for p, _ in pairs)
    assert overlapped == 10
    assert sorted(Counter(per_prompt.values()).items()) == [(1, 40), (3, 10)]
    loads = Counter(a for _, a in pairs)
    assert max(loads.values()) - min(loads.values()) <= 1


def test_seeded_and_reproducible() -> None:
    prompts = [f"p{i}" for i in range(20)]
    first = plan_assignments(prompts, NAMES, overlap=0.3, seed=11)
    assert plan_assignments(prompts, NAMES, overlap=0.3, seed=11) == first
    assert plan_assignments(prompts, NAMES, overlap=0.3, seed=12) != first


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"per_item": 4}, "--per-item must be from 1 to the number of annotators (3)"),
    ({"overlap": 1.5}, "--overlap must be a fraction"),
    ({"per_item": 2, "overlap": 0.1}, "either --per-item K or --overlap F"),
])
def test_bad_requests(kwargs: dict, message: str) -> None:
    with pytest.raises(BadInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        plan_assignments(["p"], NAMES, **kwargs)


def test_rerun_assigns_only_new_prompts_and_keeps_balance(project: Project, store: LocalStore,
                                                          tmp_path: Path) -> None:
    _load(store, project, tmp_path, 10, "a")
    first = assign(store, NAMES, actor="admin", per_item=2)
    assert first.items == 10 and first.assignments == 20
    again = assign(store, NAMES, actor="admin", per_item=2)
    assert again.assignments == 0 and again.batch_id is None
    _load(store, project, tmp_path, 5, "b")
    later = assign(store, NAMES, actor="admin", per_item=2)
    assert later.items == 5 and later.assignments == 10
    loads = later.loads
    assert sum(loads.values()) == 30 and max(loads.values()) - min(loads.values()) <= 1
    assert [e.action for e in store.events()].count("assign") == 2


def test_annotators_are_served_only_their_items(project: Project, store: LocalStore,
                                                tmp_path: Path) -> None:
    _load(store, project, tmp_path, 6)
    session = AnnotationSession(store, project.config, "alice", "g")
    assert session.progress().total == 6  # nothing assigned yet: everything is open
    assign(store, ["alice", "bob"], actor="admin", per_item=1)
    mine = {p for (p,) in store.execute_for_test(
        "SELECT prompt_id FROM assignments WHERE annotator = 'alice'")}
    assert session.progress().total == len(mine) == 3
    seen = set()
    while (screen := session.next_item()) is not None:
        seen.add(screen.item.prompt.prompt_id)
        session.press(1)
        session.press(2)
        session.save("Alice's reasoning for this one item.")
    assert seen == mine


def test_unassign_frees_only_open_items(project: Project, store: LocalStore,
                                        tmp_path: Path) -> None:
    _load(store, project, tmp_path, 6)
    assign(store, ["alice", "bob"], actor="admin", per_item=1)
    session = AnnotationSession(store, project.config, "bob", "g")
    session.next_item()
    session.press(1)
    session.press(2)
    session.save("Bob finished exactly one item here.")
    assert store.release_open_assignments("bob", "admin") == 2
    result = assign(store, ["alice", "carol"], actor="admin", per_item=1)
    assert result.items == 2
    assert store.assignment_loads() == {"alice": 3, "bob": 1, "carol": 2}  # least loaded first


def test_cli_assign(project: Project, store: LocalStore, tmp_path: Path) -> None:
    _load(store, project, tmp_path, 20)
    store.close()
    runner = CliRunner()
    result = runner.invoke(app, ["assign", "--annotators", "alice,bob,carol", "--overlap", "0.2",
                                 "-p", str(project.root)])
    assert result.exit_code == 0, result.output
    assert "Assigned 20 items (28 assignments, 4 shared by everyone)" in result.output
    freed = runner.invoke(app, ["assign", "--unassign", "carol", "-p", str(project.root)])
    assert freed.exit_code == 0 and "Freed 9 open items of carol" in freed.output
