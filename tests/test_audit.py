"""The audit trail: every event chains to the one before and vouches for the rows it wrote, and
kept heads (the head file, manifests, copies elsewhere) catch deleted and rewritten events.

Each tampering test edits the store behind prefer's back (raw SQL), then runs `prefer audit
--verify` and checks it fails naming what was found.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner, Result

from core.assign import assign
from core.audit import GENESIS_HASH, event_hash, verify_chain
from core.export import ExportOptions, export_dataset
from core.judgment_import import import_judgments
from core.models import Adjudication, Flag, GenerationRecord, Judgment, Run
from core.pairs import build_pairs
from core.project import Project, init_project
from core.sources import import_file
from core.store import LocalStore, audit_rows, open_store
from core.store.local import utc_now
from core.store.migrate import list_migrations
from core.store.validation import record_id
from tests.conftest import item_rows, write_jsonl
from tui.cli import app

runner = CliRunner()


def _three_events(store: LocalStore) -> None:
    store.append_event("alice", "import", "a.jsonl", {"rows": 3})
    store.append_event("alice", "judgment.ranked", "p1", {"judgment_id": "j1"})
    store.append_event("bob", "export", "/out", {"pairs": 5})


# --- the chain -------------------------------------------------------------------------------


def test_chain_links_each_row_to_the_one_before(store: LocalStore) -> None:
    _three_events(store)
    events = store.events()
    assert events[0].prev_hash == GENESIS_HASH
    assert [e.prev_hash for e in events[1:]] == [e.row_hash for e in events[:-1]]
    report = verify_chain(events)
    assert report.ok and report.checked == 3


def test_editing_a_row_behind_the_tools_back_is_reported(store: LocalStore) -> None:
    _three_events(store)
    store.execute_for_test("UPDATE events SET details = ? WHERE seq = 2",
                           [json.dumps({"judgment_id": "forged"})])
    report = verify_chain(store.events())
    assert report.broken_seq == 2
    assert "edited" in (report.reason or "")


def test_rehashing_an_edited_row_breaks_the_next_link(store: LocalStore) -> None:
    _three_events(store)
    store.execute_for_test("UPDATE events SET actor = 'mallory', row_hash = ? WHERE seq = 1",
                           ["f" * 64])
    report = verify_chain(store.events())
    assert report.broken_seq == 1


def test_deleting_a_row_is_reported(store: LocalStore) -> None:
    _three_events(store)
    store.execute_for_test("DELETE FROM events WHERE seq = 2")
    report = verify_chain(store.events())
    assert report.broken_seq == 3


def test_cli_verify_fails_after_tampering(project: Project, store: LocalStore) -> None:
    _three_events(store)
    store.close()
    ok = _verify(project)
    assert ok.exit_code == 0, ok.output
    assert "Audit chain intact: 3 events verified" in ok.output

    con = duckdb.connect(str(project.database_path))
    con.execute("UPDATE events SET subject = 'b.jsonl' WHERE seq = 1")
    con.close()
    broken = _verify(project)
    assert broken.exit_code == 1
    assert "event #1: contents do not match the row's hash (the row was edited)" in broken.output


# --- a store with every kind of write ----------------------------------------------------------


def _verify(project: Project, *args: str) -> Result:
    return runner.invoke(app, ["audit", "--verify", "-p", str(project.root), *args])


def _ids(store: LocalStore, prompt_id: str) -> list[str]:
    item = store.get_item(prompt_id)
    assert item is not None
    return [c.candidate_id for c in item.candidates]


# The ids the store makes of the clients' keys (core/store/validation.py record_id).
J_BOB = record_id("j", "bob", "j_bob_q000_31")
J_ALICE = record_id("j", "alice", "j_alice_q001_21")
F1 = record_id("f", "bob", "f1")


def _judge(store: LocalStore, annotator: str, prompt_id: str, best: int, worst: int,
           justification: str = "Clear and correct, by the policy.") -> Judgment:
    ids = _ids(store, prompt_id)
    return store.save_judgment(Judgment(
        f"j_{annotator}_{prompt_id}_{best}{worst}", annotator, prompt_id, "ranked", tuple(ids),
        ids[best - 1], ids[worst - 1], dimensions=("tone",), justification=justification,
        seconds_spent=4.25))


def _generated(run_id: str, prompt_id: str, n: int, text: str) -> GenerationRecord:
    now = utc_now()
    return GenerationRecord(
        generation_id=f"g_{prompt_id}_{n}", run_id=run_id, prompt_id=prompt_id, variant="brief",
        model="llama3.1:8b", model_digest="d" * 64, host="http://h:11434", status="ok",
        error=None, attempts=1, text=text, system="Be brief.",
        options=json.dumps({"temperature": 0.3}), done_reason="stop", truncated=False,
        prompt_eval_count=5, eval_count=9, total_duration_ns=10, load_duration_ns=1,
        prompt_eval_duration_ns=2, eval_duration_ns=7, latency_s=0.25, started_at=now,
        finished_at=now)


def _make_busy(project: Project, tmp_path: Path) -> None:
    """A store after imports, a generation run, judgments, an adjudication, flags, assignments,
    gold items, imported judgments, a balance plan, a pair build and an export (in
    tmp_path/export)."""
    store = open_store(project.database_path)
    import_file(store, write_jsonl(tmp_path / "items.jsonl", item_rows(6, candidates=3)),
                actor="admin")
    now = utc_now()
    store.start_run(Run("r1", "admin", "llama3.1:8b", ("http://h:11434",), ("brief",), 2, "{}", 2,
                        0, None, None, "running", now, None))
    store.record_generations([_generated("r1", "q000", 1, "A generated answer, brief."),
                              _generated("r1", "q001", 1, "Another generated answer.")])
    store.finish_run("r1", "done", "admin")
    _judge(store, "alice", "q000", 1, 3)
    _judge(store, "bob", "q000", 3, 1)
    _judge(store, "alice", "q001", 1, 2)
    _judge(store, "alice", "q001", 2, 1, "Changed my mind after a second read.")  # a revision
    flag = store.save_flag(Flag("f1", "bob", "q002", "Candidate 2 is cut off."))
    second = store.save_flag(Flag("f2", "bob", "q003", "The prompt is ambiguous."))
    store.resolve_flag(second.flag_id, "rita", "Fine as it is.")
    ids = _ids(store, "q000")
    store.save_adjudication(Adjudication("a1", "q000", "rita", "Alice is right.", ids[0], ids[2]),
                            resolve_flags=())
    store.save_adjudication(Adjudication("a2", "q002", "rita", "Cut off: worst.",
                                         _ids(store, "q002")[0], _ids(store, "q002")[1]),
                            resolve_flags=(flag.flag_id,))
    assign(store, ["alice", "bob"], actor="admin", per_item=1)
    store.release_open_assignments("bob", "admin")
    store.set_gold("q004", _ids(store, "q004")[0], None, None, "admin")
    store.set_gold("q004", _ids(store, "q004")[1], _ids(store, "q004")[0], "Again.", "admin")
    q = {"prompt": "Can I close my account online?",
         "candidates": ["Yes, in Settings.", "No.", "Only in a branch."]}
    import_judgments(store, write_jsonl(tmp_path / "j1.jsonl", [
        {"annotator": "carol", **q, "best": 1, "worst": 2},
        {"annotator": "carol", **q, "ranking": [1, [2, 3]], "id": "rk"},
        {"annotator": "dan", **q, "first": 1, "second": 2, "winner": 1}]), actor="admin")
    import_judgments(store, write_jsonl(tmp_path / "j2.jsonl", [
        {"annotator": "dan", **q, "first": 1, "second": 2, "winner": 2}]), actor="admin")
    store.save_balance_plan("dimension", {"tone": 1.0}, 7, "admin")
    store.save_balance_plan("dimension", None, 7, "admin")
    build_pairs(store, project.config, "admin")  # fills the languages import-judgments left out
    export_dataset(store, project.config, tmp_path / "export", ExportOptions(), actor="admin")
    store.close()


@pytest.fixture(scope="session")
def _busy_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`_make_busy` once per session (per xdist worker) in a folder laid out like a test's
    tmp_path: `alignment/` (the project) and `export/`."""
    folder = tmp_path_factory.mktemp("busy")
    _make_busy(init_project(folder / "alignment"), folder)
    return folder


@pytest.fixture
def busy(project: Project, tmp_path: Path, _busy_template: Path) -> Iterator[LocalStore]:
    """The store of `_make_busy`, opened: a copy of the session's template (the test may tamper
    with it), the project folder's files over `project`'s and the export beside it."""
    for entry in _busy_template.iterdir():
        if entry.is_dir():
            shutil.copytree(entry, tmp_path / entry.name, dirs_exist_ok=True)
        else:
            shutil.copy2(entry, tmp_path / entry.name)
    store = open_store(project.database_path)
    yield store
    store.close()


def _tampered(project: Project, busy: LocalStore, *sql: str) -> Result:
    for statement in sql:
        busy.execute_for_test(statement)
    busy.close()
    return _verify(project)


def _failed(result: Result, *expected: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Audit check failed" in result.output
    for text in expected:
        assert text in result.output, result.output


def test_an_untouched_store_verifies_intact(project: Project, busy: LocalStore) -> None:
    actions = {e.action for e in busy.events()}
    assert {"import", "generate.start", "generate.batch", "generate.end", "judgment.ranked",
            "judgment.revise", "flag", "flag.resolve", "adjudicate", "assign", "unassign",
            "gold.set", "import-judgments", "balance.apply", "balance.clear", "languages.fill",
            "pairs.build", "export"} <= actions
    report = busy.verify_audit()
    assert report.ok, report.problems
    counted = busy.execute_for_test(" + ".join(
        f"(SELECT count(*) FROM {t})" for t in audit_rows.COVERED).join(["SELECT ", ""]))[0][0]
    assert report.rows == counted and report.events == len(busy.events())
    assert report.heads == len((project.root / "prefer.audit-heads").read_text().splitlines())
    busy.close()
    result = _verify(project)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Audit chain intact: {report.events} events verified, "
                                    f"{report.rows} rows match the events that wrote them")


