"""Same labels, same dataset, same figures: a project relabelled (other prompt ids, hence other
candidate ids, and its files in another order) gives the same pairs under every strategy and the
same agreement figures. Plus the crafted cases of the rules this depends on (docs/pairs.md,
docs/agreement.md)."""

from __future__ import annotations

import hashlib
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from core.agreement_report import agreement_report
from core.config import PAIR_STRATEGIES
from core.export import ExportOptions, export_dataset
from core.judgment_import import import_judgments
from core.pairs import build_pairs
from core.project import Project, init_project
from core.sources import import_file
from core.store import LocalStore, open_store
from tests.conftest import write_jsonl

ANNOTATORS = ("alice", "bob", "carol", "dan")
# Clearly different, complete answers: no filter drops a pair built from them.
ANSWERS = ("You can close the account online under Settings, then Account.",
           "Please visit a branch with photo ID; closing takes two working days.",
           "No, that is not possible.",
           "Call us on 0800 123 456 and we will send the closing form by post.",
           "Accounts with a loan cannot be closed before the loan is repaid.")
QUESTIONS = ("Can I close my savings account online?", "How do I report a stolen card?",
             "What is the fee for a transfer abroad?", "Can I change my PIN in the app?",
             "How long does a refund take?", "Where can I see my statements?",
             "Can my daughter open an account?", "What happens if I miss a loan payment?",
             "How do I set up a standing order?", "Is there a limit on cash withdrawals?",
             "Can I get a paper statement by post?", "How do I add a second card holder?")


def _random_groups(rng: random.Random, order: list[int]) -> list[list[int]]:
    """`order` cut into consecutive groups (ties) at random."""
    groups: list[list[int]] = [[order[0]]]
    for candidate in order[1:]:
        if rng.random() < 0.25:
            groups[-1].append(candidate)
        else:
            groups.append([candidate])
    return groups


