"""The local judge: structured requests to a stand-in Ollama over real HTTP, resume after kill -9
and Ctrl-C, calibration on a crafted set, the triage order, and proof that verdicts never reach
an annotator (screen, pairs, human agreement, `prefer serve`)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import typing
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from core import judge as judge_core
from core.agreement_report import collect_labels
from core.errors import JudgmentError
from core.judge import (
    PROMPT_VERSION,
    ParsedReply,
    build_request,
    candidates_key,
    combine,
    judge_calibration,
    obvious_items,
    plan_judging,
    possible_slips,
    run_judging,
)
from core.judge_models import JudgeOutcome, JudgeRequestRecord, JudgeVerdict
from core.models import Item, Judgment
from core.pairs import build_pairs
from core.project import Project, init_project, open_project
from core.sources import import_file
from core.store import LocalStore, open_store
from core.store.api import OPERATIONS, Role
from core.store.local import utc_now
from tests.conftest import REPO_ROOT, item_rows, write_jsonl
from tests.ollama_standin import StandinOllama
from tui.cli import app

MODEL = "llama3.1:8b"
DIMS = ("tone", "accuracy", "compliance", "disclosure", "safety")
REASON = "crafted-verdict-reason-7f3a"  # appears nowhere but in verdicts


def _load(store: LocalStore, tmp_path: Path, count: int, candidates: int = 3,
          dimensions: list[str] | None = None) -> list[Item]:
    rows = item_rows(count, candidates=candidates)
    for i, row in enumerate(rows):
        if dimensions:
            row["dimension"] = dimensions[i % len(dimensions)]
    import_file(store, write_jsonl(tmp_path / f"items{uuid.uuid4().hex[:6]}.jsonl", rows),
                actor="t")
    return store.judge_items()


def _plan_and_run(store: LocalStore, project: Project, url: str, **kwargs: Any):
    plan = plan_judging(store, project.config, project.guidelines_text(),
                        project.guideline_version(), model=MODEL)
    options: dict[str, Any] = {"concurrency": 2, "actor": "tester", "backoff_s": 0.01}
    options.update(kwargs)
    return plan, run_judging(store, plan, project.config, hosts=[url], **options)


def reply(scores: dict[str, int], dimensions: tuple[str, ...] = ("tone",),
          reason: str = REASON) -> str:
    return json.dumps({"scores": scores, "dimensions": list(dimensions), "reason": reason})


def _user_text(body: dict[str, Any]) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def _labelled(body: dict[str, Any]) -> list[str]:
    """The labels a request's schema asks scores for, in order."""
    return list(body["format"]["properties"]["scores"]["required"])


# --- structured requests ---------------------------------------------------------------------

def test_each_item_is_asked_twice_in_two_orders_with_a_schema(project: Project, store: LocalStore,
                                                               tmp_path: Path) -> None:
    items = _load(store, tmp_path, 3)
    with StandinOllama([MODEL], parallel=4) as server:
        _plan, result = _plan_and_run(store, project, server.url)
        chats = server.chat_requests()
    assert result.progress.succeeded == 3 and result.progress.failed == 0
    assert len(chats) == 6 and all(r.status == 200 for r in chats)
    guidelines = project.guidelines_text().strip()
    for item in items:
        sent = [r for r in chats if item.prompt.prompt in _user_text(r.json)]
        assert len(sent) == 2
        positions = []
        for request in sent:
            body = request.json
            assert body["format"]["type"] == "object"  # a JSON schema in Ollama's `format`
            assert _labelled(body) == ["A", "B", "C"]
            assert body["format"]["properties"]["dimensions"]["items"]["enum"] == list(DIMS)
            assert guidelines in body["messages"][0]["content"]
            assert body["options"]["temperature"] == 0.0 and "seed" in body["options"]
            user = _user_text(body)
            positions.append([user.index(c.text) for c in item.candidates])
        # one order is the other reversed
        first, second = (sorted(range(3), key=lambda k, p=p: p[k]) for p in positions)
        assert first == list(reversed(second))
    verdicts = store.judge_verdicts()
    assert len(verdicts) == 3
    for verdict in verdicts:
        assert verdict.model == MODEL and verdict.prompt_version == PROMPT_VERSION
        assert verdict.model_digest and verdict.guideline_version == project.guideline_version()
    logged = store.execute_for_test(
        "SELECT order_index, status, model_digest, options, reply, scores FROM judge_requests")
    assert len(logged) == 6 and {r[0] for r in logged} == {0, 1}
    for _order, status, digest, options, raw, scores in logged:
        assert status == "ok" and digest and json.loads(options)["temperature"] == 0.0
        assert json.loads(raw)["scores"] and len(scores) == 3
    run = store.judge_runs()[0]
    assert (run.status, run.succeeded, run.failed, run.planned) == ("done", 3, 0, 3)
    assert store.verify_audit().ok