def test_every_write_says_which_rows_it_wrote(busy: LocalStore) -> None:
    wrote = {e.action: json.loads(e.details).get("wrote") for e in busy.events()}
    assert wrote["import"]["prompts"]["count"] == 6 and wrote["import"]["candidates"]["count"] == 18
    assert wrote["generate.batch"]["candidates"]["count"] == 2
    assert wrote["generate.batch"]["generations"]["count"] == 2
    assert wrote["judgment.revise"] == {"judgments": {"count": 1, "sha256": wrote[
        "judgment.revise"]["judgments"]["sha256"]}}
    assert set(wrote["import-judgments"]) == {"prompts", "candidates", "judgments",
                                              "judgment_rankings", "pairwise_judgments"}
    assert wrote["export"] is None and wrote["pairs.build"] is None  # derived rows: not covered
    unowned = busy.execute_for_test(" UNION ALL ".join(
        f"SELECT count(*) FROM {t} WHERE event_seq IS NULL" for t in audit_rows.COVERED))
    assert sum(n for (n,) in unowned) == 0


# --- tampering with rows -----------------------------------------------------------------------


def test_best_and_worst_swapped_in_a_judgment(project: Project, busy: LocalStore) -> None:
    result = _tampered(project, busy,
                       "UPDATE judgments SET best_candidate_id = worst_candidate_id, "
                       f"worst_candidate_id = best_candidate_id WHERE judgment_id = '{J_BOB}'")
    _failed(result, f"judgment.ranked by bob on q000: its judgments row was edited ({J_BOB})")


def test_a_justification_edited(project: Project, busy: LocalStore) -> None:
    result = _tampered(project, busy, "UPDATE judgments SET justification = 'Obviously.' "
                                      f"WHERE judgment_id = '{J_ALICE}'")
    _failed(result, "judgment.revise by alice on q001: its judgments row was edited "
                    f"({J_ALICE})")


def test_judgments_deleted(project: Project, busy: LocalStore) -> None:
    result = _tampered(project, busy, "DELETE FROM judgments WHERE annotator IN ('bob', 'carol')")
    _failed(result, "judgment.ranked by bob on q000 wrote 1 judgments row, none remain: rows "
                    "were deleted",
            "import-judgments by admin on ", "wrote 1 judgments row, none remain")


