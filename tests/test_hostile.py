"""A hostile annotator against `prefer serve`: each attack refused, nothing stored or revealed.

The server runs as `prefer serve` in its own process; the attackers are real throwaway OS users
(known to the server only through SO_PEERCRED) running Python clients over the socket.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.assign import assign
from core.judgment_import import import_judgments
from core.project import init_project
from core.sources import import_file
from core.store import open_store
from tests.conftest import REPO_ROOT, item_rows, write_jsonl
from tests.os_users import (
    PythonSession,
    os_users,
    require_root_tools,
    traversable_for,
    with_roles,
)

PREFER = Path(sys.executable).parent / "prefer"

# Runs as the attacking OS user: `ACTION` is Python with `store` (a RemoteStore), `me` and
# `arg`; prints {"ok": result} or {"error": kind, "message": ..., "hint": ...}.
_ANSWER = textwrap.dedent("""
    import json, sys, dataclasses
    from pathlib import Path
    from core.errors import PreferError
    from core.store.remote import RemoteStore
    from core.models import *

    def answer(socket_path, action, arg):
        store = None
        try:
            store = RemoteStore(Path(socket_path))
            me = store.identity["annotator"]
            scope = {"store": store, "me": me, "arg": arg, "dataclasses": dataclasses}
            scope.update({k: v for k, v in globals().items() if k[:1].isupper()})
            exec("def run():\\n" + "\\n".join("    " + l for l in action.splitlines()), scope)
            return {"ok": scope["run"]()}
        except PreferError as exc:
            return {"error": type(exc).__name__, "message": exc.message, "hint": exc.hint}
        finally:
            if store is not None:
                store.close()
""")
CLIENT = _ANSWER + textwrap.dedent("""
    print(json.dumps(answer(sys.argv[1], sys.argv[2], json.loads(sys.argv[3])), default=str))
""")
# The same, one request ([socket, action, arg]) per line on stdin, one answer per line on
# stdout; each request is a connection of its own (its own hello), as a CLIENT process's is.
SESSION = _ANSWER + textwrap.dedent("""
    for line in sys.stdin:
        print(json.dumps(answer(*json.loads(line)), default=str), flush=True)
""")


@dataclass
class Deployment:
    root: Path
    socket: Path
    server: subprocess.Popen[str]
    alice: str
    bob: str
    rita: str
    mallory: str
    log: Path
    sessions: dict[str, PythonSession] = field(default_factory=dict)

    def run(self, user: str, action: str, arg: object = None) -> dict:
        """`action` run by a client process of OS `user` (one per user, kept between runs)."""
        if user not in self.sessions:
            self.sessions[user] = PythonSession(user, SESSION)
        return self.sessions[user].ask([str(self.socket), action, arg])

    def close_sessions(self) -> None:
        """Before the users go: userdel refuses a user who still runs a process."""
        for session in self.sessions.values():
            session.close()
        self.sessions.clear()

    def rows(self, sql: str) -> list[tuple]:
        """Read the store while the server owns it: stop, read, start again."""
        self.stop()
        with open_store(self.root / "prefer.duckdb") as store:
            rows = store.execute_for_test(sql)
        self.start()
        return rows

    def start(self) -> None:
        self.server = _serve(self.root, self.log)

    def stop(self) -> None:
        self.server.send_signal(signal.SIGTERM)
        self.server.wait(timeout=30)

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.server.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines()
                        if line.startswith("VmRSS:")))


def _serve(root: Path, log: Path) -> subprocess.Popen[str]:
    with log.open("a") as sink:
        server = subprocess.Popen([str(PREFER), "serve", "-p", str(root)], stdout=sink,
                                  stderr=sink, text=True)
    deadline = time.monotonic() + 30
    while not (root / "prefer.sock").exists():
        assert server.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    return server


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    require_root_tools()
    folder = Path(tempfile.mkdtemp(prefix="prefer-hostile-"))
    os.chmod(folder, 0o755)
    with os_users(4) as (names, group):
        alice, bob, rita, mallory = names
        project = init_project(folder / "p")
        config = project.config_path.read_text()
        project.config_path.write_text(with_roles(config, [alice, bob], [rita], group))
        with open_store(project.database_path) as store:
            import_file(store, write_jsonl(folder / "i.jsonl", item_rows(8, candidates=4)),
                        actor="t")
            assign(store, [alice, bob], actor="root", per_item=2)
        log = folder / "serve.log"
        deployment = Deployment(project.root, project.root / "prefer.sock",
                                _serve(project.root, log), alice, bob, rita, mallory, log)
        with traversable_for(group, REPO_ROOT, Path(sys.executable).resolve(), folder):
            try:
                yield deployment
            finally:
                deployment.close_sessions()
                deployment.stop()


SAVE = """
item = store.get_item(arg["item"])
shown = tuple(c.candidate_id for c in item.candidates)
fields = dict(best_candidate_id=shown[0], worst_candidate_id=shown[1],
              justification="A careful reading of both answers against the policy.")
