"""Stored text, in and out: the whitespace every imported or generated text loses at its ends,
and `printable`, the form in which a stored name or text may reach a terminal.

Whitespace is what Python's str.isspace() says it is (29 code points: tab, newline, the other
ASCII separators, NEL, and the Unicode space, line and paragraph separators), in Python and, as
WHITESPACE_CLASS, in DuckDB's regexes; tests/test_reliability.py proves the two agree on every
code point. The export checks (core/export_validate.py) use the same definition, so a stored
text can never fail them for whitespace at its ends.
"""

from __future__ import annotations

import unicodedata

# The same 29 code points as str.isspace(), as an RE2 character class for DuckDB's regexes.
WHITESPACE_CLASS = r"[\t\n\x0B\f\r\x1C-\x1F\x{85}\p{Z}]"


def strip_text(text: str) -> str:
    """`text` without whitespace at either end: the form every prompt, system prompt and
    candidate is stored in (its content-derived id is computed on this form)."""
    return text.strip()


def stored_text(text: str) -> str:
    """A prompt, system prompt or candidate as the store keeps it: stripped (strip_text), in
    Unicode NFC (NFC never puts whitespace at an end, so the order does not matter)."""
    return unicodedata.normalize("NFC", strip_text(text))


def stripped_sql(expr: str) -> str:
    """SQL: `expr` without whitespace at either end, as strip_text gives it. NULL stays NULL.

    Only a text whose first or last character is whitespace goes through regexp_replace (the
    first and last characters cost nothing to read), so the common case is one cheap test.
    `expr` is evaluated up to three times: give a column, not a computation.
    """
    return (f"CASE WHEN regexp_matches({expr}[1] || {expr}[-1], '{WHITESPACE_CLASS}') "
            f"THEN regexp_replace({expr}, '^{WHITESPACE_CLASS}+|{WHITESPACE_CLASS}+$', '', 'g') "
            f"ELSE {expr} END")


# C0 controls, DEL and C1 controls: a terminal acts on them (ESC starts a control sequence).
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]
# Unicode bidirectional and format controls that reorder or hide what follows them: the
# embeddings and overrides U+202A-U+202E, the isolates U+2066-U+2069, the marks U+200E/U+200F
# and the Arabic letter mark U+061C.
_BIDI = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_SHORT = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}


def _escape(code: int) -> str:
    return _SHORT.get(code) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


_ONE_LINE = {code: _escape(code) for code in (*_CONTROLS, *_BIDI)}
_MULTI_LINE = {code: escape for code, escape in _ONE_LINE.items() if code not in (0x09, 0x0A)}


def printable(text: str, *, multiline: bool = False) -> str:
    """`text` with every control character a terminal would act on shown as a visible escape.

    C0 and C1 control characters and DEL become `\\x1b`-style escapes (tab, newline and carriage
    return `\\t`, `\\n`, `\\r`), the bidi controls `\\u202e`-style ones, so a stored name or text
    can neither move the cursor, recolour the screen nor reorder what is printed after it.
    With `multiline`, newlines and tabs are kept (a line break written `\\r\\n` is one newline):
    for texts shown as paragraphs, such as a prompt or a candidate. Everything else is kept.
    """
    if multiline:
        return text.replace("\r\n", "\n").translate(_MULTI_LINE)
    return text.translate(_ONE_LINE)


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`1 prompt`, `2 prompts`, `1,200 prompts`: a count with its noun in the right number."""
    return f"{count:,} {noun if count == 1 else (plural or noun + 's')}"
