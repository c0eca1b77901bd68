"""Import SQL: stage a JSONL, CSV or Parquet file through DuckDB's readers, validate, insert.

Staging normalises every source into one temp table `import_fields` with, for each field, its
value and the type it had in the file, so one validation query serves all three formats.
"""

from __future__ import annotations

import json
import re

import duckdb

from core.language import MAX_CHARS, detect_languages
from core.models import RowProblem
from core.text import stripped_sql

KNOWN_FIELDS = ("prompt", "system", "dimension", "language", "id", "candidates", "response")
_TEXT_FIELDS = ("prompt", "system", "dimension", "language", "id", "response")

# Column names that usually hold candidate responses under another name: a file with one of
# them and neither `candidates` nor `response` is refused (it would import prompts without their
# responses) with a hint to rename it with --map.
CANDIDATE_LOOKALIKES = ("responses", "answers", "completions", "outputs", "generations",
                        "answer", "completion", "output", "candidate", "replies")


def candidates_lookalike(columns: list[str]) -> RowProblem | None:
    """The refusal of a file with no candidates column but one that looks like it (a file
    without prompts is refused for that first)."""
    if "prompt" not in columns or "candidates" in columns or "response" in columns:
        return None
    similar = next((c for c in columns if c.strip().lower() in CANDIDATE_LOOKALIKES), None)
    if similar is None:
        return None
    return RowProblem(1, similar, "no 'candidates' or 'response' field, but this one looks like "
                      "candidate responses and would be ignored (the prompts imported without "
                      f"them); rename it: --map {similar}=candidates (a list of strings) or "
                      f"--map {similar}=response (one text)")


def mapping_problem(mapping: dict[str, str], columns: list[str]) -> RowProblem | None:
    """Why `--map old=new` cannot apply to a file with `columns`, or None."""
    for old, new in mapping.items():
        if new not in KNOWN_FIELDS:
            return RowProblem(1, old, f"--map {old}={new}: '{new}' is not a field prefer "
                              f"imports (it reads: {', '.join(KNOWN_FIELDS)})")
        if old not in columns:
            return RowProblem(1, old, f"--map {old}={new}: the file has no field '{old}' "
                              f"(it has: {', '.join(columns) or 'none'})")
        if new in columns and new not in mapping:
            return RowProblem(1, new, f"--map {old}={new}: the file already has a field '{new}'")
    return None


def _renamed(reader: str, mapping: dict[str, str]) -> str:
    """`reader` with the mapped columns renamed (every name quoted: they come from a user)."""
    if not mapping:
        return reader
    renames = ", ".join(f"{_quoted(old)} AS {_quoted(new)}" for old, new in mapping.items())
    return f"(SELECT * RENAME ({renames}) FROM {reader})"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# JSON type names as DuckDB's json_type reports them, in words a user knows.
_JSON_TYPE_WORDS = (
    "CASE {t} WHEN 'VARCHAR' THEN 'string' WHEN 'ARRAY' THEN 'list' WHEN 'OBJECT' THEN 'object' "
    "WHEN 'BOOLEAN' THEN 'boolean' WHEN 'NULL' THEN 'null' WHEN 'DOUBLE' THEN 'number' "
    "WHEN 'UBIGINT' THEN 'number' WHEN 'BIGINT' THEN 'number' WHEN 'UINTEGER' THEN 'number' "
    "ELSE lower({t}) END"
)


def blank(expr: str) -> str:
    """SQL: `expr` is empty or only whitespace, exactly as `trim(expr) = ''` decides it.

    DuckDB's trim() strips the Unicode space separators (class Zs: space, NBSP U+00A0, U+1680,
    U+2000-U+200A, U+202F, U+205F, U+3000) and nothing else: tabs and newlines are text to it.
    The regex tests the same class without building the trimmed copy, ~40x faster on long texts.
    NULL stays NULL. tests/benchmarks/run.py (check_blank) proves the equivalence on every code point.
    """
    return f"regexp_full_match({expr}, '\\p{{Zs}}*')"


