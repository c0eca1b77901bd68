"""OpenAI-compatible servers (vLLM, llama.cpp's llama-server, Hugging Face TGI, a LiteLLM proxy,
Ollama's own /v1) over plain HTTP with httpx: GET /v1/models, POST /v1/chat/completions.

- The host URL is the server's base (`http://gpu1:8000`); a trailing `/v1` is accepted.
- Options: temperature, top_p, seed and max_tokens (from a variant's num_predict) are sent as
  the request's own fields; a JSON schema as `response_format` of type `json_schema`.
- `finish_reason` "length" means the reply was cut off at max_tokens (recorded as truncated);
  `usage` gives the token counts (the API has no per-phase timings).
- With `stream = true` on the host the reply is read as server-sent events (and usage asked for
  with `stream_options.include_usage`); otherwise in one JSON answer.
- The API key (sent as `Authorization: Bearer ...`) comes from the environment variable named
  by the host's `api_key_env` or the file named by `api_key_file`; prefer.toml never holds it.
"""

from __future__ import annotations

import json
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
    resolve_api_key,
    tls_context,
)
from core.backends.ollama import transport_failure

_KEY_HINT = "set the API key: api_key_env (or api_key_file) of the host, or --api-key-env NAME"


class OpenAIStatusError(Exception):
    """An HTTP error answer of an OpenAI-compatible server."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


def _error_message(body: bytes) -> str:
    """The error text of an answer: OpenAI's {"error": {"message"}}, TGI's {"error": "..."},
    FastAPI's {"detail": ...}, or the body's first line."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data.get("message")))
        if isinstance(error, dict):
            error = error.get("message") or json.dumps(error)
        if error is not None:
            return " ".join(str(error).split())[:300]
    text = body.decode("utf-8", "replace").strip()
    return (text.splitlines()[0] if text else "no error text")[:300]


