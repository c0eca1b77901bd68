"""The message catalogue: every language has every message with the same placeholders, every
key the screens use exists, the language is chosen per annotator, and each language fits 80x24."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text
from textual.widgets import Static

from core.config import SCREEN_LANGUAGES, Config, parse_config, write_config
from core.errors import ConfigError
from core.project import Project, open_project
from core.sources import import_file
from core.store import LocalStore
from tests.conftest import item_rows, write_jsonl
from tests.test_tui import settle
from tui.app import make_app
from tui.bindings import ANNOTATE_COMMANDS
from tui.i18n import LOCALES, catalogue, language_for, placeholders, set_language, tr

TUI = Path(__file__).resolve().parent.parent / "tui"


@pytest.fixture(autouse=True)
def _english_after(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    yield
    set_language("en")


def test_every_shipped_language_has_a_catalogue() -> None:
    assert sorted(p.stem for p in LOCALES.glob("*.toml")) == sorted(SCREEN_LANGUAGES)


@pytest.mark.parametrize("language", [lang for lang in SCREEN_LANGUAGES if lang != "en"])
def test_every_catalogue_has_every_key_with_the_same_placeholders(language: str) -> None:
    english, other = catalogue("en"), catalogue(language)
    assert sorted(other) == sorted(english)
    for key, message in english.items():
        assert placeholders(other[key]) == placeholders(message), key
        assert other[key].strip(), key


def test_every_key_the_screens_use_is_in_the_catalogue() -> None:
    used = set()
    for source in TUI.rglob("*.py"):
        used |= set(re.findall(r'\btr\(\s*"([a-z_.]+)"', source.read_text(encoding="utf-8")))
    used |= {f"key.{c.id}" for c in ANNOTATE_COMMANDS} | {f"help.{c.id}" for c in
                                                          ANNOTATE_COMMANDS if c.id != "write"}
    assert len(used) > 80
    assert sorted(used - set(catalogue("en"))) == []


def test_the_language_is_chosen_per_annotator_then_project_then_locale() -> None:
    config = Config()
    assert language_for(config, "alice", {"LANG": "de_DE.UTF-8"}) == "de"
    assert language_for(config, "alice", {"LC_ALL": "fr_FR.UTF-8", "LANG": "de_DE"}) == "fr"
    assert language_for(config, "alice", {"LANG": "pt_BR.UTF-8"}) == "en"  # not shipped
    assert language_for(config, "alice", {}) == "en"
    config.annotation.language = "es"
    assert language_for(config, "alice", {"LANG": "de_DE.UTF-8"}) == "es"
    config.annotation.languages = {"alice": "de"}
    assert language_for(config, "alice", {}) == "de"
    assert language_for(config, "bob", {}) == "es"


def test_an_unknown_language_in_prefer_toml_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"annotation.languages.alice': expected one of en"):
        parse_config('[annotation.languages]\nalice = "klingon"\n', Path("prefer.toml"))


def test_tr_fills_placeholders_in_the_chosen_language() -> None:
    set_language("de")
    assert tr("top.done", judged=3, total=40) == "3/40 erledigt"
    set_language("xx")  # unknown: English
    assert tr("top.done", judged=3, total=40) == "3/40 done"


def lines_of(widget: Static, width: int) -> int:
    text = Text.from_markup(str(widget.content)) if isinstance(widget.content, str) \
        else Text(str(widget.content))
    return len(text.wrap(Console(width=200), width))


@pytest.mark.parametrize("language", SCREEN_LANGUAGES)
@pytest.mark.parametrize("mode", ["best-worst", "rank"])
async def test_each_language_fits_80x24(project: Project, store: LocalStore, tmp_path: Path,
                                        language: str, mode: str) -> None:
    project.config.annotation.language = language
    project.config.annotation.mode = mode
    write_config(project.config, project.config_path)
    project = open_project(project.root)
    import_file(store, write_jsonl(tmp_path / "i.jsonl", item_rows(2, candidates=4)), actor="t")
    app = make_app(project, store, annotator="alice", drafts_dir=tmp_path / "drafts")
    stages = [(), ("1",), ("3",)] if mode == "best-worst" else [(), ("3", "space", "1"),
                                                               ("equals_sign", "4", "space", "2")]
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for keys in stages:
            await pilot.press(*keys)
            await pilot.pause()
            screen = app.screen
            topbar = screen.query_one("#topbar", Static)
            marks = screen.query_one("#marks", Static)
            assert lines_of(topbar, topbar.content_region.width) == 1, (language, keys)
            assert lines_of(marks, marks.content_region.width) <= marks.content_region.height, (
                language, keys, str(marks.content))
            for key in screen.query("FooterKey"):
                assert key.region.right <= 80, (language, str(key.region))
            for selector in ("#topbar", "#marks", "#justification"):
                region = screen.query_one(selector).region
                assert region.height >= 1 and region.bottom <= 24


@pytest.mark.parametrize("language", SCREEN_LANGUAGES)
async def test_the_adjudication_screen_speaks_each_language_and_fits_80x24(
        project: Project, store: LocalStore, tmp_path: Path, language: str) -> None:
    from core.adjudication import new_flag
    from core.annotation import AnnotationSession
    from tui.adjudication_app import make_adjudication_app

    project.config.annotation.language = language
    write_config(project.config, project.config_path)
    project = open_project(project.root)
    import_file(store, write_jsonl(tmp_path / "i.jsonl", item_rows(2, candidates=4)), actor="t")
    for name, (best, worst) in (("alice", (1, 4)), ("bob", (4, 1))):
        session = AnnotationSession(store, project.config, name, "g")
        assert session.open("q000") is not None
        session.press(best)
        session.press(worst)
        session.save("Response one cites the policy, the other does not.")
    store.save_flag(new_flag("bob", "q000", "The policy changed last week."))
    app = make_adjudication_app(project, store, reviewer="rita")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        for stage in [(), ("1",), ("3",)]:
            await pilot.press(*stage)
            await pilot.pause()
            topbar = screen.query_one("#topbar", Static)
            marks = screen.query_one("#marks", Static)
            assert lines_of(topbar, topbar.content_region.width) == 1, (language, stage)
            assert lines_of(marks, marks.content_region.width) <= marks.content_region.height, (
                language, stage, str(marks.content))
            for key in screen.query("FooterKey"):
                assert key.region.right <= 80, (language, str(key.region))
            for selector in ("#topbar", "#marks", "#note", "#guideline"):
                region = screen.query_one(selector).region
                assert region.height >= 1 and region.bottom <= 24, (language, selector)
        # The words on it are the catalogue's: the annotators' pseudonyms, the flag, the rows.
        annotators = screen.query_one("#review-annotators", Static).content
        console = Console(width=200, record=True)
        console.print(annotators)
        table = console.export_text()
        assert tr("adj.annotator", letters="A") in table and tr("adj.row.why") in table
        status = str(screen.query_one("#review-status", Static).render())
        assert tr("adj.differs.best") in status and tr("adj.differs.opposite") in status
        flags = str(screen.query_one("#review-flags", Static).render())
        assert tr("adj.flag_by", who=tr("adj.annotator", letters="B")) in flags
        # A note too short is refused in the reviewer's language.
        await pilot.press(*"short")
        await pilot.press("enter")
        await pilot.pause()
        told = [n.message for n in app._notifications]
        assert tr("adj.note_too_short", need=20, typed=5) in told, told


def test_no_screen_writes_words_outside_the_catalogue() -> None:
    """Every text widget, notification and placeholder of the screens takes its words from
    tr(): a literal with letters in them is a word some annotator would read in English."""
    literal = re.compile(r'(?:Static|notify|placeholder=|Label)\(?\s*f?"([^"]*[A-Za-z]{2}[^"]*)"')
    found = []
    for source in [*TUI.glob("screens/*.py"), *TUI.glob("widgets/*.py")]:
        for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
            for match in literal.finditer(line):
                if not match.group(1).startswith(("#", "[b]{")):
                    found.append(f"{source.name}:{number}: {match.group(1)}")
    assert found == []
def test_pre_label_notes_are_ids_worded_by_each_catalogue() -> None:
    """A pre-label's note ("from A/B test (p = 0.01)") comes from core as ids and values; every
    import kind and every detail id has its words in each language."""
    from core.models import SourcePreference
    from core.prompt_view import DETAIL_IDS, PreLabel, describe
    from core.store.sources import KINDS
    from tui.widgets.prompt_view import pre_label_text

    for language in SCREEN_LANGUAGES:
        words = catalogue(language)
        for name in KINDS:
            assert words.get(f"pre_label.kind.{name}", "").strip(), (language, name)
        for detail in DETAIL_IDS:
            assert words.get(f"pre_label.{detail}", "").strip(), (language, detail)
    preference = SourcePreference(
        kind="abtest", prompt_id="p", chosen_candidate_id="a",
        rejected_candidate_id="b", source="ab.csv", source_line=3, p_value=0.01, score_gap=None,
        reviewer=None, signal=None, trusted=False)
    details = describe(preference)
    assert details == (("p_value", {"p": "0.01"}),)
    label = PreLabel("a", "b", "abtest", details, trusted=False)
    expected = {"en": "2 over 1, from A/B test (p = 0.01)",
                "de": "2 vor 1, laut A/B-Test (p = 0.01)",
                "fr": "2 plutôt que 1, selon un test A/B (p = 0.01)",
                "es": "2 sobre 1, según una prueba A/B (p = 0.01)"}
    for language, text in expected.items():
        set_language(language)
        assert pre_label_text(2, 1, label) == text
    set_language("de")
    feedback = describe(SourcePreference(
        kind="feedback", prompt_id="p", chosen_candidate_id="a",
        rejected_candidate_id="b", source="f.jsonl", source_line=1, p_value=None,
        score_gap=None, reviewer=None, signal="up-down", trusted=True))
    assert pre_label_text(1, 3, PreLabel("a", "b", "feedback", feedback, trusted=True)) == \
        "1 vor 3, laut Nutzer-Feedback (Daumen hoch gegen runter), vertraut"
    set_language("en")
    ratings = describe(SourcePreference(
        kind="ratings", prompt_id="p", chosen_candidate_id="a",
        rejected_candidate_id="b", source="r.csv", source_line=1, p_value=None,
        score_gap=2.0, reviewer="dr_weber", signal=None, trusted=False))
    assert pre_label_text(1, 2, PreLabel("a", "b", "ratings", ratings, trusted=False)) == \
        "1 over 2, from rating (score gap 2, by dr_weber)"
