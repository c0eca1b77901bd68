"""A store you can trust: texts cleaned once at import, exports that never clobber a folder,
terminal-safe names and texts, validated annotator names, files that are files."""

from __future__ import annotations

import csv
import json
import os
import threading
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import Result
from textual.pilot import Pilot
from textual.widgets import Static
from typer.testing import CliRunner

from core.annotation import AnnotationSession
from core.config import annotator_name_problem
from core.errors import PreferError
from core.export import ExportOptions, export_dataset
from core.models import GenerationRecord
from core.project import Project
from core.sources import import_file
from core.store import open_store
from core.store.local import candidate_id_for, utc_now
from core.text import WHITESPACE_CLASS, printable, strip_text, stripped_sql
from tests.conftest import item_rows, write_jsonl
from tui.cli import app
from tui.widgets.candidate import CandidateCard

runner = CliRunner()


def _invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


# --- 6. only regular files are imported ---------------------------------------------------------


def _invoke_unblocking(fifo: Path, *args: str) -> Result:
    """Run the command in a thread; if it hangs on the FIFO, write to it so the test ends."""
    outcome: list[Result] = []
    worker = threading.Thread(target=lambda: outcome.append(_invoke(*args)), daemon=True)
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():
        with fifo.open("w") as writer:  # unblocks a reader that opened the FIFO
            writer.write("")
        worker.join(timeout=20)
        pytest.fail("the command opened the FIFO and blocked")
    return outcome[0]


@pytest.mark.parametrize("command", ["import", "import-judgments"])
def test_a_fifo_or_folder_is_not_a_regular_file(project: Project, tmp_path: Path,
                                                command: str) -> None:
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    result = _invoke_unblocking(fifo, command, str(fifo), "-p", str(project.root))
    assert result.exit_code == 2, result.output
    assert f"error: {fifo}: not a regular file" in result.output
    assert "Traceback" not in result.output

    folder = tmp_path / "folder.jsonl"
    folder.mkdir()
    result = _invoke(command, str(folder), "-p", str(project.root))
    assert result.exit_code == 2, result.output
    assert f"error: {folder}: not a regular file" in result.output

    missing = tmp_path / "missing.jsonl"
    result = _invoke(command, str(missing), "-p", str(project.root))
    assert result.exit_code == 2, result.output
    assert f"error: {missing}: no such file" in result.output


def test_a_device_is_not_a_regular_file(project: Project) -> None:
    result = _invoke("import", "/dev/null", "--format", "jsonl", "-p", str(project.root))
    assert result.exit_code == 2, result.output
    assert "error: /dev/null: not a regular file" in result.output


def test_a_symlink_to_a_regular_file_imports(project: Project, tmp_path: Path) -> None:
    target = write_jsonl(tmp_path / "rows.jsonl", item_rows(2))
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    result = _invoke("import", str(link), "-p", str(project.root))
    assert result.exit_code == 0, result.output


# --- 1. whitespace at the ends of texts is handled once, at import --------------------------------

PAD = " \u00a0\t\n\u3000\r\n"  # spaces, NBSP, tab, newlines, an ideographic space


def _padded_rows(count: int) -> list[dict[str, Any]]:
    """item_rows with every prompt, system prompt and response padded at both ends."""
    rows = []
    for row in item_rows(count):
        rows.append({"prompt": PAD + row["prompt"] + PAD,
                     "system": PAD + "You are the bank's assistant." + PAD,
                     "candidates": [PAD + c + PAD for c in row["candidates"][:2]],
                     "response": row["candidates"][2] + PAD})
    return rows


def _write(rows: list[dict[str, Any]], path: Path) -> Path:
    """`rows` as JSONL, CSV (candidates as a JSON list) or Parquet, by the suffix of `path`."""
    if path.suffix == ".jsonl":
        return write_jsonl(path, rows)
    if path.suffix == ".csv":
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({**r, "candidates": json.dumps(r["candidates"])} for r in rows)
        return path
    con = duckdb.connect()
    con.execute("CREATE TABLE t (prompt VARCHAR, system VARCHAR, candidates VARCHAR[], "
                "response VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?)",
                    [[r["prompt"], r["system"], r["candidates"], r["response"]] for r in rows])
    con.execute(f"COPY t TO '{path}' (FORMAT PARQUET)")
    con.close()
    return path


