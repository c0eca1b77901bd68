"""Looking inside and undoing: items, ids by prefix, import batches, the team, and removals that
the audit trail records and `prefer audit --verify` still vouches for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.errors import BadInputError
from core.inventory import resolve_batch, resolve_id, team
from core.models import ItemFilter
from core.project import Project, open_project
from core.store import LocalStore
from tests.test_audit import _busy_template, busy  # noqa: F401  (fixtures: a store after every kind of write)
from tui.cli import app

runner = CliRunner()


def _cli(project: Project, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "-p", str(project.root)])
    return result.exit_code, result.output


def _counts(store: LocalStore) -> dict[str, int]:
    return {t: store.execute_for_test(f"SELECT count(*) FROM {t}")[0][0]
            for t in ("prompts", "candidates", "judgments", "pairwise_judgments", "flags",
                      "adjudications", "assignments", "gold_items", "generations", "events")}


# --- ids by prefix -----------------------------------------------------------------------------

def test_ids_are_taken_by_an_unambiguous_prefix(busy: LocalStore) -> None:  # noqa: F811
    assert resolve_id(busy, "prompt", "q000") == "q000"
    assert resolve_id(busy, "prompt", "q001") == "q001"
    with pytest.raises(BadInputError, match="'q00' is the start of several item ids: q000, "):
        resolve_id(busy, "prompt", "q00")
    with pytest.raises(BadInputError, match="no item zz: no item id starts with it"):
        resolve_id(busy, "prompt", "zz")
    candidate = busy.get_item("q003").candidates[0].candidate_id  # type: ignore[union-attr]
    assert resolve_id(busy, "candidate", candidate[:14]) == candidate


def test_gold_takes_candidate_ids_by_prefix(project: Project, busy: LocalStore  # noqa: F811
                                            ) -> None:
    item = busy.get_item("q005")
    assert item is not None
    best, worst = (c.candidate_id for c in item.candidates[:2])
    busy.close()
    code, out = _cli(project, "gold", "q005", "--best", best[:12], "--worst", worst[:12])
    assert code == 0, out
    code, out = _cli(project, "gold", "q005", "--best", "c_")
    assert code == 2 and "matches several candidates of q005" in out


# --- items ---------------------------------------------------------------------------------------

def test_items_are_listed_and_filtered_by_status(project: Project,
                                                 busy: LocalStore) -> None:  # noqa: F811
    everything = busy.list_items(ItemFilter())
    assert [i.prompt_id for i in everything][:6] == [f"q00{n}" for n in range(6)]
    by_id = {i.prompt_id: i for i in everything}
    assert by_id["q000"].statuses == ("disputed", "decided", "judged") or \
        "decided" in by_id["q000"].statuses
    assert by_id["q005"].statuses == ("unjudged",)
    judged = {i.prompt_id for i in busy.list_items(ItemFilter(status="judged"))}
    assert {"q000", "q001"} <= judged and "q005" not in judged
    decided = {i.prompt_id for i in busy.list_items(ItemFilter(status="decided"))}
    assert decided == {"q000", "q002"}
    held = busy.list_items(ItemFilter(status="held-back"))
    assert all(set(i.statuses) & {"disputed", "flagged"} for i in held)
    assert busy.list_items(ItemFilter(dimension="safety")) == []
    with pytest.raises(BadInputError, match="unknown status"):
        busy.list_items(ItemFilter(status="lost"))
    busy.close()
    code, out = _cli(project, "items", "--status", "decided", "--json")
    assert code == 0 and {i["prompt_id"] for i in json.loads(out)} == {"q000", "q002"}
    code, out = _cli(project, "items", "--status", "lost")
    assert code == 2 and "is not one of" in out


def test_an_item_shows_everything_stored_about_it(project: Project,
                                                  busy: LocalStore) -> None:  # noqa: F811
    detail = busy.item_detail("q000")
    assert detail is not None
    assert {j.annotator for j in detail.judgments} == {"alice", "bob"}
    assert detail.adjudication is not None and detail.adjudication.reviewer == "rita"
    assert detail.pairs and detail.build_id is not None
    assert any(s == "generated" for s in detail.candidate_sources.values())
    busy.close()
    code, out = _cli(project, "items", "show", "q000")
    assert code == 0, out
    for text in ("Candidates (4)", "generated: brief by llama3.1:8b", "alice: best 1, worst 3",
                 "bob: best 3, worst 1", "Decision by rita", "Pairs in build", "kept"):
        assert text in out, (text, out)
    code, out = _cli(project, "items", "show", "q00")
    assert code == 2 and "several item ids" in out


# --- imports and removing one --------------------------------------------------------------------

def test_imports_are_listed_with_what_they_still_hold(busy: LocalStore) -> None:  # noqa: F811
    batches = busy.import_batches()
    first = batches[0]
    assert (first.kind, first.prompts, first.candidates) == ("prompts", 6, 18)
    assert [b.kind for b in batches] == ["prompts", "judgments", "judgments"]
    assert resolve_batch(busy, batches[0].batch_id) == batches[0]
    assert resolve_batch(busy, "items.jsonl") == batches[0]


def test_removing_a_batch_others_worked_on_is_refused_then_done_with_judgments(
        project: Project, busy: LocalStore) -> None:  # noqa: F811
    before = _counts(busy)
    batch = busy.import_batches()[0]
    busy.close()
    code, out = _cli(project, "imports", "remove", batch.batch_id)
    assert code == 2
    assert "has work that depends on its rows:" in out and "judgment" in out
    assert "nothing was removed" in out and "--with-judgments" in out
    store = LocalStore.open(project.database_path)
    assert _counts(store) == before  # refused: nothing removed, no event
    store.close()

    code, out = _cli(project, "imports", "remove", batch.batch_id, "--with-judgments")
    assert code == 0, out
    assert out.startswith(f"Removed import batch {batch.batch_id}")
    store = LocalStore.open(project.database_path)
    after = _counts(store)
    assert after["prompts"] == before["prompts"] - 6
    assert after["generations"] == 0 and after["adjudications"] == 0
    assert store.execute_for_test("SELECT count(*) FROM judgments WHERE prompt_id LIKE 'q00%'"
                                  )[0][0] == 0
    event = store.events(limit=1)[0]
    assert event.action == "import.remove"
    removed = json.loads(event.details)["removed"]
    assert removed["prompts"] == 6 and removed["judgments"] == 4 and removed["generations"] == 2
    report = store.verify_audit()
    assert report.ok, report.problems
    store.close()
    code, out = _cli(project, "audit", "--verify")
    assert code == 0, out


def test_a_removal_does_not_launder_an_earlier_edit(project: Project,
                                                    busy: LocalStore) -> None:  # noqa: F811
    busy.execute_for_test("UPDATE judgments SET justification = 'edited behind the back' "
                          "WHERE annotator = 'bob'")
    batch = busy.import_batches()[0]
    busy.remove_import(batch.seq, True, "admin")
    report = busy.verify_audit()
    assert not report.ok
    assert any("judgments" in p.message for p in report.problems), report.problems


def test_a_batch_nobody_worked_on_goes_without_asking(project: Project,
                                                      busy: LocalStore) -> None:  # noqa: F811
    last = busy.import_batches()[-1]  # j2: one pairwise label, nothing depends on it
    removal = busy.remove_import(last.seq, False, "admin")
    assert removal.refused is None and removal.removed == {"pairwise_judgments": 1}
    assert busy.verify_audit().ok
    with pytest.raises(BadInputError, match="no import batch"):
        busy.remove_import(9999, False, "admin")


# --- the team --------------------------------------------------------------------------------------

def _with_annotators(project: Project, **roles: str) -> Project:
    lines = "".join(f'{name} = "{role}"\n' for name, role in roles.items())
    text = project.config_path.read_text()
    project.config_path.write_text(text.replace("[annotators]\n", "[annotators]\n" + lines)
                                   if "[annotators]\n" in text
                                   else text + "\n[annotators]\n" + lines)
    return open_project(project.root)


def test_the_team_lists_everyone_listed_or_seen_at_zero_too(project: Project,
                                                            busy: LocalStore) -> None:  # noqa: F811
    listed = _with_annotators(project, erin="annotator", rita="reviewer")
    members = {m.annotator: m for m in team(busy, listed.config)}
    assert {"alice", "bob", "carol", "dan", "erin", "rita"} <= set(members)
    assert (members["erin"].role, members["erin"].judged, members["erin"].assigned) == \
        ("annotator", 0, 0)
    assert members["alice"].role is None and members["alice"].judged == 2
    assert members["alice"].assigned > 0 and members["alice"].last_active is not None
    busy.close()
    code, out = _cli(project, "annotators")
    assert code == 0 and "erin" in out and "never" in out and "not in prefer.toml" in out
    code, out = _cli(project, "status")
    assert code == 0 and "erin" in out, out


def test_removing_an_annotator_frees_their_work_or_drops_it(project: Project,
                                                            busy: LocalStore) -> None:  # noqa: F811
    listed = _with_annotators(project, alice="annotator", bob="annotator")
    busy.close()
    code, out = _cli(project, "annotators", "remove", "alcie")
    assert code == 2 and "did you mean 'alice'" in out
    code, out = _cli(project, "annotators", "remove", "alice")
    assert code == 0, out
    assert "Their judgments stay" in out
    config = open_project(listed.root).config
    assert "alice" not in config.annotators and "bob" in config.annotators
    store = LocalStore.open(project.database_path)
    assert store.progress("alice").judged == 2  # kept
    assert store.assignment_loads().get("alice", 0) == 0
    store.close()
    code, out = _cli(project, "annotators", "remove", "bob", "--drop-judgments")
    assert code == 0, out
    store = LocalStore.open(project.database_path)
    assert store.execute_for_test("SELECT count(*) FROM judgments WHERE annotator = 'bob'"
                                  )[0][0] == 0
    assert store.execute_for_test("SELECT count(*) FROM flags WHERE annotator = 'bob'")[0][0] == 0
    event = store.events(limit=1)[0]
    assert (event.action, event.subject) == ("annotator.remove", "bob")
    assert json.loads(event.details)["removed"]["judgments"] == 1
    assert store.verify_audit().ok
    store.close()


def test_removals_need_the_admin_role() -> None:
    from core.store.api import OPERATIONS, Role

    for name in ("remove_import", "remove_annotator"):
        assert OPERATIONS[name].role is Role.admin and OPERATIONS[name].writes
    for name in ("list_items", "item_detail", "import_batches", "annotator_summaries",
                 "ids_with_prefix"):
        assert OPERATIONS[name].role is Role.reviewer


def test_nothing_to_list_says_what_to_do(tmp_path: Path) -> None:
    root = tmp_path / "p"
    runner.invoke(app, ["init", str(root)])
    for args, expected in ((["items"], "No items yet: `prefer import FILE`"),
                           (["imports"], "No imports yet"),
                           (["annotators"], "No annotators yet: list them in [annotators]")):
        result = runner.invoke(app, [*args, "-p", str(root)])
        assert result.exit_code == 0 and expected in result.output, result.output


def test_assign_refuses_a_name_one_slip_from_someone_with_work(
        project: Project, busy: LocalStore) -> None:  # noqa: F811
    from core.assign import assign

    with pytest.raises(BadInputError, match="'alcie' is new, and close to 'alice'"):
        assign(busy, ["alcie", "bob"], actor="admin", per_item=1)
    assign(busy, ["frank", "bob"], actor="admin", per_item=1)  # new and unlike anyone: taken


def test_the_server_refuses_looking_inside_to_annotators_and_removals_to_reviewers(
        busy: LocalStore) -> None:  # noqa: F811
    from core.errors import AccessDeniedError
    from core.server import Caller, authorize

    alice = Caller("alice", 1001, "annotator", "alice")
    rita = Caller("rita", 1002, "reviewer", "rita")
    for name, args in (("list_items", [ItemFilter()]), ("item_detail", ["q000"]),
                       ("import_batches", []), ("annotator_summaries", []),
                       ("ids_with_prefix", ["prompt", "q"])):
        with pytest.raises(AccessDeniedError):
            authorize(busy, alice, name, list(args), {})
        authorize(busy, rita, name, list(args), {})  # a reviewer may look
    for name, args in (("remove_import", [1, True, "rita"]),
                       ("remove_annotator", ["bob", True, "rita"])):
        with pytest.raises(AccessDeniedError, match="needs admin"):
            authorize(busy, rita, name, list(args), {})


def test_looking_inside_and_removing_work_through_prefer_serve(project: Project,
                                                               busy: LocalStore  # noqa: F811
                                                               ) -> None:
    from core.server import StoreServer

    server = StoreServer(project.root, busy)
    server.bind()
    server.start_in_thread()
    try:
        code, out = _cli(project, "items", "show", "q000")
        assert code == 0 and "Decision by rita" in out, out
        code, out = _cli(project, "imports")
        assert code == 0 and " i1 " in out and "items.js" in out, out
        code, out = _cli(project, "imports", "remove", "i1")
        assert code == 2 and "has work that depends on its rows" in out, out
        code, out = _cli(project, "annotators", "remove", "bob", "--drop-judgments")
        assert code == 0, out
        code, out = _cli(project, "audit", "--verify")
        assert code == 0, out
    finally:
        server.shutdown()