# Code points NFC never changes in any text: each is its own composition (NFC_Quick_Check=Yes)
# and a starter (combining class 0), so nothing next to them decomposes, reorders or combines.
# Latin up to IPA, Greek and Cyrillic letters, general punctuation, currency, arrows and math,
# box drawing and dingbats, CJK, Hangul syllables, fullwidth forms, emoji. Everything else
# (combining marks, Hangul jamo, singletons such as U+212B ANGSTROM SIGN, unassigned code
# points) may change. tests/test_import.py proves the class on every code point.
NFC_INERT = (r"\x00-\x{2FF}\x{3A3}-\x{482}\x{2002}-\x{2064}\x{20A0}-\x{20C0}\x{2190}-\x{2328}"
             r"\x{2460}-\x{2ADB}\x{3220}-\x{A48C}\x{AC00}-\x{D7A3}\x{FF01}-\x{FFBE}"
             r"\x{1F300}-\x{1F6D7}\x{1F900}-\x{1FA53}")


def nfc(expr: str) -> str:
    """SQL: `expr` in Unicode NFC, exactly as nfc_normalize(expr) gives it, ~7x faster.

    nfc_normalize() costs ~10 µs on a 300-character non-ASCII text even when it changes
    nothing; a text of NFC_INERT characters only (almost every text) is NFC already and is kept
    as it is after one regex scan. NULL stays NULL.
    """
    return (f"CASE WHEN regexp_matches({expr}, '[^{NFC_INERT}]') THEN nfc_normalize({expr}) "
            f"ELSE {expr} END")


# Texts are stored without whitespace at their ends (core.text). They are stripped as they are
# staged, so every rule after (is it empty? the same prompt? the same candidate?) and every
# content-derived id sees the text as it will be stored.
_STRIPPED_FIELDS = ("prompt", "system", "response")


def _stored_texts(relation: str) -> str:
    """SQL: the staged columns of `relation`, its texts and candidates stripped at both ends."""
    texts = ", ".join(f"{stripped_sql(f'{n}_value')} AS {n}_value" for n in _STRIPPED_FIELDS)
    return (f"SELECT * REPLACE ({texts}, list_transform(candidates_value, "
            f"lambda c: {stripped_sql('c')}) AS candidates_value) FROM {relation}")


class ReaderFailed(Exception):
    """DuckDB's reader refused the file (e.g. invalid UTF-8); `line` is parsed from its message."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def _reader_error(exc: duckdb.Error) -> ReaderFailed:
    text = str(exc)
    match = re.search(r"[Ll]ine:? (\d+)", text)
    return ReaderFailed(text, int(match.group(1)) if match else None)


_READ_LINES = (
    "SELECT row_number() OVER () AS line, raw FROM read_csv(?, columns={'raw': 'VARCHAR'}, "
    "delim=chr(1), quote='', escape='', header=false, auto_detect=false, "
    "max_line_size=268435456)"
)


# The paths json_extract reads in one parse of a JSONL line: the text fields, then candidates.
_JSON_PATHS = (*(f'$."{n}"' for n in _TEXT_FIELDS), "$.candidates")


def _json_paths(mapping: dict[str, str]) -> list[str]:
    """_JSON_PATHS, each field read from the key `--map` names for it."""
    key_of = {new: old for old, new in mapping.items()}
    return [*(f'$.{json.dumps(key_of.get(n, n))}' for n in _TEXT_FIELDS),
            f'$.{json.dumps(key_of.get("candidates", "candidates"))}']


def jsonl_keys(con: duckdb.DuckDBPyConnection, path: str) -> list[str]:
    """Every key of the file's objects (for --map and the lookalike check)."""
    try:
        rows = con.execute(
            f"SELECT DISTINCT unnest(json_keys(raw)) FROM ({_READ_LINES}) "
            "WHERE raw IS NOT NULL AND json_valid(raw) AND json_type(raw) = 'OBJECT'", [path]
        ).fetchall()
    except duckdb.Error as exc:
        raise _reader_error(exc) from exc
    return sorted(r[0] for r in rows)


