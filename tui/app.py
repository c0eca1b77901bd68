"""The Textual app: built by `make_app(project, store, annotator)` for the CLI and the tests alike."""

from __future__ import annotations

from textual.app import App

from core.annotation import AnnotationSession
from core.project import Project
from core.store import Store
from tui.screens.annotate import AnnotateScreen


class PreferApp(App[None]):
    """The annotation TUI: one screen of ranking, with help, guidelines and tags as dialogs."""

    CSS_PATH = "app.tcss"
    TITLE = "prefer"
    ENABLE_COMMAND_PALETTE = False  # annotators reach only the annotation screens

    def __init__(self, session: AnnotationSession, guidelines: str, project_name: str,
                 keymap: dict[str, str] | None = None) -> None:
        super().__init__()
        self.session = session
        self.guidelines = guidelines
        self.project_name = project_name
        self.keymap_overrides = dict(keymap or {})

    def on_mount(self) -> None:
        if self.keymap_overrides:
            self.set_keymap(self.keymap_overrides)
        self.push_screen(AnnotateScreen(self.session, self.guidelines, self.project_name))


def make_app(project: Project, store: Store, annotator: str) -> PreferApp:
    """The annotation app for `annotator` over `store`, configured from `project`."""
    check_keymap(project)
    session = AnnotationSession(store, project.config, annotator, project.guideline_version())
    return PreferApp(session, project.guidelines_text(), project.config.project.name,
                     keymap=project.config.keys)


def check_keymap(project: Project) -> None:
    """Refuse `[keys]` entries that name no binding, naming the file and the key."""
    from core.errors import ConfigError
    from tui.bindings import ANNOTATE_BINDINGS

    known = [b.id for b in ANNOTATE_BINDINGS if b.id]
    for binding_id in project.config.keys:
        if binding_id not in known:
            raise ConfigError(
                f"{project.config_path}: unknown key 'keys.{binding_id}' "
                f"(expected one of: {', '.join(known)})"
            )
