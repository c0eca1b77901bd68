"""Runs the command blocks of README.md and docs/*.md, and compares what they print.

A command block is a fenced block (no language, or console/sh/bash/shell) with a line that
starts with `$ ` (a session: each command, then what it prints) or `prefer ` (commands only).
Every such block runs, in a temporary folder per document (the blocks of one document share it,
in order, like a reader following the page), with `prefer` on PATH, `sample_data/` beside it and
two stand-in Ollama servers for the ports the docs name. What a session shows after a command is
compared with what it printed:

- a line `...` or `…` (alone) stands for any number of lines, a `…` within a line for any text
  (a count that changes from run to run, such as the number of audit events);
- ids (`r_…`, `c_…`, hashes), times and durations are normalised on both sides;
- a command must exit 0, unless what it shows starts with `error:` (then it must not).

An HTML comment on the line before a block changes that; a reason is required:

    <!-- docs-test: skip: REASON -->         not run at all
    <!-- docs-test: no-compare: REASON -->   run, each command must succeed, output not compared
    <!-- docs-test: setup: SHELL COMMAND -->  run first, unseen by the reader (one per comment;
                                              {python} is the test's Python)

A few commands are never run, each for a reason given in NOT_RUN (the annotation and review
screens need a terminal; Pilot tests drive them), and a few are rewritten (REWRITES: a path the
test cannot create, the stand-ins' ports). A failure names the document, the block's line and
the command, with the difference.
"""

from __future__ import annotations

import difflib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS_WRITTEN_IN = "/tmp/readme"  # the folder the README's outputs were made in

_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```", re.S | re.M)
_MARKER = re.compile(r"<!--\s*docs-test:\s*(skip|no-compare|setup)\s*:\s*(.*?)\s*-->", re.S)
_SHELL_LANGS = {"", "console", "sh", "bash", "shell"}

# Commands the test does not run, by the start of the command, with why.
NOT_RUN: dict[str, str] = {
    "prefer annotate": "opens the annotation screen (needs a terminal); tests/test_tui.py drives it",
    "prefer adjudicate -p": "opens the review screen (needs a terminal); tests/test_tui.py drives it",
    "ssh ": "an SSH login; tests/test_ssh.py covers it",
    "make ": "builds the virtualenv the test already runs in",
    "sudo ": "changes the machine (users, services); docs/deploy-ssh.md steps for an admin",
}
# Rewrites of a command before it runs (and of its output back), with why.
REWRITES: dict[str, str] = {
    "/srv/": "{work}/srv/",  # the test may not write /srv
    "/mnt/offsite/": "{work}/offsite/",  # nor /mnt
    "source .venv/bin/activate": "true",  # prefer is already on PATH
}


@dataclass
class Command:
    text: str
    expected: list[str] | None  # None: a block of commands only, nothing shown
    line: int


@dataclass
class Block:
    doc: str
    line: int  # where the block starts in the document
    commands: list[Command]
    mode: str = "compare"  # compare, no-compare, skip
    reason: str = ""
    setup: list[str] = field(default_factory=list)

    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def command_blocks(doc: Path) -> list[Block]:
    """Every command block of `doc` with its markers."""
    text = doc.read_text(encoding="utf-8")
    name = str(doc.relative_to(REPO_ROOT)) if doc.is_relative_to(REPO_ROOT) else doc.name
    blocks = []
    previous_end = 0
    for match in _FENCE.finditer(text):
        lang, body = match.group(1).strip(), match.group(2)
        start_line = text.count("\n", 0, match.start()) + 1
        between = text[previous_end:match.start()]
        previous_end = match.end()
        if lang not in _SHELL_LANGS:
            continue
        lines = body.splitlines()
        if not any(line.startswith(("$ ", "prefer ")) for line in lines):
            continue
        block = Block(name, start_line, _commands(lines, start_line))
        # Markers count only in the text right before the block (after the previous one).
        for kind, value in _MARKER.findall(between):
            if kind == "setup":
                block.setup.append(value)
            else:
                block.mode, block.reason = kind, value
        blocks.append(block)
    return blocks


def _commands(lines: list[str], start_line: int) -> list[Command]:
    if not any(line.startswith("$ ") for line in lines):
        return [Command(_strip_comment(line), None, start_line + i + 1)
                for i, line in enumerate(lines) if line.startswith("prefer ")]
    commands: list[Command] = []
    for i, line in enumerate(lines):
        if line.startswith("$ "):
            commands.append(Command(_strip_comment(line[2:]), [], start_line + i + 1))
        elif commands:
            assert commands[-1].expected is not None
            commands[-1].expected.append(line)
    return commands


def _strip_comment(command: str) -> str:
    """The command without a trailing `# comment` (a `#` after a space, outside quotes)."""
    for match in re.finditer(r"\s#", command):
        before = command[:match.start()]
        if before.count("'") % 2 == 0 and before.count('"') % 2 == 0:
            return before.rstrip()
    return command.strip()


def not_run_reason(command: str) -> str | None:
    for start, reason in NOT_RUN.items():
        if command.startswith(start):
            return reason
    return None


# --- normalising output ------------------------------------------------------------------------

