"""`prefer agreement` over a store: labels from stored judgments, breakdowns, per annotator, gold."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core import agreement as ag
from core.agreement_report import agreement_report, collect_labels
from core.annotation import AnnotationSession
from core.assign import assign
from core.project import Project
from core.sources import import_file
from core.store import LocalStore
from tests.conftest import item_rows, write_jsonl
from tui.cli import app

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


def _judge(store: LocalStore, project: Project, annotator: str, flip: set[str] = frozenset(),
           skip: set[str] = frozenset()) -> None:
    """Rank every item: stored order is the truth; `flip` items get best and worst swapped."""
    session = AnnotationSession(store, project.config, annotator, "g")
    while (screen := session.next_item()) is not None:
        prompt_id = screen.item.prompt.prompt_id
        if prompt_id in skip:
            session.skip()
            skip = skip - {prompt_id}
            continue
        shown = [c.candidate_id for c in screen.shown]
        truth = [c.candidate_id for c in screen.item.candidates]
        best, worst = shown.index(truth[0]) + 1, shown.index(truth[-1]) + 1
        if prompt_id in flip:
            best, worst = worst, best
        session.press(best)
        session.press(worst)
        session.save("A justification that is long enough.")


@pytest.fixture
def judged(project: Project, store: LocalStore, tmp_path: Path) -> LocalStore:
    rows = item_rows(12)
    for i, row in enumerate(rows):
        row["dimension"] = "tone" if i % 2 else "accuracy"
        row["language"] = "en" if i < 8 else "de"
    import_file(store, write_jsonl(tmp_path / "i.jsonl", rows),
                actor="t")
    _judge(store, project, "alice")
    _judge(store, project, "bob", flip={"q001", "q004"})
    _judge(store, project, "carol", flip={"q001", "q002", "q003", "q007", "q009"}, skip={"q010"})
    return store


def test_report_matches_the_statistics_on_the_stored_labels(judged: LocalStore) -> None:
    rows = judged.agreement_rows()
    judgments, ratings = collect_labels(rows)
    assert len(judgments) == 36  # carol's skip came back at the end and was ranked too
    report = agreement_report(rows, min_shared=5, seed=1, resamples=500)
    overall = {r.statistic: r for r in report.rows if r.scope == "overall"}
    # Orientation-free: the plain statistics of the double-entered labels.
    both_ways = ag.double_entry(ratings)
    assert overall["krippendorff_alpha"].value == pytest.approx(
        ag.krippendorff_alpha_nominal(both_ways))
    assert overall["fleiss_kappa"].value == pytest.approx(ag.fleiss_kappa(both_ways))
    assert overall["percent_agreement"].value == pytest.approx(ag.percent_agreement(ratings))
    assert ag.percent_agreement(both_ways) == pytest.approx(ag.percent_agreement(ratings))
    alpha = overall["krippendorff_alpha"]
    assert alpha.low <= alpha.value <= alpha.high and alpha.items == 12
    assert alpha.verdict == ag.verdict(alpha.value, 12, 5)
    pairs = {(p.annotator_a, p.annotator_b): p for p in report.pairs}
    both_by_person = ag.by_annotator(both_ways)
    assert pairs[("alice", "bob")].kappa == pytest.approx(
        ag.cohen_kappa(both_by_person["alice"], both_by_person["bob"]))
    assert pairs[("alice", "bob")].kappa > pairs[("alice", "carol")].kappa
    assert pairs[("alice", "bob")].shared_items == 12


def test_breakdowns_and_min_shared(judged: LocalStore) -> None:
    report = agreement_report(judged.agreement_rows(), by=["dimension", "language"],
                              min_shared=5, seed=1, resamples=300)
    scopes = {r.scope for r in report.rows}
    assert {"dimension=tone", "dimension=accuracy", "language=en", "language=de"} <= scopes
    de = next(r for r in report.rows if r.scope == "language=de"
              and r.statistic == "krippendorff_alpha")
    assert de.items == 4 and de.verdict == "too few items"
    strict = agreement_report(judged.agreement_rows(), min_shared=50, resamples=200)
    assert all(p.kappa is None and p.verdict == "too few items" for p in strict.pairs)


def test_per_annotator_figures_and_gold(project: Project, judged: LocalStore) -> None:
    q0 = judged.get_item("q000")
    assert q0 is not None
    judged.set_gold("q000", q0.candidates[0].candidate_id, q0.candidates[-1].candidate_id,
                    "textbook answer", "admin")
    q1 = judged.get_item("q001")
    assert q1 is not None
    judged.set_gold("q001", q1.candidates[0].candidate_id, None, None, "admin")
    report = agreement_report(judged.agreement_rows(), min_shared=5, resamples=200)
    people = {r.annotator: r for r in report.per_annotator}
    assert people["alice"].gold_accuracy == 1.0 and people["alice"].gold_items == 2
    assert people["bob"].gold_accuracy == 0.5  # bob flipped q001
    assert people["carol"].skip_share == 0.0 and people["carol"].items_done == 12
    assert people["alice"].median_seconds is not None
    assert set(people["alice"].kappa_with) == {"bob", "carol"}


def test_gold_items_reach_every_queue_unmarked(project: Project, store: LocalStore,
                                               tmp_path: Path) -> None:
    import_file(store, write_jsonl(tmp_path / "i.jsonl", item_rows(6)), actor="t")
    gold_item = store.get_item("q005")
    assert gold_item is not None
    store.set_gold("q005", gold_item.candidates[0].candidate_id, None, None, "admin")
    assign(store, ["alice", "bob"], actor="admin", per_item=1)
    for name in ("alice", "bob"):
        session = AnnotationSession(store, project.config, name, "g")
        seen = []
        while (screen := session.next_item()) is not None:
            seen.append(screen.item.prompt.prompt_id)
            assert not screen.revising
            session.press(1)
            session.press(2)
            session.save("A justification that is long enough.")
        assert "q005" in seen


def test_cli_agreement_and_gold(project: Project, judged: LocalStore) -> None:
    judged.close()
    runner = CliRunner()
    root = str(project.root)
    result = runner.invoke(app, ["agreement", "-p", root, "--by", "dimension", "--min-shared",
                                 "5", "--resamples", "200"])
    assert result.exit_code == 0, result.output
    for text in ("Krippendorff's alpha", "Cohen's kappa per annotator pair", "By dimension",
                 "Per annotator", "alice", "carol"):
        assert text in result.output
    data = json.loads(runner.invoke(app, ["agreement", "-p", root, "--json",
                                          "--resamples", "200"]).output)
    assert data["annotators"] == ["alice", "bob", "carol"]
    assert {r["statistic"] for r in data["rows"]} >= {"krippendorff_alpha", "fleiss_kappa"}
    bad = runner.invoke(app, ["agreement", "-p", root, "--by", "colour"])
    assert bad.exit_code == 2
    wrong = runner.invoke(app, ["gold", "q000", "--best", "c_nope", "-p", root])
    assert wrong.exit_code == 2 and "not a candidate of q000" in wrong.output


def test_real_multi_annotator_data_through_the_store(project: Project, store: LocalStore) -> None:
    """PandaLM's 999 items x 3 annotators (Apache-2.0), stored as pairwise labels."""
    source = REALDATA / "pandalm_testset-v1.json"
    if not source.exists():
        pytest.skip(f"{source} is not present (CI puts shared/ beside the repository)")
    items = json.loads(source.read_text())
    winners = {0: "tie", 1: "first", 2: "second"}
    rows = [(f"annotator{a}", f"pl{item['idx']}", winners[int(item[f'annotator{a}'])])
            for item in items for a in (1, 2, 3)]
    store.execute_for_test(
        "INSERT INTO pairwise_judgments SELECT id, annotator, prompt_id, 'a', 'b', winner, [], "
        "NULL, 'pandalm', now(), NULL FROM (SELECT unnest(?) AS id, unnest(?) AS annotator, "
        "unnest(?) AS prompt_id, unnest(?) AS winner)",
        [[f"w{i}" for i in range(len(rows))], [r[0] for r in rows], [r[1] for r in rows],
         [r[2] for r in rows]])
    report = agreement_report(store.agreement_rows(), min_shared=10, resamples=300)
    overall = {r.statistic: r for r in report.rows if r.scope == "overall"}
    # Values computed independently with statsmodels/krippendorff in tests/test_agreement_stats.py.
    assert overall["krippendorff_alpha"].value == pytest.approx(0.8642, abs=5e-4)
    assert overall["percent_agreement"].value == pytest.approx(0.9199, abs=5e-4)
    assert overall["krippendorff_alpha"].verdict == "strong"
    kappas = {(p.annotator_a, p.annotator_b): p.kappa for p in report.pairs}
    assert kappas[("annotator1", "annotator2")] == pytest.approx(0.8520, abs=5e-4)
    assert all(math.isfinite(p.low) for p in report.pairs)


