"""The Textual app: built by `make_app(project, store, annotator)` for the CLI and the tests alike."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from core.annotation import AnnotationSession, SessionSummary
from core.drafts import default_drafts_dir, load_drafts, save_drafts
from core.project import Project
from core.store import Store
from tui.i18n import language_for, set_language, tr
from tui.screens.annotate import AnnotateScreen
from tui.screens.dialogs import QuitScreen


class PreferApp(App[SessionSummary]):
    """The annotation TUI: one screen of judging, with help, diff, history and tags as dialogs.

    Quitting (Ctrl+Q, Ctrl+C, a hang-up or SIGTERM) never drops work: with unsaved picks or text
    it asks first, and the work is kept as a draft the item shows again when opened. The app's
    return value is the session's summary, which the CLI prints.
    """

    CSS_PATH = "app.tcss"
    TITLE = "prefer"
    ENABLE_COMMAND_PALETTE = False  # annotators reach only the annotation screens
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q,ctrl+c", "request_quit", "quit", show=False, priority=True),
    ]

    def __init__(self, session: AnnotationSession, guidelines: str, project_name: str,
                 keymap: dict[str, str] | None = None, drafts_dir: Path | None = None) -> None:
        super().__init__()
        self.session = session
        self.guidelines = guidelines
        self.project_name = project_name
        self.keymap_overrides = dict(keymap or {})
        self.drafts_dir = drafts_dir
        self.summary: SessionSummary | None = None

    def on_mount(self) -> None:
        loop = asyncio.get_running_loop()
        for number in (signal.SIGHUP, signal.SIGTERM):
            # Outside the main thread (some test runners) there is no handler; quitting by key
            # still keeps drafts.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(number, self.hang_up)
        self.push_screen(AnnotateScreen(self.session, self.guidelines, self.project_name,
                                        keymap=self.keymap_overrides))

    def on_unmount(self) -> None:
        loop = asyncio.get_running_loop()
        for number in (signal.SIGHUP, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(number)

    def save_drafts(self) -> None:
        """Write the session's drafts to the annotator's drafts file (a local write)."""
        if self.drafts_dir is not None:
            # A copy: a save's worker writes while the event loop may change the drafts.
            save_drafts(self.drafts_dir, self.session.annotator, dict(self.session.drafts))

    def finish(self) -> None:
        """Keep unsaved work as a draft and exit with the session's summary."""
        self.session.keep_draft()
        self.save_drafts()
        self.summary = self.session.summary()
        self.exit(self.summary)

    def hang_up(self) -> None:
        """SIGHUP (the SSH link dropped) or SIGTERM: no one can answer a question; keep the
        work as a draft and leave."""
        self.finish()

    def action_request_quit(self) -> None:
        screen = self.screen
        if isinstance(screen, QuitScreen):
            return
        annotate = next((s for s in self.screen_stack if isinstance(s, AnnotateScreen)), None)
        unsaved = annotate.unsaved_item() if annotate is not None else None
        if unsaved is None:
            self.finish()
            return

        def answered(quit_now: bool | None) -> None:
            if quit_now:
                self.finish()

        self.push_screen(QuitScreen(unsaved), answered)


def make_app(project: Project, store: Store, annotator: str,
             drafts_dir: Path | None = None) -> PreferApp:
    """The annotation app for `annotator` over `store`, configured from `project`.

    Drafts live in `drafts_dir` (default: the user's state folder, core/drafts.py).
    """
    check_keymap(project)
    set_language(language_for(project.config, annotator))
    drafts_dir = drafts_dir or default_drafts_dir(project.root)
    session = AnnotationSession(store, project.config, annotator, project.guideline_version(),
                                drafts=load_drafts(drafts_dir, annotator))
    return PreferApp(session, project.guidelines_text(), project.config.project.name,
                     keymap=project.config.keys, drafts_dir=drafts_dir)


def summary_text(summary: SessionSummary) -> str:
    """The quit summary: items saved this session, time, pace, drafts kept."""
    minutes = int(summary.seconds // 60)
    text = tr("summary.saved", saved=summary.saved,
              clock=f"{minutes // 60}:{minutes % 60:02d}",
              pace=f"{summary.pace:.0f}" if summary.pace else "–")
    if summary.drafts:
        text += "\n" + tr("summary.drafts", count=len(summary.drafts),
                          items=", ".join(summary.drafts))
    return text


def check_keymap(project: Project) -> None:
    """Refuse `[keys]` entries that name no binding, naming the file and the key."""
    from core.errors import ConfigError
    from tui.bindings import binding_ids

    known = binding_ids()
    for binding_id in project.config.keys:
        if binding_id not in known:
            raise ConfigError(
                f"{project.config_path}: unknown key 'keys.{binding_id}' "
                f"(expected one of: {', '.join(known)})"
            )
