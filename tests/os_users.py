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