def _typed_piece(name: str, index: int) -> str:
    """Value and type word of field `name`, from piece `index` of the parsed line `j`."""
    piece = f"j[{index}]"
    kind = _JSON_TYPE_WORDS.format(t=f"json_type({piece})")
    return f"{piece} ->> '$' AS {name}_value, coalesce({kind}, 'missing') AS {name}_type"


def stage_jsonl(con: duckdb.DuckDBPyConnection, path: str,
                mapping: dict[str, str] | None = None) -> RowProblem | None:
    """Read a JSONL file line by line (blank lines kept, so line numbers are exact).

    One pass over the file: each line is checked (valid JSON, an object), then parsed once by
    json_extract into its known fields, and only those small pieces are worked on. A line that
    fails the check keeps NULL fields and its problem in `json_problem`; the first such line is
    reported before any field rule. `ignored_keys` holds the line's unknown keys.
    """
    text_columns = ", ".join(_typed_piece(n, i) for i, n in enumerate(_TEXT_FIELDS, 1))
    cand = f"j[{len(_JSON_PATHS)}]"
    cand_kind = _JSON_TYPE_WORDS.format(t=f"json_type({cand})")
    try:
        con.execute(
            f"""
            CREATE TEMP TABLE import_fields AS
            WITH checked AS (
                SELECT line, raw,
                       CASE WHEN NOT json_valid(raw) THEN 'not valid JSON'
                            WHEN json_type(raw) <> 'OBJECT' THEN 'expected a JSON object per line'
                       END AS json_problem
                FROM ({_READ_LINES}) WHERE raw IS NOT NULL AND NOT {blank('raw')}
            ),
            parsed AS (
                SELECT line, json_problem,
                       CASE WHEN json_problem IS NULL THEN json_extract(raw, ?) END AS j,
                       CASE WHEN json_problem IS NULL THEN list_filter(json_keys(raw),
                            lambda k: NOT list_contains(?, k)) END AS ignored_keys
                FROM checked
            ),
            fields AS (
                SELECT line, {text_columns},
                       coalesce({cand_kind}, 'missing') AS candidates_type,
                       CASE WHEN json_type({cand}) = 'ARRAY'
                            THEN list_position(list_transform(json_type({cand}, '$[*]'),
                                                              lambda t: t <> 'VARCHAR'), true) END
                         AS candidates_bad_item,
                       CASE WHEN json_type({cand}) = 'ARRAY'
                            THEN json_extract_string({cand}, '$[*]') END AS candidates_value,
                       json_problem, ignored_keys
                FROM parsed
            )
            {_stored_texts("fields")}
            """,
            [path, _json_paths(mapping or {}), [*KNOWN_FIELDS, *(mapping or {})]],
        )
    except duckdb.Error as exc:
        raise _reader_error(exc) from exc
    bad = con.execute(
        "SELECT line, json_problem FROM import_fields WHERE json_problem IS NOT NULL "
        "ORDER BY line LIMIT 1"
    ).fetchone()
    if bad:
        if bad[1] == "not valid JSON":
            raw = con.execute(f"SELECT raw FROM ({_READ_LINES}) WHERE line = ?",
                              [path, bad[0]]).fetchone()
            if raw is not None:
                return _invalid_json(bad[0], raw[0])
        return RowProblem(bad[0], None, bad[1])
    return None


def _surrogate(text: str) -> str | None:
    """The first lone surrogate in `text` as its JSON escape, e.g. '\\ud800'."""
    found = next((c for c in text if "\ud800" <= c <= "\udfff"), None)
    return f"\\u{ord(found):04x}" if found else None