def test_mean_scores_margin_and_order_agreement() -> None:
    item = Item(prompt=_prompt("x"), candidates=tuple(_candidate("x", i) for i in range(3)))
    requests = [build_request(item, order, "G", DIMS, 0.0) for order in (0, 1)]
    assert requests[1].shown_order == tuple(reversed(requests[0].shown_order))
    # the same opinion in both orders: scores per stored candidate (9, 5, 1)
    agree = [ParsedReply((9, 5, 1), ("tone",), "r"), ParsedReply((1, 5, 9), ("safety",), "r")]
    fields = combine(item, list(zip(requests, agree, strict=True)), DIMS)
    assert fields["scores"] == (9.0, 5.0, 1.0) and fields["orders_agree"]
    assert fields["best_candidate_id"] == "cx0" and fields["worst_candidate_id"] == "cx2"
    assert fields["margin"] == pytest.approx(4 / 9)
    assert fields["dimensions"] == ("tone", "safety")
    # position bias: whatever is shown first wins
    biased = [ParsedReply((9, 5, 1), ("tone",), "r"), ParsedReply((9, 5, 1), ("tone",), "r")]
    fields = combine(item, list(zip(requests, biased, strict=True)), DIMS)
    assert not fields["orders_agree"] and fields["margin"] == 0.0
    assert fields["best_candidate_id"] is None  # cx0 and cx2 tie at 5.0


def _prompt(pid: str):
    from core.models import Prompt
    return Prompt(pid, f"prompt {pid}")


def _candidate(pid: str, i: int):
    from core.models import Candidate
    return Candidate(f"c{pid}{i}", pid, i + 1, f"text {i}")


