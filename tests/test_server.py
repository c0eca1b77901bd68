"""The store server: one Store interface over a socket, identities from the OS, roles enforced."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.annotation import AnnotationSession
from core.assign import assign
from core.errors import AccessDeniedError, ServerUnavailableError
from core.models import Judgment, PairSettings
from core.project import Project, init_project
from core.server import Caller, StoreServer, authorize
from core.sources import import_file
from core.store import LocalStore, connect_store, open_store
from core.store.remote import RemoteStore
from tests.conftest import REPO_ROOT, item_rows, write_jsonl
from tests.os_users import os_users, python_as, require_root_tools, traversable_for, with_roles
from tui.cli import app


def _judgment(store: LocalStore, annotator: str, prompt_id: str, tag: str = "") -> Judgment:
    item = store.get_item(prompt_id)
    assert item is not None
    shown = tuple(c.candidate_id for c in item.candidates)
    return Judgment(f"j_{annotator}_{prompt_id}{tag}", annotator, prompt_id, "ranked", shown,
                    best_candidate_id=shown[0], worst_candidate_id=shown[-1],
                    justification="Because the first one is the careful answer.")


@pytest.fixture
def assigned(project: Project, store: LocalStore, tmp_path: Path) -> LocalStore:
    import_file(store, write_jsonl(tmp_path / "i.jsonl", item_rows(6)), actor="t")
    assign(store, ["alice", "bob"], actor="admin", per_item=1)
    return store


def _mine(store: LocalStore, annotator: str) -> list[str]:
    return [p for (p,) in store.execute_for_test(
        "SELECT prompt_id FROM assignments WHERE annotator = ? ORDER BY prompt_id", [annotator])]


ALICE = Caller("alice", 1001, "annotator", "alice")
REVIEWER = Caller("rita", 1002, "reviewer", "rita")
ADMIN = Caller("root", 0, "admin", "root")


def test_annotators_reach_only_their_own_work(assigned: LocalStore) -> None:
    store = assigned
    alice_item, bob_item = _mine(store, "alice")[0], _mine(store, "bob")[0]
    authorize(store, ALICE, "next_prompt_id", ["alice"], {"exclude": ()})
    authorize(store, ALICE, "get_item", [alice_item], {})
    authorize(store, ALICE, "save_judgment", [_judgment(store, "alice", alice_item)], {})
    authorize(store, ALICE, "judgments_of", ["alice"], {})
    authorize(store, ALICE, "flags_of", ["alice"], {})
    authorize(store, ALICE, "source_preferences", [alice_item], {})
    refusals = [
        ("get_item", [bob_item], {}, "not assigned to alice"),
        ("next_prompt_id", ["bob"], {}, "only their own work"),
        ("progress", ["bob"], {}, "only their own work"),
        ("judgments_of", ["bob"], {"include_superseded": True}, "only their own work"),
        ("flags_of", ["bob"], {}, "only their own work"),
        ("current_judgment", ["bob", bob_item], {}, "only their own work"),
        ("save_judgment", [_judgment(store, "bob", bob_item)], {}, "only their own work"),
        ("save_judgment", [_judgment(store, "alice", bob_item)], {}, "not assigned to alice"),
        ("status", [], {}, "'status' needs reviewer"),
        ("events", [], {}, "needs admin"),
        ("import_file", ["x.jsonl", "jsonl", []], {"dry_run": False, "actor": "a"}, "needs admin"),
        ("import_source", ["u1", "x.jsonl", "jsonl", "dpo"], {"actor": "a"}, "needs admin"),
        ("source_preferences", [bob_item], {}, "not assigned to alice"),
        ("add_assignments", [[], "alice", {}], {}, "needs admin"),
        ("export_pairs", [None, "alice"], {}, "needs admin"),
        ("build_pairs", [None, "alice", {}], {}, "needs reviewer"),
        ("pair_counts", ["dimension"], {}, "needs reviewer"),
        ("save_balance_plan", ["dimension", None, 42, "alice"], {}, "needs admin"),
        ("execute_for_test", ["DELETE FROM judgments"], {}, "no such store operation"),
        ("close", [], {}, "no such store operation"),
    ]
    for method, args, kwargs, message in refusals:
        with pytest.raises(AccessDeniedError, match=message):
            authorize(store, ALICE, method, args, kwargs)


def test_reviewers_and_admins(assigned: LocalStore) -> None:
    authorize(assigned, REVIEWER, "status", [], {})
    with pytest.raises(AccessDeniedError):
        authorize(assigned, REVIEWER, "import_file", ["x", "jsonl"], {"dry_run": True,
                                                                      "actor": "r"})
    with pytest.raises(AccessDeniedError, match="only their own work"):
        authorize(assigned, REVIEWER, "judgments_of", ["alice"], {})
    with pytest.raises(AccessDeniedError, match="only their own work"):
        authorize(assigned, REVIEWER, "flags_of", ["alice"], {})
    for method, args in [("judgments_of", ["alice"]), ("events", []), ("status", [])]:
        authorize(assigned, ADMIN, method, args, {})
    # Reviewers rebuild pairs for reports; only admins change what an export keeps.
    authorize(assigned, REVIEWER, "build_pairs", [PairSettings(), "rita", {}], {})
    with pytest.raises(AccessDeniedError, match="needs admin"):
        authorize(assigned, REVIEWER, "save_balance_plan", ["dimension", {"tone": 1.0}, 42, "r"],
                  {})


@pytest.fixture
def served(project: Project, store: LocalStore) -> Iterator[StoreServer]:
    server = StoreServer(project.root, store)
    server.bind()
    server.start_in_thread()
    yield server
    server.shutdown()


def test_commands_go_through_the_server_when_it_runs(project: Project, served: StoreServer,
                                                     tmp_path: Path) -> None:
    remote = connect_store(project.root)
    assert isinstance(remote, RemoteStore)
    assert remote.identity["role"] == "admin"  # the server's own user
    remote.close()
    runner = CliRunner()
    root = str(project.root)
    data = write_jsonl(tmp_path / "i.jsonl", item_rows(8))
    result = runner.invoke(app, ["import", str(data), "-p", root])
    assert result.exit_code == 0 and "Added 8 prompts" in result.output, result.output
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": 3}])
    result = runner.invoke(app, ["import", str(bad), "-p", root])
    assert result.exit_code == 2 and f"{bad}:1: field 'prompt'" in result.output
    result = runner.invoke(app, ["assign", "--annotators", "alice,bob", "--per-item", "2",
                                 "-p", root])
    assert result.exit_code == 0 and "16 assignments" in result.output
    with RemoteStore(served.socket_path, act_as="alice") as alice:
        session = AnnotationSession(alice, project.config, "alice", "g")  # type: ignore[arg-type]
        while session.next_item() is not None:
            session.press(1)
            session.press(2)
            session.save("Alice's view, saved through the server.")
        assert session.progress().judged == 8
    result = runner.invoke(app, ["pairs", "-p", root])
    assert result.exit_code == 0 and "Built 24 pairs from 8 items" in result.output, result.output
    result = runner.invoke(app, ["balance", "--by", "language", "--apply", "-p", root])
    assert result.exit_code == 0 and "Applied: kept 24 pairs" in result.output, result.output
    result = runner.invoke(app, ["export", "--out", str(tmp_path / "out"), "-p", root])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "train.jsonl").exists()
    result = runner.invoke(app, ["audit", "--verify", "-p", root])
    assert result.exit_code == 0 and "intact" in result.output
    actors = {e.actor for e in served.store.events() if e.action == "judgment.ranked"}
    assert actors == {os.environ.get("USER") or __import__("getpass").getuser()}


def test_socket_and_database_permissions(project: Project, served: StoreServer) -> None:
    mode = stat.S_IMODE(os.stat(served.socket_path).st_mode)
    assert mode == 0o660
    assert stat.S_ISSOCK(os.stat(served.socket_path).st_mode)


def test_a_second_server_is_refused_and_a_stale_socket_replaced(project: Project,
                                                                served: StoreServer) -> None:
    other = StoreServer(project.root, served.store)
    with pytest.raises(ServerUnavailableError, match="already serves"):
        other.bind()


def test_a_stop_before_the_loop_starts_returns(project: Project, store: LocalStore) -> None:
    # SIGTERM can land between bind() and serve_forever(); the stop must not wait for a loop
    # that never ran (CI once waited 30 s on exactly that), and the loop must not start after.
    server = StoreServer(project.root, store)
    server.bind()
    stopper = threading.Thread(target=server.shutdown, daemon=True)
    stopper.start()
    stopper.join(timeout=10)
    assert not stopper.is_alive(), "shutdown() waited for a serve_forever loop that never ran"
    assert not server.socket_path.exists()
    server.serve_forever()  # returns at once: the server is stopping


def test_prefer_serve_stops_on_sigterm_at_any_moment(project: Project) -> None:
    # The moment the socket appears is the earliest a supervisor (or a test) can see the server,
    # and the one before its loop runs.
    for _ in range(3):
        server = subprocess.Popen([str(Path(sys.executable).parent / "prefer"), "serve", "-p",
                                   str(project.root)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not (project.root / "prefer.sock").exists():
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.005)
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        finally:
            server.kill()
        assert not (project.root / "prefer.sock").exists()


@pytest.mark.parametrize("nohup", [False, True], ids=["terminal", "nohup"])
def test_prefer_serve_stops_cleanly_when_its_terminal_closes(project: Project, nohup: bool
                                                             ) -> None:
    # SIGHUP: the SSH link or the tmux server that ran it went away. By default Python would
    # die at once, leaving the socket behind; under nohup the server is meant to stay.
    command = [str(Path(sys.executable).parent / "prefer"), "serve", "-p", str(project.root)]
    server = subprocess.Popen((["nohup"] if nohup else []) + command,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              cwd=project.root)
    try:
        deadline = time.monotonic() + 30
        while not (project.root / "prefer.sock").exists():
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        server.send_signal(signal.SIGHUP)
        if nohup:
            with pytest.raises(subprocess.TimeoutExpired):
                server.wait(timeout=2)
            with RemoteStore(project.root / "prefer.sock") as remote:
                assert remote.progress("x").judged == 0  # still serving
            server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=15) == 0
        assert "Stopped: everything accepted is committed." in server.stderr.read()
        assert not (project.root / "prefer.sock").exists()
    finally:
        server.kill()
        server.wait()


def test_stale_socket_is_cleaned_up(project: Project, store: LocalStore) -> None:
    import socket

    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(project.root / "prefer.sock"))
    stale.close()  # a socket file nobody listens on, as after kill -9
    server = StoreServer(project.root, store)
    server.bind()
    server.start_in_thread()
    try:
        with RemoteStore(server.socket_path) as remote:
            assert remote.progress("x").judged == 0
    finally:
        server.shutdown()


def test_locked_store_without_server_says_to_start_one(project: Project, store: LocalStore
                                                       ) -> None:
    # `store` holds the file open in this process, as a running TUI would.
    cli = subprocess.run([str(Path(sys.executable).parent / "prefer"), "status", "-p",
                          str(project.root)], capture_output=True, text=True)
    assert cli.returncode == 1
    assert "in use by another process" in cli.stderr and "prefer serve" in cli.stderr
    assert "Traceback" not in cli.stderr


# --- real OS users ----------------------------------------------------------------------------

CLIENT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from core.errors import PreferError
    from core.store.remote import RemoteStore
    from core.models import Judgment, PairSettings
    socket_path, action, arg = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    try:
        store = RemoteStore(socket_path, act_as=arg if action == "act_as" else None)
        if action == "whoami":
            out = store.identity
        elif action == "mine":
            ids = []
            while (p := store.next_prompt_id(store.identity["annotator"], tuple(ids))):
                ids.append(p)
            out = ids
        elif action == "read_other":
            out = [j.judgment_id for j in store.judgments_of(arg)]
        elif action == "get_item":
            out = store.get_item(arg).prompt.prompt_id
        elif action == "save":
            item = store.get_item(arg)
            shown = tuple(c.candidate_id for c in item.candidates)
            me = store.identity["annotator"]
            j = Judgment("j_os_" + me + arg, me, arg, "ranked", shown,
                         best_candidate_id=shown[0], worst_candidate_id=shown[1],
                         justification="Saved over the socket under my OS identity.")
            out = store.save_judgment(j).annotator
        elif action == "status":
            out = store.status().judgments
        elif action == "act_as":
            out = store.identity
        print(json.dumps({"ok": out}))
    except PreferError as exc:
        print(json.dumps({"error": type(exc).__name__, "message": exc.message}))
""")