def test_a_flag_note_edited(project: Project, busy: LocalStore) -> None:
    result = _tampered(project, busy,
                       f"UPDATE flags SET note = 'Nothing wrong.' WHERE flag_id = '{F1}'")
    _failed(result, f"flag by bob on q002: its flags row was edited ({F1})")


def test_an_imported_candidate_text_edited(project: Project, busy: LocalStore) -> None:
    candidate = _ids(busy, "q005")[1]
    result = _tampered(project, busy, f"UPDATE candidates SET text = 'Better answer.' "
                                      f"WHERE candidate_id = '{candidate}'")
    _failed(result, "import by admin on ", "its 18 candidates rows no longer match what it "
                                            "wrote (edited)")


def test_a_generated_candidate_deleted(project: Project, busy: LocalStore) -> None:
    result = _tampered(project, busy, "DELETE FROM candidates WHERE origin = 'generated' AND "
                                      "prompt_id = 'q001'")
    _failed(result, "generate.batch by admin on r1 wrote 2 candidates rows, 1 remains")


def test_an_assignment_deleted(project: Project, busy: LocalStore) -> None:
    result = _tampered(project, busy, "DELETE FROM assignments WHERE annotator = 'alice' AND "
                                      "prompt_id = 'q000'")
    _failed(result, "assign by admin on a_", "assignments row", "remain")


def test_a_row_inserted_without_an_event(project: Project, busy: LocalStore) -> None:
    result = _tampered(project, busy, "INSERT INTO flags VALUES ('f9', 'mallory', 'q001', "
                                      "'Forged.', now(), NULL)")
    _failed(result, "1 flags row names no event (written behind prefer's back) (f9)")


def test_rows_edited_before_a_rewrite_stay_on_record(project: Project, busy: LocalStore) -> None:
    busy.execute_for_test("UPDATE gold_items SET note = 'forged' WHERE prompt_id = 'q004'")
    busy.set_gold("q004", _ids(busy, "q004")[2], None, None, "admin")  # moves the row, restates
    result = _tampered(project, busy)
    _failed(result, "gold.set by admin on q004 found the gold_items rows of event #")


# --- tampering with events ---------------------------------------------------------------------


def test_the_last_event_deleted(project: Project, busy: LocalStore) -> None:
    last = busy.events()[-1].seq
    result = _tampered(project, busy, f"DELETE FROM events WHERE seq = {last}")
    _failed(result, "prefer.audit-heads: 1 kept head names an event the chain no longer has "
                    "(first: line ", f"event #{last}; the chain ends at #{last - 1}): events "
                                      "were deleted")


def test_the_last_six_events_deleted(project: Project, busy: LocalStore) -> None:
    last = busy.events()[-1].seq
    result = _tampered(project, busy, f"DELETE FROM events WHERE seq > {last - 6}")
    _failed(result, "prefer.audit-heads: ", "kept heads name events the chain no longer has",
            f"the chain ends at #{last - 6}", "name events the chain no longer has (#")


def test_every_event_deleted(project: Project, busy: LocalStore) -> None:
    result = _tampered(project, busy, "DELETE FROM events")
    _failed(result, "Checked: 0 events verified", "kept heads name events the chain no longer "
            "has", "the chain ends at #0", "judgments rows name events the chain no longer has")


def _rehash_from(store: LocalStore, seq: int, actor: str) -> None:
    """Edit event `seq` and recompute every later hash with prefer's own function."""
    store.execute_for_test("UPDATE events SET actor = ? WHERE seq = ?", [actor, seq])
    prev = store.events()[seq - 2].row_hash if seq > 1 else GENESIS_HASH
    for e in store.events()[seq - 1:]:
        row_hash = event_hash(e.seq, e.at, e.actor, e.action, e.subject, e.details, prev)
        store.execute_for_test("UPDATE events SET prev_hash = ?, row_hash = ? WHERE seq = ?",
                               [prev, row_hash, e.seq])
        prev = row_hash


