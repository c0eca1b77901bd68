"""Ollama through its official Python client (`ollama.AsyncClient`, /api/tags and /api/chat).

/api/chat is posted on the client's own httpx client with the body the client would build (its
headers, errors and reply model too), without the client's pydantic request model per call.
Each call has one deadline, the host's timeout, rather than httpx's per-operation timeouts.

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
        # No httpx timeouts: each call runs under one deadline instead (Backend.deadline).
        self.client = ollama.AsyncClient(host=self.url, timeout=None, headers=headers,
                                         verify=tls_context())
        self._http = self.client._client  # the official client's httpx client (see chat)

    async def list_models(self) -> dict[str, str]:
        try:
            async with self.deadline():
                listing = await self.client.list()
        except TimeoutError:
            raise TimeoutError(f"no answer within {self.timeout_s:g} s") from None
        return {m.model or "": m.digest or "" for m in listing.models}

    async def preflight(self, model: str) -> str:
        import httpx
        import ollama

        try:
            models = await self.list_models()
        except (ConnectionError, TimeoutError, httpx.TransportError) as exc:
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
        import httpx
        import ollama
        from ollama._client import CONNECTION_ERROR_MESSAGE
        from ollama._types import ChatResponse

        sent: dict[str, float | int] = {}
        if options.temperature is not None:
            sent["temperature"] = options.temperature
        if options.seed is not None:
            sent["seed"] = options.seed
        if options.top_p is not None:
            sent["top_p"] = options.top_p
        if options.max_tokens is not None:
            sent["num_predict"] = options.max_tokens
        # The very body `ollama.AsyncClient.chat` sends (tests/test_backends.py compares them),
        # built from plain dicts: the client's pydantic request model (a Message validated per
        # message, the ChatRequest, model_dump) cost ~0.09 ms a request. The reply is still
        # validated by the client's own ChatResponse model, its errors raised as the client's.
        body: dict[str, Any] = {"model": model, "stream": False, "options": sent}
        if schema is not None:
            body["format"] = schema
        body["messages"] = [{k: v for k, v in m.items() if v} for m in messages]
        body["tools"] = []
        try:
            async with self.deadline():
                response = await self._http.post("/api/chat", json=body)
                response.raise_for_status()
        except httpx.HTTPStatusError as exc:
            raise ollama.ResponseError(exc.response.text, exc.response.status_code) from None
        except httpx.ConnectError:
            raise ConnectionError(CONNECTION_ERROR_MESSAGE) from None
        except TimeoutError:
            raise TimeoutError(f"no answer within {self.timeout_s:g} s") from None
        reply = ChatResponse.model_validate_json(response.content)
        return ChatReply(
            text=reply.message.content or "", finish_reason=reply.done_reason,
            usage=Usage(prompt_tokens=reply.prompt_eval_count,
                        completion_tokens=reply.eval_count,
                        total_duration_ns=reply.total_duration,
                        load_duration_ns=reply.load_duration,
                        prompt_eval_duration_ns=reply.prompt_eval_duration,
                        eval_duration_ns=reply.eval_duration))

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