def _invalid_json(line: int, raw: str) -> RowProblem:
    """Say why DuckDB refused a line, where Python's parser can tell more (one line only).

    Python's json accepts two things DuckDB rejects: an escaped lone surrogate ("\\ud800" with
    no partner: not a character, and no UTF-8 can hold it), reported with its field; and raw
    control characters inside strings (JSON wants them escaped, "\\u0007").
    """
    try:
        value = json.loads(raw)
        strict = True
    except (ValueError, RecursionError):
        try:
            value = json.loads(raw, strict=False)
        except (ValueError, RecursionError):
            return RowProblem(line, None, "not valid JSON")
        strict = False
    if isinstance(value, dict):
        for key, item in value.items():
            texts = item if isinstance(item, list) else [item]
            for number, text in enumerate(texts, start=1):
                escape = _surrogate(text) if isinstance(text, str) else None
                if escape:
                    where = f"item {number} " if isinstance(item, list) else ""
                    return RowProblem(line, key, f"{where}has a lone surrogate {escape}, which is "
                                      "not a character (text must be valid Unicode)")
    if not strict:
        controls = [c for c in raw if ord(c) < 0x20]
        code = ord(next((c for c in controls if c not in "\t\r"), controls[0]))
        return RowProblem(line, None, f"not valid JSON: a raw control character (U+{code:04X}) in a "
                          f"string; write it as \\u{code:04x}")
    return RowProblem(line, None, "not valid JSON")


def ignored_fields_jsonl(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT DISTINCT k FROM (SELECT unnest(ignored_keys) AS k FROM import_fields) ORDER BY k"
    ).fetchall()
    return [r[0] for r in rows]


def _check_columns(columns: list[str], mapping: dict[str, str]) -> RowProblem | None:
    """A mapping that cannot apply, or (after it) a candidates column under another name."""
    problem = mapping_problem(mapping, columns)
    if problem is not None:
        return problem
    return candidates_lookalike([mapping.get(c, c) for c in columns])


def _columns_of(con: duckdb.DuckDBPyConnection, relation_sql: str, params: list) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE {relation_sql}", params).fetchall()
    return {r[0]: r[1] for r in rows}


def stage_csv(con: duckdb.DuckDBPyConnection, path: str, mapping: dict[str, str] | None = None
              ) -> tuple[RowProblem | None, list[str]]:
    """Read a CSV with a header; every value is text, `candidates` a JSON list of strings."""
    reader = "read_csv(?, header=true, all_varchar=true, max_line_size=268435456)"
    try:
        problem = _check_columns(list(_columns_of(con, f"SELECT * FROM {reader}", [path])),
                                 mapping or {})
        if problem is not None:
            return problem, []
        reader = _renamed(reader, mapping or {})
        columns = _columns_of(con, f"SELECT * FROM {reader}", [path])
        con.execute(
            f"CREATE TEMP TABLE import_raw AS SELECT row_number() OVER () + 1 AS line, * "
            f"FROM {reader}",
            [path],
        )
    except duckdb.Error as exc:
        raise _reader_error(exc) from exc
    if "prompt" not in columns:
        return RowProblem(1, "prompt", f"no such column (the header has: {', '.join(columns)})"
                          ), []

    def typed(name: str) -> str:
        if name in columns:
            return (f'"{name}" AS {name}_value, '
                    f"CASE WHEN \"{name}\" IS NULL THEN 'missing' ELSE 'string' END AS {name}_type")
        return f"NULL::VARCHAR AS {name}_value, 'missing' AS {name}_type"

    text_columns = ", ".join(typed(n) for n in _TEXT_FIELDS)
    if "candidates" in columns:
        # Guard the JSON functions with a NULL for text that is not JSON: DuckDB may evaluate
        # every branch of a CASE, and json_type() raises on invalid input.
        cand = (
            "CASE WHEN candidates IS NULL THEN 'missing' "
            "WHEN NOT json_valid(candidates) THEN 'text that is not a JSON list' "
            "ELSE " + _JSON_TYPE_WORDS.format(t="json_type(cand_json)") + " END AS candidates_type, "
            "CASE WHEN json_type(cand_json) = 'ARRAY' "
            "THEN list_position(list_transform(json_type(cand_json, '$[*]'), "
            "lambda t: t <> 'VARCHAR'), true) END AS candidates_bad_item, "
            "CASE WHEN json_type(cand_json) = 'ARRAY' "
            "THEN json_extract_string(cand_json, '$[*]') END AS candidates_value"
        )
    else:
        cand = ("'missing' AS candidates_type, NULL::INTEGER AS candidates_bad_item, "
                "NULL::VARCHAR[] AS candidates_value")
    guarded = ("(SELECT *, CASE WHEN json_valid(candidates) THEN candidates END AS cand_json "
               "FROM import_raw)" if "candidates" in columns else "import_raw")
    con.execute("CREATE TEMP TABLE import_fields AS "
                + _stored_texts(f"(SELECT line, {text_columns}, {cand} FROM {guarded})"))
    con.execute("DROP TABLE import_raw")
    ignored = sorted(c for c in columns if c not in KNOWN_FIELDS)
    return None, ignored


