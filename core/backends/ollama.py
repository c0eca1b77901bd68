"""Ollama through its official Python client (`ollama.AsyncClient`, /api/tags and /api/chat).

Options are sent as Ollama's `options` (temperature, top_p, seed, num_predict); a JSON schema
as `format`. `done_reason` "length" means the reply was cut off at num_predict. Ollama reports
token counts and its own durations (load, prompt evaluation, generation), all recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from core.backends.base import (
    Backend,
    BackendUnavailableError,
    ChatOptions,
    ChatReply,
    Failure,
    HostSettings,
    Usage,
    describe_exception,
    model_names,
    resolve_api_key,
    tls_context,
)


def transport_failure(exc: BaseException) -> Failure | None:
    """The Failure of a connection-level error (httpx or OS), or None when it is not one."""
    import httpx

    if isinstance(exc, httpx.ConnectError) or (
            isinstance(exc, ConnectionError) and not isinstance(exc, ConnectionResetError)):
        return Failure(True, f"cannot connect: {describe_exception(exc)}", unreachable=True)
    if isinstance(exc, httpx.TimeoutException | asyncio.TimeoutError):
        return Failure(True, f"timed out: {describe_exception(exc)}",
                       hint="raise generation.timeout_s, or lower the concurrency")
    if isinstance(exc, httpx.TransportError | ConnectionError):
        return Failure(True, describe_exception(exc))
    return None


class OllamaBackend(Backend):
    name = "ollama"
    description = "Ollama (`ollama serve`): /api/tags and /api/chat through the official client"

    def __init__(self, host: HostSettings, timeout_s: float = 300.0) -> None:
        super().__init__(host, timeout_s)
        import ollama

        key = resolve_api_key(host)  # Ollama has no keys of its own; a proxy in front of it may
        headers = {"Authorization": f"Bearer {key}"} if key else None
        self.client = ollama.AsyncClient(host=self.url, timeout=timeout_s, headers=headers,
                                         verify=tls_context())

    async def list_models(self) -> dict[str, str]:
        listing = await self.client.list()
        return {m.model or "": m.digest or "" for m in listing.models}

    async def preflight(self, model: str) -> str:
        import httpx
        import ollama

        try:
            models = await self.list_models()
        except (ConnectionError, httpx.TransportError) as exc:
            raise BackendUnavailableError(
                f"cannot reach Ollama at {self.url}",
                hint="start it there with `ollama serve` (or fix generation.hosts / --host)",
            ) from exc
        except ollama.ResponseError as exc:
            raise BackendUnavailableError(
                f"Ollama at {self.url} answered {exc.status_code}: {exc.error}",
                hint="check the URL points at Ollama (--api openai for an OpenAI-compatible "
                     "server)") from exc
        for name in model_names(model):
            if name in models:
                return models[name]
        raise BackendUnavailableError(
            f"model {model} not found on {self.url}: run `ollama pull {model}`",
            hint="or pick a model it has with --model (`ollama list` shows them)")

    async def chat(self, model: str, messages: Sequence[dict[str, str]], options: ChatOptions,
                   schema: dict[str, Any] | None = None) -> ChatReply:
        sent: dict[str, float | int] = {}
        if options.temperature is not None:
            sent["temperature"] = options.temperature
        if options.seed is not None:
            sent["seed"] = options.seed
        if options.top_p is not None:
            sent["top_p"] = options.top_p
        if options.max_tokens is not None:
            sent["num_predict"] = options.max_tokens
        response = await self.client.chat(model=model, messages=list(messages), options=sent,
                                          stream=False, format=schema)
        return ChatReply(
            text=response.message.content or "", finish_reason=response.done_reason,
            usage=Usage(prompt_tokens=response.prompt_eval_count,
                        completion_tokens=response.eval_count,
                        total_duration_ns=response.total_duration,
                        load_duration_ns=response.load_duration,
                        prompt_eval_duration_ns=response.prompt_eval_duration,
                        eval_duration_ns=response.eval_duration))

    def classify(self, exc: BaseException) -> Failure:
        import ollama

        if isinstance(exc, ollama.ResponseError):
            status = exc.status_code
            message = f"HTTP {status}: {exc.error}"
            if status == 404 and "not found" in str(exc.error):
                return Failure(False, message, hint="run `ollama pull MODEL` on that host")
            if status in (401, 403):
                return Failure(False, message, hint="check the host's api_key_env / api_key_file")
            return Failure(status >= 500 or status in (408, 429), message)
        return transport_failure(exc) or Failure(False, describe_exception(exc))

    async def aclose(self) -> None:
        await self.client._client.aclose()