def _rank_everything(project: Project) -> None:
    with open_store(project.database_path) as store:
        session = AnnotationSession(store, project.config, "alice", "g")
        while session.next_item() is not None:
            session.press(1)
            session.press(2)
            session.save("The best is accurate; the worst is not.")


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_padded_texts_import_stripped_and_export(project: Project, tmp_path: Path,
                                                 suffix: str) -> None:
    root = str(project.root)
    padded = _write(_padded_rows(8), tmp_path / f"padded{suffix}")
    result = _invoke("import", str(padded), "-p", root)
    assert result.exit_code == 0, result.output
    with open_store(project.database_path) as store:
        texts = [t for row in store.execute_for_test(
            "SELECT prompt, system FROM prompts UNION ALL SELECT text, NULL FROM candidates")
            for t in row if t is not None]
    assert len(texts) == 8 * 2 + 8 * 3
    assert all(t == t.strip() and t for t in texts)
    # The ids are those of the stored (stripped) texts: the same rows unpadded add nothing.
    clean = [{"prompt": r["prompt"].strip(), "system": r["system"].strip(),
              "candidates": [c.strip() for c in r["candidates"]],
              "response": r["response"].strip()} for r in _padded_rows(8)]
    again = _invoke("import", str(_write(clean, tmp_path / f"clean{suffix}")), "-p", root,
                    "--json")
    assert again.exit_code == 0, again.output
    counts = json.loads(again.output)
    assert (counts["new_prompts"], counts["new_candidates"]) == (0, 0)

    _rank_everything(project)
    for flags in (["--standard"], []):
        out = tmp_path / f"out{suffix}{len(flags)}"
        result = _invoke("export", "--format", "trl", *flags, "--out", str(out), "-p", root)
        assert result.exit_code == 0, result.output
        rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
        assert rows
        if flags:
            assert all(r["prompt"] == r["prompt"].strip() for r in rows)


@pytest.mark.parametrize(("row", "message"), [
    ({"prompt": "\n\t\u3000 \r\n"}, "field 'prompt': is empty"),
    ({"prompt": "Q?", "candidates": ["An answer.", "\n\n"]},
     "field 'candidates': item 2 is empty"),
    ({"prompt": "Q?", "response": "\u2028\t"}, "field 'response': is empty"),
])
def test_a_text_of_whitespace_only_is_still_refused(project: Project, tmp_path: Path,
                                                    row: dict[str, Any], message: str) -> None:
    path = write_jsonl(tmp_path / "blank.jsonl", [row])
    result = _invoke("import", str(path), "-p", str(project.root))
    assert result.exit_code == 2, result.output
    assert f"{path}:1: {message}" in result.output


def test_a_system_prompt_of_whitespace_only_is_no_system_prompt(project: Project,
                                                                 tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "sys.jsonl", [{"prompt": "Q?", "system": "\n \t",
                                                 "candidates": ["One.", "Two."]}])
    assert _invoke("import", str(path), "-p", str(project.root)).exit_code == 0
    with open_store(project.database_path) as store:
        assert store.execute_for_test("SELECT system FROM prompts") == [(None,)]


