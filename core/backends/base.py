"""The interface every LLM backend implements, and what its calls return.

A backend is one kind of server API (Ollama's, the OpenAI-compatible one of vLLM, llama.cpp,
TGI and LiteLLM). One instance talks to one host (a base URL); it is made by
`core.backends.make_backend(host, timeout_s=...)` and used from one event loop:

    backend = make_backend(HostSettings(url="http://gpu1:8000", api="openai"), timeout_s=60)
    digest = await backend.preflight("Qwen/Qwen2.5-7B-Instruct")   # BackendUnavailableError
    reply = await backend.chat("Qwen/Qwen2.5-7B-Instruct", messages,
                               ChatOptions(temperature=0.2, seed=7, max_tokens=400),
                               schema={"type": "object", ...})       # optional JSON schema
    reply.text, reply.finish_reason ("stop" | "length" | ...), reply.truncated, reply.usage
    await backend.aclose()

Any exception `chat` raises is turned into a `Failure` by `backend.classify(exc)`: whether it
is worth retrying (server errors, 408, 429, timeouts, dropped connections), whether the host
could not be reached at all (the request then moves to another host without using a try), and
a one-line message with a hint for people. With `schema` the server is asked to constrain its
output to that JSON schema (Ollama's `format`, OpenAI's `response_format` of type
`json_schema`); `reply.text` is then the JSON text, parsed by the caller.

A new backend is one module with one class that subclasses `Backend`, registered by name in
`core/backends/__init__.py` (BACKENDS); tests/test_generate.py checks that every registered
backend implements this interface and is documented in docs/generation.md.
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from core.config import HostSettings
from core.errors import ConfigError, PreferError


class BackendUnavailableError(PreferError):
    """The pre-flight check could not reach a host, was refused, or the model is not on it."""


def resolve_api_key(host: HostSettings) -> str | None:
    """The host's API key, read from the environment variable or the file it names (never
    from prefer.toml itself); None when it names neither."""
    if host.api_key_env:
        value = os.environ.get(host.api_key_env)
        if not value:
            raise ConfigError(
                f"host {host.url}: the environment variable {host.api_key_env} is not set",
                hint=f"export {host.api_key_env}=... (the API key) before running prefer")
        return value.strip()
    if host.api_key_file:
        path = Path(host.api_key_file).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"host {host.url}: cannot read api_key_file {path}: "
                              f"{exc.strerror or exc}") from exc
        if not lines or not lines[0].strip():
            raise ConfigError(f"host {host.url}: api_key_file {path} is empty")
        return lines[0].strip()
    return None


@dataclass(frozen=True)
class ChatOptions:
    """Sampling options in neutral names; each backend maps them to its API's.

    `None` means "not sent" (the server's default applies)."""

    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    max_tokens: int | None = None  # Ollama: num_predict; OpenAI: max_tokens

    @classmethod
    def from_recorded(cls, options: dict[str, Any]) -> ChatOptions:
        """From the options as prefer records them (Ollama's names: num_predict)."""
        return cls(temperature=options.get("temperature"), top_p=options.get("top_p"),
                   seed=options.get("seed"), max_tokens=options.get("num_predict"))


@dataclass(frozen=True)
class Usage:
    """Token counts and, where the server reports them, its own timings in nanoseconds."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_duration_ns: int | None = None
    load_duration_ns: int | None = None
    prompt_eval_duration_ns: int | None = None
    eval_duration_ns: int | None = None


@dataclass(frozen=True)
class ChatReply:
    text: str
    finish_reason: str | None  # "stop", "length" (cut off at max_tokens), or the server's word
    usage: Usage = field(default_factory=Usage)

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


@dataclass(frozen=True)
class Failure:
    """What a failed request means: retry it or not, and what to tell people (one line)."""

    retryable: bool
    message: str
    hint: str | None = None
    unreachable: bool = False  # no connection at all: says nothing about the request itself


class Backend(ABC):
    """One host speaking one API. Subclasses set `name` and `description` and implement the
    abstract methods; `chat` must be safe to call concurrently from one event loop."""

    name: ClassVar[str]
    description: ClassVar[str]  # one line, shown in docs and `--api` help

    def __init__(self, host: HostSettings, timeout_s: float = 300.0) -> None:
        self.host = host
        self.url = host.url.rstrip("/")
        self.timeout_s = timeout_s

    def deadline(self) -> asyncio.Timeout:
        """One deadline of timeout_s for a whole call. Backends on httpx use it instead of
        httpx's timeouts: with those, httpcore enters a cancel scope with a deadline (a timer
        scheduled and cancelled) around every read, write and pool wait, about ten a request.
        A reply that is not streamed has no wait longer than the whole call's."""
        return asyncio.timeout(self.timeout_s)

    @abstractmethod
    async def list_models(self) -> dict[str, str]:
        """Every model the host serves: name -> a digest or id of the weights ("" if none)."""

    @abstractmethod
    async def preflight(self, model: str) -> str:
        """Check the host answers and serves `model`; return the model's digest ("" if the API
        has none). Raises BackendUnavailableError with a one-line message and a hint."""

    @abstractmethod
    async def chat(self, model: str, messages: Sequence[dict[str, str]], options: ChatOptions,
                   schema: dict[str, Any] | None = None) -> ChatReply:
        """One chat completion (not streamed back to the caller): the whole reply."""

    @abstractmethod
    def classify(self, exc: BaseException) -> Failure:
        """What an exception raised by `chat` means (see Failure)."""

    async def aclose(self) -> None:  # noqa: B027 - optional: backends without resources skip it
        """Close connections."""


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every client of the process: making one reads the CA bundle
    (~0.2 s), and a run makes a client per slot."""
    import httpx

    return httpx.create_ssl_context()


def describe_exception(exc: BaseException) -> str:
    """`Type: first line of the message`, for errors no backend knows better."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def model_names(name: str) -> set[str]:
    """A model name as Ollama lists it (`name` alone means `name:latest`)."""
    return {name, f"{name}:latest"} if ":" not in name else {name}