class OpenAIBackend(Backend):
    name = "openai"
    description = ("OpenAI-compatible (vLLM, llama.cpp server, TGI, LiteLLM): /v1/models and "
                   "/v1/chat/completions over httpx")

    def __init__(self, host: HostSettings, timeout_s: float = 300.0) -> None:
        super().__init__(host, timeout_s)
        import httpx

        base = self.url.removesuffix("/v1")
        key = resolve_api_key(host)
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.stream = host.stream
        # Not streamed: no httpx timeouts, one deadline a call (Backend.deadline). Streamed:
        # httpx's, which bound each wait for the next piece rather than the whole reply.
        self.client = httpx.AsyncClient(
            base_url=base, headers=headers, timeout=timeout_s if self.stream else None,
            verify=tls_context(),
            # One pooled connection per slot in flight: never a new TCP connection per request.
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=1024))

    async def _get(self, path: str) -> Any:
        try:
            async with self.deadline():
                response = await self.client.get(path)
        except TimeoutError:
            raise TimeoutError(f"no answer within {self.timeout_s:g} s") from None
        if response.status_code >= 400:
            raise OpenAIStatusError(response.status_code, _error_message(response.content))
        return response.json()

    async def list_models(self) -> dict[str, str]:
        listing = await self._get("/v1/models")
        return {str(m.get("id")): "" for m in listing.get("data", []) if isinstance(m, dict)}

    async def preflight(self, model: str) -> str:
        import httpx

        try:
            models = await self.list_models()
        except (httpx.TransportError, TimeoutError) as exc:
            raise BackendUnavailableError(
                f"cannot reach the OpenAI-compatible server at {self.url}",
                hint="start it there (vllm serve, llama-server, TGI, LiteLLM) or fix "
                     "generation.hosts / --host") from exc
        except OpenAIStatusError as exc:
            if exc.status in (401, 403):
                raise BackendUnavailableError(
                    f"{self.url} refused the API key (HTTP {exc.status}): {exc.message}",
                    hint=_KEY_HINT) from exc
            raise BackendUnavailableError(
                f"{self.url} answered HTTP {exc.status} to GET /v1/models: {exc.message}",
                hint="check the URL is the server's base URL (--api ollama for Ollama's own "
                     "API)") from exc
        except ValueError as exc:
            raise BackendUnavailableError(f"{self.url}: GET /v1/models did not answer JSON",
                                          hint="is this an OpenAI-compatible server?") from exc
        if model not in models:
            served = ", ".join(sorted(models)[:8]) or "none"
            raise BackendUnavailableError(
                f"model {model} not served by {self.url} (it serves: {served})",
                hint="pick one with --model (vLLM serves the names of --served-model-name)")
        return models[model]

    def request_body(self, model: str, messages: Sequence[dict[str, str]], options: ChatOptions,
                     schema: dict[str, Any] | None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "messages": list(messages)}
        if options.temperature is not None:
            body["temperature"] = options.temperature
        if options.top_p is not None:
            body["top_p"] = options.top_p
        if options.seed is not None:
            body["seed"] = options.seed
        if options.max_tokens is not None:
            body["max_tokens"] = options.max_tokens
        if schema is not None:
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "reply", "schema": schema,
                                                       "strict": True}}
        if self.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    async def chat(self, model: str, messages: Sequence[dict[str, str]], options: ChatOptions,
                   schema: dict[str, Any] | None = None) -> ChatReply:
        body = self.request_body(model, messages, options, schema)
        if self.stream:
            return await self._chat_streamed(body)
        try:
            async with self.deadline():
                response = await self.client.post("/v1/chat/completions",
                                                  content=json.dumps(body))
        except TimeoutError:
            raise TimeoutError(f"no answer within {self.timeout_s:g} s") from None
        if response.status_code >= 400:
            raise OpenAIStatusError(response.status_code, _error_message(response.content))
        data = response.json()
        choice = (data.get("choices") or [{}])[0]
        usage = data.get("usage") or {}
        return ChatReply(text=(choice.get("message") or {}).get("content") or "",
                         finish_reason=choice.get("finish_reason"),
                         usage=Usage(prompt_tokens=usage.get("prompt_tokens"),
                                     completion_tokens=usage.get("completion_tokens")))

    async def _chat_streamed(self, body: dict[str, Any]) -> ChatReply:
        pieces: list[str] = []
        finish: str | None = None
        usage: dict[str, Any] = {}
        async with self.client.stream("POST", "/v1/chat/completions",
                                      content=json.dumps(body)) as response:
            if response.status_code >= 400:
                raise OpenAIStatusError(response.status_code,
                                        _error_message(await response.aread()))
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    break
                chunk = json.loads(payload)
                if chunk.get("usage"):
                    usage = chunk["usage"]
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    if delta.get("content"):
                        pieces.append(delta["content"])
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
        return ChatReply(text="".join(pieces), finish_reason=finish,
                         usage=Usage(prompt_tokens=usage.get("prompt_tokens"),
                                     completion_tokens=usage.get("completion_tokens")))

    def classify(self, exc: BaseException) -> Failure:
        if isinstance(exc, OpenAIStatusError):
            status, message = exc.status, f"HTTP {exc.status}: {exc.message}"
            if status in (401, 403):
                return Failure(False, message, hint=_KEY_HINT)
            if status == 404:
                return Failure(False, message,
                               hint=f"GET {self.url}/v1/models lists the models it serves")
            if status == 400:
                return Failure(False, message,
                               hint="the server refused the request: an option it does not "
                                    "take, or a prompt longer than its context")
            return Failure(status >= 500 or status in (408, 409, 429), message)
        if isinstance(exc, ValueError):  # a body that is not the JSON it should be
            return Failure(True, f"malformed answer: {describe_exception(exc)}")
        return transport_failure(exc) or Failure(False, describe_exception(exc))

    async def aclose(self) -> None:
        await self.client.aclose()