def stage_parquet(con: duckdb.DuckDBPyConnection, path: str,
                  mapping: dict[str, str] | None = None) -> tuple[RowProblem | None, list[str]]:
    """Read a Parquet file; `line` is the row number from 1, types come from the file's schema."""
    reader = "read_parquet(?, file_row_number=true)"
    try:
        found = _columns_of(con, f"SELECT * FROM {reader}", [path])
        found.pop("file_row_number", None)
        problem = _check_columns(list(found), mapping or {})
        if problem is not None:
            return problem, []
        reader = _renamed(reader, mapping or {})
        columns = _columns_of(con, f"SELECT * FROM {reader}", [path])
    except duckdb.Error as exc:
        raise _reader_error(exc) from exc
    columns.pop("file_row_number", None)
    if "prompt" not in columns:
        return RowProblem(1, "prompt", f"no such column (the file has: {', '.join(columns)})"), []
    for name in _TEXT_FIELDS:
        if name in columns and columns[name] != "VARCHAR" and name != "id":
            return RowProblem(1, name, f"expected a string column, the file has {columns[name]}"
                              ), []
    if "candidates" in columns and columns["candidates"] != "VARCHAR[]":
        return RowProblem(1, "candidates",
                          f"expected a list of strings, the file has {columns['candidates']}"), []

    def typed(name: str) -> str:
        if name in columns:
            return (f'CAST("{name}" AS VARCHAR) AS {name}_value, '
                    f"CASE WHEN \"{name}\" IS NULL THEN 'missing' ELSE 'string' END AS {name}_type")
        return f"NULL::VARCHAR AS {name}_value, 'missing' AS {name}_type"

    text_columns = ", ".join(typed(n) for n in _TEXT_FIELDS)
    if "candidates" in columns:
        cand = ("CASE WHEN candidates IS NULL THEN 'missing' ELSE 'list' END AS candidates_type, "
                "list_position(list_transform(candidates, lambda c: c IS NULL), true) "
                "AS candidates_bad_item, candidates AS candidates_value")
    else:
        cand = ("'missing' AS candidates_type, NULL::INTEGER AS candidates_bad_item, "
                "NULL::VARCHAR[] AS candidates_value")
    try:
        con.execute("CREATE TEMP TABLE import_fields AS " + _stored_texts(
            f"(SELECT file_row_number + 1 AS line, {text_columns}, {cand} FROM {reader})"), [path])
    except duckdb.Error as exc:
        raise _reader_error(exc) from exc
    ignored = sorted(c for c in columns if c not in KNOWN_FIELDS)
    return None, ignored