def test_import_judgments_strips_texts_with_the_ids_of_prefer_import(project: Project,
                                                                     tmp_path: Path) -> None:
    root = str(project.root)
    labels = write_jsonl(tmp_path / "labels.jsonl", [
        {"annotator": "lena", "prompt": PAD + "Can I close my account online?" + PAD,
         "system": "\n", "candidates": ["Yes, under Settings." + PAD, PAD + "Only in a branch."],
         "best": "Only in a branch.\n", "worst": 1}])
    result = _invoke("import-judgments", str(labels), "-p", root)
    assert result.exit_code == 0, result.output
    same = write_jsonl(tmp_path / "same.jsonl", [
        {"prompt": "Can I close my account online?",
         "candidates": ["Yes, under Settings.", "Only in a branch."]}])
    result = _invoke("import", str(same), "-p", root, "--json")
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output)
    assert (counts["new_prompts"], counts["new_candidates"]) == (0, 0)
    with open_store(project.database_path) as store:
        best = store.execute_for_test(
            "SELECT c.text FROM judgments j JOIN candidates c "
            "ON c.candidate_id = j.best_candidate_id")
    assert best == [("Only in a branch.",)]


def test_generated_texts_are_stored_stripped(project: Project, tmp_path: Path) -> None:
    with open_store(project.database_path) as store:
        import_file(store, write_jsonl(tmp_path / "one.jsonl", [{"id": "x1", "prompt": "Q?"}]), actor="t")
        now = utc_now()
        store.record_generations([GenerationRecord(
            generation_id="g1", run_id="r1", prompt_id="x1", variant="v", model="m",
            model_digest=None, host=None, status="ok", error=None, attempts=1,
            text="\n\nGenerated answer.  \n", system=None, options="{}", done_reason="stop",
            truncated=False, prompt_eval_count=1, eval_count=1, total_duration_ns=1,
            load_duration_ns=1, prompt_eval_duration_ns=1, eval_duration_ns=1, latency_s=0.1,
            started_at=now, finished_at=now)])
        stored = store.execute_for_test("SELECT candidate_id, text FROM candidates")
    assert stored == [(candidate_id_for("x1", "Generated answer."), "Generated answer.")]


def test_the_sql_whitespace_class_is_str_isspace_on_every_code_point() -> None:
    con = duckdb.connect()
    found = {row[0] for row in con.execute(
        "WITH s AS (SELECT cp, chr(cp::INTEGER) AS x FROM range(0, 1114112) t(cp) "
        "WHERE cp NOT BETWEEN 55296 AND 57343) "
        f"SELECT cp FROM s WHERE regexp_full_match(x, '{WHITESPACE_CLASS}')").fetchall()}
    assert found == {cp for cp in range(0x110000) if chr(cp).isspace()}
    samples = ["", " ", "a", " a ", PAD + "x y" + PAD, "\u200bzero width\u200b", PAD, "é\u0301 "]
    got = [r[0] for r in con.execute(f"SELECT {stripped_sql('s')} FROM unnest(?) t(s)",
                                     [samples]).fetchall()]
    assert got == [strip_text(s) for s in samples]


# --- 2. an export never clobbers a folder, and a failed one leaves nothing -------------------------


@pytest.fixture
def ranked(project: Project, tmp_path: Path) -> Project:
    """A project whose every item is ranked, ready to export."""
    path = write_jsonl(tmp_path / "items.jsonl", item_rows(12))
    assert _invoke("import", str(path), "-p", str(project.root)).exit_code == 0
    _rank_everything(project)
    return project


def _one_line_error(result: Result, *expected: str) -> None:
    """Exit 2 with `error: ...` (and maybe a hint) naming `expected`, and no traceback."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    lines = result.output.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    assert all(text in errors[0] for text in expected), result.output
    assert "Traceback" not in result.output
    assert all(line.startswith(("error: ", "hint: ")) for line in lines), result.output


def test_export_refuses_a_folder_that_holds_anything(ranked: Project, tmp_path: Path) -> None:
    root = str(ranked.root)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".keep").write_text("mine\n")
    _one_line_error(_invoke("export", "--out", str(out), "-p", root), str(out), "not empty")
    assert sorted(p.name for p in out.iterdir()) == [".keep"]
    result = _invoke("export", "--out", str(out), "-p", root, "--overwrite")
    assert result.exit_code == 0, result.output
    assert (out / "train.jsonl").exists() and (out / ".keep").read_text() == "mine\n"


def test_a_second_export_into_the_same_folder_needs_overwrite(ranked: Project,
                                                              tmp_path: Path) -> None:
    root = str(ranked.root)
    out = tmp_path / "out"
    assert _invoke("export", "--out", str(out), "-p", root).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    result = _invoke("export", "--format", "jsonl", "--out", str(out), "-p", root)
    _one_line_error(result, str(out), "not empty")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    result = _invoke("export", "--format", "jsonl", "--out", str(out), "-p", root, "--overwrite")
    assert result.exit_code == 0, result.output
    assert (out / "manifest.json").read_bytes() != before["manifest.json"]


def test_export_into_an_empty_folder_needs_no_flag(ranked: Project, tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    result = _invoke("export", "--out", str(out), "-p", str(ranked.root))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("where", ["/proc/self/x", "/proc/self/x/y", "file/sub", "file"])
def test_export_to_a_path_that_cannot_be_a_folder(ranked: Project, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  where: str) -> None:
    monkeypatch.chdir(tmp_path)
    Path("file").write_text("in the way\n")
    _one_line_error(_invoke("export", "--out", where, "-p", str(ranked.root)), where)
    assert Path("file").read_text() == "in the way\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["file", "items.jsonl", "alignment"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_export_into_a_folder_without_write_permission(ranked: Project, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        _one_line_error(_invoke("export", "--out", str(locked / "out"), "-p",
                                str(ranked.root)), str(locked / "out"))
    finally:
        locked.chmod(0o755)


def test_a_failed_export_leaves_nothing_behind(project: Project, tmp_path: Path) -> None:
    # Nothing ranked: the export fails (exit 1) after it has made its folders.
    created = tmp_path / "new" / "deeper" / "out"
    result = _invoke("export", "--out", str(created), "-p", str(project.root))
    assert result.exit_code == 1, result.output
    assert not (tmp_path / "new").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    result = _invoke("export", "--out", str(existing), "-p", str(project.root))
    assert result.exit_code == 1, result.output
    assert existing.is_dir() and list(existing.iterdir()) == []


def test_an_export_failing_while_it_writes_removes_its_folder(ranked: Project, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    import core.export

    def broken(path: Path, *args: object) -> None:
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(core.export, "validate_file", broken)
    out = tmp_path / "out"
    with open_store(ranked.database_path) as store, \
            pytest.raises(PreferError, match="No space left on device"):
        export_dataset(store, ranked.config, out, ExportOptions(), actor="t")
    assert not out.exists()
    out.mkdir()
    with open_store(ranked.database_path) as store, pytest.raises(PreferError):
        export_dataset(store, ranked.config, out, ExportOptions(), actor="t")
    assert list(out.iterdir()) == []  # no .prefer-export-PID left


def test_report_html_refuses_an_existing_file(ranked: Project, tmp_path: Path) -> None:
    root = str(ranked.root)
    page = tmp_path / "report.html"
    page.write_text("earlier\n")
    _one_line_error(_invoke("report", "--html", str(page), "-p", root), str(page), "exists")
    assert page.read_text() == "earlier\n"
    result = _invoke("report", "--html", str(page), "-p", root, "--overwrite")
    assert result.exit_code == 0, result.output
    assert page.read_text().startswith("<!doctype html>")
    _one_line_error(_invoke("report", "--html", "/proc/self/x/report.html", "-p", root),
                    "/proc/self/x/report.html")
    _one_line_error(_invoke("report", "--html", str(tmp_path), "-p", root), str(tmp_path))


# --- 4. annotator names are OS user names -----------------------------------------------------------


def _list_annotators(project: Project, *lines: str) -> None:
    config = project.root / "prefer.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[annotators]\n", "[annotators]\n" + "".join(
        f"{line}\n" for line in lines)), encoding="utf-8")


@pytest.mark.parametrize("name", ["alice", "dr.weber", "rater_7", "x-1", "A" * 64])
def test_valid_annotator_names(name: str) -> None:
    assert annotator_name_problem(name) is None


@pytest.mark.parametrize("name", ["", "ali ce", "Jürgen", "a@b.org", "A" * 65, "ali\u202ece",
                                  "x\x1b[31m", "tab\t", "bob\n"])
def test_invalid_annotator_names(name: str) -> None:
    problem = annotator_name_problem(name)
    assert problem is not None and "1 to 64 ASCII letters, digits" in problem


def test_config_refuses_an_invalid_annotator_name(project: Project) -> None:
    _list_annotators(project, 'alice = "annotator"', '"ali ce" = "reviewer"')
    result = _invoke("status", "-p", str(project.root))
    _one_line_error(result, f"{project.root / 'prefer.toml'}: key 'annotators.ali ce': "
                            "'ali ce' is not a valid annotator name")


def test_import_judgments_refuses_an_invalid_annotator(project: Project, tmp_path: Path) -> None:
    labels = write_jsonl(tmp_path / "labels.jsonl", [
        {"annotator": "lena", "prompt": "Q?", "candidates": ["One.", "Two."], "best": 1},
        {"annotator": "rater 7", "prompt": "Q?", "candidates": ["One.", "Two."], "best": 2}])
    result = _invoke("import-judgments", str(labels), "-p", str(project.root))
    _one_line_error(result, f"{labels}:2: field 'annotator': 'rater 7' is not a valid annotator "
                            "name")
    with open_store(project.database_path) as store:
        assert store.execute_for_test("SELECT count(*) FROM judgments") == [(0,)]


def test_assign_and_annotate_refuse_an_invalid_name(project: Project, tmp_path: Path) -> None:
    root = str(project.root)
    assert _invoke("import", str(write_jsonl(tmp_path / "i.jsonl", item_rows(4))),
                   "-p", root).exit_code == 0
    _one_line_error(_invoke("assign", "--annotators", "alice,bo b", "-p", root),
                    "--annotators: 'bo b' is not a valid annotator name")
    _one_line_error(_invoke("annotate", "--as", "x;rm", "-p", root),
                    "--as: 'x;rm' is not a valid annotator name")


# --- 5. assign and unassign refuse names nobody knows -------------------------------------------------


@pytest.fixture
def staffed(project: Project, tmp_path: Path) -> Project:
    """Six items and [annotators] listing alice, bob and carol."""
    path = write_jsonl(tmp_path / "items.jsonl", item_rows(6))
    assert _invoke("import", str(path), "-p", str(project.root)).exit_code == 0
    _list_annotators(project, 'alice = "annotator"', 'bob = "annotator"', 'carol = "reviewer"')
    return project


def test_assign_refuses_a_name_not_listed_with_a_suggestion(staffed: Project) -> None:
    root = str(staffed.root)
    result = _invoke("assign", "--annotators", "alcie,bob", "-p", root)
    _one_line_error(result, "unknown annotator 'alcie' (did you mean 'alice'?)",
                    "lists alice, bob, carol")
    result = _invoke("assign", "--annotators", "zed", "-p", root)
    _one_line_error(result, "unknown annotator 'zed';")
    with open_store(staffed.database_path) as store:
        assert store.assignment_loads() == {}
    assert _invoke("assign", "--annotators", "alice,bob", "-p", root).exit_code == 0


def test_unassign_refuses_a_name_nobody_knows(staffed: Project) -> None:
    root = str(staffed.root)
    assert _invoke("assign", "--annotators", "alice,bob", "-p", root).exit_code == 0
    result = _invoke("assign", "--unassign", "nobody", "-p", root)
    _one_line_error(result, "--unassign: unknown annotator 'nobody'", "alice, bob, carol")
    result = _invoke("assign", "--unassign", "bbo", "-p", root)
    _one_line_error(result, "(did you mean 'bob'?)")
    result = _invoke("assign", "--unassign", "bob", "-p", root)
    assert result.exit_code == 0 and "Freed 3 open items of bob" in result.output
    result = _invoke("assign", "--unassign", "carol", "-p", root)  # listed, holds nothing
    assert result.exit_code == 0 and "Freed 0 open items of carol" in result.output


def test_unassign_knows_names_from_the_store(project: Project, tmp_path: Path) -> None:
    root = str(project.root)
    assert _invoke("import", str(write_jsonl(tmp_path / "i.jsonl", item_rows(4))),
                   "-p", root).exit_code == 0
    assert _invoke("assign", "--annotators", "dana", "-p", root).exit_code == 0
    result = _invoke("assign", "--unassign", "dana", "-p", root)
    assert result.exit_code == 0 and "Freed 4 open items of dana" in result.output
    _one_line_error(_invoke("assign", "--unassign", "erin", "-p", root), "'erin'")


# --- 3. names and texts reach the terminal as text ----------------------------------------------------

EVIL = "ali\u202ece\x1b[31m"          # a bidi override and an ANSI colour
MARKUP = "[bold]bob[/bold]"           # rich markup in a name
HOSTILE_ID = "q\x1b]0;pwned\x07"      # an OSC sequence that retitles the terminal
HOSTILE_PROMPT = "\x1b[2JWipe the screen?\nSecond line [red]red[/red] \u2066isolate\u2069"


def _raw_controls(text: str) -> list[str]:
    """Characters a terminal would act on, other than the newlines between output lines."""
    return [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0
            or c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"]


def test_printable_escapes_controls_and_bidi() -> None:
    assert printable(EVIL) == "ali\\u202ece\\x1b[31m"
    assert printable("a\nb\tc\r\x00\x7f\x85\u200f\u061c") == \
        "a\\nb\\tc\\r\\x00\\x7f\\x85\\u200f\\u061c"
    assert printable("line 1\r\n\tline 2\x1b", multiline=True) == "line 1\n\tline 2\\x1b"
    assert printable("Grüße, 世界 😀 [b]x[/b] \\x1b") == "Grüße, 世界 😀 [b]x[/b] \\x1b"
    every_control = "".join(chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]) + \
        "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
    assert not _raw_controls(printable(every_control))
    assert not _raw_controls(printable(every_control, multiline=True).replace("\t", ""))


@pytest.fixture
def hostile(project: Project, tmp_path: Path) -> Project:
    """A store from before names were checked: hostile annotator names, ids, texts and source
    file name; two annotators who disagree on the hostile item and agree on the others."""
    rows = item_rows(4)
    rows[0]["id"] = HOSTILE_ID
    rows[0]["prompt"] = HOSTILE_PROMPT
    rows[0]["candidates"][0] = "Candidate one\x1b[5m blinks.\n\tIndented [b]markup[/b]."
    with open_store(project.database_path) as store:
        import_file(store, write_jsonl(tmp_path / "hostile\x1b[31m.jsonl", rows), actor="t")
        for stand_in, name in (("evil", EVIL), ("markup", MARKUP)):
            session = AnnotationSession(store, project.config, stand_in, "g")
            while (screenful := session.next_item()) is not None:
                labels = {c.candidate_id: n for n, c in enumerate(screenful.shown, 1)}
                best, worst = sorted(labels)[:2]  # the same two for both annotators
                if name == MARKUP and screenful.item.prompt.prompt_id == HOSTILE_ID:
                    best, worst = worst, best
                session.press(labels[best])
                session.press(labels[worst])
                session.save("A justification \x1b[31m long enough to save.")
            # today's store refuses such names: write them as an older store holds them
            for table in ("judgments", "events"):
                column = "annotator" if table == "judgments" else "actor"
                store.execute_for_test(f"UPDATE {table} SET {column} = ? WHERE {column} = ?",
                                       [name, stand_in])
    return project


@pytest.mark.parametrize("command", [["status"], ["agreement", "--resamples", "100"],
                                     ["disagreements"], ["audit"], ["pairs"], ["report"],
                                     ["balance", "--by", "source"]])
def test_commands_print_stored_names_and_texts_escaped(hostile: Project,
                                                       command: list[str]) -> None:
    result = _invoke(*command, "-p", str(hostile.root))
    assert result.exit_code == 0, result.output
    assert not _raw_controls(result.output), repr(result.output)


def test_status_and_agreement_show_the_escaped_names(hostile: Project) -> None:
    root = str(hostile.root)
    status = _invoke("status", "-p", root)
    assert "ali\\u202ece\\x1b[31m" in status.output
    assert MARKUP in status.output  # markup in a name is text, not bold
    agreement = _invoke("agreement", "--resamples", "100", "-p", root)
    assert "ali\\u202ece\\x1b[31m" in agreement.output and MARKUP in agreement.output
    listed = _invoke("disagreements", "-p", root)
    assert "q\\x1b]0;pwned" in listed.output  # the id column may be cut
    assert "\\x1b[2JWipe" in listed.output


def test_errors_quote_values_escaped_and_keep_brackets(hostile: Project) -> None:
    result = _invoke("gold", "zz\x1b[31m", "--best", "c", "-p", str(hostile.root))
    assert result.exit_code == 2
    assert "no item zz\\x1b[31m" in result.output and not _raw_controls(result.output)
    _list_annotators(hostile, 'alice = "annotator"')
    result = _invoke("assign", "--annotators", "alcie", "-p", str(hostile.root))
    assert "[annotators] of prefer.toml lists alice" in result.output  # not eaten as markup
    result = _invoke("import-judgments", str(write_jsonl(
        hostile.root / "l.jsonl", [{"annotator": EVIL, "prompt_id": "q001", "best": 1}])),
        "-p", str(hostile.root))
    assert result.exit_code == 2 and "'ali\\u202ece\\x1b[31m'" in result.output
    assert not _raw_controls(result.output)


async def test_the_annotation_screen_shows_stored_texts_as_text(hostile: Project) -> None:
    from tui.app import make_app

    with open_store(hostile.database_path) as store:
        app = make_app(hostile, store, annotator="carol")
        async with app.run_test(size=(100, 40)) as pilot:
            await _settle(pilot)
            screen = app.screen
            for _ in range(4):  # skip to the hostile item
                if printable(HOSTILE_ID) in str(screen.query_one("#topbar", Static).render()):
                    break
                await pilot.press("ctrl+s")
                await _settle(pilot)
            await pilot.press("ctrl+y")  # the responses as written (Markdown rendering off)
            prompt = str(screen.query_one("#prompt", Static).render())
            assert prompt == printable(HOSTILE_PROMPT, multiline=True)
            assert "\n" in prompt and "[red]red[/red]" in prompt
            topbar = str(screen.query_one("#topbar", Static).render())
            assert printable(HOSTILE_ID) in topbar
            cards = [str(card.render()) for card in screen.query(CandidateCard)]
            assert "Candidate one\\x1b[5m blinks.\n\tIndented [b]markup[/b]." in cards
            assert not any(_raw_controls(t.replace("\t", "")) for t in [prompt, topbar, *cards])


async def test_the_adjudication_screen_shows_names_and_texts_as_text(hostile: Project) -> None:
    from rich.console import Console

    from tui.adjudication_app import make_adjudication_app

    with open_store(hostile.database_path) as store:
        app = make_adjudication_app(hostile, store, reviewer="rita", show_names=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await _settle(pilot)
            console = Console(width=200, record=True)
            console.print(app.screen.query_one("#review-annotators", Static).content)
            table = console.export_text()
            assert "ali\\u202ece\\x1b[31m" in table and MARKUP in table
            assert "A justification \\x1b[31m long enough" in table
            shown = [table, str(app.screen.query_one("#topbar", Static).render()),
                     str(app.screen.query_one("#prompt", Static).render())]
            assert not any(_raw_controls(t) for t in shown)


async def _settle(pilot: Pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