fields.update(arg.get("fields", {}))
if "dimensions" in fields:
    fields["dimensions"] = tuple(fields["dimensions"])
if isinstance(fields["justification"], dict):  # {"x": n}: n letters, too long for argv
    fields["justification"] = "x" * fields["justification"]["x"]
for key in ("best_candidate_id", "worst_candidate_id"):
    if isinstance(fields[key], int):
        fields[key] = shown[fields[key]]
judgment = Judgment(arg.get("id", "k1"), me, arg["item"], "ranked", shown, **fields)
return dataclasses.asdict(store.save_judgment(judgment))
"""


def test_a_reused_id_is_the_callers_own_record_never_another(deployment: Deployment) -> None:
    d = deployment
    item = d.run(d.bob, "return store.next_prompt_id(me)")["ok"]
    bobs = d.run(d.bob, SAVE, {"item": item, "id": "shared-key",
                               "fields": {"justification": "Bob's private reason, never shown."}})
    assert "ok" in bobs
    # alice, on the same (shared) item, sends bob's key and bob's stored id: both are hers alone
    for key in ("shared-key", bobs["ok"]["judgment_id"][2:]):
        mine = d.run(d.alice, SAVE, {"item": item, "id": key})
        assert "ok" in mine, mine
        assert mine["ok"]["annotator"] == d.alice
        assert "Bob's private" not in json.dumps(mine)
        assert mine["ok"]["judgment_id"] != bobs["ok"]["judgment_id"]
    # the same key with another content is refused, revealing nothing
    again = d.run(d.alice, SAVE, {"item": item, "id": "shared-key",
                                  "fields": {"best_candidate_id": 2}})
    assert again["error"] == "JudgmentError" and "already used" in again["message"]
    assert "Bob" not in json.dumps(again)
    # the id is not even well-formed: refused before anything
    odd = d.run(d.alice, SAVE, {"item": item, "id": "../../etc"})
    assert odd["error"] == "JudgmentError"


def test_claimed_import_ids_do_not_block_an_import(deployment: Deployment,
                                                   tmp_path: Path) -> None:
    d = deployment
    item = d.run(d.alice, "return store.next_prompt_id(me)")["ok"]
    cands = d.run(d.alice, "return [c.candidate_id for c in store.get_item(arg).candidates]",
                  item)["ok"]
    labels = write_jsonl(tmp_path / "labels.jsonl", [{
        "annotator": d.bob, "prompt_id": item, "best": cands[0], "worst": cands[3],
        "justification": "Imported from the earlier campaign."}])
    d.stop()
    with open_store(d.root / "prefer.duckdb") as store:
        predicted = import_judgments(store, labels, actor="t", dry_run=True)
    d.start()
    assert predicted.new_judgments == 1
    # alice tries ids shaped like the import's (a hash of its fields) before the import runs
    for guess in range(3):
        d.run(d.alice, SAVE, {"item": item, "id": f"j_guess{guess}"})
    d.stop()
    with open_store(d.root / "prefer.duckdb") as store:
        counts = import_judgments(store, labels, actor="t")
    d.start()
    assert counts.new_judgments == 1


INVALID = [
    ({"best_candidate_id": 0, "worst_candidate_id": 0}, "best and worst must be different"),
    ({"best_candidate_id": "c_doesnotexist"}, "candidates of item"),
    ({"dimensions": ("humour",)}, "unknown dimension 'humour'"),
    ({"seconds_spent": -5.0}, "seconds_spent"),
    ({"seconds_spent": float("inf")}, "seconds_spent"),
    ({"justification": {"x": 5_000_000}}, "at most 2000 characters"),
    ({"justification": "short"}, "at least 20 characters"),
]


@pytest.mark.parametrize(("fields", "refusal"), INVALID)
def test_the_server_refuses_what_the_importer_would(deployment: Deployment, fields: dict,
                                                    refusal: str) -> None:
    d = deployment
    item = d.run(d.alice, "return store.next_prompt_id(me)")["ok"]
    before = d.run(d.alice, "return store.progress(me).judged")["ok"]
    answer = d.run(d.alice, SAVE, {"item": item, "id": "bad", "fields": fields})
    assert answer.get("error") == "JudgmentError" and refusal in answer["message"], answer
    assert d.run(d.alice, "return store.progress(me).judged")["ok"] == before


def test_a_candidate_of_another_item_is_refused(deployment: Deployment) -> None:
    d = deployment
    mine = d.run(d.alice, "ids = []\nwhile (p := store.next_prompt_id(me, tuple(ids))):\n"
                          "    ids.append(p)\nreturn ids")["ok"]
    other = d.run(d.alice, "return store.get_item(arg).candidates[0].candidate_id", mine[1])["ok"]
    answer = d.run(d.alice, SAVE, {"item": mine[0], "id": "cross",
                                   "fields": {"best_candidate_id": other}})
    assert answer["error"] == "JudgmentError" and "candidates of item" in answer["message"]


def test_a_queue_question_cannot_carry_a_million_exclusions(deployment: Deployment) -> None:
    # Each excluded id is checked in the query: a million (30 MB, under the message cap) held a
    # server thread for ~9 s. The screen sends the item on screen and those saving behind it.
    d = deployment
    answer = d.run(d.alice, "return store.next_prompt_id(me, tuple(f'x{i:018d}' for i in "
                            "range(arg)))", 1_000_001)
    assert answer["error"] == "BadInputError", answer
    assert "at most 1,000 prompt ids (1,000,001 sent)" in answer["message"]
    assert "ok" in d.run(d.alice, "return store.next_prompt_id(me, tuple(f'x{i}' for i in "
                                  "range(arg)))", 1_000)


def test_actors_are_the_caller_whatever_they_send(deployment: Deployment) -> None:
    d = deployment
    forged = d.run(d.rita, "return store.build_pairs(PairSettings(), arg, "
                           "{'dimension': ['tone']}).build_id", d.alice)
    assert "ok" in forged, forged
    actors = d.rows("SELECT actor FROM events WHERE action = 'pairs.build'")
    assert actors and {a for (a,) in actors} == {d.rita}
    flag = d.run(d.alice, "return store.save_flag(Flag('fl1', me, store.next_prompt_id(me), "
                          "'The prompt is cut off.'), actor=arg).annotator", d.bob)
    assert flag == {"ok": d.alice}
    assert d.rows("SELECT actor FROM events WHERE action = 'flag'") == [(d.alice,)]


def test_nothing_executable_crosses_the_wire(deployment: Deployment) -> None:
    d = deployment
    attacks = [
        # the old ExportPlan carried SQL and a path: no such type any more
        "return store.call('export_pairs', {'__type__': 'ExportPlan', 'row_sql': 'SELECT 1'}, "
        "'x')",
        # a known type with a smuggled field
        "return store.call('export_pairs', {'__type__': 'ExportRequest', 'layout': 'trl', "
        "'validation_fraction': 0.1, 'seed': 1, 'conversational': None, "
        "'row_sql': \"SELECT * FROM read_text('/etc/shadow')\"}, 'x')",
        # SQL where a layout name goes
        "return store.export_pairs(ExportRequest(\"trl' (FORMAT CSV); COPY x TO '/tmp/x\", "
        "0.1, 1, None), 'x')",
        # a type where another is declared
        "return store.call('get_item', {'__type__': 'Judgment'})",
    ]
    for user in (d.alice, d.rita):
        for attack in attacks:
            assert "error" in d.run(user, attack)
    # no operation takes a path on the server: an import names an upload of the caller's own
    shadow = subprocess.run([sys.executable, "-c", CLIENT, str(d.socket),
                             "return store.import_file('/etc/shadow', 'x', 'csv', dry_run=True, "
                             "actor='x')", "null"], capture_output=True, text=True, cwd=REPO_ROOT)
    assert json.loads(shadow.stdout)["error"] == "JudgmentError"
    # even an admin (root is one) only names a layout
    ok = subprocess.run([sys.executable, "-c", CLIENT, str(d.socket), attacks[2], "null"],
                        capture_output=True, text=True, cwd=REPO_ROOT)
    assert json.loads(ok.stdout)["error"] == "BadInputError"


def test_driver_errors_stay_in_the_servers_log(deployment: Deployment) -> None:
    d = deployment
    answer = json.loads(subprocess.run(
        [sys.executable, "-c", CLIENT, str(d.socket), "return store.events(limit=-1)", "null"],
        capture_output=True, text=True, cwd=REPO_ROOT).stdout)
    assert answer["error"] == "StoreError"
    assert "LIMIT" not in answer["message"] and "SELECT" not in answer["message"]
    error_id = answer["message"].split("(error ")[1].rstrip(")")
    assert error_id in answer["hint"]
    time.sleep(0.2)
    logged = [line for line in d.log.read_text().splitlines() if error_id in line]
    assert logged and "events" in logged[0]


def test_a_non_annotators_huge_line_and_idle_connections_cost_nothing(
        deployment: Deployment) -> None:
    d = deployment
    baseline = d.rss_kib()
    flood = textwrap.dedent(f"""
        import socket, time
        sockets = []
        for _ in range(200):
            s = socket.socket(socket.AF_UNIX)
            s.connect({str(d.socket)!r})
            sockets.append(s)
        big = socket.socket(socket.AF_UNIX)
        big.connect({str(d.socket)!r})
        chunk = b"x" * (1 << 20)
        sent = 0
        try:
            for _ in range(200):
                big.sendall(chunk)
                sent += 1
        except OSError:
            pass
        print(sent, flush=True)
        time.sleep(30)
    """)
    import grp
    import pwd

    account = pwd.getpwnam(d.mallory)
    attacker = subprocess.Popen(
        [sys.executable, "-c", flood], stdout=subprocess.PIPE, text=True, cwd="/",
        user=account.pw_uid, group=account.pw_gid,
        extra_groups=[g.gr_gid for g in grp.getgrall() if d.mallory in g.gr_mem])
    try:
        sent_mib = int(attacker.stdout.readline())  # type: ignore[union-attr]
        assert sent_mib < 200, "the server read a 200 MB line from a stranger"
        # while the idle connections are still open, an annotator is served
        assert "ok" in d.run(d.alice, "return store.progress(me).total")
        grown_mib = (d.rss_kib() - baseline) / 1024
        assert grown_mib < 50, f"the server grew by {grown_mib:.0f} MiB"
    finally:
        attacker.kill()
        attacker.wait()


def test_a_stranger_is_refused_at_the_hello(deployment: Deployment) -> None:
    d = deployment
    answer = d.run(d.mallory, "return store.identity")
    assert answer["error"] == "AccessDeniedError" and "not an annotator" in answer["message"]
    # and a first message that is not a hello is refused too
    raw = socket.socket(socket.AF_UNIX)
    raw.connect(str(d.socket))
    raw.sendall(b'{"method": "status", "args": [], "kwargs": {}}\n')
    reply = raw.makefile("rb").readline()
    raw.close()
    assert b"AccessDeniedError" in reply and b"hello" in reply


PLANT_GENERATION = """
from datetime import datetime
now = datetime(2026, 1, 1)
record = GenerationRecord(
    generation_id="g_planted", run_id="r_planted", prompt_id=store.next_prompt_id(me),
    variant="conservative", model="m", model_digest=None, host=None, status="ok", error=None,
    attempts=1, text=arg, system=None, options="{}", done_reason="stop", truncated=False,
    prompt_eval_count=None, eval_count=None, total_duration_ns=None, load_duration_ns=None,
    prompt_eval_duration_ns=None, eval_duration_ns=None, latency_s=None, started_at=now,
    finished_at=now)
return store.record_generations([record], actor="root")
"""


def test_an_annotator_cannot_plant_a_generated_candidate(deployment: Deployment) -> None:
    # A generation outcome becomes a candidate every annotator of the prompt is shown: an
    # annotator who could send one (here with SQL aimed at the fold's batch table in its text)
    # would choose what the others judge.
    d = deployment
    before = d.rows("SELECT count(*) FROM candidates")
    answer = d.run(d.alice, PLANT_GENERATION,
                   "'); DROP TABLE generation_batch; DELETE FROM candidates; --")
    assert answer["error"] == "AccessDeniedError", answer
    assert d.rows("SELECT count(*) FROM candidates") == before
    assert d.rows("SELECT count(*) FROM generations WHERE generation_id = 'g_planted'") == [(0,)]
