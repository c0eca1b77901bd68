"""Language detection: the batch detector gives py3langid's answers; old rows get theirs later."""

from __future__ import annotations

import py3langid
import pytest

from core import language
from core.language import MAX_CHARS, UNDETERMINED, detect_languages
from core.store import LocalStore
from core.store import languages as store_languages

SENTENCES = [
    ("en", "Can I close my account online, or do I have to visit a branch?"),
    ("en", "The refund was sent to your original card and should arrive within five working days."),
    ("en", "Where is my parcel?"),
    ("de", "Wie kann ich meine Kreditkarte sperren lassen, wenn sie gestohlen wurde?"),
    ("de", "Die Rückerstattung erfolgt innerhalb von fünf Werktagen auf Ihr Konto."),
    ("de", "Bitte setzen Sie mein Passwort zurück"),
    ("fr", "Est-ce que je peux payer ma facture en plusieurs fois sans frais ?"),
    ("fr", "Votre colis a été expédié hier et arrivera probablement demain matin."),
    ("fr", "J'ai besoin d'aide"),
    ("es", "¿Puedo cambiar la dirección de envío después de haber hecho el pedido?"),
    ("es", "El reembolso se procesará en un plazo de cinco días hábiles."),
    ("it", "Posso annullare l'ordine se non è ancora stato spedito?"),
    ("it", "Il rimborso verrà accreditato sulla carta utilizzata per l'acquisto."),
    ("it", "Dov'è il mio pacco?"),
    ("nl", "Kan ik mijn abonnement op elk moment opzeggen zonder extra kosten?"),
    ("nl", "Uw pakket is vandaag verzonden en wordt morgen bezorgd."),
    ("nl", "Waar is mijn pakket?"),
    ("pt", "Posso cancelar a minha assinatura a qualquer momento sem multa?"),
    ("pt", "O reembolso será creditado no cartão usado na compra em até cinco dias."),
    ("pt", "Onde está a minha encomenda?"),
    ("en", "ERROR: PAYMENT DECLINED BY THE BANK, PLEASE TRY AGAIN"),  # all upper case
]

TOO_LITTLE = ["", "   ", "Ok.", "Danke!", "Merci", "12345", "12,50 €", "3.1415926535 2.71828",
              "Vielen Dank!", "https://x.io/a?b=1", "!!! ??? ...", "\x07\x07"]


def test_batch_gives_what_py3langid_classify_gives() -> None:
    texts = [text for _, text in SENTENCES]
    assert detect_languages(texts) == [py3langid.classify(t)[0] for t in texts]
    assert detect_languages(texts) == [expected for expected, _ in SENTENCES]


def test_too_little_text_is_undetermined() -> None:
    assert detect_languages(TOO_LITTLE) == [UNDETERMINED] * len(TOO_LITTLE)


def test_a_doubtful_score_is_undetermined() -> None:
    # Enough letters, but py3langid spreads its belief (it says Norwegian, at 0.18).
    assert py3langid.classify("Yes, under Settings.")[0] == "no"
    assert detect_languages(["Yes, under Settings."]) == [UNDETERMINED]


def test_empty_batch() -> None:
    assert detect_languages([]) == []


def test_order_duplicates_and_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [text for _, text in SENTENCES]
    mixed = [texts[3], "Ok.", texts[0], texts[3], "", texts[9], texts[0]]
    whole = detect_languages(mixed)
    assert whole == ["de", UNDETERMINED, "en", "de", UNDETERMINED, "es", "en"]
    monkeypatch.setattr(language, "_CHUNK", 2)  # several walks, texts of unequal lengths
    assert detect_languages(texts) == [expected for expected, _ in SENTENCES]
    assert detect_languages(mixed) == whole


def test_only_the_first_characters_decide() -> None:
    german = SENTENCES[3][1]
    text = german + " " + "The rest of this long text is in English, and there is a lot of it. " * 20
    assert len(german) < MAX_CHARS < len(text)
    assert detect_languages([text]) == [py3langid.classify(text[:MAX_CHARS])[0]]


def _old_store(store: LocalStore) -> None:
    """Rows as a store from before migration 005 holds them: no language_source, no language."""
    store.execute_for_test(
        "INSERT INTO prompts (prompt_id, prompt, system, dimension, language, source, "
        "source_line, imported_at) VALUES "
        "('p1', 'Wie kann ich meine Kreditkarte sperren lassen, wenn sie gestohlen wurde?', "
        "NULL, NULL, NULL, 'f', 1, now()), "
        "('p2', 'Can I close my account online?', NULL, NULL, 'en', 'f', 2, now()), "
        "('p3', 'Ok?', NULL, NULL, NULL, 'f', 3, now())")
    store.execute_for_test(
        "INSERT INTO candidates (candidate_id, prompt_id, position, text, origin, source, "
        "created_at) VALUES "
        "('c1', 'p1', 1, 'Rufen Sie sofort die Sperrhotline Ihrer Bank an.', 'import', 'f', now()), "
        "('c2', 'p1', 2, 'Votre carte sera bloquée dans les plus brefs délais.', 'import', 'f', now()), "
        "('c3', 'p2', 1, 'Yes.', 'import', 'f', now())")


def test_fill_missing_languages(store: LocalStore, monkeypatch: pytest.MonkeyPatch) -> None:
    _old_store(store)
    monkeypatch.setattr(store_languages, "_BATCH", 1)  # one row per round: the loop must end
    assert store.fill_missing_languages() == 6
    assert store.execute_for_test(
        "SELECT prompt_id, language, language_source FROM prompts ORDER BY prompt_id") == [
        ("p1", "de", "detected"), ("p2", "en", "given"), ("p3", UNDETERMINED, "detected")]
    assert store.execute_for_test(
        "SELECT candidate_id, language FROM candidates ORDER BY candidate_id") == [
        ("c1", "de"), ("c2", "fr"), ("c3", UNDETERMINED)]
    assert store.fill_missing_languages() == 0  # nothing left to fill


def test_fill_missing_languages_leaves_detected_rows_alone(store: LocalStore) -> None:
    _old_store(store)
    store.execute_for_test("UPDATE candidates SET language = 'xx' WHERE candidate_id = 'c1'")
    store.execute_for_test("UPDATE prompts SET language = 'yy', language_source = 'detected' "
                           "WHERE prompt_id = 'p3'")
    assert store.fill_missing_languages() == 4  # p1, p2, c2, c3
    assert store.execute_for_test("SELECT language FROM candidates WHERE candidate_id = 'c1'") \
        == [("xx",)]
    assert store.execute_for_test("SELECT language FROM prompts WHERE prompt_id = 'p3'") == [("yy",)]