def test_an_event_edited_and_the_chain_rehashed(project: Project, busy: LocalStore,
                                                tmp_path: Path) -> None:
    heads = project.root / "prefer.audit-heads"
    kept = tmp_path / "offsite.audit-heads"
    shutil.copy(heads, kept)
    manifest = tmp_path / "export" / "manifest.json"
    judged = next(e.seq for e in busy.events() if e.action == "judgment.ranked")
    _rehash_from(busy, judged, "mallory")
    assert verify_chain(busy.events()).ok  # the chain alone cannot tell
    result = _tampered(project, busy)
    _failed(result, "prefer.audit-heads: ", "differ from the chain (first: line ",
            f"event #{judged} was ",
            "the chain was rewritten")

    # Whoever rewrote the chain can rewrite the head file beside it: then only heads kept
    # elsewhere catch it.
    with open_store(project.database_path) as store:
        heads.write_text("".join(
            f"{e.seq} {e.row_hash} {e.at:%Y-%m-%dT%H:%M:%S}Z 1\n" for e in store.events()))
    assert _verify(project).exit_code == 0
    by_manifest = _verify(project, "--anchor", str(manifest))
    _failed(by_manifest, "manifest.json: 1 kept head differs from the chain (first: its "
                         "audit_head", "the chain was rewritten")
    by_copy = _verify(project, "--anchor", str(kept))
    _failed(by_copy, "offsite.audit-heads: ", "differ from the chain", "the chain was rewritten")


def test_anchors_kept_elsewhere_pass_on_an_untouched_store(project: Project, busy: LocalStore,
                                                          tmp_path: Path) -> None:
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    exported = [e for e in busy.events() if e.action == "pairs.build"][-1]  # the export's build
    assert manifest["audit_head"] == {"seq": exported.seq, "hash": exported.row_hash}
    kept = tmp_path / "kept"
    shutil.copy(project.root / "prefer.audit-heads", kept)
    busy.close()
    result = _verify(project, "--anchor", str(tmp_path / "export" / "manifest.json"),
                     "--anchor", str(kept))
    assert result.exit_code == 0, result.output
    lines = len(kept.read_text().splitlines())
    assert f"{2 * lines + 1} kept heads checked" in result.output


def test_a_bad_anchor_file_is_bad_input(project: Project, tmp_path: Path) -> None:
    junk = tmp_path / "junk.txt"
    junk.write_text("not a head\n")
    result = _verify(project, "--anchor", str(junk))
    assert result.exit_code == 2 and "junk.txt:1: not a head line" in result.output


# --- the head file -----------------------------------------------------------------------------


def test_the_head_file_has_one_line_per_write(project: Project, store: LocalStore) -> None:
    heads = project.root / "prefer.audit-heads"
    assert stat.S_IMODE(heads.stat().st_mode) == 0o600
    _three_events(store)
    events = store.events()
    lines = [line.split() for line in heads.read_text().splitlines()]
    assert [(int(s), h, n) for s, h, _at, n in lines] == [
        (e.seq, e.row_hash, "1") for e in events]
    assert lines[-1][2] == f"{events[-1].at:%Y-%m-%dT%H:%M:%S}Z"
    store.close()
    printed = runner.invoke(app, ["audit", "--head", "-p", str(project.root)])
    assert printed.exit_code == 0
    assert printed.output == " ".join(lines[-1][:3]) + "\n"


def test_a_lost_head_file_is_noted(project: Project, store: LocalStore) -> None:
    _three_events(store)
    store.close()
    (project.root / "prefer.audit-heads").unlink()
    result = _verify(project)
    assert result.exit_code == 0, result.output
    assert "Note: events #1-#3 were not in the head file when the store was opened" in \
        result.output
    with open_store(project.database_path) as reopened:
        assert reopened.events()[-1].action == "audit.unnoted"


def test_events_appended_while_the_store_is_open_are_reported(store: LocalStore) -> None:
    _three_events(store)
    last = store.events()[-1]
    at = last.at + timedelta(seconds=1)
    row_hash = event_hash(4, at, "mallory", "import", "x", "{}", last.row_hash)
    store.execute_for_test("INSERT INTO events VALUES (4, ?, 'mallory', 'import', 'x', '{}', ?, ?)",
                           [at, last.row_hash, row_hash])
    report = store.verify_audit()
    assert [p.kind for p in report.problems] == ["head_file"]
    assert "events #4-#4 are not in it" in report.problems[0].message


