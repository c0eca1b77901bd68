"""Nothing lost under load: 8 annotator clients and a generation run through one server,
with a client killed and the server restarted mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from core.project import init_project
from core.sources import import_file
from core.store import open_store
from tests.conftest import REPO_ROOT, item_rows, write_jsonl
from tests.ollama_standin import StandinOllama

ANNOTATORS = 8
ITEMS = 30
PREFER = str(Path(sys.executable).parent / "prefer")

ANNOTATOR_CLIENT = textwrap.dedent("""
    import os, sys, uuid
    from pathlib import Path
    from core.models import Judgment
    from core.store.remote import RemoteStore
    socket_path, me, accepted_path = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    store = RemoteStore(socket_path, act_as=me)
    with open(accepted_path, "a") as accepted:
        while (prompt_id := store.next_prompt_id(me)) is not None:
            item = store.get_item(prompt_id)
            shown = tuple(c.candidate_id for c in item.candidates)
            judgment = Judgment("j_" + uuid.uuid4().hex, me, prompt_id, "ranked", shown,
                                best_candidate_id=shown[0], worst_candidate_id=shown[-1],
                                justification="As fast as I can, but still a sentence.")
            stored = store.save_judgment(judgment)
            assert stored.annotator == me and stored.prompt_id == prompt_id
            accepted.write(stored.judgment_id + "\\n")  # the client heard "saved"
            accepted.flush()
            os.fsync(accepted.fileno())
""")

GENERATION_CLIENT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from core.generate import plan_generation, run_generation
    from core.project import open_project
    from core.store.remote import RemoteStore
    project = open_project(Path(sys.argv[1]))
    store = RemoteStore(project.root / "prefer.sock")
    plan = plan_generation(store, project.config, project.guidelines_text(), model="llama3.1:8b",
                           variant_names=["conservative", "thorough"])
    result = run_generation(store, plan, hosts=[sys.argv[2]], concurrency=4, actor="load",
                            backoff_s=0.05, max_attempts=8)
    print(result.progress.succeeded, result.progress.failed)
""")


def _start_server(root: Path) -> subprocess.Popen[str]:
    server = subprocess.Popen([PREFER, "serve", "-p", str(root)], stderr=subprocess.PIPE,
                              text=True)
    assert server.stderr is not None
    line = server.stderr.readline()
    assert "Serving" in line, line
    return server


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def _wait(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_concurrent_annotators_and_generation_lose_nothing(tmp_path: Path) -> None:
    project = init_project(tmp_path / "p")
    with open_store(project.database_path) as store:
        import_file(store, write_jsonl(tmp_path / "i.jsonl", item_rows(ITEMS)), actor="t")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    server = _start_server(project.root)
    logs = [tmp_path / f"accepted-{i}.txt" for i in range(ANNOTATORS)]
    with StandinOllama(["llama3.1:8b"], latency=0.01, parallel=4) as ollama:
        clients = [subprocess.Popen([sys.executable, "-c", ANNOTATOR_CLIENT,
                                     str(project.root / "prefer.sock"), f"ann{i}", str(log)],
                                    env=env, cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True)
                   for i, log in enumerate(logs)]
        generation = subprocess.Popen([sys.executable, "-c", GENERATION_CLIENT,
                                       str(project.root), ollama.url], env=env, cwd=REPO_ROOT,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Kill one annotator mid-run, then restart the server under everyone's feet.
        _wait(lambda: len(_lines(logs[0])) >= 5)
        clients[0].send_signal(signal.SIGKILL)
        _wait(lambda: sum(len(_lines(log)) for log in logs[1:]) >= ANNOTATORS * 5)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        before_restart = sum(len(_lines(log)) for log in logs[1:])
        assert before_restart < (ANNOTATORS - 1) * ITEMS  # the restart hit a running load
        server = _start_server(project.root)
        for client in clients[1:]:
            _, errors = client.communicate(timeout=180)
            assert client.returncode == 0, errors
        out, errors = generation.communicate(timeout=180)
        assert generation.returncode == 0, errors
        assert out.split() == [str(ITEMS * 2), "0"]
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=60)
    clients[0].wait()

    accepted = [judgment_id for log in logs for judgment_id in _lines(log)]
    assert len(accepted) == len(set(accepted))  # no judgment was accepted twice
    with open_store(project.database_path) as store:
        stored = dict(store.execute_for_test(
            "SELECT judgment_id, count(*) FROM judgments GROUP BY judgment_id"))
        per_item = store.execute_for_test(
            "SELECT annotator, prompt_id, count(*) FROM judgments GROUP BY ALL HAVING count(*) > 1")
        finished = store.execute_for_test(
            "SELECT annotator, count(*) FROM judgments GROUP BY annotator ORDER BY annotator")
        generated = store.execute_for_test(
            "SELECT count(*), count(DISTINCT (prompt_id, variant)) FROM generations "
            "WHERE status = 'ok'")[0]
    assert set(accepted) <= set(stored)  # every accepted judgment is stored...
    assert set(stored.values()) == {1}  # ...exactly once
    assert per_item == []  # no item judged twice by the same annotator
    assert dict(finished)["ann1"] == ITEMS and len(finished) == ANNOTATORS
    assert all(count == ITEMS for name, count in finished if name != "ann0")
    assert generated == (ITEMS * 2, ITEMS * 2)
