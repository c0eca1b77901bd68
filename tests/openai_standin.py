"""A stand-in OpenAI-compatible server for tests: real HTTP on 127.0.0.1, no model weights.

It speaks the part of the API vLLM, llama.cpp's server, TGI and LiteLLM share::

    with StandinOpenAI(["Qwen/Qwen2.5-7B-Instruct"], latency=0.05, parallel=8,
                       api_key="sk-test") as server:
        httpx.post(f"{server.url}/v1/chat/completions", json={...},
                   headers={"Authorization": "Bearer sk-test"})

* ``GET /v1/models`` (``{"object": "list", "data": [{"id": ...}]}``), ``POST /v1/chat/completions``
  streaming (server-sent events, ``data: [DONE]``, usage in a last chunk when
  ``stream_options.include_usage``) or not; other paths 404.
* Errors in OpenAI's shape ``{"error": {"message", "type", "code"}}``: 401 for a missing or wrong
  key (when ``api_key`` is set), 404 for an unknown model (vLLM's wording), 400 for a malformed
  request (no messages, a temperature that is not a number from 0 to 2, max_tokens < 1, an unknown
  ``response_format`` type); 429 / 500 / 503 by fault injection.
* Replies are the deterministic texts of the Ollama stand-in (:func:`tests.ollama_standin.response_text`)
  of (model, messages, {temperature, top_p, seed}, schema); ``max_tokens`` cuts the reply (one token a
  word) with ``finish_reason: "length"``; ``response_format`` of type ``json_schema`` gives a JSON object
  matching the schema. ``usage`` counts tokens.
* ``parallel`` slots, each held ``latency`` seconds (counted as the Ollama stand-in counts them: from
  the request's arrival or, when it queued, from getting its slot), FIFO queue behind them; the
  request log, fault injection (``fail_next``, ``fail_when``, ``reset_connection_next``) and
  ``go_down`` / ``come_up`` (a dying host) are the Ollama stand-in's, which this server extends.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
import uuid
from typing import Any

from tests.ollama_standin import (
    LoggedRequest,
    StandinOllama,
    _Connection,
    _dumps,
    _Ticket,
    hold_until,
    response_text,
)

__all__ = ["StandinOpenAI"]

_JSON = "application/json"
_SSE = "text/event-stream"


def _error(message: str, kind: str, code: Any) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class StandinOpenAI(StandinOllama):
    """A real HTTP server on 127.0.0.1 (ephemeral port) speaking the OpenAI chat API."""

    def __init__(self, models: tuple[str, ...] | list[str] = ("llama3.1:8b",), *,
                 latency: float = 0.0, parallel: int = 4, api_key: str | None = None,
                 max_queue: int = 512, port: int = 0) -> None:
        super().__init__(["standin:latest"], latency=latency, parallel=parallel,
                         max_queue=max_queue, port=port)
        self.models = list(models)  # served as given: OpenAI model ids have no ":latest" rule
        self.api_key = api_key
        self._created = int(time.time())

    def chat_requests(self) -> list[LoggedRequest]:
        """The logged ``/v1/chat/completions`` requests, oldest first."""
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    # -- request handling ----------------------------------------------------------------------

    def _dispatch(self, conn: _Connection, method: str, path: str, headers: dict[str, str],
                  body: bytes, keep_alive: bool) -> None:
        entry = LoggedRequest(method=method, path=path, json=None, received=time.monotonic(),
                              conn_id=conn.conn_id, headers=headers)
        if body:
            try:
                entry.json = json.loads(body)
            except ValueError:
                entry.json = None
        with self._lock:
            self._log.append(entry)
        path = path.rstrip("/")
        routes = {"/v1/models": "GET", "/v1/chat/completions": "POST"}
        if path not in routes:
            self._answer(conn, entry, 404, _error(f"no route {path}", "NotFoundError", 404),
                         keep_alive)
            return
        if method != routes[path]:
            self._answer(conn, entry, 405, _error("method not allowed", "BadRequestError", 405),
                         keep_alive)
            return
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            self._answer(conn, entry, 401, _error(
                "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
                keep_alive)
            return
        if path == "/v1/models":
            data = [{"id": m, "object": "model", "created": self._created,
                     "owned_by": "standin", "root": m, "max_model_len": 8192}
                    for m in self.models]
            self._answer(conn, entry, 200, {"object": "list", "data": data}, keep_alive)
            return
        self._completion(conn, entry, body, keep_alive)

    def _answer(self, conn: _Connection, entry: LoggedRequest, status: int, payload: Any,
                keep_alive: bool) -> None:
        entry.status = status
        if status >= 400 and isinstance(payload, dict):
            entry.error = payload["error"]["message"]
        entry.finished = time.monotonic()
        conn.send(status, _dumps(payload), _JSON, keep_alive=keep_alive)
        self._finish_sync(conn, keep_alive)

    def _completion(self, conn: _Connection, entry: LoggedRequest, body: bytes,
                    keep_alive: bool) -> None:
        fault = self._injected(entry)
        if fault is not None:
            kind, status, error = fault
            entry.injected = True
            if kind == "reset":
                entry.error = error
                entry.finished = time.monotonic()
                conn.abort(reset=True)
                return
            self._answer(conn, entry, status, _error(error, "InternalServerError"
                                                     if status >= 500 else "BadRequestError",
                                                     status), keep_alive)
            return
        request = entry.json
        problem = self._problem(request)
        if problem is not None:
            status, message = problem
            kind = "NotFoundError" if status == 404 else "BadRequestError"
            self._answer(conn, entry, status, _error(message, kind, status), keep_alive)
            return
        assert isinstance(request, dict)
        if not self._slots.has_free_slot() and len(self._slots.waiters) >= self.max_queue:
            self._answer(conn, entry, 429, _error("too many requests queued", "RateLimitError",
                                                  429), keep_alive)
            return
        ticket = self._slots.reserve()
        task = asyncio.get_running_loop().create_task(
            self._run_completion(conn, entry, request, keep_alive, ticket))
        conn.task = task
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._generation_ended, conn, entry, ticket))

    def _problem(self, request: Any) -> tuple[int, str] | None:
        if not isinstance(request, dict):
            return 400, "the request body is not a JSON object"
        model = request.get("model")
        if model not in self.models:
            return 404, f"The model `{model}` does not exist."
        messages = request.get("messages")
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages):
            return 400, "messages: expected a non-empty list of {role, content}"
        temperature = request.get("temperature", 1.0)
        if not isinstance(temperature, int | float) or not 0 <= temperature <= 2:
            return 400, f"temperature: expected a number from 0 to 2, got {temperature!r}"
        limit = request.get("max_tokens")
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            return 400, f"max_tokens: expected a positive integer, got {limit!r}"
        fmt = request.get("response_format")
        if fmt is not None and (not isinstance(fmt, dict)
                                or fmt.get("type") not in ("text", "json_object", "json_schema")):
            return 400, "response_format: unknown type"
        return None

    async def _run_completion(self, conn: _Connection, entry: LoggedRequest,
                              request: dict[str, Any], keep_alive: bool, ticket: _Ticket) -> None:
        try:
            queued = not ticket.holding
            await self._slots.wait(ticket)
            entry.started = time.monotonic()
            held_from = entry.started if queued else entry.received
            self._max_in_flight = max(self._max_in_flight, self._slots.active)
            text, finish, prompt_tokens, tokens = self._reply(request)
            stream = request.get("stream") is True
            await hold_until(held_from + self.latency)
            ident = "chatcmpl-" + uuid.uuid4().hex[:16]
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": tokens,
                     "total_tokens": prompt_tokens + tokens}
            base = {"id": ident, "created": int(time.time()), "model": request["model"]}
            if stream:
                data = self._events(base, text, finish, usage,
                                    bool((request.get("stream_options") or {})
                                         .get("include_usage")))
                head = (f"HTTP/1.1 200 OK\r\nContent-Type: {_SSE}\r\nContent-Length: "
                        f"{len(data)}\r\n" + ("" if keep_alive else "Connection: close\r\n")
                        + "\r\n").encode("latin-1")
                tail = head + data
            else:
                payload = {**base, "object": "chat.completion", "choices": [{
                    "index": 0, "message": {"role": "assistant", "content": text},
                    "logprobs": None, "finish_reason": finish}], "usage": usage}
                tail = conn.response_bytes(200, _dumps(payload), _JSON, keep_alive=keep_alive)
            entry.status = 200
            entry.finished = time.monotonic()
            self._slots.give_back(ticket)
            conn.write(tail)
        except asyncio.CancelledError:
            self._note_cancelled(conn, entry)
            return
        finally:
            self._slots.give_back(ticket)
        conn.request_done(keep_alive)

    @staticmethod
    def _events(base: dict[str, Any], text: str, finish: str, usage: dict[str, int],
                with_usage: bool) -> bytes:
        chunk = {**base, "object": "chat.completion.chunk"}
        events = [{**chunk, "choices": [{"index": 0, "delta": {"role": "assistant",
                                                                "content": ""},
                                         "finish_reason": None}]}]
        words = text.split(" ")
        for i, word in enumerate(words):
            events.append({**chunk, "choices": [{"index": 0, "delta": {
                "content": word if i == 0 else " " + word}, "finish_reason": None}]})
        events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        if with_usage:
            events.append({**chunk, "choices": [], "usage": usage})
        return b"".join(b"data: " + _dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"

    @staticmethod
    def _reply(request: dict[str, Any]) -> tuple[str, str, int, int]:
        """(text, finish_reason, prompt tokens, completion tokens) for a valid request."""
        messages = request["messages"]
        options = {k: request[k] for k in ("temperature", "top_p", "seed") if k in request}
        fmt = request.get("response_format") or {}
        schema = None
        if fmt.get("type") == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema") or {}
        elif fmt.get("type") == "json_object":
            schema = "json"
        text = response_text(request["model"], messages, options, format=schema)
        prompt_tokens = sum(len(m["content"].split()) for m in messages) + 4 * len(messages) + 1
        words = text.split(" ")
        limit = request.get("max_tokens")
        if limit is not None and limit < len(words):
            return " ".join(words[:limit]), "length", prompt_tokens, limit
        return text, "stop", prompt_tokens, len(words)