def test_inlined_labels_equal_the_reference_rule(judged: LocalStore) -> None:
    rows = judged.agreement_rows()
    judgments, ratings = collect_labels(rows)
    reference = ag.pairwise_ratings(
        [ag.JudgmentLabels(j.annotator, j.item_id, j.shown, j.best, j.worst) for j in judgments])
    assert ratings == reference
    assert all(isinstance(unit, ag.PairUnit) for unit in ratings)


# --- "no meaningful difference" and "cannot judge": outcomes of their own ------------------------

def _outcome(store: LocalStore, project: Project, annotator: str, prompt_id: str,
             outcome: str) -> None:
    """One judgment of `prompt_id`: "ranked" (stored order is the truth) or a no-preference kind."""
    session = AnnotationSession(store, project.config, annotator, "g")
    screen = session.open(prompt_id)
    assert screen is not None
    if outcome == "ranked":
        shown = [c.candidate_id for c in screen.shown]
        truth = [c.candidate_id for c in screen.item.candidates]
        session.press(shown.index(truth[0]) + 1)
        session.press(shown.index(truth[-1]) + 1)
        session.save("A justification that is long enough.")
    else:
        session.commit(session.prepare("The reason why, long enough.", outcome))


# item -> annotator -> outcome; q003 is judged only by "cannot judge" (no pairwise label at all)
OUTCOMES = {
    "q000": {"alice": "ranked", "bob": "no_difference", "carol": "no_difference"},
    "q001": {"alice": "ranked", "bob": "ranked", "carol": "no_difference"},
    "q002": {"alice": "ranked", "bob": "cannot_judge", "carol": "cannot_judge"},
    "q003": {"bob": "cannot_judge", "carol": "cannot_judge"},
    "q004": {"alice": "ranked", "bob": "ranked", "carol": "ranked"},
}


