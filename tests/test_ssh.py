"""Real SSH, tested for real: sshd on a loopback port whose only command is `prefer annotate`.

Each test gets its own sshd (own config and host key, key authentication only, ForceCommand
`prefer annotate -p PROJECT`) and its own throwaway OS user (see tests/ssh_harness.py). The
tests need root and /usr/sbin/sshd; elsewhere they skip, except under CI (CI set), where a
missing requirement is a failure so that CI can never skip them silently.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.project import Project, init_project
from core.sources import import_file
from core.store import open_store
from core.store.local import candidate_id_for
from tests.conftest import item_rows, write_jsonl
from tests.ssh_harness import COLUMNS, ROWS, TERM, SshServer, missing_requirements, read_until

JUSTIFICATION = "One keeps the promise; three invents a fee."
ITEM_ON_SCREEN = "best response (1-3)"  # the marks line: the item has loaded (the placeholder of
#                                         the justification box also says "best")


@pytest.fixture
def ssh_project() -> Iterator[Project]:
    """A project with 2 prompts of 3 candidates, in a temp dir of our own (pytest's tmp_path sits
    below a 0700 directory), removed afterwards."""
    reason = missing_requirements()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the SSH tests, but {reason}")
        pytest.skip(reason)
    workdir = Path(tempfile.mkdtemp(prefix="prefer-ssh-test-"))
    try:
        workdir.chmod(0o755)
        made = init_project(workdir / "alignment")
        with open_store(made.database_path) as store:
            import_file(store, write_jsonl(workdir / "items.jsonl", item_rows(2, candidates=3)), actor="test")
        yield made
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def server(ssh_project: Project) -> Iterator[SshServer]:
    with SshServer(ssh_project.root) as running:
        yield running


CARD = r"╭─\s+(\d)\s+─[^│]*│ ([^│\n]*?)\s*│"  # `╭─  1  ──…╮` then the first line: `│ text │`
LAST_CARD = re.compile(CARD.replace(r"(\d)", "3", 1))


def card_texts(screen: str) -> dict[int, str]:
    """Label -> first line of each candidate card drawn on the screen."""
    return {int(label): text for label, text in re.findall(CARD, screen)}


def test_annotating_over_ssh_stores_the_judgment_under_the_os_user(ssh_project: Project,
                                                                   server: SshServer) -> None:
    terminal = server.terminal()
    screen = terminal.wait_for(ITEM_ON_SCREEN, timeout=30)
    assert f"{server.user} · 0/2 done" in screen  # the annotator is the OS user of the login
    terminal.wait_for(LAST_CARD)  # the cards are drawn a frame after the marks line
    shown_texts = card_texts(terminal.text)
    assert sorted(shown_texts) == [1, 2, 3], terminal.text
    remote = server.annotate_pid()  # what the TUI got: our PTY's size and TERM, the login's user
    assert server.terminal_size_of(remote) == (COLUMNS, ROWS)
    environment = server.environment_of(remote)
    assert (environment["TERM"], environment["USER"]) == (TERM, server.user)

    terminal.send("1")
    terminal.wait_for("Best: 1.")
    terminal.send("3")
    terminal.wait_for("worst 3 · why?")  # the justification box has the focus
    terminal.send(JUSTIFICATION)
    terminal.wait_for(JUSTIFICATION)
    terminal.send("\r")
    terminal.wait_for("1/2 done")  # committed, and the next item is on screen
    terminal.send("\x11")  # Ctrl+Q quits (nothing unsaved: no question)
    assert terminal.wait_exit() == 0, terminal.text[-2000:]

    with open_store(ssh_project.database_path, read_only=True) as store:
        rows = store.execute_for_test(
            "SELECT annotator, prompt_id, kind, best_candidate_id, worst_candidate_id,"
            " justification, shown_order FROM judgments")
    assert len(rows) == 1, rows
    annotator, prompt_id, kind, best, worst, justification, shown_order = rows[0]
    assert (annotator, kind, justification) == (server.user, "ranked", JUSTIFICATION)
    assert best == shown_order[0] and worst == shown_order[2]
    assert best == candidate_id_for(prompt_id, shown_texts[1])  # what the screen showed as 1
    assert worst == candidate_id_for(prompt_id, shown_texts[3])


def test_the_login_yields_no_shell(server: SshServer) -> None:
    marker = Path(tempfile.gettempdir()) / f"prefer-ssh-marker-{secrets.token_hex(6)}"
    command = f"touch {marker}; echo SHELL-RAN"
    try:
        # With a terminal, the TUI opens instead of the command; Ctrl+Q leaves it.
        terminal = server.terminal(command=command)
        terminal.wait_for(ITEM_ON_SCREEN, timeout=30)
        environment = server.environment_of(server.annotate_pid())
        assert environment["SSH_ORIGINAL_COMMAND"] == command  # received, and only recorded
        terminal.send("\x11")
        assert terminal.wait_exit() == 0, terminal.text[-2000:]
        assert "SHELL-RAN" not in terminal.text
        assert not marker.exists()

        # Without a terminal, prefer annotate runs (or fails) instead of the command.
        client = server.popen("-T", command=command)
        output = read_until(client, "0/2 done", timeout=30)
        assert "SHELL-RAN" not in output
        assert not marker.exists()
        starts = re.findall(r"Starting session: (\S+ \S+)", server.sshd_log())
        assert starts == ["forced-command (config)"] * 2, server.sshd_log()

        # No tunnels either: stdio forwarding to sshd's own port is refused.
        tunnel = server.popen("-W", f"127.0.0.1:{server.port}")
        said = tunnel.communicate(timeout=30)[0].decode(errors="replace")
        assert tunnel.returncode == 255 and "forwarding failed" in said, said
    finally:
        marker.unlink(missing_ok=True)
