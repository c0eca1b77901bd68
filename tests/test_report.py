"""`prefer report`: confounds, staleness, scale verdicts, the HTML page and the command."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from core.annotation import AnnotationSession
from core.project import Project
from core.report import QualityReport, build_report, report_to_dict, scale_verdict
from core.report_html import render_html
from core.server import StoreServer
from core.sources import import_file
from core.store import LocalStore, codec
from core.store.remote import RemoteStore
from tests.conftest import item_rows, write_jsonl
from tui.cli import app

NOW = datetime(2026, 6, 1, 12, 0)
runner = CliRunner()


def _pair(chosen: str = "A fine answer.", rejected: str = "A worse answer.", *,
          chosen_variant: str | None = None, rejected_variant: str | None = None,
          chosen_source: str = "import.jsonl", rejected_source: str = "import.jsonl",
          dimension: str = "tone", language: str = "en", prompt_source: str = "prompts.jsonl",
          judged_at: datetime | None = NOW - timedelta(days=1),
          guideline_version: str | None = "current", status: str = "kept") -> dict[str, Any]:
    return dict(locals())


def _insert(store: LocalStore, table: str, rows: list[list[Any]]) -> None:
    if rows:
        marks = "(" + ", ".join("?" * len(rows[0])) + ")"
        store.execute_for_test(f"INSERT INTO {table} VALUES " + ", ".join([marks] * len(rows)),
                               [value for row in rows for value in row])


def _store_pairs(store: LocalStore, pairs: list[dict[str, Any]], version: str,
                 **build_counts: Any) -> None:
    """Rows as a build would leave them: prompts, candidates, generations, pairs and a build."""
    prompts, candidates, generations, stored = [], [], [], []
    for i, p in enumerate(pairs):
        prompt_id = f"p{i:04d}"
        prompts.append([prompt_id, f"Prompt {i}", None, p["dimension"], p["language"],
                        p["prompt_source"], i, NOW, "given", None, None])
        for side in ("chosen", "rejected"):
            candidate_id = f"c{i:04d}{side[0]}"
            variant = p[f"{side}_variant"]
            candidates.append([candidate_id, prompt_id, 1 if side == "chosen" else 2, p[side],
                               "generated" if variant else "import", p[f"{side}_source"], NOW,
                               "en", None])
            if variant:
                generations.append([f"g{candidate_id}", "r1", prompt_id, variant, "m", None,
                                    None, "ok", None, 1, candidate_id, None, "{}", "stop",
                                    False, None, None, None, None, None, None, None, NOW, NOW,
                                    None, None])  # event_seq, backend (migration 012)
        stored.append([f"pr{i:04d}", "b1", prompt_id, f"c{i:04d}c", f"c{i:04d}r", 1, 2,
                       p["dimension"], p["language"], "unanimous", 1.0, 0.2, prompt_id,
                       p["judged_at"],
                       version if p["guideline_version"] == "current" else p["guideline_version"],
                       p["status"]])
    for table, rows in (("prompts", prompts), ("candidates", candidates),
                        ("generations", generations), ("pairs", stored)):
        _insert(store, table, rows)
    kept = sum(p["status"] == "kept" for p in pairs)
    counts = {"items": len(pairs), "pairs_built": len(pairs), "kept": kept,
              "dropped": {"near_identical": len(pairs) - kept}, "balanced_out": 0,
              "held_back_disputed": 2, "held_back_flagged": 1, **build_counts}
    store.execute_for_test("INSERT INTO pair_builds VALUES ('b1', 'tester', ?, 'best-vs-rest', "
                           "'{}', ?)", [NOW, json.dumps(counts)])


@pytest.fixture
def make_report(project: Project, store: LocalStore) -> Callable[..., QualityReport]:
    """Store crafted pairs, then report on them (with `[report]` settings overridden)."""

    def make(pairs: list[dict[str, Any]], **report_settings: Any) -> QualityReport:
        _store_pairs(store, pairs, project.guideline_version())
        config = project.config
        if report_settings:
            config = replace(config, report=replace(config.report, **report_settings))
        return build_report(store, config, project, now=NOW)
    return make


# --- confounds ------------------------------------------------------------------------------

def test_chosen_always_longer_warns_about_verbosity(make_report: Any) -> None:
    report = make_report([_pair("A long and careful answer, " * (i % 5 + 2), "Short.")
                          for i in range(40)])
    length = report.confounds.length
    assert (length.pairs, length.chosen_longer, length.rejected_longer) == (40, 40, 0)
    assert length.chosen_longer_share == 1.0
    assert length.quantiles["median"] > 4
    assert [b.pairs for b in length.histogram] == [0, 0, 0, 0, 0, 40]
    warnings = [w for w in report.confounds.warnings if "longer" in w]
    assert warnings == ["Chosen is longer than rejected in 100% of 40 pairs: the model may learn "
                        "that longer is better. Add pairs where the shorter answer wins, or "
                        "check the guidelines."]


def test_balanced_lengths_give_no_warning(make_report: Any) -> None:
    pairs = [_pair("Twice as long an answer here.", "Shorter one.") if i % 2 else
             _pair("Shorter one.", "Twice as long an answer here.") for i in range(40)]
    report = make_report(pairs)
    assert report.confounds.length.chosen_longer_share == 0.5
    assert report.confounds.warnings == []
    histogram = {b.label: b.pairs for b in report.confounds.length.histogram}
    assert histogram["2 to 4"] == 20 and histogram["1/4 to 1/2"] == 20


def test_lists_only_in_chosen_warn_about_formatting(make_report: Any) -> None:
    listed = "Do this:\n- call the bank\n- freeze the card\n"
    pairs = [_pair(listed + str(i), "Call the bank and freeze the card now." + str(i))
             for i in range(25)]
    report = make_report(pairs, length_bias_warn=1.0)
    rows = {r.feature: r for r in report.confounds.formatting}
    assert (rows["lists"].only_chosen, rows["lists"].only_rejected) == (25, 0)
    assert rows["headings"].neither == 25
    assert report.confounds.warnings == [
        "Only the chosen answer has lists in 100% of the 25 pairs where one side has lists: the "
        "model may learn that lists make an answer better. Add pairs where the answer without "
        "lists wins, or check the guidelines."]


def test_formatting_features_are_recognised(make_report: Any) -> None:
    texts = {
        "lists": "Steps:\n  1. open\n  2) close",
        "headings": "## Summary\nAll good.",
        "code": "Run:\n```\nprefer report\n```",
        "tables": "| a | b |\n|---|---|\n| 1 | 2 |",
    }
    pairs = [_pair(text, "Plain prose, no formatting at all.") for text in texts.values()]
    pairs.append(_pair("Indented code:\n\n    prefer report -p x", "Plain."))
    pairs.append(_pair("A list:\n\n    - nested item", "Plain."))  # a nested list, not code
    rows = {r.feature: r for r in make_report(pairs).confounds.formatting}
    assert {name: rows[name].only_chosen for name in texts} == \
        {"lists": 2, "headings": 1, "code": 2, "tables": 1}
    assert all(row.only_rejected == 0 for row in rows.values())


def test_rejected_always_from_flawed_variant_is_an_obvious_pair(make_report: Any) -> None:
    pairs = [_pair(f"Good {i}.", f"Bad {i}.", chosen_variant="conservative" if i % 2 else
                   "thorough", rejected_variant="flawed") for i in range(30)]
    pairs += [_pair(f"Good {i}.", f"Fine {i}.", chosen_variant="flawed",
                    rejected_variant="thorough") for i in range(1)]
    report = make_report(pairs)
    variants = {r.value: r for r in report.confounds.variants}
    assert (variants["flawed"].only_chosen, variants["flawed"].only_rejected) == (1, 30)
    assert ("Rejected comes from the 'flawed' variant in 97% of the 31 pairs it appears in: "
            "these pairs are obvious and teach little.") in " ".join(report.confounds.warnings)
    # 15 and 16 pairs: too few to call a pattern.
    assert not any("conservative" in w or "thorough" in w for w in report.confounds.warnings)


def test_a_source_that_predicts_chosen_is_reported(make_report: Any) -> None:
    pairs = [_pair(f"Expert answer {i}.", f"Model answer {i}.",
                   chosen_source="/data/expert_edits.jsonl", rejected_source="run:r_1234")
             for i in range(24)]
    pairs += [_pair(f"Same file {i}.", f"Same file too {i}.") for i in range(24)]
    report = make_report(pairs)
    sources = {r.value: r for r in report.confounds.sources}
    assert sources["import.jsonl"].both == 24 and sources["import.jsonl"].chosen_share == 0
    warnings = " ".join(report.confounds.warnings)
    assert "Chosen comes from the file expert_edits.jsonl in 100% of the 24 pairs" in warnings
    assert "Rejected comes from generation run r_1234 in 100% of the 24 pairs" in warnings
    assert "import.jsonl" not in warnings  # on both sides of its pairs: predicts nothing


def test_few_pairs_give_no_confound_warnings(make_report: Any) -> None:
    report = make_report([_pair("Much longer chosen answer.\n- a list", "No.",
                                rejected_variant="flawed") for _ in range(19)])
    assert report.confounds.warnings == []


def test_thresholds_come_from_the_config(make_report: Any) -> None:
    pairs = [_pair("A longer answer here.", "Short.") for _ in range(15)]
    pairs += [_pair("Short.", "A longer answer here.") for _ in range(10)]
    assert make_report(pairs).confounds.warnings == []  # 60% <= 70%


def test_threshold_lowered(project: Project, store: LocalStore, make_report: Any) -> None:
    pairs = [_pair("A longer answer here.", "Short.") for _ in range(15)]
    pairs += [_pair("Short.", "A longer answer here.") for _ in range(10)]
    assert len(make_report(pairs, length_bias_warn=0.5).confounds.warnings) == 1


# --- staleness, balance, filters ------------------------------------------------------------

def test_old_and_older_guideline_pairs_are_stale(make_report: Any) -> None:
    pairs = [_pair(judged_at=NOW - timedelta(days=400)) for _ in range(10)]
    pairs += [_pair(guideline_version="g-000000000000") for _ in range(4)]
    pairs += [_pair(guideline_version="g-000000000000", judged_at=NOW - timedelta(days=200))]
    pairs += [_pair(guideline_version=None) for _ in range(3)]
    pairs += [_pair(judged_at=None) for _ in range(2)]
    pairs += [_pair() for _ in range(20)]
    pairs += [_pair(judged_at=NOW - timedelta(days=999), status="near_identical")]
    s = make_report(pairs).staleness
    assert (s.kept, s.older_than_max_age, s.older_guideline_version,
            s.unknown_guideline_version, s.judged_at_unknown, s.stale) == (40, 11, 5, 3, 2, 15)
    assert s.oldest_judged_at == NOW - timedelta(days=400)
    assert s.warnings == [
        "11 pairs (28%) were judged more than 180 days ago: what counted as a good answer then "
        "may not now. Have experts look at them again, or raise report.max_age_days in "
        "prefer.toml if they still hold.",
        "5 pairs (12%) were judged under an older version of guidelines.md: they may contradict "
        "what the guidelines say today. Have experts judge those items again under the current "
        "guidelines."]


def test_max_age_comes_from_the_config(make_report: Any) -> None:
    pairs = [_pair(judged_at=NOW - timedelta(days=40)) for _ in range(4)]
    assert make_report(pairs, max_age_days=30).staleness.older_than_max_age == 4


def test_balance_filters_and_scale_of_a_build(make_report: Any) -> None:
    pairs = [_pair(dimension="tone", language="en") for _ in range(30)]
    pairs += [_pair(dimension="accuracy", language="de", prompt_source="/x/legal.jsonl")
              for _ in range(10)]
    pairs += [_pair(status="near_identical") for _ in range(5)]
    report = make_report(pairs)
    dims = {r.value: r for r in report.balance.dimension.rows}
    assert set(dims) == {"tone", "accuracy", "compliance", "disclosure", "safety"}
    assert (dims["tone"].pairs, dims["accuracy"].pairs, dims["safety"].pairs) == (30, 10, 0)
    assert {r.value: r.pairs for r in report.balance.language.rows} == {"de": 10, "en": 30}
    assert {r.value: r.pairs for r in report.balance.source.rows} == \
        {"/x/legal.jsonl": 10, "prompts.jsonl": 30}
    assert any(w.startswith("safety has 0% of the pairs against a target of 20%: it needs 10 "
                            "more pairs") for w in report.balance.warnings)
    assert not any(w.startswith("tone") for w in report.balance.warnings)
    f = report.filters
    assert (f.build_id, f.pairs_built, f.kept, f.dropped, f.held_back_disputed,
            f.held_back_flagged) == ("b1", 45, 40, {"near_identical": 5}, 2, 1)
    assert report.scale.verdict == "too few" and report.scale_warnings


def test_balance_is_judged_against_the_plan_the_build_applied(
        project: Project, store: LocalStore) -> None:
    pairs = [_pair(dimension="tone") for _ in range(30)]
    pairs += [_pair(dimension="accuracy") for _ in range(10)]
    _store_pairs(store, pairs, project.guideline_version(), balance_by="dimension",
                 balance_plan={"accuracy": 0.5})
    report = build_report(store, project.config, project, now=NOW)
    accuracy = next(r for r in report.balance.dimension.rows if r.value == "accuracy")
    assert accuracy.target == 0.5  # prefer.toml says 20%: the applied plan wins
    assert any(w.startswith("accuracy has 25% of the pairs against a target of 50%")
               for w in report.balance.warnings)


def test_an_empty_project_reports_without_failing(project: Project, store: LocalStore) -> None:
    report = build_report(store, project.config, project, now=NOW)
    assert report.scale.kept == 0 and report.filters.build_id is None
    assert report.confounds.length.chosen_longer_share is None
    assert report.agreement.overall is None
    html = render_html(report)
    assert "<svg" in html
    json.dumps(report_to_dict(report))


@pytest.mark.parametrize(("kept", "verdict", "words"), [
    (0, "too few", "too few for a consistent change"),
    (499, "too few", "too few for a consistent change. Aim for 2,000-3,000; the minimum is 500 "
                    "(1 to go)"),
    (500, "narrow", "usable for a narrow change"),
    (1999, "narrow", "usable for a narrow change. For most goals 2,000-3,000 are recommended "
                     "(1 more)"),
    (2000, "recommended", "in the recommended range (2,000-3,000 for most goals)"),
    (4999, "recommended", "in the recommended range"),
    (5000, "comprehensive", "comprehensive; check contradictions. This build dropped 7 pairs"),
])
def test_scale_verdicts(kept: int, verdict: str, words: str) -> None:
    scale = scale_verdict(kept, contradictions=7)
    assert scale.verdict == verdict
    assert scale.sentence.startswith(f"{kept:,} kept pairs: {words}")


# --- HTML and JSON --------------------------------------------------------------------------

def test_html_is_self_contained_and_escapes_project_text(project: Project,
                                                         make_report: Any) -> None:
    hostile = "<script>alert('x')</script>"
    pairs = [_pair("Long answer with\n- a list " * 3, "Short.", rejected_variant=hostile,
                   chosen_source=f"/tmp/{hostile}.jsonl", prompt_source=f"{hostile}.jsonl")
             for _ in range(25)]
    report = make_report(pairs)
    html = render_html(replace(report, project=hostile))
    assert "<script" not in html.lower()
    assert "&lt;script&gt;" in html
    assert not re.search(r"https?://", html)
    assert not re.search(r"<(link|img|iframe|object|embed)\b", html, re.IGNORECASE)
    assert "url(" not in html and "@import" not in html
    assert html.count("<svg") >= 6  # scale, 3 balance, length, formatting, variants, sources
    assert html.count("<table") >= html.count("<svg") - 1  # a table beside every chart
    assert 'role="img"' in html and "<title id=" in html
    assert "What to look at" in html and "teach little" in html


def test_report_json_and_codec_round_trip(project: Project, store: LocalStore,
                                          make_report: Any) -> None:
    report = make_report([_pair(rejected_variant="flawed") for _ in range(25)])
    data = report_to_dict(report)
    text = json.dumps(data)
    assert json.loads(text)["warnings"] == report.warnings
    variants = {row["value"]: row for row in data["confounds"]["variants"]}
    assert variants["flawed"]["rejected_share"] == 1.0 and variants[None]["chosen_share"] == 1.0
    assert data["balance"]["dimension"]["rows"][0]["value"] == "tone"
    facts = store.quality_facts(NOW - timedelta(days=180))
    assert codec.loads(codec.dumps(facts)) == facts


def test_report_through_the_store_server(project: Project, store: LocalStore) -> None:
    _store_pairs(store, [_pair(rejected_variant="flawed") for _ in range(25)],
                 project.guideline_version())
    server = StoreServer(project.root, store)
    server.bind()
    server.start_in_thread()
    try:
        with RemoteStore(server.socket_path) as remote:
            report = build_report(remote, project.config, project, now=NOW)
    finally:
        server.shutdown()
    assert report.scale.kept == 25
    assert any("'flawed' variant" in w for w in report.confounds.warnings)


# --- the command ----------------------------------------------------------------------------

@pytest.fixture
def judged(project: Project, store: LocalStore, tmp_path: Path) -> Iterator[Project]:
    rows = item_rows(8)
    for i, row in enumerate(rows):
        row["dimension"] = "tone" if i % 2 else "accuracy"
        row["language"] = "en"
    import_file(store, write_jsonl(tmp_path / "i.jsonl", rows), actor="t")
    session = AnnotationSession(store, project.config, "alice", project.guideline_version())
    while (screen := session.next_item()) is not None:
        shown = [c.candidate_id for c in screen.shown]
        truth = [c.candidate_id for c in screen.item.candidates]
        session.press(shown.index(truth[0]) + 1)
        session.press(shown.index(truth[-1]) + 1)
        session.save("The first answer is the most helpful one.")
    store.close()
    yield project


def test_cli_report_json_html_and_terminal(judged: Project, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result = runner.invoke(app, ["report", "-p", str(judged.root), "--json", "--html",
                                 str(page)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["scale"]["kept"] == 24 and data["scale"]["verdict"] == "too few"
    assert data["filters"]["pairs_built"] == 24 and data["filters"]["strategy"] == "best-vs-rest"
    assert data["staleness"]["older_guideline_version"] == 0
    assert data["html"] == str(page.resolve())
    assert "<svg" in page.read_text(encoding="utf-8")

    result = runner.invoke(app, ["report", "-p", str(judged.root), "--strategy",
                                 "best-vs-worst"], terminal_width=80)
    assert result.exit_code == 0, result.output
    assert all(len(line) <= 80 for line in result.output.splitlines())
    for heading in ("Scale", "Balance by dimension", "Confounds", "Agreement", "Stale data",
                    "Warnings"):
        assert heading in result.output
    assert "8 kept pairs: too few for a consistent change" in result.output
    assert "8 kept pairs (too few)" in result.output

    bad = runner.invoke(app, ["report", "-p", str(judged.root), "--strategy", "nope"])
    assert bad.exit_code == 2 and "unknown pair strategy" in bad.output


def test_cli_report_through_the_store_server(judged: Project) -> None:
    store = LocalStore.open(judged.database_path)
    server = StoreServer(judged.root, store)
    server.bind()
    server.start_in_thread()
    try:
        result = runner.invoke(app, ["report", "-p", str(judged.root), "--json"])
    finally:
        server.shutdown()
        store.close()
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["scale"]["kept"] == 24
