"""Every registered LLM backend implements the interface, is named in the config and documented."""

from __future__ import annotations

import inspect
from pathlib import Path

from core.backends import BACKENDS, Backend
from core.backends.base import ChatOptions
from core.config import BACKEND_APIS

DOCS = Path(__file__).resolve().parents[1] / "docs" / "generation.md"


def test_every_backend_implements_the_interface_and_is_documented() -> None:
    assert tuple(BACKENDS) == BACKEND_APIS  # prefer.toml accepts exactly the registered names
    docs = DOCS.read_text(encoding="utf-8")
    for name, cls in BACKENDS.items():
        assert issubclass(cls, Backend) and cls.name == name
        assert not inspect.isabstract(cls), f"{name}: {cls.__abstractmethods__} not implemented"
        assert cls.description and cls.__module__.startswith("core.backends.")
        assert (inspect.getdoc(inspect.getmodule(cls)) or "").strip()
        for method in ("list_models", "preflight", "chat", "aclose"):
            assert inspect.iscoroutinefunction(getattr(cls, method)), (name, method)
        assert not inspect.iscoroutinefunction(cls.classify)
        assert f'`api = "{name}"`' in docs, f"docs/generation.md does not document {name}"


def test_recorded_options_map_to_neutral_names() -> None:
    options = ChatOptions.from_recorded({"temperature": 0.3, "seed": 5, "num_predict": 9})
    assert (options.temperature, options.seed, options.max_tokens, options.top_p) == (0.3, 5, 9,
                                                                                       None)
