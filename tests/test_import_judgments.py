"""`prefer import-judgments`: labels made elsewhere (best/worst, rankings with ties, pairwise winners)
from JSONL, CSV and Parquet; references by id, text and number; idempotent; all or nothing."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from core.config import DEFAULT_DIMENSIONS
from core.errors import BadInputError, ImportRowError
from core.judgment_import import import_judgments
from core.models import Judgment, JudgmentImportCounts
from core.project import Project, init_project
from core.server import StoreServer
from core.sources import import_file
from core.store import LocalStore, open_store
from core.store.local import candidate_id_for
from core.store.remote import RemoteStore
from tests.conftest import write_jsonl
from tui.cli import app

DIMENSIONS = list(DEFAULT_DIMENSIONS)
REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
runner = CliRunner()


def _pid(prompt: str, system: str = "") -> str:
    return "p_" + hashlib.sha256(f"{system}\x1f{prompt}".encode()).hexdigest()[:16]


def _counts(store: LocalStore) -> tuple[int, ...]:
    return store.execute_for_test(
        "SELECT (SELECT count(*) FROM prompts), (SELECT count(*) FROM candidates), "
        "(SELECT count(*) FROM judgments), (SELECT count(*) FROM judgment_rankings), "
        "(SELECT count(*) FROM pairwise_judgments), (SELECT count(*) FROM events)")[0]


def _current(store: LocalStore, annotator: str, prompt_id: str) -> Judgment:
    judgment = store.current_judgment(annotator, prompt_id)
    assert judgment is not None
    return judgment


def _run(store: LocalStore, path: Path, **kwargs: Any) -> JudgmentImportCounts:
    return import_judgments(store, path, actor="t", **kwargs)


Q = {"prompt": "Can I close my account online?", "candidates": ["Yes, in Settings.", "No.",
                                                                "Only in a branch."]}


# --- the three label forms --------------------------------------------------------------------

def test_best_worst_by_text_number_and_id_creates_the_item(store: LocalStore, tmp_path: Path) -> None:
    pid = _pid(Q["prompt"])
    ids = [candidate_id_for(pid, t) for t in Q["candidates"]]
    path = write_jsonl(tmp_path / "bw.jsonl", [
        {"annotator": "alice", **Q, "best": "Yes, in Settings.", "worst": 2,
         "justification": "Settings is where it is.", "dimension": "accuracy"},
        {"annotator": "bob", **Q, "best": ids[2], "worst": "2"},
        {"annotator": "carol", "prompt": "Two only", "candidates": ["x", "y"], "best": "y"},
    ])
    counts = _run(store, path)
    assert (counts.rows, counts.new_prompts, counts.new_candidates) == (3, 2, 5)
    assert (counts.judgments_in_file, counts.new_judgments, counts.superseded) == (3, 3, 0)
    item = store.get_item(pid)
    assert item is not None and [c.candidate_id for c in item.candidates] == ids
    assert [c.position for c in item.candidates] == [1, 2, 3]
    alice = _current(store, "alice", pid)
    assert (alice.kind, alice.best_candidate_id, alice.worst_candidate_id) == ("ranked", ids[0], ids[1])
    assert alice.shown_order == tuple(ids) and alice.dimensions == ("accuracy",)
    assert alice.justification == "Settings is where it is."
    bob = _current(store, "bob", pid)
    assert (bob.best_candidate_id, bob.worst_candidate_id) == (ids[2], ids[1])
    carol = _current(store, "carol", _pid("Two only"))
    # Two candidates: the worst is the other one.
    assert carol.worst_candidate_id == candidate_id_for(_pid("Two only"), "x")
    assert store.execute_for_test("SELECT count(*) FROM judgment_rankings")[0][0] == 0


def test_items_get_the_same_ids_as_prefer_import(store: LocalStore, tmp_path: Path) -> None:
    import_file(store, write_jsonl(tmp_path / "p.jsonl", [
        {**Q, "system": "  You are Northwind's assistant. "}, {"id": 7, "prompt": "Mine",
                                                               "candidates": ["m1", "m2"]}]), actor="t")
    before = _counts(store)
    counts = _run(store, write_jsonl(tmp_path / "j.jsonl", [
        {"annotator": "a", **Q, "system": "You are Northwind's assistant.", "best": 1, "worst": 3},
        {"annotator": "a", "id": 7, "prompt": "Mine", "candidates": ["m2", "m1"], "best": "m1"},
        {"annotator": "b", "prompt_id": 7, "best": "m2"},
    ]))
    assert (counts.new_prompts, counts.new_candidates, counts.new_judgments) == (0, 0, 3)
    assert _counts(store)[:2] == before[:2]
    b = _current(store, "b", "7")
    assert b.shown_order == (candidate_id_for("7", "m1"), candidate_id_for("7", "m2"))


def test_ranking_with_ties(store: LocalStore, tmp_path: Path) -> None:
    pid = _pid(Q["prompt"])
    ids = [candidate_id_for(pid, t) for t in Q["candidates"]]
    counts = _run(store, write_jsonl(tmp_path / "r.jsonl", [
        {"annotator": "a", **Q, "ranking": [3, [1, "No."]]},
        {"annotator": "b", **Q, "ranking": [[1, 2], 3]},
        {"annotator": "c", **Q, "ranking": ["No.", ids[0], ids[2]]},
        {"annotator": "d", **Q, "ranking": [[1, 2, 3]]},
    ]))
    assert (counts.new_judgments, counts.pairwise_in_file) == (4, 0)
    groups = dict(store.execute_for_test("SELECT annotator, groups FROM judgment_rankings "
                                         "JOIN judgments USING (judgment_id)"))
    assert groups == {"a": [[ids[2]], [ids[0], ids[1]]], "b": [[ids[0], ids[1]], [ids[2]]],
                      "c": [[ids[1]], [ids[0]], [ids[2]]], "d": [ids]}
    ends = {a: (_current(store, a, pid).best_candidate_id, _current(store, a, pid).worst_candidate_id)
            for a in "abcd"}
    # best/worst: the sole candidate of the first / last group, NULL where that end is a tie.
    assert ends == {"a": (ids[2], None), "b": (None, ids[2]), "c": (ids[1], ids[2]),
                    "d": (None, None)}


def test_pairwise_winners(store: LocalStore, tmp_path: Path) -> None:
    pid = _pid(Q["prompt"])
    ids = [candidate_id_for(pid, t) for t in Q["candidates"]]
    counts = _run(store, write_jsonl(tmp_path / "w.jsonl", [
        {"annotator": "a", **Q, "first": 1, "second": 2, "winner": 1},
        {"annotator": "a", **Q, "first": 1, "second": 3, "winner": "Second"},
        {"annotator": "b", **Q, "first": "No.", "second": ids[0], "winner": 0},
        {"annotator": "b", **Q, "first": 2, "second": 3, "winner": "tie", "dimension": "tone",
         "justification": "Both refuse."},
    ]))
    assert (counts.pairwise_in_file, counts.new_pairwise, counts.judgments_in_file) == (4, 4, 0)
    rows = store.execute_for_test(
        "SELECT annotator, first_candidate_id, second_candidate_id, winner, dimensions, "
        "justification, source FROM pairwise_judgments ORDER BY annotator, winner")
    assert [r[:4] for r in rows] == [("a", ids[0], ids[1], "first"), ("a", ids[0], ids[2], "second"),
                                     ("b", ids[1], ids[0], "tie"), ("b", ids[1], ids[2], "tie")]
    assert rows[3][4:6] == (["tone"], "Both refuse.") and rows[0][6].endswith("w.jsonl")
    assert store.execute_for_test("SELECT count(*) FROM judgments")[0][0] == 0


def test_pairwise_ties_feed_agreement(store: LocalStore, tmp_path: Path) -> None:
    from core import agreement as ag
    from core.agreement_report import collect_labels

    _run(store, write_jsonl(tmp_path / "w.jsonl", [
        {"annotator": a, **Q, "first": 1, "second": 2, "winner": "tie"} for a in ("x", "y")]))
    _, ratings = collect_labels(store.agreement_rows())
    assert list(ratings.values()) == [{"x": ag.TIE, "y": ag.TIE}]
    assert ag.percent_agreement(ratings) == 1.0
    assert math.isnan(ag.percent_agreement(ratings, with_ties=False))  # ties are left out


def test_new_item_from_one_row_serves_rows_without_candidates(store: LocalStore, tmp_path: Path
                                                              ) -> None:
    counts = _run(store, write_jsonl(tmp_path / "long.jsonl", [
        {"annotator": "a", "prompt": "P", "candidates": ["u", "v", "w"], "best": "u", "worst": "w"},
        {"annotator": "b", "prompt": "P", "best": "v", "worst": "u"},
    ]))
    assert (counts.new_prompts, counts.new_candidates, counts.new_judgments) == (1, 3, 2)
    assert len(_current(store, "b", _pid("P")).shown_order) == 3


# --- idempotence and revisions ---------------------------------------------------------------

def test_reimport_adds_nothing(store: LocalStore, tmp_path: Path) -> None:
    rows = [{"annotator": "a", **Q, "best": 1, "worst": 2},
            {"annotator": "b", **Q, "ranking": [[1, 2], 3]},
            {"annotator": "c", **Q, "first": 1, "second": 2, "winner": "first"},
            {"annotator": "c", **Q, "first": 2, "second": 1, "winner": "second"}]  # same label again
    path = write_jsonl(tmp_path / "j.jsonl", rows)
    _run(store, path)
    before = _counts(store)
    again = _run(store, path)
    assert (again.new_prompts, again.new_candidates, again.new_judgments, again.new_pairwise,
            again.superseded, again.replaced_pairwise) == (0, 0, 0, 0, 0, 0)
    assert _counts(store)[:5] == before[:5]
    # Rows in another order (and a swapped pair) are the same labels.
    swapped = [rows[2], rows[0], {**rows[3], "first": 1, "second": 2, "winner": "first"}, rows[1]]
    assert _run(store, write_jsonl(tmp_path / "k.jsonl", swapped)).new_pairwise == 0
    assert _counts(store)[:5] == before[:5]


def test_a_changed_label_supersedes_the_earlier_judgment(store: LocalStore, tmp_path: Path) -> None:
    pid = _pid(Q["prompt"])
    first = _run(store, write_jsonl(tmp_path / "a.jsonl", [{"annotator": "a", **Q, "best": 1,
                                                             "worst": 2}]))
    old = _current(store, "a", pid)
    changed = _run(store, write_jsonl(tmp_path / "b.jsonl", [{"annotator": "a", **Q,
                                                               "ranking": [2, 1, 3]}]))
    assert (first.new_judgments, changed.new_judgments, changed.superseded) == (1, 1, 1)
    new = _current(store, "a", pid)
    assert new.supersedes == old.judgment_id and new.judgment_id != old.judgment_id
    assert store.status().superseded == 1
    # Back to the first label: a third judgment, not a silent no-op.
    back = _run(store, write_jsonl(tmp_path / "a2.jsonl", [{"annotator": "a", **Q, "best": 1,
                                                             "worst": 2}]))
    assert back.superseded == 1 and _current(store, "a", pid).supersedes == new.judgment_id
    assert len(store.judgments_of("a", include_superseded=True)) == 3


def test_an_import_supersedes_a_judgment_made_in_prefer(store: LocalStore, tmp_path: Path) -> None:
    pid = _pid(Q["prompt"])
    import_file(store, write_jsonl(tmp_path / "p.jsonl", [Q]), actor="t")
    ids = [c.candidate_id for c in store.get_item(pid).candidates]  # type: ignore[union-attr]
    saved = store.save_judgment(Judgment("j_tui", "a", pid, "ranked", tuple(ids), ids[0], ids[1],
                                         justification="Made on the annotation screen."))
    counts = _run(store, write_jsonl(tmp_path / "j.jsonl", [{"annotator": "a", "prompt_id": pid,
                                                              "best": ids[2], "worst": ids[0]}]))
    assert counts.superseded == 1
    assert _current(store, "a", pid).supersedes == saved.judgment_id


def test_a_changed_pairwise_label_replaces_the_stored_one(store: LocalStore, tmp_path: Path) -> None:
    row = {"annotator": "a", **Q, "first": 1, "second": 2}
    _run(store, write_jsonl(tmp_path / "a.jsonl", [{**row, "winner": "first"},
                                                    {**row, "second": 3, "winner": "tie"}]))
    (old_id,) = store.execute_for_test("SELECT pairwise_id FROM pairwise_judgments "
                                       "WHERE winner = 'first'")[0]
    counts = _run(store, write_jsonl(tmp_path / "b.jsonl", [{**row, "winner": "second"}]))
    assert (counts.new_pairwise, counts.replaced_pairwise) == (1, 1)
    assert sorted(w for (w,) in store.execute_for_test("SELECT winner FROM pairwise_judgments")) == \
        ["second", "tie"]
    event = store.events()[-1]
    assert event.action == "import-judgments"
    assert json.loads(event.details)["replaced_pairwise_rows"][0][0] == old_id


def test_one_transaction_one_audit_event(store: LocalStore, tmp_path: Path) -> None:
    _run(store, write_jsonl(tmp_path / "j.jsonl", [{"annotator": "a", **Q, "best": 1, "worst": 2},
                                                   {"annotator": "b", **Q, "best": 2, "worst": 1}]))
    events = store.events()
    assert [e.action for e in events] == ["import-judgments"]
    details = json.loads(events[0].details)
    assert (details["new_judgments"], details["new_prompts"], details["annotators"]) == (2, 1, ["a", "b"])


def test_dry_run_stores_nothing(store: LocalStore, tmp_path: Path) -> None:
    counts = _run(store, write_jsonl(tmp_path / "j.jsonl", [{"annotator": "a", **Q, "best": 1,
                                                             "worst": 2}]), dry_run=True)
    assert counts.dry_run and (counts.new_prompts, counts.new_judgments) == (1, 1)
    assert _counts(store) == (0, 0, 0, 0, 0, 0)


# --- bad rows: FILE:LINE: field 'x': problem, nothing stored --------------------------------------

A = {"annotator": "a"}
BAD_ROWS: list[tuple[str, list[Any], str]] = [
    ("no annotator", [{**Q, "best": 1, "worst": 2}],
     "field 'annotator': missing (every row names who judged)"),
    ("annotator not a string", [{"annotator": 5, **Q, "best": 1, "worst": 2}],
     "field 'annotator': expected a string, got a number"),
    ("no item", [{**A, "best": 1}],
     "field 'prompt': missing (give prompt and candidates, or the prompt_id of a stored item)"),
    ("both prompt and prompt_id", [{**A, **Q, "prompt_id": "x", "best": 1, "worst": 2}],
     "field 'prompt_id': give either prompt_id or prompt, not both (name a new prompt with id)"),
    ("unknown prompt_id", [{**A, "prompt_id": "nope", "best": 1}],
     "field 'prompt_id': no stored prompt 'nope' (import it first with prefer import, or give "
     "prompt and candidates)"),
    ("system with prompt_id", [{**A, "prompt_id": "nope", "system": "s", "best": 1}],
     "field 'system': goes only with prompt (this row names a stored item by prompt_id)"),
    ("empty prompt", [{**A, "prompt": " ", "candidates": ["a", "b"], "best": 1}],
     "field 'prompt': is empty"),
    ("candidates not a list", [{**A, "prompt": "P", "candidates": "a, b", "best": 1}],
     "field 'candidates': expected a list of strings, got a string"),
    ("candidate not a string", [{**A, "prompt": "P", "candidates": ["a", True], "best": 1}],
     "field 'candidates': item 2 is not a string (got a boolean)"),
    ("candidate repeated", [{**A, "prompt": "P", "candidates": ["a", "b", "a"], "best": 1}],
     "field 'candidates': item 3 repeats item 1"),
    ("new prompt without candidates", [{**A, "prompt": "P", "best": "a"}],
     "field 'candidates': missing (this item has no candidates yet: give their texts)"),
    ("one candidate", [{**A, "prompt": "P", "candidates": ["a"], "best": 1}],
     "field 'candidates': the item has 1 candidate; a judgment compares at least two"),
    ("no label", [{**A, **Q}],
     "field 'best': missing (a row needs a label: best and worst, a ranking, or first, second "
     "and winner)"),
    ("two labels", [{**A, **Q, "best": 1, "worst": 2, "ranking": [1, 2, 3]}],
     "field 'ranking': a row gives one label, and this one has best too (use best/worst, "
     "ranking, or first/second/winner)"),
    ("worst without best", [{**A, **Q, "worst": 2}], "field 'best': missing (worst goes with best)"),
    ("worst missing with 3", [{**A, **Q, "best": 1}],
     "field 'worst': missing (with 3 candidates, name the worst too)"),
    ("best equals worst", [{**A, **Q, "best": 1, "worst": "Yes, in Settings."}],
     "field 'worst': is the same candidate as best"),
    ("unknown text", [{**A, **Q, "best": "Maybe.", "worst": 1}],
     "field 'best': 'Maybe.' is not a candidate of this item (give a candidate id, its text, or "
     "its number in candidates)"),
    ("number out of range", [{**A, **Q, "best": 1, "worst": 4}],
     "field 'worst': 4 is out of range (this row has 3 candidates)"),
    ("number without a list", [{**A, "prompt_id": "stored", "best": 1}],
     "field 'best': 1 is a number, but this row has no candidates list to count in (give a "
     "candidate id or text)"),
    ("reference of a wrong type", [{**A, **Q, "best": 1.5, "worst": 1}],
     "field 'best': expected a candidate id, text or number, got a number"),
    ("ranking not a list", [{**A, **Q, "ranking": "1 > 2 > 3"}],
     "field 'ranking': expected a list, best first, got a string"),
    ("ranking repeats", [{**A, **Q, "ranking": [1, [2, 1], 3]}],
     "field 'ranking': place 2: candidate 1 is already ranked at place 1"),
    ("ranking incomplete", [{**A, **Q, "ranking": [1, 3]}],
     "field 'ranking': does not rank candidate 2 (rank every candidate of the item exactly once)"),
    ("ranking empty group", [{**A, **Q, "ranking": [1, [], 2, 3]}],
     "field 'ranking': place 2 is an empty group"),
    ("ranking unknown", [{**A, **Q, "ranking": [1, 2, "x"]}],
     "field 'ranking': place 3: 'x' is not a candidate of this item (give a candidate id, its "
     "text, or its number in candidates)"),
    ("pairwise without second", [{**A, **Q, "first": 1, "winner": "first"}],
     "field 'second': missing (a pairwise label names two candidates, first and second, and "
     "the winner)"),
    ("pairwise without winner", [{**A, **Q, "first": 1, "second": 2}],
     "field 'winner': missing (first, second or tie)"),
    ("pairwise bad winner", [{**A, **Q, "first": 1, "second": 2, "winner": "A"}],
     "field 'winner': expected first, second or tie (or 1, 2, 0), got 'A'"),
    ("pairwise same candidate", [{**A, **Q, "first": 1, "second": "Yes, in Settings.",
                                  "winner": 0}],
     "field 'second': is the same candidate as first"),
    ("unknown dimension", [{**A, **Q, "best": 1, "worst": 2, "dimension": "humour"}],
     "field 'dimension': unknown dimension 'humour' (prefer.toml allows: tone, accuracy, "
     "compliance, disclosure, safety)"),
    ("justification not a string", [{**A, **Q, "best": 1, "worst": 2, "justification": ["x"]}],
     "field 'justification': expected a string, got a list"),
    ("id reused for another prompt", [{**A, "id": "k", **Q, "best": 1, "worst": 2},
                                      {**A, "id": "k", "prompt": "Other", "candidates": ["a", "b"],
                                       "best": 1}],
     "field 'id': 'k' is already used on line 4 for a different prompt"),
    ("same annotator, same item, two labels", [{**A, **Q, "best": 1, "worst": 2},
                                               {**A, **Q, "best": 2, "worst": 1}],
     "field 'annotator': 'a' already judged this item on line 4 with a different label (one "
     "judgment per annotator and item; compare two candidates with first, second and winner)"),
    ("broken json", ['{"annotator": "a",'], "not valid JSON"),
    ("not an object", ['["a", 1]'], "expected a JSON object per line"),
]


@pytest.fixture(scope="module")
def stored_item(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStore]:
    """One store for every bad-row case: none of them may store anything, so they share it."""
    root = tmp_path_factory.mktemp("bad_rows")
    project = init_project(root / "alignment")
    store = open_store(project.database_path)
    import_file(store, write_jsonl(root / "stored.jsonl", [{"id": "stored", "prompt": "S",
                                                            "candidates": ["s1", "s2"]}]), actor="t")
    yield store
    store.close()


@pytest.mark.parametrize(("case", "rows", "expected"), BAD_ROWS, ids=[c[0] for c in BAD_ROWS])
def test_a_bad_row_names_file_line_and_field_and_stores_nothing(
        stored_item: LocalStore, tmp_path: Path, case: str, rows: list[Any], expected: str) -> None:
    store = stored_item
    good = [json.dumps({"annotator": "ok", **Q, "best": 1, "worst": 2}),
            json.dumps({"annotator": "ok", "prompt_id": "stored", "first": "s1", "second": "s2",
                        "winner": "tie"})]
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path = tmp_path / "bad.jsonl"
    # Good rows and a blank line first: the bad row's line counts them (3 + its index).
    path.write_text("\n".join([*good, "", *lines]) + "\n", encoding="utf-8")
    before = _counts(store)
    with pytest.raises(ImportRowError) as caught:
        _run(store, path)
    assert caught.value.message == f"{path}:{3 + len(lines)}: {expected}"
    assert _counts(store) == before


def test_invalid_utf8_names_the_line(store: LocalStore, tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"annotator": "a", "prompt_id": "x", "best": "y"}\n'
                     b'{"annotator": "J\xfcrgen"}\n')
    with pytest.raises(ImportRowError) as caught:
        _run(store, path)
    assert caught.value.message == f"{path}:2: invalid UTF-8 (byte 0xfc at column 17)"
    assert _counts(store) == (0, 0, 0, 0, 0, 0)


# --- --map -----------------------------------------------------------------------------------------

def test_map_renames_fields(store: LocalStore, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "m.jsonl", [
        {"rater": "a", "question": "Q?", "answers": ["x", "y"], "chosen": "y", "why": "shorter"}])
    counts = _run(store, path, mapping="rater=annotator, question=prompt,answers=candidates,"
                                       "chosen=best,why=justification")
    assert counts.new_judgments == 1 and counts.ignored_fields == ()
    judgment = _current(store, "a", _pid("Q?"))
    assert judgment.best_candidate_id == candidate_id_for(_pid("Q?"), "y")
    assert judgment.justification == "shorter"


@pytest.mark.parametrize(("mapping", "message"), [
    ("rater", "--map: 'rater' is not old=new"),
    ("rater=annotator,rater=best", "--map: 'rater' is mapped twice"),
    ("rater=annotator,judge=annotator", "--map: both 'rater' and 'judge' map to 'annotator'"),
    ("rater=labeller", "--map rater=labeller: 'labeller' is not a field prefer reads"),
    ("judge=annotator", "--map judge=annotator: the file has no field 'judge' (it has: rater, "
                        "prompt, candidates, best, annotator)"),
    ("rater=best", "--map rater=best: the file already has a field 'best'"),
])
def test_a_bad_map_is_a_usage_error(store: LocalStore, tmp_path: Path, mapping: str,
                                    message: str) -> None:
    path = write_jsonl(tmp_path / "m.jsonl", [{"rater": "a", "prompt": "Q", "candidates": ["x", "y"],
                                               "best": "x", "annotator": "dup"}])
    with pytest.raises(BadInputError) as caught:
        _run(store, path, mapping=mapping)
    assert caught.value.message == message and caught.value.exit_code == 2
    assert _counts(store) == (0, 0, 0, 0, 0, 0)


def test_map_can_swap_fields(store: LocalStore, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [{"annotator": "a", **Q, "best": 1, "worst": 2}])
    _run(store, path, mapping="best=worst,worst=best")
    judgment = _current(store, "a", _pid(Q["prompt"]))
    assert judgment.best_candidate_id == candidate_id_for(_pid(Q["prompt"]), Q["candidates"][1])


# --- CSV and Parquet -------------------------------------------------------------------------------

def test_csv_with_json_cells_and_numbers_as_text(store: LocalStore, tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(
        'annotator,prompt,candidates,best,worst,ranking,first,second,winner\n'
        'a,"Q, with a comma","[""x"", ""y"", ""z""]",3,x,,,,\n'
        'b,"Q, with a comma","[""x"", ""y"", ""z""]",,,"[[""x"", 2], ""z""]",,,\n'
        'c,"Q, with a comma","[""x"", ""y"", ""z""]",,,,1,y,2\n', encoding="utf-8")
    counts = _run(store, path)
    assert (counts.new_prompts, counts.new_candidates, counts.new_judgments, counts.new_pairwise) == \
        (1, 3, 2, 1)
    pid = _pid("Q, with a comma")
    x, y, z = (candidate_id_for(pid, t) for t in "xyz")
    a = _current(store, "a", pid)
    assert (a.best_candidate_id, a.worst_candidate_id) == (z, x)
    assert store.execute_for_test("SELECT groups FROM judgment_rankings")[0][0] == [[x, y], [z]]
    assert store.execute_for_test("SELECT first_candidate_id, second_candidate_id, winner "
                                  "FROM pairwise_judgments")[0] == (x, y, "second")

    bad = tmp_path / "bad.csv"
    bad.write_text('annotator,prompt,candidates,ranking\n'
                   'a,Q,"[""x"", ""y""]","[1, 2]"\n'
                   'b,Q,"[""x"", ""y""]",1 then 2\n', encoding="utf-8")
    before = _counts(store)
    with pytest.raises(ImportRowError) as caught:
        _run(store, bad)
    assert caught.value.message == (f"{bad}:3: field 'ranking': expected a list, best first, got "
                                    "text that is not a JSON list")
    no_annotator = tmp_path / "rater.csv"
    no_annotator.write_text("rater,prompt_id,best\na,x,y\n", encoding="utf-8")
    with pytest.raises(ImportRowError) as caught:
        _run(store, no_annotator)
    assert caught.value.message == (f"{no_annotator}:1: field 'annotator': no such column (the file "
                                    "has: rater, prompt_id, best); rename one with --map "
                                    "old=annotator")
    assert _counts(store) == before


def test_parquet_lists_and_row_numbers(store: LocalStore, tmp_path: Path) -> None:
    good = tmp_path / "labels.parquet"
    duckdb.sql(f"""COPY (SELECT 'r' || (i % 3) AS annotator, 'Question ' || (i // 3) AS prompt,
                        ['a' || (i // 3), 'b' || (i // 3)] AS candidates, 1 AS first,
                        2 AS second, i % 3 AS winner
                        FROM range(9) t(i)) TO '{good}' (FORMAT PARQUET)""")
    counts = _run(store, good)
    assert (counts.rows, counts.new_prompts, counts.new_pairwise) == (9, 3, 9)
    winners = store.execute_for_test("SELECT winner, count(*) FROM pairwise_judgments GROUP BY 1 "
                                     "ORDER BY 1")
    assert winners == [("first", 3), ("second", 3), ("tie", 3)]

    ranked = tmp_path / "ranked.parquet"
    duckdb.sql(f"""COPY (SELECT 'r' AS annotator, 'P' || i AS prompt, ['x', 'y', 'z'] AS candidates,
                        CASE WHEN i = 2 THEN [['x'], ['y']] ELSE [['x', 'y'], ['z']] END AS ranking
                        FROM range(4) t(i)) TO '{ranked}' (FORMAT PARQUET)""")
    before = _counts(store)
    with pytest.raises(ImportRowError) as caught:
        _run(store, ranked)
    assert caught.value.message == (f"{ranked}:3: field 'ranking': does not rank candidate 3 (rank "
                                    "every candidate of the item exactly once)")
    assert _counts(store) == before


# --- the command -----------------------------------------------------------------------------------

def test_cli_counts_exit_codes_and_json(project: Project, tmp_path: Path) -> None:
    root = str(project.root)
    result = runner.invoke(app, ["import-judgments", "--help"])
    assert result.exit_code == 0
    assert "Examples" in result.output and "prefer import-judgments" in result.output
    path = write_jsonl(tmp_path / "j.jsonl", [{"annotator": "a", **Q, "best": 1, "worst": 2},
                                              {"annotator": "b", **Q, "first": 1, "second": 3,
                                               "winner": "tie", "source_row": 17}])
    result = runner.invoke(app, ["import-judgments", str(path), "-p", root, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "Dry run: nothing was stored." in result.output
    result = runner.invoke(app, ["import-judgments", str(path), "-p", root])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{path}: 2 rows, valid.", "  Added 1 prompt and 3 candidates.", "  Judgments: added 1.",
        "  Pairwise labels: added 1.", "  Annotators: a, b", "  Ignored fields: source_row"]
    result = runner.invoke(app, ["import-judgments", str(path), "-p", root, "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output)["new_judgments"] == 0

    bad = write_jsonl(tmp_path / "bad.jsonl", [{"annotator": "a", **Q, "best": 9, "worst": 1}])
    result = runner.invoke(app, ["import-judgments", str(bad), "-p", root])
    assert result.exit_code == 2
    assert f"error: {bad}:1: field 'best': 9 is out of range (this row has 3 candidates)" in \
        result.output
    assert "nothing from this file was stored" in result.output
    result = runner.invoke(app, ["import-judgments", str(path), "-p", root, "--map", "x=y"])
    assert result.exit_code == 2 and "'y' is not a field prefer reads" in result.output
    result = runner.invoke(app, ["import-judgments", str(tmp_path / "none.jsonl"), "-p", root])
    assert result.exit_code == 2 and "no such file" in result.output


def test_through_the_server(project: Project, store: LocalStore, tmp_path: Path) -> None:
    server = StoreServer(project.root, store)
    server.bind()
    server.start_in_thread()
    try:
        path = write_jsonl(tmp_path / "j.jsonl", [{"annotator": "a", **Q, "best": 1, "worst": 2}])
        with RemoteStore(server.socket_path) as remote:
            counts = _run(remote, path)  # type: ignore[arg-type]
            assert counts.new_judgments == 1
            with pytest.raises(ImportRowError) as caught:
                _run(remote, write_jsonl(tmp_path / "b.jsonl", [{"annotator": "a", "best": 1}]))  # type: ignore[arg-type]
            assert ":1: field 'prompt': missing" in caught.value.message
            with pytest.raises(BadInputError, match="has no field 'judge'"):
                _run(remote, path, mapping="judge=annotator")  # type: ignore[arg-type]
    finally:
        server.shutdown()


# --- real data: PandaLM's test set, 999 pairwise items x 3 annotators -----------------------------

def _pandalm_rows() -> list[dict[str, Any]]:
    items = json.loads((REALDATA / "pandalm_testset-v1.json").read_text(encoding="utf-8"))
    assert len(items) == 999
    rows = []
    for item in items:
        prompt = item["instruction"] + ("\n\n" + item["input"] if item["input"] else "")
        for annotator in ("annotator1", "annotator2", "annotator3"):
            rows.append({"annotator": annotator, "prompt": prompt,
                         "candidates": [item["response1"], item["response2"]], "first": 1,
                         "second": 2, "winner": {0: "tie", 1: "first", 2: "second"}[item[annotator]],
                         "idx": item["idx"]})
    return rows


@pytest.mark.skipif(not (REALDATA / "pandalm_testset-v1.json").exists(),
                    reason=f"real data not present: {REALDATA / 'pandalm_testset-v1.json'}")
def test_pandalm_real_data(store: LocalStore, tmp_path: Path) -> None:
    rows = _pandalm_rows()
    assert len(rows) == 2997
    # The file as published has six responses that are JSON `true`, not text: the import names
    # the first one's line and field and stores nothing.
    raw = write_jsonl(tmp_path / "pandalm_raw.jsonl", rows)
    with pytest.raises(ImportRowError) as caught:
        _run(store, raw)
    first_bad = next(n for n, r in enumerate(rows, 1) if not all(isinstance(c, str)
                                                                  for c in r["candidates"]))
    assert caught.value.message.startswith(f"{raw}:{first_bad}: field 'candidates': item ")
    assert _counts(store) == (0, 0, 0, 0, 0, 0)
    # As text ("True"), every row imports; empty responses are candidates too.
    for row in rows:
        row["candidates"] = [c if isinstance(c, str) else json.dumps(c).capitalize()
                             for c in row["candidates"]]
    path = write_jsonl(tmp_path / "pandalm.jsonl", rows)
    counts = _run(store, path)
    assert (counts.rows, counts.pairwise_in_file, counts.new_pairwise) == (2997, 2997, 2997)
    assert counts.new_prompts == counts.prompts_in_file == 170
    assert counts.annotators == ("annotator1", "annotator2", "annotator3")
    assert counts.ignored_fields == ("idx",)
    assert store.execute_for_test("SELECT count(*) FROM pairwise_judgments")[0][0] == 2997
    assert store.execute_for_test("SELECT winner, count(*) FROM pairwise_judgments GROUP BY 1 "
                                  "ORDER BY 1") == [("first", 1255), ("second", 1416), ("tie", 326)]
    before = _counts(store)
    again = _run(store, path)
    assert (again.new_prompts, again.new_candidates, again.new_pairwise, again.replaced_pairwise) \
        == (0, 0, 0, 0)
    assert _counts(store)[:5] == before[:5]