def first_problem(con: duckdb.DuckDBPyConnection, dimensions: list[str]) -> RowProblem | None:
    """The first row (by line) that breaks a rule, with the field and what is wrong."""

    def wrong_type(name: str, allowed: str = "'string'") -> str:
        return (f"WHEN {name}_type NOT IN ('missing', 'null', {allowed}) "
                f"THEN '{name}\x1fexpected a string, got a ' || {name}_type ")

    empty_item = f"list_position(list_transform(candidates_value, lambda c: {blank('c')}), true)"
    checks = (
        "CASE "
        "WHEN prompt_type IN ('missing', 'null') THEN 'prompt\x1fmissing (every row needs one)' "
        + wrong_type("prompt") +
        f"WHEN {blank('prompt_value')} THEN 'prompt\x1fis empty' "
        + wrong_type("system") + wrong_type("dimension") + wrong_type("language")
        + wrong_type("response")
        + "WHEN id_type NOT IN ('missing', 'null', 'string', 'number') "
        "THEN 'id\x1fexpected a string or a number, got a ' || id_type "
        f"WHEN id_type <> 'missing' AND {blank('id_value')} THEN 'id\x1fis empty' "
        "WHEN candidates_type NOT IN ('missing', 'null', 'list') "
        "THEN 'candidates\x1fexpected a list of strings, got ' || "
        "CASE WHEN candidates_type LIKE 'text%' THEN candidates_type "
        "ELSE 'a ' || candidates_type END "
        "WHEN candidates_bad_item IS NOT NULL "
        "THEN 'candidates\x1fitem ' || candidates_bad_item || ' is not a string' "
        f"WHEN {empty_item} IS NOT NULL "
        f"THEN 'candidates\x1fitem ' || {empty_item} || ' is empty' "
        f"WHEN response_type = 'string' AND {blank('response_value')} THEN 'response\x1fis empty' "
        f"WHEN dimension_value IS NOT NULL AND NOT {blank('dimension_value')} "
        "AND NOT list_contains(?, dimension_value) "
        "THEN 'dimension\x1funknown dimension ''' || dimension_value || ''' (prefer.toml allows: ' "
        "|| array_to_string(?, ', ') || ')' "
        f"WHEN language_value IS NOT NULL AND NOT {blank('language_value')} AND NOT "
        "regexp_full_match(language_value, '[a-z]{2,3}(-[A-Za-z0-9]{2,8})*') "
        "THEN 'language\x1fexpected a language code such as en, de or pt-BR, got ''' "
        "|| language_value || '''' "
        "END"
    )
    row = con.execute(
        f"SELECT line, problem FROM (SELECT line, {checks} AS problem FROM import_fields) "
        "WHERE problem IS NOT NULL ORDER BY line LIMIT 1",
        [dimensions, dimensions],
    ).fetchone()
    if row is None:
        return _conflicting_ids(con)
    field_name, problem = row[1].split("\x1f", 1)
    return RowProblem(row[0], field_name, problem)


# From the stored texts (stripped, NFC), so the same prompt gets the same id however it was
# encoded or padded.
_PROMPT_ID = ("coalesce(nullif(trim(id_value), ''), 'p_' || left(sha256(coalesce(system, '') "
              "|| chr(31) || prompt), 16))")


def _conflicting_ids(con: duckdb.DuckDBPyConnection) -> RowProblem | None:
    """An `id` reused for a different prompt, within the file or against the store."""
    # Texts are stored in NFC: an "é" typed as e + U+0301 and one typed as U+00E9 are one
    # text, with one content-derived id.
    con.execute(
        f"""
        CREATE TEMP TABLE import_rows AS
        WITH normalised AS (
            SELECT line, id_value, {nfc('prompt_value')} AS prompt,
                   nullif({nfc('system_value')}, '') AS system,
                   nullif(trim(dimension_value), '') AS dimension,
                   nullif(trim(language_value), '') AS language,
                   list_transform(list_concat(coalesce(candidates_value, []),
                                              CASE WHEN response_type = 'string'
                                                   THEN [response_value] ELSE [] END),
                                  lambda t: {nfc('t')}) AS texts
            FROM import_fields
        )
        SELECT line, {_PROMPT_ID} AS prompt_id, prompt, system, dimension, language, texts
        FROM normalised
        """
    )
    con.execute("DROP TABLE import_fields")  # import_rows holds all that is needed from here on
    # Only an id that occurs on several lines can conflict within the file: find those ids
    # first (a cheap grouping by the short id), then compare texts on their rows only.
    row = con.execute(
        """
        WITH repeated AS (SELECT prompt_id FROM import_rows GROUP BY prompt_id
                          HAVING count(*) > 1),
        rows_of_repeated AS (SELECT * FROM import_rows SEMI JOIN repeated USING (prompt_id))
        SELECT r.line, r.prompt_id, f.first_line FROM rows_of_repeated r
        JOIN (SELECT prompt_id, arg_min(prompt, line) AS first_prompt,
                     arg_min(system, line) AS first_system, min(line) AS first_line
              FROM rows_of_repeated GROUP BY prompt_id) f USING (prompt_id)
        WHERE r.prompt <> f.first_prompt OR r.system IS DISTINCT FROM f.first_system
        ORDER BY r.line LIMIT 1
        """
    ).fetchone()
    if row:
        return RowProblem(row[0], "id", f"'{row[1]}' is already used on line {row[2]} for a "
                          "different prompt")
    row = con.execute(
        """
        SELECT r.line, r.prompt_id FROM import_rows r JOIN prompts p USING (prompt_id)
        WHERE r.prompt <> p.prompt OR r.system IS DISTINCT FROM p.system
        ORDER BY r.line LIMIT 1
        """
    ).fetchone()
    if row:
        return RowProblem(row[0], "id", f"'{row[1]}' is already stored for a different prompt")
    return None


