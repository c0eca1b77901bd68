"""Generation through the official ollama client against a stand-in Ollama server on loopback."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.backends import BackendUnavailableError, HostSettings
from core.config import Variant
from core.generate import (
    OllamaUnavailableError,
    guideline_rules,
    plan_generation,
    preflight,
    run_generation,
)
from core.models import GenerationRecord, Run
from core.project import Project, init_project, open_project
from core.sources import import_file
from core.store import LocalStore, open_store
from core.store.local import candidate_id_for, utc_now
from tests.conftest import REPO_ROOT, write_jsonl
from tests.ollama_standin import StandinOllama, response_text
from tests.openai_standin import StandinOpenAI
from tui.cli import app

MODEL = "llama3.1:8b"


@pytest.fixture
def ollama_server() -> Iterator[StandinOllama]:
    with StandinOllama([MODEL], parallel=4) as server:
        yield server


def _prompts(count: int, prefix: str = "g") -> list[dict[str, object]]:
    return [{"id": f"{prefix}{i:02d}",
             "prompt": f"Customer {prefix}{i}: can I get a refund for my late order?",
             "dimension": "compliance"} for i in range(count)]


@pytest.fixture
def loaded(project: Project, store: LocalStore, tmp_path: Path) -> Project:
    rows = _prompts(3)
    rows[0]["system"] = "You are the support assistant of Contoso Retail."
    import_file(store, write_jsonl(tmp_path / "p.jsonl", rows),
                actor="t")
    return project


def _run(store: LocalStore, project: Project, hosts: list[str], **kwargs: object):
    plan_kwargs = {k: kwargs.pop(k) for k in ("variant_names", "limit", "force") if k in kwargs}
    plan = plan_generation(store, project.config, project.guidelines_text(), model=MODEL,
                           **plan_kwargs)  # type: ignore[arg-type]
    options = {"concurrency": 2, "actor": "tester", "backoff_s": 0.01, "max_attempts": 4}
    options.update(kwargs)
    return plan, run_generation(store, plan, hosts=hosts, **options)  # type: ignore[arg-type]


def test_options_and_system_prompts_reach_the_server(loaded: Project, store: LocalStore,
                                                     ollama_server: StandinOllama) -> None:
    plan, result = _run(store, loaded, [ollama_server.url])
    variants = {v.name: v for v in loaded.config.generation.variants}
    assert result.progress.succeeded == 3 * len(variants) and result.progress.failed == 0
    chats = ollama_server.chat_requests()
    assert len(chats) == 3 * len(variants)
    for job in plan.jobs:
        sent = [r for r in chats if r.messages == job.messages]
        assert len(sent) == 1
        options = sent[0].options
        assert options["temperature"] == job.variant.temperature
        assert isinstance(options["seed"], int)
        assert sent[0].json["stream"] is False
    flawed = [r for r in chats if "deliberately break this rule" in
              (r.messages[0]["content"] if r.messages[0]["role"] == "system" else "")]
    assert len(flawed) == 3
    assert "No promises the organisation cannot keep" in flawed[0].messages[0]["content"]
    own_system = [r for r in chats if r.messages[0]["role"] == "system"
                  and r.messages[0]["content"].startswith("You are the support assistant")]
    assert len(own_system) == len(variants)  # the prompt's own system prompt comes first

    rows = store.execute_for_test(
        "SELECT g.variant, g.model, g.model_digest, g.host, g.done_reason, g.truncated, "
        "g.eval_count > 0, g.latency_s >= 0, g.attempts, c.origin, c.text = '' "
        "FROM generations g JOIN candidates c USING (candidate_id)")
    assert len(rows) == 3 * len(variants)
    for variant, model, digest, host, reason, truncated, counted, timed, attempts, origin, empty \
            in rows:
        assert variant in variants and model == MODEL and len(digest) == 64
        assert host == ollama_server.url and reason == "stop" and not truncated
        assert counted and timed and attempts == 1 and origin == "generated" and not empty
    item = store.get_item("g01")
    assert item is not None and len(item.candidates) == len(variants)


def test_generated_candidates_get_their_language(loaded: Project, store: LocalStore,
                                                 ollama_server: StandinOllama) -> None:
    _, result = _run(store, loaded, [ollama_server.url], variant_names=["conservative"])
    assert result.progress.succeeded == 3
    # The stand-in answers in English.
    assert store.execute_for_test(
        "SELECT origin, language, count(*) FROM candidates GROUP BY ALL") == [
        ("generated", "en", 3)]


def test_generated_text_is_stored_in_nfc_with_the_id_of_the_stored_text(
    loaded: Project, store: LocalStore
) -> None:
    decomposed = "Der Antrag wird gepru\u0308ft und die Erstattung erfolgt in fu\u0308nf Tagen."
    composed = unicodedata.normalize("NFC", decomposed)
    now = utc_now()
    records = [GenerationRecord(
        generation_id=f"g{i}", run_id="r1", prompt_id="g00", variant="v", model=MODEL,
        model_digest=None, host=None, status="ok", error=None, attempts=1, text=text,
        system=None, options="{}", done_reason="stop", truncated=False, prompt_eval_count=None,
        eval_count=None, total_duration_ns=None, load_duration_ns=None,
        prompt_eval_duration_ns=None, eval_duration_ns=None, latency_s=None, started_at=now,
        finished_at=now) for i, text in enumerate([decomposed, composed])]
    store.record_generations(records)
    expected = candidate_id_for("g00", composed)
    assert store.execute_for_test("SELECT candidate_id, text, language FROM candidates") == [
        (expected, composed, "de")]
    assert store.execute_for_test("SELECT DISTINCT candidate_id FROM generations") == [
        (expected,)]


def _run_row(run_id: str) -> Run:
    return Run(run_id=run_id, actor="t", model=MODEL, hosts=("http://h",), variants=("v",),
               concurrency=1, settings="{}", planned=1, skipped=0, succeeded=None, failed=None,
               status="running", started_at=utc_now(), finished_at=None)


def test_same_prompt_and_variant_always_sends_the_same_seed(loaded: Project, store: LocalStore,
                                                            tmp_path: Path) -> None:
    first = plan_generation(store, loaded.config, loaded.guidelines_text(), model=MODEL)
    again = plan_generation(store, loaded.config, loaded.guidelines_text(), model=MODEL)
    assert [j.options for j in first.jobs] == [j.options for j in again.jobs]
    seeds = {j.options["seed"] for j in first.jobs}
    assert len(seeds) == len(first.jobs)


def test_rerun_skips_what_is_done_and_force_regenerates(loaded: Project, store: LocalStore,
                                                        ollama_server: StandinOllama) -> None:
    _run(store, loaded, [ollama_server.url], variant_names=["conservative"])
    plan, result = _run(store, loaded, [ollama_server.url], variant_names=["conservative"])
    assert plan.jobs == () and plan.skipped == 3 and result.progress.succeeded == 0
    plan, result = _run(store, loaded, [ollama_server.url], variant_names=["conservative"],
                        force=True)
    assert len(plan.jobs) == 3 and result.progress.succeeded == 3
    assert len(ollama_server.chat_requests()) == 6


def test_transient_failures_are_retried(loaded: Project, store: LocalStore,
                                        ollama_server: StandinOllama) -> None:
    ollama_server.fail_next(2, status=503)
    ollama_server.reset_connection_next(1)
    _, result = _run(store, loaded, [ollama_server.url], variant_names=["conservative"],
                     concurrency=1)
    assert result.progress.succeeded == 3 and result.progress.failed == 0
    assert result.progress.retries == 3
    attempts = sorted(a for (a,) in store.execute_for_test("SELECT attempts FROM generations"))
    assert sum(attempts) == 3 + 3  # every failed try was retried (requeued behind the others)


def test_a_prompt_that_keeps_failing_is_recorded_and_the_run_goes_on(
    loaded: Project, store: LocalStore, ollama_server: StandinOllama
) -> None:
    def poison(body: dict) -> int | None:
        return 500 if "Customer g1:" in body["messages"][-1]["content"] else None

    ollama_server.fail_when(poison)
    _, result = _run(store, loaded, [ollama_server.url], variant_names=["conservative"],
                     max_attempts=3)
    assert (result.progress.succeeded, result.progress.failed) == (2, 1)
    assert result.run.failed == 1 and result.run.status == "done"
    failed = store.execute_for_test(
        "SELECT prompt_id, attempts, error, candidate_id FROM generations WHERE status = 'failed'")
    assert failed[0][0] == "g01" and failed[0][1] == 3 and failed[0][3] is None
    assert "HTTP 500" in failed[0][2] and "after 3 attempts" in failed[0][2]
    # The next run retries only the failed one.
    ollama_server.fail_when(lambda body: None)
    plan, result = _run(store, loaded, [ollama_server.url], variant_names=["conservative"])
    assert [j.prompt.prompt_id for j in plan.jobs] == ["g01"] and result.progress.succeeded == 1


def test_a_4xx_error_is_not_retried(loaded: Project, store: LocalStore,
                                    ollama_server: StandinOllama) -> None:
    ollama_server.fail_next(1, status=400, error="invalid options")
    _, result = _run(store, loaded, [ollama_server.url], variant_names=["conservative"],
                     concurrency=1)
    assert result.progress.failed == 1 and result.progress.retries == 0


def test_truncated_responses_are_marked(loaded: Project, store: LocalStore,
                                        ollama_server: StandinOllama) -> None:
    loaded.config.generation.variants.append(Variant(name="short", temperature=0.5,
                                                     num_predict=5))
    _run(store, loaded, [ollama_server.url], variant_names=["short"])
    rows = store.execute_for_test("SELECT done_reason, truncated, eval_count FROM generations")
    assert rows == [("length", True, 5)] * 3
    assert all(r.options["num_predict"] == 5 for r in ollama_server.chat_requests())


def test_two_hosts_share_the_work(loaded: Project, store: LocalStore, tmp_path: Path) -> None:
    import_file(store, write_jsonl(tmp_path / "more.jsonl", _prompts(12, "m")), actor="t")
    with StandinOllama([MODEL], latency=0.02, parallel=2) as a, \
            StandinOllama([MODEL], latency=0.02, parallel=2) as b:
        _, result = _run(store, loaded, [a.url, b.url], variant_names=["conservative", "thorough"],
                         concurrency=2)
        assert result.progress.succeeded == 30
        served_a, served_b = len(a.chat_requests()), len(b.chat_requests())
        assert served_a + served_b == 30
        assert served_a >= 6 and served_b >= 6  # neither host idles while the other has a queue
        assert a.max_in_flight <= 2 and b.max_in_flight <= 2
    hosts = dict(store.execute_for_test("SELECT host, count(*) FROM generations GROUP BY host"))
    assert hosts == {a.url: served_a, b.url: served_b}


def test_a_host_going_down_mid_run(loaded: Project, store: LocalStore, tmp_path: Path) -> None:
    import_file(store, write_jsonl(tmp_path / "more.jsonl", _prompts(12, "m")), actor="t")
    with StandinOllama([MODEL], latency=0.03, parallel=2) as a, \
            StandinOllama([MODEL], latency=0.03, parallel=2) as b:

        def take_a_down() -> None:
            while len(a.chat_requests()) < 3:
                time.sleep(0.005)
            a.go_down()

        killer = threading.Thread(target=take_a_down)
        killer.start()
        _, result = _run(store, loaded, [a.url, b.url], variant_names=["conservative", "thorough"],
                         concurrency=2, max_attempts=2)
        killer.join()
        assert not a.is_up
        assert result.progress.succeeded == 30 and result.progress.failed == 0
        assert result.progress.retries >= 1
    hosts = dict(store.execute_for_test("SELECT host, count(*) FROM generations GROUP BY host"))
    assert hosts[b.url] > hosts.get(a.url, 0)


def test_preflight_unreachable_host_and_missing_model(ollama_server: StandinOllama) -> None:
    import asyncio

    with pytest.raises(OllamaUnavailableError) as caught:
        asyncio.run(preflight(["http://127.0.0.1:9"], MODEL, timeout=2))
    assert caught.value.message == "cannot reach Ollama at http://127.0.0.1:9"
    assert "ollama serve" in (caught.value.hint or "")
    with pytest.raises(OllamaUnavailableError) as caught:
        asyncio.run(preflight([ollama_server.url], "qwen2.5:7b"))
    assert caught.value.message == (f"model qwen2.5:7b not found on {ollama_server.url}: "
                                    "run `ollama pull qwen2.5:7b`")
    digests = asyncio.run(preflight([ollama_server.url], MODEL))
    assert len(digests[ollama_server.url]) == 64


def test_cli_generate_runs_and_preflight_errors(loaded: Project, store: LocalStore,
                                                ollama_server: StandinOllama) -> None:
    store.close()
    config = loaded.config_path.read_text().replace("backoff_s = 0.5", "backoff_s = 0.01")
    config = config.replace("max_attempts = 4", "max_attempts = 2")
    loaded.config_path.write_text(config)
    runner = CliRunner()
    root = str(loaded.root)
    dry = runner.invoke(app, ["generate", "-p", root, "--host", ollama_server.url, "--dry-run",
                              "--variants", "conservative,flawed", "--limit", "2"])
    assert dry.exit_code == 0, dry.output
    assert "Would request 4 candidates" in dry.output
    assert ollama_server.chat_requests() == []

    missing = runner.invoke(app, ["generate", "-p", root, "--host", ollama_server.url,
                                  "--model", "mistral:7b"])
    assert missing.exit_code == 1
    assert f"model mistral:7b not found on {ollama_server.url}: run `ollama pull mistral:7b`" \
        in missing.output
    down = runner.invoke(app, ["generate", "-p", root, "--host", "http://127.0.0.1:9"])
    assert down.exit_code == 1 and "cannot reach Ollama at http://127.0.0.1:9" in down.output
    assert "Traceback" not in missing.output + down.output

    ok = runner.invoke(app, ["generate", "-p", root, "--host", ollama_server.url, "--quiet",
                             "--json", "--variants", "conservative"])
    assert ok.exit_code == 0, ok.output
    summary = json.loads(ok.output)
    assert (summary["succeeded"], summary["failed"], summary["skipped"]) == (3, 0, 0)

    ollama_server.fail_when(lambda body: 500)
    failing = runner.invoke(app, ["generate", "-p", root, "--host", ollama_server.url, "--quiet",
                                  "--variants", "thorough"])
    assert failing.exit_code == 1
    assert "0 succeeded, 3 failed" in failing.output

    listed = runner.invoke(app, ["runs", "-p", root, "--json"])
    runs = json.loads(listed.output)
    assert [(r["succeeded"], r["failed"], r["status"]) for r in runs] == [(0, 3, "done"),
                                                                          (3, 0, "done")]


def test_unknown_variant_and_unknown_rule(loaded: Project, store: LocalStore) -> None:
    from core.errors import BadInputError, ConfigError

    with pytest.raises(BadInputError, match="unknown variant 'playful'"):
        plan_generation(store, loaded.config, loaded.guidelines_text(), model=MODEL,
                        variant_names=["playful"])
    loaded.config.generation.variants[3].violates_rule = "No such rule"
    with pytest.raises(ConfigError, match="violates_rule names no rule"):
        plan_generation(store, loaded.config, loaded.guidelines_text(), model=MODEL)


def test_guideline_rules_are_read_from_headings() -> None:
    rules = guideline_rules("# G\n\n## Rules\n\n### Be kind\nAlways.\nReally.\n\n### Be brief\n"
                            "Short.\n## Other\ntext\n")
    assert rules == {"Be kind": "Always. Really.", "Be brief": "Short."}


GENERATE_SCRIPT = """
import signal
import sys
# Ctrl-C as a shell delivers it: the pytest worker that starts this process may hold
# SIGINT blocked or ignored after other tests, and a child inherits both.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
signal.signal(signal.SIGINT, signal.default_int_handler)
from pathlib import Path
from core.backends import HostSettings
from core.generate import plan_generation, run_generation
from core.project import open_project
from core.store import open_store
project = open_project(Path(sys.argv[1]))
store = open_store(project.database_path)
taken = store.record_generations

