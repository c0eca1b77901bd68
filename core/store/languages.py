"""Languages of rows stored before migration 005: filled in on the next pair build.

Import and generation detect languages as rows arrive (core.store.imports, .generation); rows
stored before language detection existed have NULL there, and get them here, in batches: texts
are fetched, detected in Python (core.language) and written back with one UPDATE per batch.
"""

from __future__ import annotations

import duckdb

from core.language import MAX_CHARS, detect_languages

# Rows per fetch-detect-update round: bounds the texts held in Python at once.
_BATCH = 100_000


def _detect_and_update(con: duckdb.DuckDBPyConnection, select_sql: str, update: str,
                       where: str, event_seq: int) -> int:
    """Repeat: fetch up to _BATCH (id, text) rows still missing a language, detect, update.

    Every round sets a language on each row it fetched (at worst 'und'), so no row comes back
    and the loop ends.
    """
    updated = 0
    while True:
        fetched = con.execute(select_sql, [MAX_CHARS, _BATCH]).fetchnumpy()
        ids = fetched["id"].tolist()
        if not ids:
            return updated
        languages = detect_languages(fetched["text"].tolist())
        con.execute(f"{update}, event_seq = ? FROM (SELECT unnest(?::VARCHAR[]) AS id, "
                    f"unnest(?::VARCHAR[]) AS language) d WHERE {where}",
                    [event_seq, ids, languages])
        updated += len(ids)


# The rows fill_missing_languages changes (for the audit trail's restatement of their events).
MISSING = {"prompts": "language_source IS NULL", "candidates": "language IS NULL"}


def fill_missing_languages(con: duckdb.DuckDBPyConnection, event_seq: int) -> int:
    """Give every prompt a language_source and every candidate a language; return rows updated.

    A prompt whose language was stored (from its import file) is 'given'; one without gets the
    detected language and 'detected'. Rows changed move to event `event_seq`. The caller holds
    the write lock and the transaction.
    """
    row = con.execute("UPDATE prompts SET language_source = 'given', event_seq = ? "
                      "WHERE language_source IS NULL AND language IS NOT NULL",
                      [event_seq]).fetchone()
    updated = int(row[0]) if row else 0
    updated += _detect_and_update(
        con,
        "SELECT prompt_id AS id, left(prompt, ?) AS text FROM prompts "
        "WHERE language_source IS NULL AND language IS NULL LIMIT ?",
        "UPDATE prompts SET language = d.language, language_source = 'detected'",
        "prompts.prompt_id = d.id AND prompts.language_source IS NULL",
        event_seq,
    )
    updated += _detect_and_update(
        con,
        "SELECT candidate_id AS id, left(text, ?) AS text FROM candidates "
        "WHERE language IS NULL LIMIT ?",
        "UPDATE candidates SET language = d.language",
        "candidates.candidate_id = d.id AND candidates.language IS NULL",
        event_seq,
    )
    return updated
