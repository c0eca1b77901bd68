"""The core never imports a user interface library (STYLE practice 1).

Two checks:
- static: no module under core/ names textual, typer, rich or click in an import statement;
- dynamic: in a fresh interpreter, importing every core module loads no UI module beyond those
  that core's third-party dependencies load on their own. A dependency may do that: httpx
  (used by ollama) runs `from ._main import main` in its `__init__`, and its `_main` imports
  click, pygments and rich whenever they are installed (huggingface_hub, pulled in by the test
  extra `datasets`, installs click; textual and typer install rich). So the dependencies
  are imported first, their UI modules recorded, and only UI modules that appear after that
  count against core.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import REPO_ROOT

UI_LIBRARIES = ("textual", "typer", "rich", "click")
CORE = REPO_ROOT / "core"


def _core_files() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def _imported_names(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module name) of every absolute import in the file, nested ones included."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append((node.lineno, node.module))
            # `from scipy import stats` may name a submodule: try it too (harmless if not).
            names += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names
                      if alias.name != "*"]
    return names


def _third_party_imports() -> list[str]:
    """Every non-stdlib, non-core, non-UI module core's own source imports (e.g. scipy.stats)."""
    found = set()
    for path in _core_files():
        for _, name in _imported_names(path):
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top not in ("core", *UI_LIBRARIES):
                found.add(name)
    return sorted(found)


def _normalized(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _declared_distributions() -> set[str]:
    """The project's runtime dependencies and, transitively, theirs (extras left out)."""
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pending = list(pyproject["project"]["dependencies"])
    found: set[str] = set()
    while pending:
        requirement = pending.pop()
        if re.search(r"\bextra\s*==", requirement):
            continue
        name = _normalized(re.match(r"[A-Za-z0-9._-]+", requirement.strip()).group())
        if name in found:
            continue
        found.add(name)
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):  # not installed
            pending += importlib.metadata.requires(name) or []
    return found


def test_core_imports_only_declared_dependencies() -> None:
    # Otherwise the dynamic check below would excuse whatever an undeclared package loads.
    declared = _declared_distributions()
    owners = importlib.metadata.packages_distributions()
    undeclared = sorted({name for name in _third_party_imports()
                         if not {_normalized(d) for d in owners.get(name.split(".")[0], [])}
                         & declared})
    assert undeclared == []


def test_core_source_never_names_a_ui_library() -> None:
    offenders = [f"{path.relative_to(REPO_ROOT)}:{line}: {name}"
                 for path in _core_files() for line, name in _imported_names(path)
                 if name.split(".")[0] in UI_LIBRARIES]
    assert offenders == []


CHECK = """
import importlib, json, pkgutil, sys

UI = {ui!r}

def ui_modules():
    return {{name for name in sys.modules if name.split(".")[0] in UI}}

for name in {dependencies!r}:
    try:
        importlib.import_module(name)
    except ImportError:  # `from x import attribute`, not a submodule
        pass
baseline = ui_modules()
import core
new = {{}}
for module in pkgutil.walk_packages(core.__path__, "core."):
    before = ui_modules()
    importlib.import_module(module.name)
    if ui_modules() - before:
        new[module.name] = sorted(ui_modules() - before)
print(json.dumps({{"baseline": sorted(baseline), "new": new}}))
"""


def test_core_loads_no_ui_module_beyond_its_dependencies() -> None:
    dependencies = _third_party_imports()
    assert "ollama" in dependencies and "duckdb" in dependencies  # the scan found the imports
    script = CHECK.format(ui=UI_LIBRARIES, dependencies=dependencies)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=REPO_ROOT, check=True)
    report = json.loads(result.stdout)
    # {core module: UI modules that appeared while importing it}; dependencies' own are excluded.
    assert report["new"] == {}, f"dependencies alone loaded {len(report['baseline'])} UI modules"