def _as_user(user: str, socket_path: Path, action: str, arg: str = "") -> dict:
    return python_as(user, CLIENT, str(socket_path), action, arg, timeout=60)


def test_identity_and_roles_with_real_os_users() -> None:
    require_root_tools()
    folder = Path(tempfile.mkdtemp(prefix="prefer-os-"))
    os.chmod(folder, 0o755)
    with os_users(4) as (names, group):
        alice, bob, rita, mallory = names
        project = init_project(folder / "p")
        config = project.config_path.read_text()
        project.config_path.write_text(with_roles(config, [alice, bob], [rita]))
        store = open_store(project.database_path)
        import_file(store, write_jsonl(folder / "i.jsonl", item_rows(6)), actor="t")
        assign(store, [alice, bob], actor="root", per_item=1)
        server = StoreServer(project.root, store)
        server.bind(group)
        server.start_in_thread()
        reach = traversable_for(group, REPO_ROOT, Path(sys.executable).resolve(), folder)
        reach.__enter__()
        try:
            sock = server.socket_path
            assert os.stat(sock).st_gid == __import__("grp").getgrnam(group).gr_gid
            who = _as_user(alice, sock, "whoami")["ok"]
            assert who == {"user": alice, "role": "annotator", "annotator": alice}
            alice_items = _as_user(alice, sock, "mine")["ok"]
            bob_items = _as_user(bob, sock, "mine")["ok"]
            assert len(alice_items) == len(bob_items) == 3
            assert not set(alice_items) & set(bob_items)
            saved = _as_user(alice, sock, "save", alice_items[0])
            assert saved == {"ok": alice}
            assert store.execute_for_test("SELECT annotator, prompt_id FROM judgments") == [
                (alice, alice_items[0])]
            actor = store.execute_for_test(
                "SELECT actor FROM events WHERE action = 'judgment.ranked'")
            assert actor == [(alice,)]
            denied = [
                _as_user(bob, sock, "read_other", alice),
                _as_user(bob, sock, "get_item", alice_items[0]),
                _as_user(bob, sock, "save", alice_items[1]),
                _as_user(alice, sock, "status"),
                _as_user(alice, sock, "act_as", bob),
            ]
            assert all(d.get("error") == "AccessDeniedError" for d in denied), denied
            assert "only an admin may annotate as someone else" in denied[-1]["message"]
            assert _as_user(rita, sock, "status") == {"ok": 1}
            refused = _as_user(mallory, sock, "whoami")
            assert refused["error"] == "AccessDeniedError"
            assert f"user '{mallory}' is not an annotator of this project" in refused["message"]
        finally:
            reach.__exit__(None, None, None)
            server.shutdown()
            store.close()