_VOLATILE = [
    (re.compile(r"\b(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d)(:\d\d(\.\d+)?)?( ?UTC|Z)?"), "<time>"),
    (re.compile(r"\b\d{4}-\d\d-\d\d\b"), "<date>"),
    (re.compile(r"\b([a-z]{1,2})_[0-9a-f]{8,32}\b"), r"\1_<id>"),
    (re.compile(r"\b[0-9a-f]{12,64}…?"), "<hash>"),
    (re.compile(r"\b\d+:\d\d:\d\d\b"), "<clock>"),
    (re.compile(r"\btook \d+(\.\d+)?\s*(ms|s|m)\b"), "took <duration>"),
    (re.compile(r"\b\d+(\.\d+)?/s\b"), "<rate>/s"),
]


def normalise(line: str, work: str) -> str:
    line = line.replace(work, DOCS_WRITTEN_IN)
    for pattern, replacement in _VOLATILE:
        line = pattern.sub(replacement, line)
    return line.rstrip()


def differences(expected: list[str], actual: list[str], work: str) -> str | None:
    """None when `actual` shows what `expected` does (`...` lines match any lines), else a diff."""
    want = [normalise(line, work) for line in expected]
    got = [normalise(line, work) for line in actual]
    while want and not want[-1]:
        want.pop()
    while got and not got[-1]:
        got.pop()
    if _matches(want, got):
        return None
    return "\n".join(difflib.unified_diff(want, got, "the docs show", "it printed", lineterm=""))


def _is_gap(line: str) -> bool:
    return line.strip() in ("...", "…")


def _line_matches(want: str, got: str) -> bool:
    """Equal, where a `…` in the docs' line stands for any text (a count that differs from run
    to run, a cell cut short)."""
    if "…" not in want:
        return want == got
    pattern = ".*".join(re.escape(part) for part in want.split("…"))
    return re.fullmatch(pattern, got) is not None


def _matches(want: list[str], got: list[str]) -> bool:
    if not want:
        return not got
    if _is_gap(want[0]):
        return any(_matches(want[1:], got[i:]) for i in range(len(got) + 1))
    return bool(got) and _line_matches(want[0], got[0]) and _matches(want[1:], got[1:])


# --- running -----------------------------------------------------------------------------------

@dataclass
class Session:
    """One document's temporary folder, shell environment and background processes."""

    work: Path
    env: dict[str, str]
    ports: dict[str, str]
    background: list[subprocess.Popen[str]] = field(default_factory=list)
    last_status: int = 0

    def rewrite(self, command: str) -> str:
        for old, new in REWRITES.items():
            command = command.replace(old, new.format(work=self.work))
        for doc_port, real_port in self.ports.items():
            command = command.replace(f":{doc_port}", f":{real_port}")
        return command

    def unrewrite(self, output: str) -> str:
        for doc_port, real_port in self.ports.items():
            output = output.replace(f":{real_port}", f":{doc_port}")
        for old, new in REWRITES.items():
            output = output.replace(new.format(work=self.work), old)
        return output

    def run(self, command: str, timeout: float = 300) -> tuple[int, str]:
        """Run one command line in bash; (exit status, stdout and stderr as the reader sees them)."""
        shell = self.rewrite(command)
        if shell.rstrip().endswith("&"):
            return self._start(shell.rstrip().rstrip("&"))
        done = subprocess.run(["bash", "-c", f"(exit {self.last_status}); {shell}"],
                              cwd=self.work, env=self.env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)
        self.last_status = done.returncode
        return done.returncode, self.unrewrite(done.stdout)

    def _start(self, shell: str) -> tuple[int, str]:
        process = subprocess.Popen(["bash", "-c", f"exec {shell}"], cwd=self.work, env=self.env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   start_new_session=True)
        self.background.append(process)
        assert process.stdout is not None
        first = process.stdout.readline()  # a server says it is up on its first line
        time.sleep(0.2)
        return 0, self.unrewrite(first)

    def close(self) -> None:
        for process in self.background:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def make_session(work: Path, ports: dict[str, str]) -> Session:
    bin_dir = work / ".bin"
    bin_dir.mkdir(parents=True)
    prefer = bin_dir / "prefer"
    prefer.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'from tui.cli import main; main()' "
                      '"$@"\n')
    prefer.chmod(0o755)
    (work / "sample_data").symlink_to(REPO_ROOT / "sample_data")
    (work / "srv").mkdir()
    (work / "offsite").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFER_", "PYTEST"))}
    env.update(PATH=f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}", PYTHONPATH=str(REPO_ROOT),
               HOME=str(work), COLUMNS="80", LINES="24", TERM="dumb", NO_COLOR="1")
    return Session(work, env, ports)


def run_block(session: Session, block: Block) -> Iterator[str]:
    """Run a block; yield one message per problem (naming the document, line and command)."""
    for setup in block.setup:
        status, output = session.run(setup.replace("{python}", sys.executable))
        if status != 0:
            yield f"{block.where()}: setup `{setup}` failed ({status}):\n{output}"
            return
    for command in block.commands:
        reason = not_run_reason(command.text)
        if reason is not None:
            continue
        status, output = session.run(command.text)
        shows_error = bool(command.expected) and command.expected[0].startswith("error:")
        if (status != 0) != shows_error:
            yield (f"{block.doc}:{command.line}: `{command.text}` exited {status}"
                   f"{' (the docs show an error)' if shows_error else ''}:\n{output}")
            return
        if block.mode == "compare" and command.expected is not None:
            diff = differences(command.expected, output.splitlines(), str(session.work))
            if diff is not None:
                yield (f"{block.doc}:{command.line}: `{command.text}` printed something else "
                       f"than the docs show (mark the block `<!-- docs-test: no-compare: "
                       f"REASON -->` if it cannot match):\n{diff}")
