"""LLM backends by name: the server APIs prefer can generate (and judge) through.

`BACKENDS` maps the name used in prefer.toml (`api = "..."` of a [[generation.hosts]] table)
and on the command line (`--api`) to the class implementing `core.backends.base.Backend`.
A third backend is one new module here and one line below; see base.py for the interface.
"""

from __future__ import annotations

from core.backends.base import (
    Backend,
    BackendUnavailableError,
    ChatOptions,
    ChatReply,
    Failure,
    HostSettings,
    Usage,
)
from core.backends.ollama import OllamaBackend
from core.backends.openai import OpenAIBackend
from core.errors import ConfigError

BACKENDS: dict[str, type[Backend]] = {
    OllamaBackend.name: OllamaBackend,
    OpenAIBackend.name: OpenAIBackend,
}


def make_backend(host: HostSettings, timeout_s: float = 300.0) -> Backend:
    """The backend for `host` (by its `api`), ready to use from the running event loop."""
    try:
        cls = BACKENDS[host.api]
    except KeyError:
        raise ConfigError(f"host {host.url}: unknown api '{host.api}'",
                          hint=f"one of: {', '.join(BACKENDS)}") from None
    return cls(host, timeout_s)


__all__ = ["BACKENDS", "Backend", "BackendUnavailableError", "ChatOptions", "ChatReply",
           "Failure", "HostSettings", "Usage", "make_backend"]