def test_idle_connections_are_closed_and_clients_reconnect(project: Project,
                                                           store: LocalStore) -> None:
    server = StoreServer(project.root, store, idle_timeout=0.3)
    server.bind()
    server.start_in_thread()
    try:
        with RemoteStore(server.socket_path) as remote:
            assert remote.status().prompts == 0
            deadline = time.monotonic() + 10
            while server.connections() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.connections() == 0  # the server hung up on the idle client
            assert remote.status().prompts == 0  # which reconnects on its next call
    finally:
        server.shutdown()


def test_connections_over_the_cap_are_refused_before_a_thread(project: Project,
                                                               store: LocalStore) -> None:
    import socket as sockets

    server = StoreServer(project.root, store, max_per_user=2)
    server.bind()
    server.start_in_thread()
    held = []
    try:
        for _ in range(2):
            held.append(RemoteStore(server.socket_path))
        extra = sockets.socket(sockets.AF_UNIX)
        extra.connect(str(server.socket_path))
        assert b"too many connections" in extra.makefile("rb").readline()
        extra.close()
        held.pop().close()
        deadline = time.monotonic() + 10
        while server.connections() > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        with RemoteStore(server.socket_path) as again:  # a freed slot is usable again
            assert again.identity["role"] == "admin"
    finally:
        for remote in held:
            remote.close()
        server.shutdown()
