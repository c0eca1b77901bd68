"""Minimal and trivial pairs (core/difference.py): crafted cases in the four languages of the
sample data, and what `prefer pairs` does with them."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.difference import MINIMAL, NEAR_IDENTICAL, TRIVIAL, DifferenceRules, classify
from core.pairs import build_pairs
from core.project import Project
from core.similarity import normalise, similarities
from core.sources import import_file
from core.store import LocalStore
from tests.conftest import write_jsonl

RULES = DifferenceRules()


def _classify(chosen: str, rejected: str, language: str) -> tuple[str | None, str | None]:
    score = float(similarities([normalise(chosen)], [normalise(rejected)])[0])
    found = classify(chosen, rejected, score, RULES, language)
    return found.kind, found.reason


FUND = ("The Global Tech fund invests in large technology companies in the US, Europe and "
        "Asia, and it returned 12% last year after fees. Its annual fee is 0.85% of the amount "
        "invested, taken from the fund each day, and there is no fee to switch into it.")
FUND_END = ("You can switch online under Investments, then Switch funds, and the switch is "
            "made at the next day's price. A confirmation is sent to your inbox when the switch "
            "is done, usually within two working days.")
CONTRATO = ("Puede cancelar el contrato en línea desde su área de cliente, en el apartado "
            "Contratos, y la baja se hace efectiva al final del periodo de facturación en curso. "
            "No necesita enviar ningún documento ni llamar por teléfono.")
CONTRATO_END = ("Recibirá una confirmación por correo electrónico con el número de la baja, y la "
                "última factura le llegará en los treinta días siguientes a la fecha de baja.")

# (language, chosen, rejected, expected kind, expected reason)
CASES: list[tuple[str, str, str, str | None, str | None]] = [
    # trivial: whitespace, punctuation, case, markup only
    ("en", "Take one tablet every 6 hours, with water.",
     "take one tablet every 6 hours with water", TRIVIAL, None),
    ("de", "**Wichtig:** Nehmen Sie höchstens 4 g pro Tag.",
     "Wichtig: nehmen Sie höchstens 4 g pro Tag!", TRIVIAL, None),
    ("fr", "Vous pouvez résilier en ligne ; c'est gratuit.",
     "Vous pouvez résilier en ligne, c'est gratuit.", TRIVIAL, None),
    ("es", "- Llame al 112.\n- No mueva al herido.", "Llame al 112. No mueva al herido.",
     TRIVIAL, None),
    # minimal: a number
    ("en", "Adults may take paracetamol up to a maximum of 4 g in 24 hours.",
     "Adults may take paracetamol up to a maximum of 8 g in 24 hours.", MINIMAL, "number"),
    ("de", "Die Kündigungsfrist beträgt 30 Tage zum Monatsende.",
     "Die Kündigungsfrist beträgt 14 Tage zum Monatsende.", MINIMAL, "number"),
    ("fr", "Les frais de virement à l'étranger sont de 2,50 € par opération.",
     "Les frais de virement à l'étranger sont de 5,00 € par opération.", MINIMAL, "number"),
    ("es", "El reembolso tarda hasta 10 días hábiles en llegar a su cuenta.",
     "El reembolso tarda hasta 3 días hábiles en llegar a su cuenta.", MINIMAL, "number"),
    # minimal: a dropped negation
    ("en", "You should not stop taking the antibiotic before the course is finished.",
     "You should stop taking the antibiotic before the course is finished.", MINIMAL,
     "negation"),
    ("de", "Sie dürfen das Medikament nicht mit Alkohol einnehmen.",
     "Sie dürfen das Medikament mit Alkohol einnehmen.", MINIMAL, "negation"),
    ("fr", "Ne mélangez jamais l'eau de javel avec un autre produit ménager.",
     "Mélangez l'eau de javel avec un autre produit ménager.", MINIMAL, "negation"),
    ("es", "No comparta su PIN con nadie, tampoco con el banco.",
     "Comparta su PIN con nadie, tampoco con el banco.", MINIMAL, "negation"),
    # minimal: a modal verb
    ("en", "You must report the loss of your card to the bank within two days.",
     "You may report the loss of your card to the bank within two days.", MINIMAL, "modal"),
    ("de", "Der Vermieter muss die Kaution innerhalb von sechs Monaten zurückzahlen.",
     "Der Vermieter kann die Kaution innerhalb von sechs Monaten zurückzahlen.", MINIMAL,
     "modal"),
    ("fr", "Le locataire doit prévenir le propriétaire trois mois avant son départ.",
     "Le locataire peut prévenir le propriétaire trois mois avant son départ.", MINIMAL, "modal"),
    ("es", "El paciente debe tomar la dosis con el estómago vacío por la mañana.",
     "El paciente puede tomar la dosis con el estómago vacío por la mañana.", MINIMAL, "modal"),
    # minimal: a date word, a name
    ("en", "Your new card will arrive by post on Friday, and the old one stops working then.",
     "Your new card will arrive by post on Monday, and the old one stops working then.",
     MINIMAL, "date"),
    ("fr", "Pour toute question, contactez Maître Durand au cabinet Meridian.",
     "Pour toute question, contactez Maître Dubois au cabinet Meridian.", MINIMAL, "entity"),
    ("de", "Überweisen Sie den Betrag bitte auf das Konto mit der IBAN DE89 aus Ihrem Vertrag.",
     "Überweisen Sie den Betrag bitte auf das Konto mit der BIC DE89 aus Ihrem Vertrag.",
     MINIMAL, "entity"),
    # minimal: a whole sentence (a disclosure) removed from a longer answer
    ("en", FUND + " Past performance is no guarantee of future results. " + FUND_END,
     FUND + " " + FUND_END, MINIMAL, "sentence"),
    ("es", CONTRATO + " Tenga en cuenta que se aplica una penalización. " + CONTRATO_END,
     CONTRATO + " " + CONTRATO_END, MINIMAL, "sentence"),
    # near-identical without meaning: dropped as before
    ("en", "Thank you for your message. We have received your request and will reply soon, "
     "usually within the same working day, by email to the address on your account.",
     "Thanks for your message. We have received your request and will reply soon, "
     "usually within the same working day, by email to the address on your account.",
     NEAR_IDENTICAL, None),
    ("de", "Vielen Dank für Ihre Nachricht. Wir haben Ihre Anfrage erhalten und melden uns "
     "bald, meistens am selben Werktag, per E-Mail an die Adresse in Ihrem Konto.",
     "Herzlichen Dank für Ihre Nachricht. Wir haben Ihre Anfrage erhalten und melden uns "
     "bald, meistens am selben Werktag, per E-Mail an die Adresse in Ihrem Konto.",
     NEAR_IDENTICAL, None),
    # ordinary pairs: different answers
    ("en", "Yes, you can close it online under Settings.", "Please visit a branch with ID.",
     None, None),
    ("fr", "Appelez le 112 immédiatement.", "Buvez beaucoup d'eau et reposez-vous.", None, None),
]


@pytest.mark.parametrize(("language", "chosen", "rejected", "kind", "reason"), CASES,
                         ids=[f"{c[0]}-{c[3]}-{c[4]}-{i}" for i, c in enumerate(CASES)])
def test_classification(language: str, chosen: str, rejected: str, kind: str | None,
                        reason: str | None) -> None:
    assert _classify(chosen, rejected, language) == (kind, reason)
    assert _classify(rejected, chosen, language) == (kind, reason)  # either way round


def test_every_language_has_each_class() -> None:
    seen = {(c[0], c[3]) for c in CASES}
    for language in ("en", "de", "fr", "es"):
        assert {(language, TRIVIAL), (language, MINIMAL)} <= seen


def test_many_changed_tokens_are_not_minimal_unless_near_identical() -> None:
    chosen = "The fee is 5 euros and the limit is 300 euros a day for cards issued here."
    rejected = "A fee of 9 euros applies, and limits of 700 euros a day hold for other cards."
    kind, _ = _classify(chosen, rejected, "en")
    assert kind is None
    tight = DifferenceRules(max_changed_tokens=0, max_changed_sentences=0)
    score = float(similarities([normalise(CASES[4][1])], [normalise(CASES[4][2])])[0])
    assert score >= 0.95  # the paracetamol pair: near-identical, so still minimal
    assert classify(CASES[4][1], CASES[4][2], score, tight, "en").kind == MINIMAL


def _project_with(store: LocalStore, tmp_path: Path, project: Project,
                  texts: dict[str, tuple[str, str, str]]) -> None:
    from tests.test_export import _rank_all

    rows = [{"id": key, "prompt": prompt, "candidates": [best, worst], "language": "en"}
            for key, (prompt, best, worst) in texts.items()]
    import_file(store, write_jsonl(tmp_path / "items.jsonl", rows), actor="t")
    _rank_all(store, project)


def test_pairs_keeps_minimal_drops_trivial_and_counts_both(project: Project, store: LocalStore,
                                                            tmp_path: Path) -> None:
    _project_with(store, tmp_path, project, {
        "dose": ("What is the most paracetamol I can take in a day?",
                 "Adults may take paracetamol up to a maximum of 4 g in 24 hours.",
                 "Adults may take paracetamol up to a maximum of 8 g in 24 hours."),
        "comma": ("How often do I take the tablets?",
                  "Take one tablet every 6 hours, with water.",
                  "Take one tablet every 6 hours with water."),
        "other": ("Can I close my account online?", "Yes, under Settings, then Account.",
                  "Please visit a branch with photo ID."),
    })
    build = build_pairs(store, project.config, "t")
    assert build.kept == 2 and build.minimal == 1 and build.minimal_by_reason == {"number": 1}
    assert build.dropped["near_identical"] == 1 and build.trivial == 1
    statuses = dict(store.execute_for_test("SELECT prompt_id, status FROM latest_pairs"))
    assert statuses == {"dose": "kept", "comma": "near_identical", "other": "kept"}


def test_minimal_pairs_are_counted_in_pairs_report_and_manifest(
        project: Project, store: LocalStore, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from core.export import ExportOptions, export_dataset
    from tui.cli import app

    _project_with(store, tmp_path, project, {
        "dose": ("What is the most paracetamol I can take in a day?",
                 "Adults may take paracetamol up to a maximum of 4 g in 24 hours.",
                 "Adults may take paracetamol up to a maximum of 8 g in 24 hours."),
        "not": ("Can I stop the antibiotic early?",
                "You should not stop taking the antibiotic before the course is finished.",
                "You should stop taking the antibiotic before the course is finished."),
        "comma": ("How often do I take the tablets?",
                  "Take one tablet every 6 hours, with water.",
                  "Take one tablet every 6 hours with water."),
        "other": ("Can I close my account online?", "Yes, under Settings, then Account.",
                  "Please visit a branch with photo ID."),
    })
    out = tmp_path / "out"
    export_dataset(store, project.config, out, ExportOptions(validation_fraction=0.0),
                   actor="t")
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    assert (counts["minimal_pairs"], counts["trivial_pairs"]) == (2, 1)
    assert counts["minimal_pairs_by_reason"] == {"negation": 1, "number": 1}
    store.close()
    runner = CliRunner()
    printed = runner.invoke(app, ["pairs", "-p", str(project.root)])
    assert printed.exit_code == 0, printed.output
    assert "Minimal pairs kept: 2" in printed.output and "negation 1" in printed.output
    assert "1 only in whitespace, punctuation, case or markup" in printed.output
    as_json = json.loads(runner.invoke(app, ["pairs", "-p", str(project.root), "--json"]).output)
    assert as_json["minimal"] == 2 and as_json["trivial"] == 1
    report = runner.invoke(app, ["report", "-p", str(project.root)])
    assert report.exit_code == 0, report.output
    assert "Minimal pairs: 2 of the kept pairs" in " ".join(report.output.split())


def test_a_sentence_removed_from_a_short_answer_needs_a_lower_examine_from() -> None:
    full = ("The Global Tech fund returned 12% last year. Past performance is no guarantee of "
            "future results. You can switch online under Investments.")
    short = "The Global Tech fund returned 12% last year. You can switch online under Investments."
    score = float(similarities([normalise(full)], [normalise(short)])[0])
    assert 0.75 <= score < 0.9
    assert classify(full, short, score, RULES, "en").kind is None  # an ordinary pair
    lower = DifferenceRules(examine_from=0.75)
    assert classify(full, short, score, lower, "en") == classify(short, full, score, lower, "en")
    assert classify(full, short, score, lower, "en").reason == "sentence"
