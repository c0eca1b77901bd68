"""Throwaway OS users and groups for tests that need real identities (they run as root in CI)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def require_root_tools() -> None:
    """Skip without root or useradd, except in CI, where these tests must run."""
    missing = os.geteuid() != 0 or not (shutil.which("useradd") and shutil.which("setfacl"))
    if missing:
        if os.environ.get("CI"):
            pytest.fail("CI must run these tests as root with useradd available")
        pytest.skip("needs root and useradd to create throwaway OS users")


@contextmanager
def os_users(count: int, group: str | None = None) -> Iterator[tuple[list[str], str]]:
    """Create `count` users in a fresh group; yield (names, group); remove them afterwards."""
    tag = secrets.token_hex(3)
    group = group or f"pt{tag}"
    subprocess.run(["groupadd", group], check=True)
    names = [f"pt{tag}u{i}" for i in range(count)]
    try:
        for name in names:
            subprocess.run(["useradd", "--no-create-home", "-G", group, "-s", "/bin/sh", name],
                           check=True)
        yield names, group
    finally:
        for name in names:
            subprocess.run(["userdel", name], check=False, capture_output=True)
        subprocess.run(["groupdel", group], check=False, capture_output=True)


def _ancestors(path: Path) -> list[Path]:
    return [p for p in [path, *path.parents] if p != Path("/")]


@contextmanager
def traversable_for(group: str, *paths: Path) -> Iterator[None]:
    """Let `group` reach `paths` (the repo, the interpreter): an ACL entry granting search (x)
    on every ancestor folder that others cannot enter, removed afterwards.

    Needed when the checkout or Python lives under a private folder such as /root.
    """
    granted: list[Path] = []
    try:
        for path in paths:
            for folder in _ancestors(path.resolve()):
                if folder in granted or not folder.is_dir():
                    continue
                if os.stat(folder).st_mode & 0o001:
                    continue
                subprocess.run(["setfacl", "-m", f"g:{group}:x", str(folder)], check=True)
                granted.append(folder)
        yield
    finally:
        for folder in granted:
            subprocess.run(["setfacl", "-x", f"g:{group}", str(folder)], check=False)


def _as_user(user: str) -> dict:
    """subprocess arguments that run a Python as OS `user` with this repo importable: the
    user's groups, a bare PATH and `/` as cwd."""
    import grp
    import pwd

    account = pwd.getpwnam(user)
    return {"env": {"PATH": "/usr/bin:/bin",
                    "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
            "cwd": "/", "user": account.pw_uid, "group": account.pw_gid,
            "extra_groups": [g.gr_gid for g in grp.getgrall() if user in g.gr_mem]}


def python_as(user: str, code: str, *args: str, timeout: float = 120) -> dict:
    """Run `code` (which prints one JSON line last) as OS `user` with this repo importable;
    return that line's value. The user gets their groups, a bare PATH and `/` as cwd."""
    import json
    import sys

    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=timeout, **_as_user(user))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


class PythonSession:
    """`code` running as OS `user` (set up as python_as does) for many requests: `ask` writes
    one JSON line to its stdin and returns the one JSON line it prints back. One Python start-up
    (and import of core) for all of a user's requests instead of one per request."""

    def __init__(self, user: str, code: str) -> None:
        import sys
        import tempfile

        self.user = user
        # A file, not a pipe: it never fills and blocks the session; closed in close().
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115
        self.process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.errors, text=True,
                                        **_as_user(user))

    def ask(self, request: object, timeout: float = 120) -> dict:
        import json
        import select

        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            self.errors.seek(0)
            raise AssertionError(f"the session of {self.user} gave no answer "
                                 f"({'exited' if ready else f'{timeout:.0f} s'}):\n"
                                 f"{self.errors.read().decode(errors='replace')}")
        return json.loads(line)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.errors.close()


def with_roles(config_text: str, annotators: list[str], reviewers: list[str] = (),
               socket_group: str | None = None) -> str:
    """prefer.toml text with these users under [annotators] (and the socket's group)."""
    lines = [f'{name} = "annotator"' for name in annotators] + \
        [f'{name} = "reviewer"' for name in reviewers]
    text = config_text.replace("[annotators]\n", "[annotators]\n" + "\n".join(lines) + "\n")
    if socket_group:
        text = text.replace("[server]\n", f'[server]\nsocket_group = "{socket_group}"\n')
    return text