def record_generations(records, actor=None):
    taken(records, actor)
    # Printed once the store has taken them: from here on they must survive anything.
    print(*[r.generation_id for r in records], flush=True)

store.record_generations = record_generations
plan = plan_generation(store, project.config, project.guidelines_text(), model=sys.argv[3],
                       variant_names=["conservative"])
run_generation(store, plan, hosts=[HostSettings(url=sys.argv[2], api=sys.argv[4])],
               concurrency=int(sys.argv[5]), actor="killed")
"""


def _start_generation(project: Project, url: str, api: str = "ollama",
                      concurrency: int = 1) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", GENERATE_SCRIPT, str(project.root), url, MODEL,
                             api, str(concurrency)],
                            cwd=REPO_ROOT, text=True, stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE)


def _wait_for_requests(server: StandinOllama, started: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        chats = server.chat_requests()
        if len(chats) >= started and chats[started - 1].started is not None:
            return
        time.sleep(0.01)
    raise AssertionError("the generation run did not get going")


def _durable_ids(child: subprocess.Popen[str]) -> set[str]:
    assert child.stdout is not None
    return {word for line in child.stdout.read().splitlines() for word in line.split()}


def _standin(api: str, **kwargs: object) -> StandinOllama:
    return (StandinOpenAI if api == "openai" else StandinOllama)(  # type: ignore[return-value]
        [MODEL], **kwargs)  # type: ignore[arg-type]


# Enough work (0.3 s each, one at a time) that a test process held up by a loaded machine
# cannot see the run finish before its signal lands (then a Ctrl-C test would test nothing).
KILLED_RUN_PROMPTS = 30


@pytest.mark.parametrize("api", ["ollama", "openai"])
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_a_killed_run_loses_no_completed_candidate_and_resumes(tmp_path: Path,
                                                               how: signal.Signals,
                                                               api: str) -> None:
    project = init_project(tmp_path / "p")
    with open_store(project.database_path) as store:
        import_file(store, write_jsonl(tmp_path / "p.jsonl", _prompts(KILLED_RUN_PROMPTS)), actor="t")
    with _standin(api, latency=0.3, parallel=1) as server:
        child = _start_generation(project, server.url, api)
        _wait_for_requests(server, started=4)  # three answered, the fourth in progress
        time.sleep(0.1)
        os.kill(child.pid, how)
        child.wait(timeout=30)
        durable = _durable_ids(child)
        answered = [r for r in server.chat_requests() if r.status == 200]
        with open_store(project.database_path) as store:  # replays the journal
            stored = store.execute_for_test(
                "SELECT count(*), count(candidate_id) FROM generations WHERE status = 'ok'")[0]
            candidates = store.execute_for_test("SELECT count(*) FROM candidates")[0][0]
            ids = {i for (i,) in store.execute_for_test("SELECT generation_id FROM generations")}
            assert stored[0] == stored[1] == candidates  # no half-written row
            assert durable <= ids and len(durable) >= 3  # nothing the store took is lost
            assert stored[0] >= 3 and stored[0] >= len(answered) - 1
            if how == signal.SIGINT:
                assert child.returncode != 0
                status = store.execute_for_test("SELECT status FROM runs")[0][0]
                assert status == "interrupted"
            project = open_project(project.root)
            host = HostSettings(url=server.url, api=api)
            plan, result = _run(store, project, [host], variant_names=["conservative"])
            assert len(plan.jobs) == KILLED_RUN_PROMPTS - stored[0]
            assert result.progress.succeeded == len(plan.jobs)
            assert store.execute_for_test("SELECT count(DISTINCT prompt_id) FROM candidates"
                                          )[0][0] == KILLED_RUN_PROMPTS
            assert store.verify_audit().problems == ()


@pytest.mark.parametrize("api", ["ollama", "openai"])
def test_kill_9_at_any_moment_loses_nothing_and_doubles_nothing(tmp_path: Path,
                                                                api: str) -> None:
    """Fast runs (latency 0, four in flight) killed at several moments, folds included."""
    project = init_project(tmp_path / "p")
    with open_store(project.database_path) as store:
        import_file(store, write_jsonl(tmp_path / "p.jsonl", _prompts(300)), actor="t")
    durable: set[str] = set()
    with _standin(api, latency=0.0, parallel=4) as server:
        for delay in (0.3, 0.7, 1.1):
            before = len(server.chat_requests())
            child = _start_generation(project, server.url, api, concurrency=4)
            while len(server.chat_requests()) == before and child.poll() is None:
                time.sleep(0.005)
            time.sleep(delay)
            child.kill()
            child.wait(timeout=30)
            durable |= _durable_ids(child)
        assert durable  # the kills came while outcomes were arriving
        with open_store(project.database_path) as store:
            ids = {i for (i,) in store.execute_for_test("SELECT generation_id FROM generations")}
            assert durable <= ids
            doubled = store.execute_for_test(
                "SELECT prompt_id FROM generations WHERE status = 'ok' GROUP BY prompt_id "
                "HAVING count(*) > 1")
            assert doubled == []
            ok = store.execute_for_test(
                "SELECT count(*) FROM generations WHERE status = 'ok'")[0][0]
            assert store.execute_for_test("SELECT count(*) FROM candidates")[0][0] == ok
            project = open_project(project.root)
            plan, result = _run(store, project, [HostSettings(url=server.url, api=api)],
                                variant_names=["conservative"], concurrency=4)
            assert len(plan.jobs) == 300 - ok and result.progress.succeeded == len(plan.jobs)
            assert store.execute_for_test("SELECT count(*), count(DISTINCT prompt_id) FROM "
                                          "candidates") == [(300, 300)]
            assert store.verify_audit().problems == ()


# --- the generation journal -------------------------------------------------------------------


def _records(run_id: str, prompts: list[str], variant: str = "v") -> list[GenerationRecord]:
    now = utc_now()
    return [GenerationRecord(
        generation_id=f"g_{run_id}_{p}_{variant}", run_id=run_id, prompt_id=p, variant=variant,
        model=MODEL, model_digest=None, host="http://h", status="ok", error=None, attempts=1,
        text=f"An answer to {p} that is long enough to have a language of its own.",
        system=None, options="{}", done_reason="stop", truncated=False, prompt_eval_count=None,
        eval_count=None, total_duration_ns=None, load_duration_ns=None,
        prompt_eval_duration_ns=None, eval_duration_ns=None, latency_s=None, started_at=now,
        finished_at=now, backend="ollama") for p in prompts]


def _segments(project: Project) -> list[Path]:
    return sorted(project.database_path.parent.glob(project.database_path.name + ".journal-*"))


def test_journal_is_private_folded_on_demand_and_replayed_once(loaded: Project,
                                                               store: LocalStore) -> None:
    store.start_run(_run_row("r1"))
    store.record_generations(_records("r1", ["g00", "g01"]))
    (segment,) = _segments(loaded)
    assert segment.stat().st_mode & 0o777 == 0o600
    saved = segment.read_bytes()
    assert b"An answer to g00" in saved
    # A crash after a fold committed but before it deleted its segment: the segment comes back.
    assert store.generation_done_keys(MODEL) == {("g00", "v"), ("g01", "v")}
    assert _segments(loaded) == []
    store.close()
    segment.write_bytes(saved + b"0badc0de {\"torn\": tr")  # and a torn last line
    with open_store(loaded.database_path) as again:
        assert _segments(loaded) == []  # replayed, then removed
        assert again.execute_for_test(
            "SELECT count(*) FROM generations") == [(2,)]  # not doubled
        assert again.execute_for_test("SELECT count(*) FROM candidates WHERE origin = "
                                      "'generated'") == [(2,)]
        batches = [e for e in again.events() if e.action == "generate.batch"]
        assert len(batches) == 1  # the replay wrote nothing, so it vouches for nothing
        assert again.verify_audit().problems == ()


def test_a_journaled_batch_is_checked_before_it_is_taken(loaded: Project,
                                                         store: LocalStore) -> None:
    from core.errors import JudgmentError

    store.start_run(_run_row("r1"))
    with pytest.raises(JudgmentError, match="prompt 'nope' is not in the store"):
        store.record_generations(_records("r1", ["nope"]))
    bad = [dataclasses.replace(_records("r1", ["g00"])[0], status="maybe")]
    with pytest.raises(JudgmentError, match="status"):
        store.record_generations(bad)
    empty = [dataclasses.replace(_records("r1", ["g00"])[0], text="  ")]
    with pytest.raises(JudgmentError, match="an ok outcome has a text"):
        store.record_generations(empty)
    # Options are remembered once valid (they are checked for every outcome): never a huge one.
    huge = [dataclasses.replace(_records("r1", ["g00"])[0],
                                options=json.dumps({"seed": 1, "pad": "x" * 5_000}))]
    with pytest.raises(JudgmentError, match="options: a JSON object of at most 4096"):
        store.record_generations(huge)
    not_object = [dataclasses.replace(_records("r1", ["g00"])[0], options="[1, 2]")]
    with pytest.raises(JudgmentError, match="options: a JSON object"):
        store.record_generations(not_object)
    assert _segments(loaded) == []  # nothing refused reached the journal


def test_an_append_survives_the_process_at_once_and_is_fsynced_within_sync_s(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The appending caller (the event loop) never waits for the disk: the write is in the file
    when append returns, and the journal's thread fsyncs it, one fsync for a burst."""
    import core.store.generation_journal as journal_module
    from core.store.generation_journal import GenerationJournal, read_segment

    synced: list[int] = []
    real_fsync = os.fsync
    caller = threading.get_ident()

    def fsync(fd: int) -> None:
        assert threading.get_ident() != caller, "the appending thread waited for the disk"
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(journal_module.os, "fsync", fsync)
    folded: list[int] = []
    journal = GenerationJournal(tmp_path / "x.duckdb", lambda b: folded.append(len(b)),
                                sync_s=0.2, fold_seconds=3600)
    records = _records("r1", [f"g{i:02d}" for i in range(40)])
    journal.append(records[:1], "t")
    (_, segment), = journal.segments()
    assert [b.records for b in read_segment(segment)] == [tuple(records[:1])]  # in the file now
    for record in records[1:]:  # a burst within one sync window
        journal.append([record], "t")
    assert len(read_segment(segment)) == 40
    deadline = time.monotonic() + 10
    while journal.stats["syncs"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    # After one more look (nothing new arrived: no other fsync) it sleeps until the fold is
    # due rather than polling for appends.
    deadline = time.monotonic() + 10
    while journal._wait_until < time.monotonic() + 60 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert journal._wait_until > time.monotonic() + 60
    assert journal.stats["syncs"] == 1, "a burst of appends shares one fsync"
    journal.append(_records("r1", ["late"]), "t")  # wakes it: fsynced within sync_s again
    deadline = time.monotonic() + 10
    while journal.stats["syncs"] == 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert journal.stats["syncs"] == 2
    journal.close()
    assert folded == [41] and journal.segments() == []


def test_a_local_store_takes_each_outcome_on_the_event_loop_as_it_arrives(
        loaded: Project, store: LocalStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """No writer thread between a local store and the run: each outcome is journaled by the
    loop the moment its answer is recorded (one call an outcome, on the loop's thread)."""
    calls: list[tuple[int, int]] = []
    taken = store.record_generations

    def record_generations(records, actor=None):  # type: ignore[no-untyped-def]
        calls.append((threading.get_ident(), len(records)))
        taken(records, actor)

    monkeypatch.setattr(store, "record_generations", record_generations)
    assert store.journals_generations
    with StandinOllama([MODEL], latency=0.0, parallel=2) as server:
        plan, result = _run(store, loaded, [server.url], concurrency=2)
    assert result.progress.succeeded == len(plan.jobs) == len(calls) > 0
    assert all(size == 1 for _, size in calls)
    assert {ident for ident, _ in calls} == {threading.get_ident()}  # asyncio.run's thread
    assert store.execute_for_test("SELECT count(*) FROM generations") == [(len(plan.jobs),)]


# --- OpenAI-compatible servers, mixed hosts, slow and dying hosts -----------------------------

OPENAI_MODEL = MODEL  # a vLLM instance may serve any name (--served-model-name)


@pytest.fixture
def openai_server() -> Iterator[StandinOpenAI]:
    with StandinOpenAI([OPENAI_MODEL], parallel=4) as server:
        yield server


def _openai(url: str, **kwargs: object) -> HostSettings:
    return HostSettings(url=url, api="openai", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "streamed"])
def test_openai_options_seeds_and_usage_reach_the_server_and_the_store(
    loaded: Project, store: LocalStore, openai_server: StandinOpenAI, stream: bool
) -> None:
    loaded.config.generation.variants.append(Variant(name="short", temperature=0.5, top_p=0.8,
                                                     num_predict=5, seed=1234))
    plan, result = _run(store, loaded, [_openai(openai_server.url, stream=stream)],
                        variant_names=["conservative", "short"])
    assert (result.progress.succeeded, result.progress.failed) == (6, 0)
    chats = openai_server.chat_requests()
    assert len(chats) == 6
    for job in plan.jobs:
        (sent,) = [r.json for r in chats if r.json["messages"] == job.messages]
        assert sent["model"] == OPENAI_MODEL
        assert sent["temperature"] == job.variant.temperature
        assert sent["seed"] == job.options["seed"]
        assert sent.get("top_p") == job.variant.top_p
        assert sent.get("max_tokens") == job.variant.num_predict
        assert "response_format" not in sent
        assert sent.get("stream", False) is stream
    assert {r.json["seed"] for r in chats if r.json["temperature"] == 0.5} == {1234}
    rows = store.execute_for_test(
        "SELECT variant, host, backend, done_reason, truncated, eval_count, prompt_eval_count > 0,"
        " model_digest, c.text FROM generations g JOIN candidates c USING (candidate_id) "
        "ORDER BY variant")
    assert len(rows) == 6
    for variant, host, backend, reason, truncated, tokens, prompted, digest, text in rows:
        assert host == openai_server.url and backend == "openai" and prompted
        assert digest is None  # the OpenAI API names no weights digest
        if variant == "short":  # cut off at max_tokens: finish_reason "length"
            assert (reason, truncated, tokens, len(text.split())) == ("length", True, 5, 5)
        else:
            assert (reason, truncated) == ("stop", False) and tokens == len(text.split())
    # The texts are the server's, whole: the stand-in's reply to exactly these requests.
    for job in plan.jobs[:2]:
        options = {k: v for k, v in job.options.items() if k != "num_predict"}
        expected = response_text(OPENAI_MODEL, job.messages, options)
        assert store.execute_for_test(
            "SELECT count(*) FROM candidates WHERE text = ?", [expected])[0][0] == (
            1 if job.variant.name == "conservative" else 0)


def test_mixed_hosts_share_one_queue_and_record_their_backend(
    loaded: Project, store: LocalStore, tmp_path: Path
) -> None:
    import_file(store, write_jsonl(tmp_path / "more.jsonl", _prompts(12, "m")), actor="t")
    with StandinOllama([MODEL], latency=0.02, parallel=2) as ollama_host, \
            StandinOpenAI([MODEL], latency=0.02, parallel=2) as vllm_host:
        _, result = _run(store, loaded, [HostSettings(url=ollama_host.url),
                                         _openai(vllm_host.url, concurrency=2)],
                         variant_names=["conservative", "thorough"], concurrency=2)
        assert result.progress.succeeded == 30
        served = {ollama_host.url: len(ollama_host.chat_requests()),
                  vllm_host.url: len(vllm_host.chat_requests())}
        assert sum(served.values()) == 30 and min(served.values()) >= 6
        assert ollama_host.max_in_flight <= 2 and vllm_host.max_in_flight <= 2
    rows = dict(((h, b), n) for h, b, n in store.execute_for_test(
        "SELECT host, backend, count(*) FROM generations GROUP BY ALL"))
    assert rows == {(ollama_host.url, "ollama"): served[ollama_host.url],
                    (vllm_host.url, "openai"): served[vllm_host.url]}
    settings = json.loads(result.run.settings)
    assert [h["api"] for h in settings["hosts"]] == ["ollama", "openai"]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_openai_transient_errors_are_retried(loaded: Project, store: LocalStore,
                                             openai_server: StandinOpenAI, status: int) -> None:
    openai_server.fail_next(2, status=status)
    openai_server.reset_connection_next(1)
    _, result = _run(store, loaded, [_openai(openai_server.url)], variant_names=["conservative"],
                     concurrency=1)
    assert (result.progress.succeeded, result.progress.failed, result.progress.retries) == (3, 0,
                                                                                           3)


@pytest.mark.parametrize("status", [400, 401, 404])
def test_openai_request_errors_are_not_retried_and_say_why(
    loaded: Project, store: LocalStore, openai_server: StandinOpenAI, status: int
) -> None:
    openai_server.fail_next(1, status=status, error="refused by the stand-in")
    _, result = _run(store, loaded, [_openai(openai_server.url)], variant_names=["conservative"],
                     concurrency=1)
    assert (result.progress.failed, result.progress.retries) == (1, 0)
    (error,) = [e for (e,) in store.execute_for_test(
        "SELECT error FROM generations WHERE status = 'failed'")]
    assert error.startswith(f"HTTP {status}: refused by the stand-in (") and "\n" not in error
    hint = {400: "an option it does not take", 401: "api_key_env", 404: "/v1/models"}[status]
    assert hint in error


def test_a_host_that_dies_is_drained_into_the_others(loaded: Project, store: LocalStore,
                                                     tmp_path: Path) -> None:
    import_file(store, write_jsonl(tmp_path / "more.jsonl", _prompts(12, "m")), actor="t")
    with StandinOpenAI([MODEL], latency=0.03, parallel=2) as dying, \
            StandinOllama([MODEL], latency=0.03, parallel=2) as healthy:

        def take_it_down() -> None:
            while len(dying.chat_requests()) < 3:
                time.sleep(0.005)
            dying.go_down()

        killer = threading.Thread(target=take_it_down)
        killer.start()
        _, result = _run(store, loaded, [_openai(dying.url), HostSettings(url=healthy.url)],
                         variant_names=["conservative", "thorough"], max_attempts=2)
        killer.join()
        assert (result.progress.succeeded, result.progress.failed) == (30, 0)
    hosts = dict(store.execute_for_test("SELECT host, count(*) FROM generations GROUP BY host"))
    assert hosts[healthy.url] > hosts.get(dying.url, 0)


def test_a_slow_host_does_not_hold_up_the_end_of_the_run(loaded: Project, store: LocalStore,
                                                         tmp_path: Path) -> None:
    import_file(store, write_jsonl(tmp_path / "more.jsonl", _prompts(9, "m")), actor="t")
    with StandinOpenAI([MODEL], latency=60.0, parallel=2) as hung, \
            StandinOpenAI([MODEL], latency=0.01, parallel=2) as fast:
        began = time.monotonic()
        _, result = _run(store, loaded, [_openai(hung.url), _openai(fast.url)],
                         variant_names=["conservative"], timeout_s=120.0)
        took = time.monotonic() - began
        assert (result.progress.succeeded, result.progress.failed) == (12, 0)
        assert result.progress.hedged == 2  # the two the hung host took, sent to the fast one
        assert took < 20, took  # not the hung host's 60 s
        assert len(hung.chat_requests()) == 2
    assert store.execute_for_test("SELECT DISTINCT host FROM generations") == [(fast.url,)]
    assert store.execute_for_test(
        "SELECT count(*), count(DISTINCT (prompt_id, variant)) FROM generations") == [(12, 12)]


def test_a_host_that_slows_mid_run_is_drained_by_the_others(loaded: Project, store: LocalStore,
                                                           tmp_path: Path) -> None:
    """A host that turns slow mid-run keeps only the requests it already holds: the others
    take the rest of the queue, and what it holds is sent again to an idle host at the end."""
    import_file(store, write_jsonl(tmp_path / "more.jsonl", _prompts(37, "m")), actor="t")
    with StandinOpenAI([MODEL], latency=0.01, parallel=2) as slowing, \
            StandinOllama([MODEL], latency=0.01, parallel=2) as steady:

        def slow_it_down() -> None:
            while len(slowing.chat_requests()) < 3:
                time.sleep(0.002)
            slowing.latency = 60.0  # from now on each request holds a slot for a minute

        switch = threading.Thread(target=slow_it_down)
        switch.start()
        began = time.monotonic()
        _, result = _run(store, loaded, [_openai(slowing.url), HostSettings(url=steady.url)],
                         variant_names=["conservative"], timeout_s=120.0)
        took = time.monotonic() - began
        switch.join()
        assert (result.progress.succeeded, result.progress.failed) == (40, 0)
        assert took < 20, took  # not the slowed host's 60 s
        # It kept the few it held when it slowed (its two slots); the steady host took the rest.
        assert len(slowing.chat_requests()) <= 4 + 2  # (a 4th may start before the switch)
        assert 1 <= result.progress.hedged <= 2
    hosts = dict(store.execute_for_test("SELECT host, count(*) FROM generations GROUP BY host"))
    assert hosts[steady.url] >= 35
    assert store.execute_for_test(
        "SELECT count(*), count(DISTINCT (prompt_id, variant)) FROM generations") == [(40, 40)]


def test_preflight_openai_missing_model_bad_key_and_unreachable(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    import asyncio

    monkeypatch.setenv("STANDIN_KEY", "sk-right")
    with StandinOpenAI([MODEL], api_key="sk-right") as server:
        keyed = _openai(server.url, api_key_env="STANDIN_KEY")
        assert asyncio.run(preflight([keyed], MODEL)) == {server.url: ""}
        with pytest.raises(BackendUnavailableError) as caught:
            asyncio.run(preflight([keyed], "qwen2.5:7b"))
        assert caught.value.message == (f"model qwen2.5:7b not served by {server.url} "
                                        f"(it serves: {MODEL})")
        assert "--model" in (caught.value.hint or "")
        monkeypatch.setenv("STANDIN_KEY", "sk-wrong")
        with pytest.raises(BackendUnavailableError) as caught:
            asyncio.run(preflight([keyed], MODEL))
        assert caught.value.message == (f"{server.url} refused the API key (HTTP 401): "
                                        "Incorrect API key provided.")
        assert "api_key_env" in (caught.value.hint or "")
        key_file = tmp_path / "key"
        key_file.write_text("sk-right\n")
        assert asyncio.run(preflight([_openai(server.url, api_key_file=str(key_file))],
                                     MODEL)) == {server.url: ""}
    with pytest.raises(BackendUnavailableError) as caught:
        asyncio.run(preflight([_openai("http://127.0.0.1:9")], MODEL, timeout=2))
    assert caught.value.message == ("cannot reach the OpenAI-compatible server at "
                                    "http://127.0.0.1:9")


def test_cli_generate_with_openai_hosts_keys_and_errors(
    loaded: Project, store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.close()
    runner = CliRunner()
    root = str(loaded.root)
    with StandinOpenAI([MODEL], api_key="sk-cli") as server:
        base = ["generate", "-p", root, "--host", server.url, "--api", "openai", "--quiet",
                "--variants", "conservative"]
        monkeypatch.delenv("PREFER_TEST_KEY", raising=False)
        unset = runner.invoke(app, [*base, "--api-key-env", "PREFER_TEST_KEY"])
        assert unset.exit_code == 2, unset.output
        assert "the environment variable PREFER_TEST_KEY is not set" in unset.output
        monkeypatch.setenv("PREFER_TEST_KEY", "sk-wrong")
        wrong = runner.invoke(app, [*base, "--api-key-env", "PREFER_TEST_KEY"])
        assert wrong.exit_code == 1
        assert f"error: {server.url} refused the API key (HTTP 401): Incorrect API key " \
               "provided." in wrong.output
        assert "hint: set the API key" in wrong.output and "Traceback" not in wrong.output
        monkeypatch.setenv("PREFER_TEST_KEY", "sk-cli")
        missing = runner.invoke(app, [*base, "--api-key-env", "PREFER_TEST_KEY", "--model", "x"])
        assert missing.exit_code == 1
        assert f"error: model x not served by {server.url} (it serves: {MODEL})" in missing.output
        bad_api = runner.invoke(app, [*base, "--api", "grpc"])
        assert bad_api.exit_code == 2 and 'api "grpc" is not one of ollama, openai' in \
            bad_api.output
        ok = runner.invoke(app, [*base, "--api-key-env", "PREFER_TEST_KEY", "--json"])
        assert ok.exit_code == 0, ok.output
        assert json.loads(ok.output)["succeeded"] == 3
        assert all(r.headers["authorization"] == "Bearer sk-cli"
                   for r in server.chat_requests())
    listed = json.loads(runner.invoke(app, ["runs", "-p", root, "--json"]).output)
    hosts = listed[0]["settings"]["hosts"]
    assert hosts == [{"url": server.url, "api": "openai", "concurrency": 2}]
    assert "sk-cli" not in json.dumps(listed)  # the key is never recorded


def test_hosts_tables_in_prefer_toml(loaded: Project, store: LocalStore) -> None:
    from core.config import load_config

    with StandinOpenAI([MODEL]) as vllm, StandinOllama([MODEL]) as ollama_host:
        text = loaded.config_path.read_text()
        text = re.sub(r"hosts = \[[^\]]*\]\n", "", text)
        # prefer init writes the default host as an indented [[generation.hosts]] table
        text = re.sub(r"\[\[generation\.hosts\]\]\n(?:  [^\n]*\n)*", "", text)
        text = text.replace("[generation]\n", "[generation]\n", 1) + (
            f'\n[[generation.hosts]]\nurl = "{vllm.url}"\napi = "openai"\nconcurrency = 3\n'
            f'\n[[generation.hosts]]\nurl = "{ollama_host.url}"\n')
        loaded.config_path.write_text(text)
        config = load_config(loaded.config_path)
        assert [(h.url, h.api, h.concurrency) for h in config.generation.hosts] == [
            (vllm.url, "openai", 3), (ollama_host.url, "ollama", None)]
        store.close()
        result = CliRunner().invoke(app, ["generate", "-p", str(loaded.root), "--quiet",
                                          "--variants", "conservative", "--json"])
        assert result.exit_code == 0, result.output
        assert len(vllm.chat_requests()) + len(ollama_host.chat_requests()) == 3
        leaked = text + '\n[[generation.hosts]]\nurl = "http://x:1"\napi_key = "sk-secret"\n'
        loaded.config_path.write_text(leaked)
        refused = CliRunner().invoke(app, ["generate", "-p", str(loaded.root), "--dry-run"])
        assert refused.exit_code == 2 and "unknown key 'generation.hosts[2].api_key'" in \
            refused.output
        key_in_env_name = text + ('\n[[generation.hosts]]\nurl = "http://x:1"\n'
                                  'api_key_env = "sk-abc.def"\n')
        loaded.config_path.write_text(key_in_env_name)
        refused = CliRunner().invoke(app, ["generate", "-p", str(loaded.root), "--dry-run"])
        assert refused.exit_code == 2 and "not hold the key itself" in refused.output


# --- through `prefer serve`: the journal is the store process's --------------------------------

SERVED_GENERATION = """
import sys
from pathlib import Path
from core.backends import HostSettings
from core.generate import plan_generation, run_generation
from core.project import open_project
from core.store.remote import RemoteStore
project = open_project(Path(sys.argv[1]))
store = RemoteStore(project.root / "prefer.sock")
taken = store.record_generations

def record_generations(records, actor=None):
    taken(records, actor)
    print(*[r.generation_id for r in records], flush=True)  # the server answered: taken

store.record_generations = record_generations
plan = plan_generation(store, project.config, project.guidelines_text(), model=sys.argv[3],
                       variant_names=["conservative"])
result = run_generation(store, plan, hosts=[HostSettings(url=sys.argv[2], api="openai")],
                        concurrency=4, actor="gen", backoff_s=0.05, max_attempts=8)
print("done", result.progress.succeeded, result.progress.failed, flush=True)
"""


def test_through_prefer_serve_a_killed_server_loses_no_taken_outcome(tmp_path: Path) -> None:
    project = init_project(tmp_path / "p")
    with open_store(project.database_path) as store:
        import_file(store, write_jsonl(tmp_path / "p.jsonl", _prompts(200)), actor="t")
    prefer = str(Path(sys.executable).parent / "prefer")

    def serve() -> subprocess.Popen[str]:
        server = subprocess.Popen([prefer, "serve", "-p", str(project.root)],
                                  stderr=subprocess.PIPE, text=True)
        assert server.stderr is not None
        line = server.stderr.readline()
        assert "Serving" in line, line
        return server

    server = serve()
    journal = list(project.root.glob("prefer.duckdb.journal-*"))
    with StandinOpenAI([MODEL], latency=0.02, parallel=4) as llm:
        client = subprocess.Popen([sys.executable, "-c", SERVED_GENERATION, str(project.root),
                                   llm.url, MODEL], cwd=REPO_ROOT, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert client.stdout is not None
        taken: set[str] = set()
        while len(taken) < 20:
            line = client.stdout.readline()
            assert line, client.stderr.read() if client.stderr else ""
            taken.update(line.split())
        # The journal is written by the server, in the project (the client has none).
        journal = list(project.root.glob("prefer.duckdb.journal-*"))
        server.kill()  # kill -9: whatever it had not folded is only in its journal
        server.wait(timeout=30)
        server = serve()  # folds the journal it left, then serves the client again
        rest, errors = client.communicate(timeout=300)
        taken |= {w for line in rest.splitlines() if not line.startswith("done")
                  for w in line.split()}
        if client.returncode != 0:
            # The client gave up before the server was back (its retries span a few seconds,
            # a loaded machine restarts slower): a user runs it again, which must finish.
            assert "lost the connection to the prefer server" in errors, errors
            again = subprocess.run([sys.executable, "-c", SERVED_GENERATION, str(project.root),
                                    llm.url, MODEL], cwd=REPO_ROOT, text=True,
                                   capture_output=True, timeout=300)
            assert again.returncode == 0, again.stderr
            rest = again.stdout
            taken |= {w for line in rest.splitlines() if not line.startswith("done")
                      for w in line.split()}
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=60)
    assert rest.splitlines()[-1].endswith(" 0")  # done N 0: nothing failed
    assert journal, "no journal beside the store while outcomes were arriving"
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in journal if p.exists())
    with open_store(project.database_path) as store:
        ids = {i for (i,) in store.execute_for_test("SELECT generation_id FROM generations")}
        assert taken <= ids  # every outcome the server took survived its kill -9
        assert store.execute_for_test(
            "SELECT count(*), count(DISTINCT prompt_id) FROM generations WHERE status = 'ok'"
        ) == [(200, 200)]  # nothing doubled, though batches were sent again after the kill
        assert store.execute_for_test("SELECT count(*) FROM candidates") == [(200,)]
        assert store.verify_audit().problems == ()
