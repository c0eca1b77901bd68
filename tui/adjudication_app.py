"""The adjudication app: built by `make_adjudication_app(project, store, reviewer)` for the CLI and
the tests alike, as `make_app` builds the annotation app."""

from __future__ import annotations

from pathlib import PurePath
from typing import ClassVar

from textual.app import App

from core.project import Project
from core.review import ReviewSession
from core.store import Store
from tui.i18n import language_for, set_language
from tui.screens.adjudicate import AdjudicateScreen


class AdjudicationApp(App[None]):
    """The reviewer's TUI: one screen of unresolved items, with help and guidelines as dialogs."""

    CSS_PATH: ClassVar[list[str | PurePath]] = ["app.tcss", "adjudicate.tcss"]
    TITLE = "prefer adjudicate"
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, session: ReviewSession, guidelines: str, project_name: str) -> None:
        super().__init__()
        self.session = session
        self.guidelines = guidelines
        self.project_name = project_name

    def on_mount(self) -> None:
        self.push_screen(AdjudicateScreen(self.session, self.guidelines, self.project_name))


def make_adjudication_app(project: Project, store: Store, reviewer: str,
                          show_names: bool = False) -> AdjudicationApp:
    """The adjudication app for `reviewer` over `store`; annotators' names hidden by default."""
    set_language(language_for(project.config, reviewer))
    session = ReviewSession(store, project.config, reviewer, show_names=show_names)
    return AdjudicationApp(session, project.guidelines_text(), project.config.project.name)