def plan_insert(con: duckdb.DuckDBPyConnection) -> tuple[int, int, int, int, int]:
    """Build the rows to insert; return (rows, prompts in file, new, candidates in file, new).

    A prompt (or candidate) id on one row only is taken as it is; only ids on several rows go
    through the arg_min aggregation, which gives the very same values (arg_min over one row is
    that row) at a fraction of the cost: aggregating long texts by a struct key is slow.
    """
    con.execute(
        """
        CREATE TEMP TABLE import_new_prompts AS
        WITH r AS (SELECT * FROM import_rows r
                   WHERE NOT EXISTS (SELECT 1 FROM prompts p WHERE p.prompt_id = r.prompt_id)),
        repeated AS (SELECT prompt_id FROM r GROUP BY prompt_id HAVING count(*) > 1)
        SELECT prompt_id, prompt, system, dimension, language, line AS source_line
        FROM r ANTI JOIN repeated USING (prompt_id)
        UNION ALL
        SELECT prompt_id, arg_min(prompt, line) AS prompt, arg_min(system, line) AS system,
               arg_min(dimension, line) AS dimension, arg_min(language, line) AS language,
               min(line) AS source_line
        FROM r SEMI JOIN repeated USING (prompt_id)
        GROUP BY prompt_id
        """
    )
    con.execute(
        """
        CREATE TEMP TABLE import_texts AS
        SELECT prompt_id, 'c_' || left(sha256(prompt_id || chr(31) || text), 16) AS candidate_id,
               text, line, item
        FROM (SELECT prompt_id, line, unnest(texts) AS text,
                     generate_subscripts(texts, 1) AS item FROM import_rows)
        """
    )
    rows_counts = con.execute(
        "SELECT count(*), count(DISTINCT prompt_id) FROM import_rows"
    ).fetchone()
    con.execute("DROP TABLE import_rows")
    con.execute(
        """
        CREATE TEMP TABLE import_new_candidates AS
        WITH t AS (SELECT * FROM import_texts t
                   WHERE NOT EXISTS (SELECT 1 FROM candidates c
                                     WHERE c.candidate_id = t.candidate_id)),
        repeated AS (SELECT candidate_id FROM t GROUP BY candidate_id HAVING count(*) > 1),
        firsts AS (
            SELECT candidate_id, prompt_id, text, (line, item) AS arrival
            FROM t ANTI JOIN repeated USING (candidate_id)
            UNION ALL
            SELECT candidate_id, arg_min(prompt_id, (line, item)) AS prompt_id,
                   arg_min(text, (line, item)) AS text, min((line, item)) AS arrival
            FROM t SEMI JOIN repeated USING (candidate_id)
            GROUP BY candidate_id
        )
        SELECT f.candidate_id, f.prompt_id, f.text,
               (coalesce(e.max_position, 0)
                + row_number() OVER (PARTITION BY f.prompt_id ORDER BY f.arrival))::INTEGER
                 AS position
        FROM firsts f
        LEFT JOIN (SELECT prompt_id, max(position) AS max_position FROM candidates
                   GROUP BY prompt_id) e USING (prompt_id)
        """
    )
    counts = con.execute(
        """
        SELECT (SELECT count(*) FROM import_new_prompts),
               (SELECT count(DISTINCT candidate_id) FROM import_texts),
               (SELECT count(*) FROM import_new_candidates)
        """
    ).fetchone()
    con.execute("DROP TABLE import_texts")
    assert rows_counts is not None and counts is not None
    return (int(rows_counts[0]), int(rows_counts[1]), int(counts[0]), int(counts[1]),
            int(counts[2]))


