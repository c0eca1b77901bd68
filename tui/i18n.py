"""The message catalogue: every word the annotation and adjudication screens show, by key.

`tr("marks.pick_best", range="1-4")` looks the key up in the chosen language's catalogue
(tui/locales/<code>.toml, plain data a translator edits), falling back to English, and fills
its `{placeholders}`. The language is chosen per annotator in prefer.toml
(`[annotation.languages] dr_weber = "de"`), else `annotation.language`, else the locale.
"""

from __future__ import annotations

import os
import string
import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from core.config import SCREEN_LANGUAGES, Config

LOCALES = Path(__file__).parent / "locales"
DEFAULT_LANGUAGE = "en"

_language = DEFAULT_LANGUAGE


@cache
def catalogue(language: str) -> dict[str, str]:
    """Every message of one language, by key."""
    with (LOCALES / f"{language}.toml").open("rb") as source:
        return dict(tomllib.load(source))


def placeholders(message: str) -> set[str]:
    """The `{names}` a message fills."""
    return {name for _, name, _, _ in string.Formatter().parse(message) if name}


def set_language(language: str) -> None:
    """Make `language` the one tr() speaks (the app sets it once, at start)."""
    global _language
    _language = language if language in SCREEN_LANGUAGES else DEFAULT_LANGUAGE


def current_language() -> str:
    return _language


def tr(key: str, **values: object) -> str:
    """The message `key` in the current language, placeholders filled."""
    message = catalogue(_language).get(key)
    if message is None:
        message = catalogue(DEFAULT_LANGUAGE)[key]
    return message.format(**values) if values else message


def language_for(config: Config, person: str,
                 environ: Mapping[str, str] | None = None) -> str:
    """The screen language of `person`: prefer.toml per person, the project's, the locale."""
    chosen = config.annotation.languages.get(person) or config.annotation.language
    if chosen:
        return chosen
    environ = os.environ if environ is None else environ
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(variable, "")
        if value:
            code = value.split(".")[0].split("_")[0].lower()
            return code if code in SCREEN_LANGUAGES else DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE
