"""The store unreachable is visible: a real `prefer serve` stopped and restarted under the Pilot.

A save that cannot reach the server says so on screen at once, keeps the picks and the text,
retries by itself and confirms when the judgment is stored (once).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from core.project import Project
from core.sources import import_file
from core.store import open_store
from core.store.remote import RemoteStore, server_answers
from tests.conftest import REPO_ROOT, item_rows, write_jsonl
from tui.app import make_app

SIZE = (80, 24)


class Server:
    """`prefer serve -p ROOT` in its own process, started and stopped on demand."""

    def __init__(self, root: Path, log: Path) -> None:
        self.root, self.log = root, log
        self.socket = root / "prefer.sock"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-c", "from tui.cli import main; main()", "serve", "-p",
                 str(self.root)], stdout=sink, stderr=sink, env=env)
        deadline = time.monotonic() + 60
        while not server_answers(self.socket, timeout=0.2):
            assert self.process.poll() is None and time.monotonic() < deadline, \
                self.log.read_text()
            time.sleep(0.05)

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=30)
        assert not server_answers(self.socket, timeout=0.2)


@pytest.fixture
def server(project: Project, tmp_path: Path) -> Iterator[Server]:
    with open_store(project.database_path) as store:
        import_file(store, write_jsonl(tmp_path / "items.jsonl", item_rows(3, candidates=3)),
                    actor="t")
    served = Server(project.root, tmp_path / "serve.log")
    served.start()
    yield served
    if served.process is not None and served.process.poll() is None:
        served.stop()


async def wait_for(pilot: Pilot, condition: object, seconds: float = 60.0) -> None:
    """Let the app run until `condition()` holds (the server is a real process: no fixed
    sleeps, but it takes its time to stop and start)."""
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.1)


async def test_a_save_while_the_server_is_down_says_so_retries_and_confirms(
        project: Project, server: Server, tmp_path: Path) -> None:
    remote = RemoteStore(server.socket, act_as="alice")
    app = make_app(project, remote, annotator="alice", drafts_dir=tmp_path / "drafts")
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.session.current is not None and not
                           app.screen.busy)  # type: ignore[attr-defined]
            screen = app.screen
            status = screen.query_one("#save-status", Static)
            box = screen.query_one("#justification", Input)
            assert not status.display
            await pilot.press("1", "3")
            text = "One answers the question; three invents a fee."
            await pilot.press(*[{" ": "space", ";": "semicolon", ".": "full_stop"}.get(c, c)
                                for c in text])

            server.stop()
            started = time.monotonic()
            await pilot.press("enter")
            await wait_for(pilot, lambda: "NOT SAVED YET" in str(status.render()), 10)
            assert time.monotonic() - started < 5, "the screen must say so at once"
            assert status.display
            assert "does not answer" in str(status.render())
            # The picks and the text stay, and stay still while the save is retried.
            assert box.value == text
            marks = app.session.current.marks  # type: ignore[union-attr]
            assert (marks.best, marks.worst) == (1, 3)
            await pilot.press("x")
            assert box.value == text
            assert app.session.current.item.prompt.prompt_id == "q000"  # type: ignore[union-attr]

            server.start()
            await wait_for(pilot, lambda: app.session.current is not None
                           and app.session.current.item.prompt.prompt_id == "q001"
                           and not app.screen.busy)  # type: ignore[attr-defined]
            assert not status.display
            # The confirmation follows the frame that shows the next item (tui/frames.py).
            await wait_for(pilot, lambda: any("store answered again" in n.message
                                              for n in app._notifications), 5)
            assert box.value == ""
            await pilot.press("ctrl+q")
            await pilot.pause()
    finally:
        remote.close()
    server.stop()
    with open_store(project.database_path) as store:
        assert store.execute_for_test(
            "SELECT annotator, prompt_id, justification FROM judgments") == [
            ("alice", "q000", "One answers the question; three invents a fee.")]