def test_an_invalid_reply_is_asked_again_then_recorded_as_failed(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    items = _load(store, tmp_path, 3)
    broken, flaky = items[0].prompt.prompt, items[1].prompt.prompt
    seen: dict[str, int] = {}

    def answer(body: dict[str, Any]) -> str | None:
        user = _user_text(body)
        if broken in user:  # never valid: a label missing, then not JSON, then a score of 11
            kind = seen.setdefault("broken", 0) % 3
            seen["broken"] += 1
            return [reply({"A": 5, "B": 4}), "no JSON here", reply({"A": 11, "B": 1, "C": 2})][kind]
        if flaky in user and seen.get(body["options"]["seed"], 0) == 0 and \
                seen.setdefault("flaky", 0) < 2:
            seen["flaky"] += 1
            seen[body["options"]["seed"]] = 1
            return reply({"A": 5, "B": 5, "C": 5}, dimensions=("no-such-dimension",))
        return None

    with StandinOllama([MODEL]) as server:
        server.answer_when(answer)
        _plan, result = _plan_and_run(store, project, server.url)
        chats = server.chat_requests()
    limit = project.config.judge.max_invalid_replies
    assert result.progress.failed == 1 and result.progress.succeeded == 2
    assert result.progress.invalid_replies == 2 * limit + 2
    assert any("invalid reply 3 times" in e for e in result.errors)
    broken_sent = [r for r in chats if broken in _user_text(r.json)]
    assert len(broken_sent) == 2 * limit  # each order asked max_invalid_replies times
    seeds = {r.json["options"]["seed"] for r in broken_sent}
    assert len(seeds) == 2 * limit  # asked again with another seed each time
    failed = store.execute_for_test(
        "SELECT status, error, attempts, reply FROM judge_requests WHERE prompt_id = ?",
        [items[0].prompt.prompt_id])
    assert len(failed) == 2 and all(r[0] == "failed" and r[2] == limit for r in failed)
    assert all(r[1].startswith("invalid reply 3 times, last: ") for r in failed)
    assert {r[3] for r in failed} <= {reply({"A": 5, "B": 4}), "no JSON here",
                                      reply({"A": 11, "B": 1, "C": 2})}  # the raw reply kept
    assert store.execute_for_test("SELECT status FROM judge_verdicts WHERE prompt_id = ?",
                                  [items[0].prompt.prompt_id]) == [("failed",)]
    flaky_verdict = next(v for v in store.judge_verdicts()
                         if v.prompt_id == items[1].prompt.prompt_id)
    assert flaky_verdict.status == "ok"
    # a failed item is due again; the judged ones are not
    plan = plan_judging(store, project.config, project.guidelines_text(), "g", model=MODEL)
    assert [i.prompt.prompt_id for i in plan.items] == [items[0].prompt.prompt_id]


def test_a_server_error_is_retried_and_a_missing_model_stops_before_any_work(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    from core.generate import OllamaUnavailableError
    _load(store, tmp_path, 2)
    with StandinOllama([MODEL]) as server:
        server.fail_next(2, status=503)
        _plan, result = _plan_and_run(store, project, server.url)
        assert result.progress.succeeded == 2 and result.progress.retries == 2
        plan = plan_judging(store, project.config, "g", "g", model="absent:1b", force=True)
        with pytest.raises(OllamaUnavailableError, match="absent:1b not found"):
            run_judging(store, plan, project.config, hosts=[server.url], concurrency=1,
                        actor="t")
    assert len(store.judge_runs()) == 1


def test_the_store_refuses_a_verdict_whose_parts_do_not_fit(store: LocalStore,
                                                            tmp_path: Path) -> None:
    item = _load(store, tmp_path, 1)[0]
    outcome = _outcome(item, (9, 5, 1))
    bad = JudgeOutcome(_replace(outcome.verdict, scores=(9.0, 5.0)), outcome.requests)
    with pytest.raises(JudgmentError, match="scores"):
        store.record_judge_outcomes([bad])
    half = JudgeOutcome(outcome.verdict, outcome.requests[:1])
    with pytest.raises(JudgmentError, match="two answered requests"):
        store.record_judge_outcomes([half])
    assert store.execute_for_test("SELECT count(*) FROM judge_verdicts") == [(0,)]


# --- resume ----------------------------------------------------------------------------------

JUDGE_SCRIPT = """
import signal
import sys
# Ctrl-C as a shell delivers it: the pytest worker that starts this process may hold
# SIGINT blocked or ignored after other tests, and a child inherits both.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
signal.signal(signal.SIGINT, signal.default_int_handler)
from pathlib import Path
from core.judge import plan_judging, run_judging
from core.project import open_project
from core.store import open_store
project = open_project(Path(sys.argv[1]))
store = open_store(project.database_path)
plan = plan_judging(store, project.config, project.guidelines_text(), "g", model=sys.argv[3])
run_judging(store, plan, project.config, hosts=[sys.argv[2]], concurrency=1, actor="killed")
"""


# Enough work (two answers of 0.25 s an item, one at a time) that a test process held up by a
# loaded machine cannot see the run finish before its signal lands.
KILLED_RUN_ITEMS = 20


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_a_killed_judge_run_resumes_and_judges_nothing_twice(tmp_path: Path,
                                                             how: signal.Signals) -> None:
    project = init_project(tmp_path / "p")
    with open_store(project.database_path) as store:
        items = _load(store, tmp_path, KILLED_RUN_ITEMS)
    with StandinOllama([MODEL], latency=0.25, parallel=1) as server:
        child = subprocess.Popen([sys.executable, "-c", JUDGE_SCRIPT, str(project.root),
                                  server.url, MODEL], cwd=REPO_ROOT, text=True,
                                 stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while True:  # four answered (two items), the fifth in progress
            chats = server.chat_requests()
            if len(chats) >= 5 and chats[4].started is not None:
                break
            assert time.monotonic() < deadline, "the judge run did not get going"
            time.sleep(0.01)
        time.sleep(0.1)
        os.kill(child.pid, how)
        child.wait(timeout=30)
        with open_store(project.database_path) as store:
            verdicts = store.execute_for_test(
                "SELECT v.prompt_id, count(r.request_id) FROM judge_verdicts v "
                "LEFT JOIN judge_requests r USING (verdict_id) WHERE v.status = 'ok' "
                "GROUP BY v.prompt_id")
            answered = [i.prompt.prompt_id for i in items
                        if sum(r.status == 200 and i.prompt.prompt in _user_text(r.json)
                               for r in server.chat_requests()) == 2]
            assert len(answered) >= 2
            # every item both of whose answers arrived is stored, but for one the writer may
            # have held when the process died; none is stored by halves
            assert len(verdicts) >= max(1, len(answered) - 1)
            assert all(n == 2 for _, n in verdicts)
            orphans = store.execute_for_test(
                "SELECT count(*) FROM judge_requests WHERE verdict_id NOT IN "
                "(SELECT verdict_id FROM judge_verdicts)")[0][0]
            assert orphans == 0
            if how == signal.SIGINT:
                assert child.returncode != 0
                assert store.execute_for_test("SELECT status FROM judge_runs") == [
                    ("interrupted",)]
            judged = {p for p, _ in verdicts}
            server.reset_stats()
            project = open_project(project.root)
            plan, result = _plan_and_run(store, project, server.url)
            assert len(plan.items) == KILLED_RUN_ITEMS - len(judged) and plan.skipped == len(judged)
            assert result.progress.succeeded == len(plan.items)
            asked_again = [i.prompt.prompt_id for i in items for r in server.chat_requests()
                           if i.prompt.prompt in _user_text(r.json)
                           and i.prompt.prompt_id in judged]
            assert asked_again == []
            per_item = store.execute_for_test(
                "SELECT prompt_id, count(*) FROM judge_verdicts WHERE status = 'ok' "
                "GROUP BY prompt_id")
            assert len(per_item) == KILLED_RUN_ITEMS and all(n == 1 for _, n in per_item)
            assert store.verify_audit().ok


# --- crafted verdicts ---------------------------------------------------------------------------

def _replace(verdict: JudgeVerdict, **changes: Any) -> JudgeVerdict:
    import dataclasses
    return dataclasses.replace(verdict, **changes)


def _outcome(item: Item, first: tuple[int, ...], second: tuple[int, ...] | None = None,
             run_id: str = "jr_crafted") -> JudgeOutcome:
    """A judged item with scores per stored candidate for each order (second defaults to
    first: the same opinion whatever the order)."""
    stored = [c.candidate_id for c in item.candidates]
    requests = [build_request(item, order, "G", DIMS, 0.0) for order in (0, 1)]
    replies = []
    for request, per_stored in zip(requests, (first, second or first), strict=True):
        by_id = dict(zip(stored, per_stored, strict=True))
        replies.append(ParsedReply(tuple(by_id[c] for c in request.shown_order), ("tone",),
                                   REASON))
    fields = combine(item, list(zip(requests, replies, strict=True)), DIMS)
    verdict_id = "jv_" + uuid.uuid4().hex
    verdict = JudgeVerdict(
        verdict_id=verdict_id, judge_run_id=run_id, prompt_id=item.prompt.prompt_id,
        model=MODEL, model_digest="sha256:test", prompt_version=PROMPT_VERSION,
        guideline_version="g", candidates_key=candidates_key(stored), status="ok", error=None,
        created_at=utc_now(), **fields)
    records = tuple(JudgeRequestRecord(
        request_id="jq_" + uuid.uuid4().hex, verdict_id=verdict_id, judge_run_id=run_id,
        prompt_id=item.prompt.prompt_id, order_index=r.order_index, shown_order=r.shown_order,
        model=MODEL, model_digest="sha256:test", host="http://test", status="ok", error=None,
        attempts=1, system=r.system, options=json.dumps(r.options), reply="{}",
        scores=p.scores, dimensions=p.dimensions, reason=p.reason, prompt_eval_count=None,
        eval_count=None, total_duration_ns=None, latency_s=0.1, started_at=utc_now(),
        finished_at=utc_now()) for r, p in zip(requests, replies, strict=True))
    return JudgeOutcome(verdict, records)


def _rank(store: LocalStore, annotator: str, item: Item, best: int, worst: int,
          key: str = "k") -> None:
    shown = tuple(c.candidate_id for c in item.candidates)
    store.save_judgment(Judgment(
        f"{key}{item.prompt.prompt_id}", annotator, item.prompt.prompt_id, "ranked", shown,
        best_candidate_id=shown[best], worst_candidate_id=shown[worst],
        justification="A careful reading of every answer against the policy."))


def _manual_kappa(pairs: list[tuple[str, str]]) -> float:
    """Cohen's kappa from its definition (an implementation independent of core.agreement)."""
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    labels = {x for pair in pairs for x in pair}
    expected = sum((sum(a == c for a, _ in pairs) / n) * (sum(b == c for _, b in pairs) / n)
                   for c in labels)
    return (observed - expected) / (1 - expected)


def test_calibration_on_a_crafted_set_with_known_agreement(store: LocalStore,
                                                           tmp_path: Path) -> None:
    # 40 items: on "tone" the judge agrees with both experts, on "accuracy" it is reversed.
    items = _load(store, tmp_path, 40, dimensions=["tone", "accuracy"])
    dimension = {i.prompt.prompt_id: i.prompt.dimension for i in items}
    for item in items:
        for annotator in ("alice", "bob"):
            _rank(store, annotator, item, best=0, worst=2)
        scores = (9, 5, 1) if dimension[item.prompt.prompt_id] == "tone" else (1, 5, 9)
        store.record_judge_outcomes([_outcome(item, scores)], actor="t")
    rows = store.agreement_rows()
    before = json.dumps(rows, default=str)
    calibration = judge_calibration(rows, store.judge_verdicts(), resamples=500, min_items=10)
    assert json.dumps(store.agreement_rows(), default=str) == before

    # the expected figures, from the labels themselves
    _judgments, ratings = collect_labels(rows)
    verdict_of = {v.prompt_id: v for v in store.judge_verdicts()}
    compared: dict[str, list[tuple[str, str]]] = {"overall": [], "dimension=tone": [],
                                                  "dimension=accuracy": []}
    for unit, labels in ratings.items():
        judge_label = judge_core.judge_labels(verdict_of[unit.item_id])[unit]
        for label in labels.values():
            for scope in ("overall", f"dimension={dimension[unit.item_id]}"):
                compared[scope].append((label, judge_label))
    by_scope = {row.scope: row for row in calibration.rows}
    assert len(compared["overall"]) == 40 * 2 * 3
    for scope, pairs in compared.items():
        row = by_scope[scope]
        assert row.kappa == pytest.approx(_manual_kappa(pairs))
        assert row.human_labels == len(pairs)
        assert row.percent_agreement == pytest.approx(sum(a == b for a, b in pairs) / len(pairs))
    tone, accuracy, overall = (by_scope["dimension=tone"], by_scope["dimension=accuracy"],
                               by_scope["overall"])
    assert tone.kappa == pytest.approx(1.0) and tone.best_match == 1.0
    assert tone.verdict == "helps" and tone.items == 20
    assert accuracy.kappa < 0 and accuracy.best_match == 0.0
    assert accuracy.verdict == "do not use"
    assert overall.percent_agreement == pytest.approx(0.5) and overall.verdict == "do not use"
    assert overall.kappa_low <= overall.kappa <= overall.kappa_high  # a bootstrap interval
    assert math.isfinite(overall.kappa_low) and overall.kappa_high - overall.kappa_low > 0.05
    assert "weakly" in calibration.advice
    assert calibration.human_alpha == pytest.approx(1.0)  # the experts agree with each other
    assert "language=" + str(items[0].prompt.language or "unknown") in by_scope
    # few items: no verdict
    few = judge_calibration(rows, store.judge_verdicts()[:5], resamples=200)
    assert few.overall is not None and few.overall.verdict == "too few items"
    assert "Too few items" in few.advice


def test_possible_slips_and_obvious_items(store: LocalStore, tmp_path: Path) -> None:
    items = _load(store, tmp_path, 4)
    a, b, c, d = items
    for item in items:
        store.record_judge_outcomes([_outcome(item, (10, 5, 1))], actor="t")  # 0 best, 2 worst
    _rank(store, "alice", a, best=0, worst=2)
    _rank(store, "bob", a, best=0, worst=2)  # unanimous with the judge: obvious
    _rank(store, "alice", b, best=2, worst=0)  # swapped: a slip
    _rank(store, "alice", c, best=1, worst=2)  # another best
    _rank(store, "bob", d, best=0, worst=2)
    rows = store.agreement_rows()
    slips = possible_slips(rows, store.judge_verdicts(), confident_margin=0.3)
    assert [(s.prompt_id, s.decided_by, s.kind) for s in slips] == [
        (b.prompt.prompt_id, "alice", "swapped"), (c.prompt.prompt_id, "alice", "another best")]
    assert possible_slips(rows, store.judge_verdicts(), confident_margin=0.9) == []
    obvious = obvious_items(rows, store.judge_verdicts(), obvious_margin=0.5)
    assert obvious.count == 1 and obvious.prompt_ids == (a.prompt.prompt_id,)
    assert obvious.judged_by_two_or_more == 1 and obvious.warnings
    assert "obvious" in obvious.warnings[0]


def test_disagreements_judge_and_the_report_through_the_cli(project: Project, tmp_path: Path
                                                            ) -> None:
    with open_store(project.database_path) as store:
        items = _load(store, tmp_path, 3)
        for item in items:
            store.record_judge_outcomes([_outcome(item, (10, 5, 1))], actor="t")
            _rank(store, "alice", item, best=0, worst=2)
            _rank(store, "bob", item, best=0, worst=2)
        _rank(store, "carol", items[1], best=2, worst=0)
    runner = CliRunner()
    listed = runner.invoke(app, ["disagreements", "--judge", "--json", "-p", str(project.root)])
    assert listed.exit_code == 0, listed.output
    assert [(s["prompt_id"], s["kind"]) for s in json.loads(listed.stdout)] == [
        (items[1].prompt.prompt_id, "swapped")]
    report = runner.invoke(app, ["report", "--json", "-p", str(project.root)])
    assert report.exit_code == 0, report.output
    data = json.loads(report.stdout)
    assert data["judge"]["count"] == 2  # items 0 and 2: unanimous experts, a clear judge
    assert any("obvious" in w for w in data["warnings"])
    calibration = runner.invoke(app, ["agreement", "--judge", "--json", "--resamples", "200",
                                      "-p", str(project.root)])
    assert calibration.exit_code == 0, calibration.output
    out = json.loads(calibration.stdout)
    assert out["rows"][0]["scope"] == "overall" and out["rows"][0]["verdict"] == "too few items"


def test_prefer_judge_command_against_a_stand_in(project: Project, tmp_path: Path) -> None:
    with open_store(project.database_path) as store:
        _load(store, tmp_path, 4)
    runner = CliRunner()
    with StandinOllama([MODEL]) as server:
        dry = runner.invoke(app, ["judge", "--dry-run", "--json", "--host", server.url,
                                  "-p", str(project.root)])
        assert dry.exit_code == 0, dry.output
        assert json.loads(dry.stdout)["requests"] == 8 and server.chat_requests() == []
        done = runner.invoke(app, ["judge", "--json", "--host", server.url, "--concurrency",
                                   "3", "--model", MODEL, "-p", str(project.root)])
        assert done.exit_code == 0, done.output
        summary = json.loads(done.stdout)
        assert summary["succeeded"] == 4 and summary["orders_disagree"] is not None
        assert 0 <= summary["orders_disagree_share"] <= 1
        again = runner.invoke(app, ["judge", "--host", server.url, "-p", str(project.root)])
        assert again.exit_code == 0 and "Nothing to judge" in again.stdout
        runs = runner.invoke(app, ["judge", "--runs", "-p", str(project.root)])
        assert "done" in runs.stdout and PROMPT_VERSION in runs.stdout
        bad = runner.invoke(app, ["judge", "--force", "--concurrency", "0", "--host",
                                  server.url, "-p", str(project.root)])
        assert bad.exit_code == 2 and "--concurrency must be at least 1" in bad.output
        server.go_down()
        down = runner.invoke(app, ["judge", "--force", "--host", server.url,
                                   "-p", str(project.root)])
        assert down.exit_code != 0 and "cannot reach Ollama" in down.output
    with open_store(project.database_path) as store:
        assert len(store.judge_runs()) == 1  # neither refused run started


# --- triage --------------------------------------------------------------------------------------

def _set_order(project: Project, order: str) -> None:
    text = project.config_path.read_text()
    assert 'order = "import"\n' in text  # prefer init writes the default
    text = text.replace('order = "import"\n', f'order = "{order}"\n', 1)
    project.config_path.write_text(text)
    os.utime(project.config_path, (time.time() + 5, time.time() + 5))  # re-read for sure


def _queue(store: LocalStore, annotator: str) -> list[str]:
    order: list[str] = []
    while (next_id := store.next_prompt_id(annotator, tuple(order))) is not None:
        order.append(next_id)
    return order


def test_informative_order_serves_uncertain_items_first(project: Project, store: LocalStore,
                                                        tmp_path: Path) -> None:
    items = _load(store, tmp_path, 5)
    ids = [i.prompt.prompt_id for i in items]
    assert _queue(store, "alice") == ids  # import order by default
    obvious, disputed, unsure, fair = items[0], items[1], items[2], items[4]
    store.record_judge_outcomes([
        _outcome(obvious, (10, 5, 1)),  # margin 5/9, orders agree
        _outcome(disputed, (10, 5, 1), (1, 5, 10)),  # the two orders disagree
        _outcome(unsure, (6, 5, 1)),  # margin 1/9
        _outcome(fair, (9, 5, 2)),  # margin 4/9
    ], actor="t")
    assert _queue(store, "alice") == ids  # still import order until the project asks
    _set_order(project, "informative")
    # items[3], unjudged, sits in the middle (0.5): after fair (4/9), before obvious (5/9)
    expected = [disputed, unsure, fair, items[3], obvious]
    assert _queue(store, "alice") == [i.prompt.prompt_id for i in expected]
    # skipped items still come last
    shown = tuple(c.candidate_id for c in disputed.candidates)
    store.save_judgment(Judgment("s1", "alice", disputed.prompt.prompt_id, "skipped", shown))
    assert _queue(store, "alice")[-1] == disputed.prompt.prompt_id
    assert store.next_prompt_id("alice") == unsure.prompt.prompt_id


def test_a_bad_queue_order_names_the_key(project: Project) -> None:
    from core.config import load_config
    from core.errors import ConfigError
    _set_order(project, "cleverest")
    with pytest.raises(ConfigError, match=r"annotation\.order.*import, informative"):
        load_config(project.config_path)


# --- never an annotator ---------------------------------------------------------------------------

def _mentions_judge(hint: Any) -> bool:
    if isinstance(hint, type) and hint.__module__ == "core.judge_models":
        return True
    return any(_mentions_judge(arg) for arg in typing.get_args(hint)) or (
        hasattr(hint, "__dataclass_fields__") and any(
            _mentions_judge(h) for h in typing.get_type_hints(hint).values()))


def test_no_operation_an_annotator_may_call_carries_a_verdict() -> None:
    judge_ops = {name for name, op in OPERATIONS.items()
                 if any(_mentions_judge(h) for h in op.hints.values()) or name.startswith("judge")}
    assert {"judge_verdicts", "judge_runs", "record_judge_outcomes", "start_judge_run",
            "finish_judge_run", "judge_items", "judge_done_keys"} <= judge_ops
    for name in judge_ops:
        assert OPERATIONS[name].role >= Role.reviewer, name
    for name, op in OPERATIONS.items():
        if op.role == Role.annotator:
            assert not any(_mentions_judge(h) for h in op.hints.values()), name


def test_verdicts_never_make_pairs_or_enter_human_agreement(project: Project, store: LocalStore,
                                                            tmp_path: Path) -> None:
    items = _load(store, tmp_path, 6)
    rows_before = store.agreement_rows()
    for item in items:
        store.record_judge_outcomes([_outcome(item, (10, 5, 1))], actor="t")
    assert store.agreement_rows() == rows_before
    build = build_pairs(store, project.config, "t")
    assert build.kept == 0 and build.pairs_built == 0  # a verdict alone gives no pair
    _rank(store, "alice", items[0], best=2, worst=0)  # against the judge
    build = build_pairs(store, project.config, "t")
    pairs = set(store.execute_for_test("SELECT chosen_id, rejected_id FROM latest_pairs"))
    c0, c1, c2 = (c.candidate_id for c in items[0].candidates)
    assert pairs == {(c2, c1), (c2, c0), (c1, c0)}  # the human's order, the judge's reversed
    from core.agreement_report import agreement_report
    report = agreement_report(store.agreement_rows(), resamples=100)
    assert report.annotators == ["alice"]


class RecordingStore:
    """A store that notes every operation the annotation screen calls and what it returns."""

    def __init__(self, store: LocalStore) -> None:
        self._store = store
        self.calls: list[str] = []
        self.returned: list[str] = []

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            result = target(*args, **kwargs)
            self.returned.append(repr(result))
            return result

        return call


async def test_the_annotation_screen_never_shows_a_verdict(project: Project, store: LocalStore,
                                                           tmp_path: Path) -> None:
    from tests.test_tui import SIZE, settle, type_text
    from tui.app import make_app

    items = _load(store, tmp_path, 3)
    for item in items:
        store.record_judge_outcomes([_outcome(item, (10, 5, 1), (1, 5, 10))], actor="t")
    _set_order(project, "informative")
    recording = RecordingStore(store)
    screen_text: list[str] = []
    the_app = make_app(open_project(project.root), recording, annotator="alice")  # type: ignore[arg-type]
    async with the_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for _ in range(2):
            screen_text.append(" ".join(str(w.render()) for w in pilot.app.screen.query("*")
                                        if hasattr(w, "render")))
            await pilot.press("1")
            await pilot.press("3")
            await type_text(pilot, "One keeps the promise; three does not.")
            await pilot.press("enter")
            await settle(pilot)
        await pilot.press("v")  # provenance on request
        await settle(pilot)
        screen_text.append(" ".join(str(w.render()) for w in pilot.app.screen.query("*")
                                    if hasattr(w, "render")))
    assert store.execute_for_test("SELECT count(*) FROM judgments WHERE annotator = 'alice'"
                                  ) == [(2,)]
    assert not any(name.startswith("judge") for name in recording.calls), recording.calls
    for text in (*screen_text, *recording.returned):
        assert REASON not in text and "jv_" not in text and "margin" not in text


# --- through prefer serve: annotators cannot read verdicts ---------------------------------------

@pytest.fixture(scope="module")
def served() -> Iterator[Any]:
    import tempfile

    from core.assign import assign
    from tests.os_users import os_users, require_root_tools, traversable_for, with_roles
    from tests.test_hostile import Deployment, _serve

    require_root_tools()
    folder = Path(tempfile.mkdtemp(prefix="prefer-judge-"))
    os.chmod(folder, 0o755)
    with os_users(4) as (names, group):
        alice, bob, rita, mallory = names
        project = init_project(folder / "p")
        project.config_path.write_text(with_roles(project.config_path.read_text(),
                                                  [alice, bob], [rita], group))
        with open_store(project.database_path) as store:
            import_file(store, write_jsonl(folder / "i.jsonl", item_rows(4)), actor="t")
            assign(store, [alice, bob], actor="root", per_item=2)
            for item in store.judge_items():
                store.record_judge_outcomes([_outcome(item, (10, 5, 1))], actor="t")
        log = folder / "serve.log"
        deployment = Deployment(project.root, project.root / "prefer.sock",
                                _serve(project.root, log), alice, bob, rita, mallory, log)
        with traversable_for(group, REPO_ROOT, Path(sys.executable).resolve(), folder):
            try:
                yield deployment
            finally:
                deployment.close_sessions()
                deployment.stop()


@pytest.mark.parametrize("action", [
    "return store.judge_verdicts()",
    "return store.judge_verdicts(None)",
    "return store.judge_runs()",
    "return store.judge_items()",
    "return store.judge_done_keys('llama3.1:8b', 'x')",
    "return store.finish_judge_run('jr_crafted', 'done', me)",
    "return store.record_judge_outcomes([])",
])
def test_an_annotator_cannot_reach_the_judge_through_prefer_serve(served: Any,
                                                                   action: str) -> None:
    answer = served.run(served.alice, action)
    assert answer.get("error") == "AccessDeniedError", answer
    assert REASON not in json.dumps(answer)


def test_an_annotators_every_read_through_prefer_serve_is_free_of_verdicts(served: Any) -> None:
    action = """
out = []
item_id = store.next_prompt_id(me)
out.append(repr(store.get_item(item_id)))
out.append(repr(store.progress(me)))
out.append(repr(store.judgments_of(me)))
out.append(repr(store.provenance([c.candidate_id for c in store.get_item(item_id).candidates])))
return out
"""
    answer = served.run(served.alice, action)
    assert "ok" in answer, answer
    assert REASON not in json.dumps(answer) and "jv_" not in json.dumps(answer)
    reviewer = served.run(served.rita, "return [v.reason if hasattr(v, 'reason') else "
                                       "v.prompt_id for v in store.judge_verdicts()]")
    assert "ok" in reviewer and len(reviewer["ok"]) == 4  # a reviewer may read them