@pytest.fixture
def with_outcomes(project: Project, store: LocalStore, tmp_path: Path) -> LocalStore:
    rows = item_rows(5)
    for i, row in enumerate(rows):
        row["dimension"] = "tone" if i % 2 else "accuracy"
    import_file(store, write_jsonl(tmp_path / "i.jsonl", rows), actor="t")
    for prompt_id, by_whom in OUTCOMES.items():
        for annotator, outcome in by_whom.items():
            _outcome(store, project, annotator, prompt_id, outcome)
    return store


def test_no_preference_outcomes_are_counted_and_agreed_on_as_their_own_outcome(
        with_outcomes: LocalStore) -> None:
    from core.agreement_report import OutcomeRow

    report = agreement_report(with_outcomes.agreement_rows(), by=["dimension"], min_shared=2,
                              resamples=200)
    # Counted: overall, per dimension (q000, q002, q004 accuracy; q001, q003 tone), per annotator.
    assert report.outcomes == [
        OutcomeRow("overall", ranked=7, no_difference=3, cannot_judge=4, skipped=0),
        OutcomeRow("dimension=accuracy", ranked=5, no_difference=2, cannot_judge=2, skipped=0),
        OutcomeRow("dimension=tone", ranked=2, no_difference=1, cannot_judge=2, skipped=0),
        OutcomeRow("annotator=alice", ranked=4, no_difference=0, cannot_judge=0, skipped=0),
        OutcomeRow("annotator=bob", ranked=2, no_difference=1, cannot_judge=2, skipped=0),
        OutcomeRow("annotator=carol", ranked=1, no_difference=2, cannot_judge=2, skipped=0)]
    people = {r.annotator: r for r in report.per_annotator}
    assert (people["bob"].no_difference, people["bob"].cannot_judge) == (1, 2)
    assert (people["carol"].no_difference, people["carol"].cannot_judge) == (2, 2)
    # Agreement on the outcome: the nominal alpha of {item: {annotator: outcome}}, where two
    # "cannot judge" agree (q003 counts though it rates no pair) and "no difference" differs
    # from a preference.
    labels = {"ranked": "preference", "no_difference": "no_difference",
              "cannot_judge": "cannot_judge"}
    expected = ag.krippendorff_alpha_nominal(
        {item: {who: labels[o] for who, o in by_whom.items()}
         for item, by_whom in OUTCOMES.items()})
    overall = {r.statistic: r for r in report.rows if r.scope == "overall"}
    assert overall["outcome_alpha"].value == pytest.approx(expected)
    assert overall["outcome_alpha"].items == 5 and report.items_with_two_or_more == 5
    assert overall["outcome_alpha"].low <= expected <= overall["outcome_alpha"].high
    tone = {r.statistic: r for r in report.rows if r.scope == "dimension=tone"}
    assert tone["outcome_alpha"].items == 2
    # ... while the preferences keep their meaning: a no-difference rates every pair a tie,
    # a cannot-judge rates nothing.
    _, ratings = collect_labels(with_outcomes.agreement_rows())
    q000 = [labels for unit, labels in ratings.items() if unit.item_id == "q000"]
    assert q000 and all(lab["bob"] == ag.TIE and lab["carol"] == ag.TIE for lab in q000)
    assert not any(unit.item_id == "q003" for unit in ratings)


