"""The core never imports a user interface library (STYLE practice 1)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT

CHECK = """
import importlib, pkgutil, sys
import core
for module in pkgutil.walk_packages(core.__path__, "core."):
    importlib.import_module(module.name)
print(" ".join(sorted(n for n in ("textual", "typer", "rich", "click") if n in sys.modules)))
"""


def test_core_never_imports_ui_libraries() -> None:
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                            cwd=REPO_ROOT, check=True)
    assert result.stdout.strip() == ""
