"""The audit chain: every row carries the previous row's hash; tampering is found."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from core.audit import GENESIS_HASH, verify_chain
from core.project import Project
from core.store import LocalStore
from tui.cli import app


def _three_events(store: LocalStore) -> None:
    store.append_event("alice", "import", "a.jsonl", {"rows": 3})
    store.append_event("alice", "judgment.ranked", "p1", {"judgment_id": "j1"})
    store.append_event("bob", "export", "/out", {"pairs": 5})


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
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "--verify", "-p", str(project.root)])
    assert ok.exit_code == 0, ok.output
    assert "Audit chain intact: 3 events verified." in ok.output

    import duckdb

    con = duckdb.connect(str(project.database_path))
    con.execute("UPDATE events SET subject = 'b.jsonl' WHERE seq = 1")
    con.close()
    broken = runner.invoke(app, ["audit", "--verify", "-p", str(project.root)])
    assert broken.exit_code == 1
    assert "Audit chain broken at event #1" in broken.output