def test_without_no_preference_outcomes_the_report_is_unchanged(judged: LocalStore) -> None:
    report = agreement_report(judged.agreement_rows(), min_shared=5, resamples=200)
    assert "outcome_alpha" not in {r.statistic for r in report.rows}
    assert report.outcomes[0].no_difference == report.outcomes[0].cannot_judge == 0


def test_cli_agreement_and_report_show_the_outcomes(project: Project,
                                                    with_outcomes: LocalStore,
                                                    tmp_path: Path) -> None:
    with_outcomes.close()
    runner = CliRunner()
    root = str(project.root)
    result = runner.invoke(app, ["agreement", "-p", root, "--by", "dimension", "--min-shared",
                                 "2", "--resamples", "200"], terminal_width=120)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for text in ("Outcomes (judgments)", "no difference", "cannot judge",
                 "alpha on the outcome"):
        assert text in result.output, text
    row = next(line for line in lines if "annotator: carol" in line)
    assert row.replace("│", " ").split()[-4:] == ["1", "2", "2", "0"]
    row = next(line for line in lines if line.startswith("│ dimension: tone"))
    assert row.replace("│", " ").split()[-4:] == ["2", "1", "2", "0"]
    data = json.loads(runner.invoke(app, ["agreement", "-p", root, "--json",
                                          "--resamples", "200"]).output)
    assert data["outcomes"][0] == {"scope": "overall", "ranked": 7, "no_difference": 3,
                                   "cannot_judge": 4, "skipped": 0}
    assert {p["annotator"]: p["cannot_judge"] for p in data["per_annotator"]} == {
        "alice": 0, "bob": 2, "carol": 2}

    page = tmp_path / "r.html"
    result = runner.invoke(app, ["report", "-p", root, "--html", str(page)], terminal_width=80)
    assert result.exit_code == 0, result.output
    assert all(len(line) <= 80 for line in result.output.splitlines())
    assert "Outcomes of the judgments" in result.output
    assert "agreement on the outcome (alpha)" in result.output.replace("\n  ", " ")
    lines = result.output.splitlines()
    by_annotator = lines.index("    by annotator")
    assert lines[by_annotator + 2].split() == ["bob", "2", "1", "2", "0"]
    html = page.read_text(encoding="utf-8")
    assert "cannot judge" in html and "<th scope=\"row\">annotator: carol</th><td>1</td><td>2</td>" \
        "<td>2</td><td>0</td>" in html
    data = json.loads(runner.invoke(app, ["report", "-p", root, "--json"]).output)
    outcomes = data["agreement"]["outcomes"]
    assert {"scope": "dimension=tone", "ranked": 2, "no_difference": 1, "cannot_judge": 2,
            "skipped": 0} in outcomes
    assert data["agreement"]["outcome_agreement"]["items"] == 5
