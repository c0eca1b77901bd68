"""Import from JSONL, CSV and Parquet: validation naming FILE:LINE and field, all or nothing."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from core.config import DEFAULT_DIMENSIONS
from core.errors import ImportRowError
from core.project import Project
from core.sources import import_file
from core.store import LocalStore, imports
from core.store.imports import NFC_INERT, nfc
from tests.conftest import SAMPLE_PROMPTS, item_rows, write_jsonl
from tui.cli import app

DIMENSIONS = list(DEFAULT_DIMENSIONS)


def _counts(store: LocalStore) -> tuple[int, int, int]:
    row = store.execute_for_test(
        "SELECT (SELECT count(*) FROM prompts), (SELECT count(*) FROM candidates), "
        "(SELECT count(*) FROM events)")
    return row[0]


def test_jsonl_with_candidates_and_response(store: LocalStore, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [
        {"prompt": "Can I close my account online?", "system": "You are Northwind's assistant.",
         "dimension": "compliance", "language": "en",
         "candidates": ["Yes, under Settings.", "Only in a branch."]},
        {"prompt": "Wie kündige ich?", "language": "de", "response": "Schriftlich."},
        {"id": 42, "prompt": "Third", "candidates": ["a", "b", "c"]},
    ])
    counts = import_file(store, path, actor="t")
    assert (counts.rows, counts.new_prompts, counts.new_candidates) == (3, 3, 6)
    item = store.get_item("42")
    assert item is not None and [c.text for c in item.candidates] == ["a", "b", "c"]
    assert [c.position for c in item.candidates] == [1, 2, 3]


def test_reimporting_the_same_file_adds_nothing(store: LocalStore, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", item_rows(5))
    import_file(store, path, actor="t")
    before = _counts(store)
    again = import_file(store, path, actor="t")
    assert (again.new_prompts, again.new_candidates) == (0, 0)
    assert _counts(store)[:2] == before[:2]


def test_prompts_without_id_get_content_derived_ids(store: LocalStore, tmp_path: Path) -> None:
    rows = [{"prompt": "Same text", "candidates": ["x", "y"]}]
    import_file(store, write_jsonl(tmp_path / "a.jsonl", rows), actor="t")
    again = import_file(store, write_jsonl(tmp_path / "b.jsonl", rows), actor="t")
    assert again.new_prompts == 0
    assert store.execute_for_test("SELECT prompt_id FROM prompts")[0][0].startswith("p_")


def test_new_candidates_for_a_known_prompt_are_appended(store: LocalStore,
                                                        tmp_path: Path) -> None:
    import_file(store, write_jsonl(tmp_path / "a.jsonl", [{"id": "p", "prompt": "Q",
                "candidates": ["one", "two"]}]), actor="t")
    counts = import_file(store, write_jsonl(tmp_path / "b.jsonl", [{"id": "p", "prompt": "Q",
                         "response": "three"}]), actor="t")
    assert counts.new_candidates == 1
    item = store.get_item("p")
    assert item is not None
    assert [(c.position, c.text) for c in item.candidates] == [(1, "one"), (2, "two"),
                                                               (3, "three")]


def test_dry_run_validates_and_counts_without_storing(store: LocalStore, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", item_rows(4))
    counts = import_file(store, path, actor="t", dry_run=True)
    assert counts.dry_run and counts.new_prompts == 4 and counts.new_candidates == 12
    assert _counts(store) == (0, 0, 0)


BAD_JSONL = [
    ("missing prompt", ['{"prompt": "ok"}', '{"system": "no prompt here"}'],
     ":2: field 'prompt': missing (every row needs one)"),
    ("wrong type", ['{"prompt": "ok"}', "", '{"prompt": 17}'],
     ":3: field 'prompt': expected a string, got a number"),
    ("empty prompt", ['{"prompt": "   "}'], ":1: field 'prompt': is empty"),
    ("system not a string", ['{"prompt": "a", "system": ["x"]}'],
     ":1: field 'system': expected a string, got a list"),
    ("unknown dimension", ['{"prompt": "a"}', '{"prompt": "b", "dimension": "humour"}'],
     ":2: field 'dimension': unknown dimension 'humour' (prefer.toml allows: tone, accuracy, "
     "compliance, disclosure, safety)"),
    ("candidates not a list", ['{"prompt": "a", "candidates": "just one"}'],
     ":1: field 'candidates': expected a list of strings, got a string"),
    ("candidate not a string", ['{"prompt": "a", "candidates": ["x", {"text": "y"}]}'],
     ":1: field 'candidates': item 2 is not a string"),
    ("empty candidate", ['{"prompt": "a", "candidates": ["x", " "]}'],
     ":1: field 'candidates': item 2 is empty"),
    ("bad language", ['{"prompt": "a", "language": "German"}'],
     ":1: field 'language': expected a language code such as en, de or pt-BR, got 'German'"),
    ("broken json", ['{"prompt": "a"}', '{"prompt": "b",'], ":2: not valid JSON"),
    ("not an object", ['["prompt", "a"]'], ":1: expected a JSON object per line"),
    ("id reused", ['{"id": "x", "prompt": "a"}', '{"id": "x", "prompt": "b"}'],
     ":2: field 'id': 'x' is already used on line 1 for a different prompt"),
    ("lone surrogate", ['{"prompt": "a"}', '{"prompt": "bad \\ud800 text"}'],
     ":2: field 'prompt': has a lone surrogate \\ud800, which is not a character (text must be "
     "valid Unicode)"),
    ("lone surrogate in a candidate", ['{"prompt": "a", "candidates": ["x", "y \\udc00"]}'],
     ":1: field 'candidates': item 2 has a lone surrogate \\udc00, which is not a character "
     "(text must be valid Unicode)"),
    ("raw control character", ['{"prompt": "bell \x07 rings"}'],
     ":1: not valid JSON: a raw control character (U+0007) in a string; write it as \\u0007"),
]


@pytest.mark.parametrize(("case", "lines", "expected"), BAD_JSONL, ids=[c[0] for c in BAD_JSONL])
def test_bad_jsonl_row_stops_the_import_and_stores_nothing(
    store: LocalStore, tmp_path: Path, case: str, lines: list[str], expected: str
) -> None:
    good = [json.dumps(r) for r in item_rows(3)]
    path = tmp_path / "bad.jsonl"
    # Good rows first, so a partial import would be visible; line numbers shift by 3.
    path.write_text("\n".join(good + lines) + "\n", encoding="utf-8")
    line = int(expected.split(":")[1])
    expected = expected.replace(f":{line}:", f":{line + 3}:", 1).replace("on line 1", "on line 4")
    with pytest.raises(ImportRowError) as caught:
        import_file(store, path, actor="t")
    assert caught.value.message == f"{path}{expected}"
    assert _counts(store) == (0, 0, 0)


def test_a_paired_surrogate_escape_is_one_character(store: LocalStore, tmp_path: Path) -> None:
    path = tmp_path / "emoji.jsonl"
    path.write_text('{"id": "e", "prompt": "Thanks \\ud83d\\ude00", "candidates": ["a", "b"]}\n',
                    encoding="utf-8")
    import_file(store, path, actor="t")
    assert store.execute_for_test("SELECT prompt FROM prompts") == [("Thanks \U0001F600",)]


def test_cli_lone_surrogate_exits_2_naming_file_line_field(project: Project,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "surrogate.jsonl"
    path.write_text('{"prompt": "fine", "candidates": ["a", "b"]}\n'
                    '{"prompt": "bad \\ud800 text", "candidates": ["a", "b"]}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["import", str(path), "-p", str(project.root)])
    assert result.exit_code == 2, result.output
    assert f"{path}:2: field 'prompt': has a lone surrogate \\ud800" in result.output
    assert "Traceback" not in result.output
    with LocalStore.open(project.database_path) as store:
        assert _counts(store) == (0, 0, 0)


def test_control_characters_are_accepted(store: LocalStore, tmp_path: Path) -> None:
    # Escaped in JSON, raw in CSV: text, stored as given (a pair filter drops such pairs later).
    path = write_jsonl(tmp_path / "bell.jsonl", [{"id": "j", "prompt": "Ring \x07 twice",
                                                  "candidates": ["a\x07", "b\x1b[0m"]}])
    assert "\\u0007" in path.read_text(encoding="utf-8")
    import_file(store, path, actor="t")
    csv = tmp_path / "bell.csv"
    csv.write_text("id,prompt,response\nk,Ring \x07 once,ok\x07\n", encoding="utf-8")
    import_file(store, csv, actor="t")
    assert store.execute_for_test("SELECT prompt FROM prompts ORDER BY prompt_id") == [
        ("Ring \x07 twice",), ("Ring \x07 once",)]
    assert _counts(store)[:2] == (2, 3)


def test_invalid_utf8_names_the_line(store: LocalStore, tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"prompt": "fine"}\n{"prompt": "Gr\xfc\xdfe"}\n')
    with pytest.raises(ImportRowError) as caught:
        import_file(store, path, actor="t")
    assert caught.value.message.startswith(f"{path}:2: invalid UTF-8")
    assert _counts(store) == (0, 0, 0)


def test_id_already_stored_for_another_prompt(store: LocalStore, tmp_path: Path) -> None:
    import_file(store, write_jsonl(tmp_path / "a.jsonl", [{"id": "k", "prompt": "A"}]), actor="t")
    with pytest.raises(ImportRowError) as caught:
        import_file(store, write_jsonl(tmp_path / "b.jsonl", [{"id": "k", "prompt": "B"}]), actor="t")
    assert caught.value.message.endswith(":1: field 'id': 'k' is already stored for a "
                                         "different prompt")


def test_csv_import_and_errors(store: LocalStore, tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text('id,prompt,response,dimension,language\n'
                    'c1,"Hello, can I pay later?",Yes.,compliance,en\n'
                    'c2,Où est ma carte ?,"Elle arrive, promis.",tone,fr\n', encoding="utf-8")
    counts = import_file(store, path, actor="t")
    assert (counts.new_prompts, counts.new_candidates) == (2, 2)

    bad = tmp_path / "bad.csv"
    bad.write_text("prompt,dimension\nfine,tone\n,tone\n", encoding="utf-8")
    with pytest.raises(ImportRowError) as caught:
        import_file(store, bad, actor="t")
    assert caught.value.message == f"{bad}:3: field 'prompt': missing (every row needs one)"

    no_prompt = tmp_path / "noprompt.csv"
    no_prompt.write_text("question,answer\na,b\n", encoding="utf-8")
    with pytest.raises(ImportRowError) as caught:
        import_file(store, no_prompt, actor="t")
    assert "field 'prompt': no such column" in caught.value.message

    candidates = tmp_path / "cands.csv"
    candidates.write_text('prompt,candidates\nQ,"[""one"", ""two""]"\nR,not json\n')
    with pytest.raises(ImportRowError) as caught:
        import_file(store, candidates, actor="t")
    assert caught.value.message == (f"{candidates}:3: field 'candidates': expected a list of "
                                    "strings, got text that is not a JSON list")


def test_csv_invalid_utf8(store: LocalStore, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"prompt,response\nok,fine\nbad\xff,x\n")
    with pytest.raises(ImportRowError) as caught:
        import_file(store, path, actor="t")
    assert caught.value.message.startswith(f"{path}:3: invalid UTF-8")


def test_parquet_import_and_wrong_column_type(store: LocalStore, tmp_path: Path) -> None:
    good = tmp_path / "good.parquet"
    duckdb.sql(f"COPY (SELECT 'Question ' || i AS prompt, ['a' || i, 'b' || i] AS candidates, "
               f"'safety' AS dimension FROM range(5) t(i)) TO '{good}' (FORMAT PARQUET)")
    counts = import_file(store, good, actor="t")
    assert (counts.new_prompts, counts.new_candidates) == (5, 10)

    bad = tmp_path / "bad.parquet"
    duckdb.sql(f"COPY (SELECT i AS prompt FROM range(3) t(i)) TO '{bad}' (FORMAT PARQUET)")
    with pytest.raises(ImportRowError) as caught:
        import_file(store, bad, actor="t")
    assert "field 'prompt': expected a string column" in caught.value.message

    unknown = tmp_path / "dims.parquet"
    duckdb.sql(f"COPY (SELECT 'Q' || i AS prompt, CASE WHEN i = 2 THEN 'humour' END AS dimension "
               f"FROM range(4) t(i)) TO '{unknown}' (FORMAT PARQUET)")
    with pytest.raises(ImportRowError) as caught:
        import_file(store, unknown, actor="t")
    assert caught.value.message.startswith(f"{unknown}:3: field 'dimension': unknown")


def test_cli_import_reports_counts_and_exit_2_on_a_bad_row(project: Project,
                                                           tmp_path: Path) -> None:
    runner = CliRunner()
    good = write_jsonl(tmp_path / "good.jsonl", item_rows(3))
    result = runner.invoke(app, ["import", str(good), "-p", str(project.root)])
    assert result.exit_code == 0, result.output
    assert "Added 3 prompts and 9 candidates." in result.output

    bad = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "a", "dimension": "humour"}])
    result = runner.invoke(app, ["import", str(bad), "-p", str(project.root)])
    assert result.exit_code == 2
    assert f"{bad}:1: field 'dimension': unknown dimension 'humour'" in result.output
    assert "Traceback" not in result.output


def test_sample_data_imports_cleanly(store: LocalStore) -> None:
    counts = import_file(store, SAMPLE_PROMPTS, actor="t")
    assert counts.new_prompts >= 40
    assert store.status().prompts_ready >= 40
    languages = {r[0] for r in store.execute_for_test("SELECT DISTINCT language FROM prompts")}
    assert len(languages) >= 2


# --- languages and Unicode normalisation ----------------------------------------------------


def test_explicit_language_wins_else_it_is_detected(store: LocalStore, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "langs.jsonl", [
        # Given: kept as the file says, even where detection would say otherwise.
        {"id": "given", "language": "pt-BR",
         "prompt": "Wie kann ich meine Kreditkarte sperren lassen, wenn sie gestohlen wurde?",
         "candidates": ["Rufen Sie sofort die Sperrhotline Ihrer Bank an.",
                        "Votre carte sera bloquée dans les plus brefs délais."]},
        {"id": "blank", "language": " ", "prompt": "Can I close my account online, or not?",
         "response": "Ok."},
        {"id": "none", "prompt": "¿Puedo cambiar la dirección de envío después del pedido?"},
        {"id": "short", "prompt": "Hi?"},
    ])
    import_file(store, path, actor="t")
    assert store.execute_for_test(
        "SELECT prompt_id, language, language_source FROM prompts ORDER BY source_line") == [
        ("given", "pt-BR", "given"), ("blank", "en", "detected"), ("none", "es", "detected"),
        ("short", "und", "detected")]
    assert store.execute_for_test(
        "SELECT prompt_id, position, language FROM candidates ORDER BY prompt_id, position") == [
        ("blank", 1, "und"), ("given", 1, "de"), ("given", 2, "fr")]


def test_languages_are_detected_in_batches(store: LocalStore, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imports, "_DETECT_BATCH", 2)
    sentences = {"de": "Wie kann ich meine Kreditkarte sperren lassen, wenn sie gestohlen wurde?",
                 "fr": "Votre colis a été expédié hier et arrivera probablement demain matin.",
                 "it": "Il rimborso verrà accreditato sulla carta utilizzata per l'acquisto.",
                 "nl": "Uw pakket is vandaag verzonden en wordt morgen bezorgd."}
    rows = [{"id": lang, "prompt": text, "candidates": [text + " Danke.", "Ok."]}
            for lang, text in sentences.items()]
    rows.insert(2, {"id": "given", "language": "en", "prompt": sentences["de"] + "?"})
    import_file(store, write_jsonl(tmp_path / "five.jsonl", rows), actor="t")
    assert store.execute_for_test(
        "SELECT prompt_id, language FROM prompts WHERE language_source = 'detected' "
        "ORDER BY 1") == sorted(zip(sentences, sentences, strict=True))
    assert store.execute_for_test(
        "SELECT prompt_id, language FROM candidates WHERE position = 1 ORDER BY 1") == sorted(
        zip(sentences, sentences, strict=True))
    assert store.execute_for_test(
        "SELECT DISTINCT language FROM candidates WHERE position = 2") == [("und",)]


def test_a_dry_run_detects_nothing_and_a_reimport_keeps_languages(store: LocalStore,
                                                                  tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [
        {"id": "q", "prompt": "Où se trouve mon colis ? Il devait arriver hier.",
         "candidates": ["Il est en route et arrivera demain matin.",
                        "Je ne sais vraiment pas où il se trouve."]}])
    import_file(store, path, actor="t", dry_run=True)
    assert _counts(store) == (0, 0, 0)
    import_file(store, path, actor="t")
    again = import_file(store, path, actor="t")
    assert (again.new_prompts, again.new_candidates) == (0, 0)
    assert store.execute_for_test("SELECT language, language_source FROM prompts") == [
        ("fr", "detected")]
    assert sorted(store.execute_for_test("SELECT language FROM candidates")) == [("fr",), ("fr",)]


def test_texts_are_stored_in_nfc_and_reimport_adds_nothing(store: LocalStore,
                                                          tmp_path: Path) -> None:
    decomposed = "Un cafe\u0301 cre\u0300me, s'il vous plai\u0302t."
    composed = unicodedata.normalize("NFC", decomposed)
    assert composed != decomposed and "\u00e9" in composed
    rows = [{"prompt": decomposed, "system": "Re\u0301ponds en franc\u0327ais.",
             "candidates": [decomposed + " Voila\u0300.", "Bien su\u0302r."]}]
    path = write_jsonl(tmp_path / "nfd.jsonl", rows)
    counts = import_file(store, path, actor="t")
    assert (counts.new_prompts, counts.new_candidates) == (1, 2)
    stored = store.execute_for_test("SELECT prompt, system FROM prompts")[0]
    assert stored == (composed, "Réponds en français.")
    texts = sorted(t for (t,) in store.execute_for_test("SELECT text FROM candidates"))
    assert texts == sorted([composed + " Voilà.", "Bien sûr."])
    again = import_file(store, path, actor="t")
    assert (again.new_prompts, again.new_candidates) == (0, 0)
    # The same texts typed composed are the same prompt and candidates (content-derived ids).
    nfc_rows = [{k: unicodedata.normalize("NFC", v) if isinstance(v, str)
                 else [unicodedata.normalize("NFC", t) for t in v] for k, v in rows[0].items()}]
    same = import_file(store, write_jsonl(tmp_path / "nfc.jsonl", nfc_rows), actor="t")
    assert (same.new_prompts, same.new_candidates) == (0, 0)



def _nfc_inert_ranges() -> list[tuple[int, int]]:
    pairs = re.findall(r"\\x\{?([0-9A-Fa-f]+)\}?-\\x\{?([0-9A-Fa-f]+)\}?", NFC_INERT)
    return [(int(lo, 16), int(hi, 16)) for lo, hi in pairs]


def test_nfc_inert_class_holds_on_every_code_point() -> None:
    """nfc() skips nfc_normalize() for texts of NFC_INERT characters only: prove that is exact.

    Each such character must be assigned, a starter (combining class 0), its own NFC, and never
    the second half of a canonical decomposition (so nothing composes with what precedes it).
    Then any string of them is NFC by the Unicode quick check. DuckDB must agree.
    """
    ranges = _nfc_inert_ranges()
    assert len(ranges) == NFC_INERT.count("-") and ranges[0] == (0, 0x2FF)
    seconds = set()
    for cp in range(0x110000):
        mapping = unicodedata.decomposition(chr(cp))
        if mapping and not mapping.startswith("<"):
            seconds.update(int(part, 16) for part in mapping.split()[1:])
    for lo, hi in ranges:
        for cp in range(lo, hi + 1):
            char = chr(cp)
            assert unicodedata.category(char) != "Cn", hex(cp)
            assert unicodedata.combining(char) == 0, hex(cp)
            assert unicodedata.normalize("NFC", char) == char, hex(cp)
            assert cp not in seconds, hex(cp)
    con = duckdb.connect()
    spans = " UNION ALL ".join(f"SELECT range::INTEGER AS cp FROM range({max(lo, 1)}, {hi + 1})"
                               for lo, hi in ranges)
    row = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE regexp_matches(chr(cp), '[^{NFC_INERT}]') "
        "OR nfc_normalize(chr(cp)) <> chr(cp) OR nfc_normalize('e' || chr(cp) || 'A' || chr(cp)) "
        f"<> 'e' || chr(cp) || 'A' || chr(cp)) FROM ({spans})").fetchone()
    assert row is not None and row[0] > 40_000 and row[1] == 0
    # Outside the class the slow path runs, and nfc() is nfc_normalize() on every text.
    samples = ["cafe\u0301", "\u212b ngstr\u00f6m", "\u1100\u1161\u11a8", "plain ASCII",
               "Gr\u00fc\u00dfe \u2014 \u20ac 5 \U0001F600", "a\u0323\u0307", "\u0958", None]
    got = con.execute(f"SELECT {nfc('s')}, nfc_normalize(s) FROM (SELECT unnest(?) AS s)",
                      [samples]).fetchall()
    assert all(ours == theirs for ours, theirs in got)
    assert [ours for ours, _ in got][:3] == ["caf\u00e9", "\u00c5 ngstr\u00f6m", "\uac01"]