def _labels(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Prompt rows and judgment rows of a random project, with ids named by item number (0..):
    rankings with ties at either end, best/worst, pairwise labels, dimension tags; annotators
    who mostly agree (some items end up held back)."""
    rng = random.Random(seed)
    prompts, labels = [], []
    for item, question in enumerate(QUESTIONS):
        k = rng.randint(2, 4)
        answers = rng.sample(ANSWERS, k)
        prompts.append({"item": item, "prompt": question, "candidates": answers,
                        "dimension": rng.choice(["tone", "accuracy"]), "language": "en"})
        truth = list(range(1, k + 1))
        rng.shuffle(truth)
        for annotator in ANNOTATORS:
            if rng.random() < 0.3:
                continue
            order = truth[:] if rng.random() < 0.8 else rng.sample(truth, k)
            form = rng.choice(["ranking", "ranking", "best_worst", "pairwise"])
            row: dict[str, Any] = {"annotator": annotator, "item": item,
                                   "candidates": answers}
            if rng.random() < 0.5:
                row["dimension"] = rng.choice(["tone", "accuracy", "safety"])
            if form == "ranking":
                groups = _random_groups(rng, order)
                row["ranking"] = [g[0] if len(g) == 1 else g for g in groups]
            elif form == "best_worst":
                row["best"], row["worst"] = order[0], order[-1]
            else:
                first, second = sorted(rng.sample(range(1, k + 1), 2))
                winner = ("tie" if rng.random() < 0.15 else
                          "first" if order.index(first) < order.index(second) else "second")
                row.update(first=first, second=second, winner=winner)
                row.pop("dimension", None)
            labels.append(row)
    return prompts, labels


def _project(root: Path, seed: int, relabel: bool) -> tuple[Project, LocalStore]:
    """The labels of `seed` in a new project: prompt ids `q<item>`, or with `relabel` ids from a
    hash (so other candidate ids, which hash the prompt id) and every file in another order,
    candidates of each prompt too."""
    prompts, labels = _labels(seed)
    rng = random.Random(seed + 1000)

    def prompt_id(item: int) -> str:
        if not relabel:
            return f"q{item:02d}"
        return "x" + hashlib.sha256(f"{seed}:{item}".encode()).hexdigest()[:10]

    prompt_rows = []
    for row in prompts:
        candidates = list(row["candidates"])
        if relabel:
            rng.shuffle(candidates)
        prompt_rows.append({"id": prompt_id(row["item"]), "prompt": row["prompt"],
                            "candidates": candidates, "dimension": row["dimension"],
                            "language": row["language"]})
    label_rows = []
    for row in labels:
        texts = row["candidates"]
        out = {k: v for k, v in row.items() if k not in ("item", "candidates")}
        out["prompt_id"] = prompt_id(row["item"])
        out["candidates"] = list(texts)

        def named(number: int, texts: list[str] = texts) -> str:
            return texts[number - 1]  # by text: numbers would follow the row's order

        for key in ("best", "worst", "first", "second"):
            if key in out:
                out[key] = named(out[key])
        if "ranking" in out:
            out["ranking"] = [named(g) if isinstance(g, int) else [named(x) for x in g]
                              for g in out["ranking"]]
        if relabel:
            rng.shuffle(out["candidates"])
        label_rows.append(out)
    if relabel:
        rng.shuffle(prompt_rows)
        rng.shuffle(label_rows)
    project = init_project(root)
    store = open_store(project.database_path)
    import_file(store, write_jsonl(root / "prompts.jsonl", prompt_rows), actor="t")
    import_judgments(store, write_jsonl(root / "labels.jsonl", label_rows), actor="t")
    return project, store


def _pairs_by_text(store: LocalStore) -> list[tuple[Any, ...]]:
    """The latest build's pairs as texts, with everything a pair carries but its ids."""
    return sorted(tuple(round(v, 9) if isinstance(v, float) else v for v in row)
                  for row in store.execute_for_test(
        "SELECT p.prompt, c.text, r.text, x.status, x.agreement, x.dimension, x.decision "
        "FROM latest_pairs x JOIN prompts p USING (prompt_id) "
        "JOIN candidates c ON c.candidate_id = x.chosen_id "
        "JOIN candidates r ON r.candidate_id = x.rejected_id"))


def _figures(store: LocalStore) -> dict[str, Any]:
    """Every point figure of the agreement report (the bootstrap intervals draw items in id
    order, so they move within their resampling error: not compared)."""
    report = agreement_report(store.agreement_rows(), by=("dimension", "language"),
                              min_shared=1, resamples=10)

    def value(x: float | None) -> float | None:
        return None if x is None or math.isnan(x) else round(x, 9)

    return {
        "rows": sorted((r.scope, r.statistic, value(r.value), r.items, r.verdict)
                       for r in report.rows),
        "pairs": sorted((p.annotator_a, p.annotator_b, value(p.kappa), p.shared_items)
                        for p in report.pairs),
        "annotators": sorted((a.annotator, a.items_done, a.skip_share,
                              tuple(sorted((k, value(v)) for k, v in a.kappa_with.items())))
                             for a in report.per_annotator),
        "rankings": sorted((r.statistic, value(r.value), r.items) for r in report.rankings),
        "judgments": report.judgments, "shared": report.items_with_two_or_more,
    }


@pytest.mark.parametrize("seed", range(4))
def test_relabelled_project_gives_the_same_pairs_and_figures(tmp_path: Path, seed: int) -> None:
    original, store_a = _project(tmp_path / "a", seed, relabel=False)
    relabelled, store_b = _project(tmp_path / "b", seed, relabel=True)
    try:
        ids_a = {r[0] for r in store_a.execute_for_test("SELECT candidate_id FROM candidates")}
        ids_b = {r[0] for r in store_b.execute_for_test("SELECT candidate_id FROM candidates")}
        assert not ids_a & ids_b  # every id differs
        for strategy in PAIR_STRATEGIES:
            build_a = build_pairs(store_a, original.config, "t", strategy=strategy)
            build_b = build_pairs(store_b, relabelled.config, "t", strategy=strategy)
            pairs_a, pairs_b = _pairs_by_text(store_a), _pairs_by_text(store_b)
            assert pairs_a, strategy
            assert pairs_a == pairs_b, strategy
            assert (build_a.kept, build_a.dropped, build_a.held_back_disputed) == \
                (build_b.kept, build_b.dropped, build_b.held_back_disputed)
        assert _figures(store_a) == _figures(store_b)
        # The dataset too: the same rows in the same split files.
        exported = []
        for project, store, name in ((original, store_a, "a"), (relabelled, store_b, "b")):
            out = tmp_path / f"export-{name}"
            export_dataset(store, project.config, out, ExportOptions(format="jsonl"), actor="t")
            exported.append(sorted(
                (row["split"], row["prompt"], row["system"], row["chosen"], row["rejected"],
                 row["dimension"], row["agreement"], tuple(row["annotators"]), row["decision"])
                for name_ in ("train.jsonl", "val.jsonl")
                for row in map(json.loads, (out / name_).read_text().splitlines())))
        assert exported[0] == exported[1]
        assert {row[0] for row in exported[0]} == {"train", "validation"}
    finally:
        store_a.close()
        store_b.close()


def test_the_property_sees_mixed_labels() -> None:
    """The random projects hold what the rules are about: rankings tied at the top and at the
    bottom, best/worst judgments, pairwise labels and ties, several raters per item."""
    kinds: dict[str, int] = {}
    for seed in range(4):
        for row in _labels(seed)[1]:
            if "ranking" in row:
                kinds["ranking"] = kinds.get("ranking", 0) + 1
                kinds["top tie"] = kinds.get("top tie", 0) + isinstance(row["ranking"][0], list)
                kinds["bottom tie"] = kinds.get("bottom tie", 0) + isinstance(
                    row["ranking"][-1], list)
            kinds["best/worst"] = kinds.get("best/worst", 0) + ("best" in row)
            kinds["pairwise"] = kinds.get("pairwise", 0) + ("winner" in row)
            kinds["pairwise tie"] = kinds.get("pairwise tie", 0) + (row.get("winner") == "tie")
    assert all(kinds.get(k, 0) > 0 for k in ("ranking", "top tie", "bottom tie", "best/worst",
                                             "pairwise", "pairwise tie")), kinds


# --- crafted cases ----------------------------------------------------------------------------

# Four complete, clearly different answers in each language of the sample data.
ANSWERS_BY_LANGUAGE = {
    "en": ANSWERS[:4],
    "de": ("Sie können das Konto online unter Einstellungen, dann Konto, schließen.",
           "Bitte kommen Sie mit Ausweis in eine Filiale; das dauert zwei Werktage.",
           "Nein, das ist nicht möglich.",
           "Rufen Sie uns unter 0800 123 456 an, wir schicken das Formular per Post."),
    "fr": ("Vous pouvez clôturer le compte en ligne, dans Paramètres puis Compte.",
           "Passez en agence avec une pièce d'identité ; la clôture prend deux jours.",
           "Non, ce n'est pas possible.",
           "Appelez le 0800 123 456 et nous vous enverrons le formulaire par courrier."),
    "es": ("Puede cerrar la cuenta en línea, en Ajustes y luego Cuenta.",
           "Acuda a una sucursal con su DNI; el cierre tarda dos días hábiles.",
           "No, no es posible.",
           "Llame al 0800 123 456 y le enviaremos el formulario por correo."),
}
PROMPT_BY_LANGUAGE = {"en": "Can I close my savings account online?",
                      "de": "Kann ich mein Sparkonto online schließen?",
                      "fr": "Puis-je clôturer mon compte d'épargne en ligne ?",
                      "es": "¿Puedo cerrar mi cuenta de ahorro en línea?"}
LANGUAGES = tuple(ANSWERS_BY_LANGUAGE)

def _one_item(tmp_path: Path, candidates: list[str], labels: list[dict[str, Any]],
              prompt_id: str = "q1", language: str = "en") -> tuple[Project, LocalStore]:
    project = init_project(tmp_path / f"p-{prompt_id}")
    store = open_store(project.database_path)
    import_file(store, write_jsonl(tmp_path / f"{prompt_id}.jsonl", [
        {"id": prompt_id, "prompt": PROMPT_BY_LANGUAGE[language],
         "candidates": candidates, "language": language}]), actor="t")
    import_judgments(store, write_jsonl(tmp_path / f"{prompt_id}-labels.jsonl", [
        {"prompt_id": prompt_id, "candidates": candidates, **row} for row in labels]),
        actor="t")
    return project, store


def _kept(store: LocalStore) -> dict[tuple[str, str], float]:
    return {(c, r): a for c, r, a in store.execute_for_test(
        "SELECT c.text, r.text, x.agreement FROM latest_pairs x "
        "JOIN candidates c ON c.candidate_id = x.chosen_id "
        "JOIN candidates r ON r.candidate_id = x.rejected_id WHERE x.status = 'kept'")}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("prompt_id", ["a-item", "z-item", "m-item"])
def test_all_ordered_combines_a_ranking_and_a_best_worst_judgment_by_one_rule(
        tmp_path: Path, prompt_id: str, language: str) -> None:
    """The issue's case: alice ranks A > C > B > D, bob names best A and worst D. Whatever the
    ids, all-ordered gives the union of what they imply: 6 pairs, C > B with agreement 0.5."""
    a, b, c, d = ANSWERS_BY_LANGUAGE[language]
    project, store = _one_item(tmp_path, [a, b, c, d], [
        {"annotator": "alice", "ranking": [a, c, b, d]},
        {"annotator": "bob", "best": a, "worst": d}], prompt_id, language)
    try:
        build_pairs(store, project.config, "t", strategy="all-ordered")
        kept = _kept(store)
        assert set(kept) == {(a, b), (a, c), (a, d), (c, b), (c, d), (b, d)}
        assert kept[(c, b)] == 0.5
        assert all(v == 1.0 for pair, v in kept.items() if pair != (c, b))
    finally:
        store.close()


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("strategy", ["best-vs-rest", "all-ordered"])
def test_ties_at_the_top_and_at_the_bottom_are_treated_alike(tmp_path: Path, strategy: str,
                                                             language: str) -> None:
    """[[1, 2], 3] gives 1 > 3 and 2 > 3 as [1, [2, 3]] gives 1 > 2 and 1 > 3."""
    one, two, three = ANSWERS_BY_LANGUAGE[language][:3]
    top_project, top = _one_item(tmp_path, [one, two, three],
                                 [{"annotator": "alice", "ranking": [[one, two], three]}], "top",
                                 language)
    bottom_project, bottom = _one_item(tmp_path, [one, two, three],
                                       [{"annotator": "alice", "ranking": [one, [two, three]]}],
                                       "bottom", language)
    try:
        build_pairs(top, top_project.config, "t", strategy=strategy)
        build_pairs(bottom, bottom_project.config, "t", strategy=strategy)
        assert set(_kept(top)) == {(one, three), (two, three)}
        assert set(_kept(bottom)) == {(one, two), (one, three)}
    finally:
        top.close()
        bottom.close()


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_pairwise_only_rater_counts_in_the_share_and_in_annotators(tmp_path: Path,
                                                                     language: str) -> None:
    """dan compared only two candidates: he is one of the item's raters in every pair's
    agreement share, and he is listed among the pair's annotators in the jsonl export."""
    a, b, c = ANSWERS_BY_LANGUAGE[language][:3]
    project, store = _one_item(tmp_path, [a, b, c], [
        {"annotator": "alice", "best": a, "worst": c},
        {"annotator": "dan", "first": a, "second": b, "winner": "first"}], language=language)
    try:
        build_pairs(store, project.config, "t")
        kept = _kept(store)
        assert kept == {(a, b): 1.0, (a, c): 0.5, (b, c): 0.5}
        out = tmp_path / "out"
        export_dataset(store, project.config, out,
                       ExportOptions(format="jsonl", validation_fraction=0.0), actor="t")
        rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
        assert {row["chosen"]: row["annotators"] for row in rows if row["rejected"] == b} == \
            {a: ["alice", "dan"]}
        for row in rows:
            assert row["annotators"] == ["alice", "dan"]
            assert row["agreement"] == kept[(row["chosen"], row["rejected"])]
    finally:
        store.close()