# Rows per fetch-detect-write round: bounds the texts held in Python (~60 MB) on big imports.
_DETECT_BATCH = 200_000


def detect_planned_languages(con: duckdb.DuckDBPyConnection) -> None:
    """Detect the language of the new prompts the file gave none, and of every new candidate.

    New rows only, in batches of _DETECT_BATCH: the texts' first MAX_CHARS characters are
    fetched, detected in Python (core.language) and written back, one statement per batch, to a
    temp table per kind for insert_planned to join. DuckDB's cost is per statement, so never a
    statement per row.
    """
    for table, key, text, wanted, target in (
        ("import_new_prompts", "prompt_id", "prompt", "language IS NULL",
         "import_prompt_languages"),
        ("import_new_candidates", "candidate_id", "text", "true", "import_candidate_languages"),
    ):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {target} (id VARCHAR, language VARCHAR)")
        # Rowids of a table made in this transaction start at 2**55, not 0: walk their range.
        bounds = con.execute(f"SELECT min(rowid), max(rowid) FROM {table}").fetchone()
        first, last = bounds if bounds and bounds[0] is not None else (0, -1)
        for low in range(first, last + 1, _DETECT_BATCH):
            fetched = con.execute(
                f"SELECT {key} AS id, left({text}, {MAX_CHARS}) AS text FROM {table} "
                f"WHERE rowid >= ? AND rowid < ? AND {wanted}",
                [low, low + _DETECT_BATCH]).fetchnumpy()
            ids = fetched["id"].tolist()
            if ids:
                con.execute(f"INSERT INTO {target} SELECT unnest(?::VARCHAR[]), "
                            "unnest(?::VARCHAR[])", [ids, detect_languages(fetched["text"].tolist())])


def insert_planned(con: duckdb.DuckDBPyConnection, source: str, now: object, event_seq: int
                   ) -> None:
    """Detect languages, then insert the planned prompts and candidates, written by `event_seq`.

    The caller holds the transaction. A prompt's `language` from the file is kept ('given');
    else it is the detected one ('detected').
    """
    detect_planned_languages(con)
    con.execute(
        """
        INSERT INTO prompts (prompt_id, prompt, system, dimension, language, language_source,
                             source, source_line, imported_at, event_seq)
        SELECT p.prompt_id, p.prompt, p.system, p.dimension, coalesce(p.language, d.language),
               CASE WHEN p.language IS NOT NULL THEN 'given'
                    WHEN d.language IS NOT NULL THEN 'detected' END,
               ?, p.source_line, ?, ?
        FROM import_new_prompts p LEFT JOIN import_prompt_languages d ON d.id = p.prompt_id
        """,
        [source, now, event_seq],
    )
    con.execute(
        """
        INSERT INTO candidates (candidate_id, prompt_id, position, text, origin, source,
                                created_at, language, event_seq)
        SELECT c.candidate_id, c.prompt_id, c.position, c.text, 'import', ?, ?, d.language, ?
        FROM import_new_candidates c
        LEFT JOIN import_candidate_languages d ON d.id = c.candidate_id
        """,
        [source, now, event_seq],
    )