# --- stores older than migration 007 -----------------------------------------------------------


def test_rows_of_an_older_store_are_adopted_once(tmp_path: Path) -> None:
    path = tmp_path / "prefer.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
                " applied_at TIMESTAMP NOT NULL)")
    for migration in list_migrations()[:6]:
        con.execute(migration.sql)
        con.execute("INSERT INTO schema_version VALUES (?, ?, now())",
                    [migration.version, migration.name])
    con.execute("INSERT INTO prompts VALUES ('p1', 'Kept?', NULL, 'tone', 'en', 'f', 1, now(), "
                "'given')")
    con.execute("INSERT INTO candidates VALUES ('c1', 'p1', 1, 'Yes.', 'import', 'f', now(), "
                "'en')")
    con.close()
    with open_store(path) as store:
        adopted = store.events()[-1]
        assert (adopted.seq, adopted.action) == (1, "audit.adopt")
        assert json.loads(adopted.details)["wrote"]["prompts"]["count"] == 1
        report = store.verify_audit()
        assert report.ok, report.problems
        assert "were adopted by event #1" in report.notes[0]
        store.execute_for_test("UPDATE candidates SET text = 'No.'")
        assert [p.kind for p in store.verify_audit().problems] == ["rows_changed"]
    with open_store(path) as store:  # adopted once: later rows without an event are reported
        store.execute_for_test("INSERT INTO prompts VALUES ('p2', 'Forged', NULL, NULL, NULL, NULL,"
                               " 1, now(), NULL, NULL, NULL)")
    with open_store(path) as store:
        assert len(store.events()) == 1
        kinds = {p.kind for p in store.verify_audit().problems}
    assert kinds == {"rows_changed", "rows_without_event"}
    assert (tmp_path / "prefer.audit-heads").read_text().split()[0] == "1"


# --- the digest --------------------------------------------------------------------------------


def test_covered_columns_are_the_tables_columns(store: LocalStore) -> None:
    for table, columns in audit_rows.COVERED.items():
        stored = [c for (c,) in store.execute_for_test(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "ORDER BY ordinal_position", [table])]
        assert stored == [*columns, "event_seq", *audit_rows.ADDED_LATER.get(table, ())], table


def test_the_canonical_row_text_is_pinned(store: LocalStore) -> None:
    """A DuckDB that casts values to text differently would break every stored digest."""
    store.execute_for_test(
        "INSERT INTO judgments VALUES ('j1', 'ä', 'p1', 'ranked', 'c1', NULL, NULL, "
        "['tone', 'a\"b'], '', ['c1', 'c2'], NULL, 4.25, NULL, TIMESTAMP '2026-01-02 03:04:05.5',"
        " 9)")
    text, digest = store.execute_for_test(
        f"SELECT {audit_rows.row_text_sql('judgments')}, {audit_rows.row_hash_sql('judgments')} "
        "FROM judgments")[0]
    assert text == ('{"judgment_id":"j1","annotator":"ä","prompt_id":"p1","kind":"ranked",'
                    '"best_candidate_id":"c1","worst_candidate_id":null,"ranking":null,'
                    '"dimensions":["tone","a\\"b"],"justification":"","shown_order":["c1","c2"],'
                    '"guideline_version":null,"seconds_spent":4.25,"supersedes":null,'
                    '"created_at":"2026-01-02 03:04:05.5"}')
    assert audit_rows.claim_of([digest]) == audit_rows.claims(store._cursor(), 9, ["judgments"])[
        "judgments"]
    assert audit_rows.claim_of([])["sha256"] == audit_rows.claims(
        store._cursor(), 10, ["judgments"])["judgments"]["sha256"]


def test_the_head_file_is_never_world_readable(project: Project, store: LocalStore) -> None:
    _three_events(store)
    mode = os.stat(project.root / "prefer.audit-heads").st_mode
    assert not mode & (stat.S_IRWXG | stat.S_IRWXO)
