"""A stand-in Ollama server for tests: real HTTP on 127.0.0.1, Ollama's JSON shapes, no model weights.

The official ``ollama`` client (``Client`` and ``AsyncClient``) talks to it unchanged::

    with StandinOllama(models=["llama3.1:8b"], latency=0.05, parallel=2) as server:
        reply = ollama.Client(host=server.url).chat(model="llama3.1:8b", messages=[...])

What it mimics (checked against ollama/ollama ``server/routes.go``, ``server/sched.go``, ``docs/api.md``
and the Python client's ``_client.py`` / ``_types.py``):

* ``GET /`` ("Ollama is running"), ``GET /api/version``, ``GET /api/tags``, ``POST /api/show``,
  ``GET /api/ps``, ``POST /api/chat`` and ``POST /api/generate``. Streaming is the default, as in Ollama:
  a request without ``"stream": false`` gets ``application/x-ndjson``. Unknown paths answer
  ``404 page not found`` (text), known paths with the wrong method ``405 method not allowed``.
* Errors are ``{"error": "..."}`` with Ollama's wording: chat/generate with an unknown model -> 404
  ``model "x" not found, try pulling it first``; show of an unknown model -> 404 ``model 'x' not found``;
  a full queue -> 503 ``server busy, please try again.  maximum pending requests exceeded``.
* ``parallel`` generation slots (``OLLAMA_NUM_PARALLEL``): further generations queue (FIFO) until a slot
  frees, up to ``max_queue`` (``OLLAMA_MAX_QUEUE``) waiting requests. A generation holds its slot for
  ``latency`` seconds, counted from when the request had arrived (or, when it queued, got its slot):
  the stand-in's own parsing and answering run inside that time, as a real server's HTTP handling
  runs beside its GPUs, so ``parallel`` slots serve ``parallel / latency`` requests a second however
  slow this Python is. A client that disconnects while queued or generating gives its slot back.
* Replies are deterministic functions of (model, messages, options, format, think); see
  :func:`response_text`. ``options.num_predict`` truncates (``done_reason: "length"``) and ``eval_count``
  is the number of tokens produced (``tokens_per_word`` per word).

Scripted replies: :meth:`StandinOllama.answer_when` lets a test choose the content of chosen requests (a judge
test scripts structured replies, valid or not); the rest keep the deterministic reply.

Fault injection: :meth:`StandinOllama.fail_next`, :meth:`~StandinOllama.fail_when`,
:meth:`~StandinOllama.reset_connection_next`, :meth:`~StandinOllama.go_down` / :meth:`~StandinOllama.come_up`.
Injected failures are answered at once, without taking a slot or waiting ``latency``.

Timestamps in the request log are ``time.monotonic()`` values, comparable with ``time.monotonic()`` in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import http
import itertools
import json
import random
import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

__all__ = [
    "OLLAMA_VERSION",
    "LoggedRequest",
    "StandinOllama",
    "model_capabilities",
    "response_text",
]

OLLAMA_VERSION = "0.12.0"

# Exact error strings of the Ollama server (server/routes.go, server/sched.go).
_ERR_CHAT_MODEL_NOT_FOUND = 'model "{}" not found, try pulling it first'
_ERR_SHOW_MODEL_NOT_FOUND = "model '{}' not found"
_ERR_MAX_QUEUE = "server busy, please try again.  maximum pending requests exceeded"
_ERR_MISSING_BODY = "missing request body"
_ERR_MODEL_REQUIRED = "model is required"

_CHAT_PATHS = ("/api/chat", "/api/generate")
_ROUTES: dict[str, tuple[str, ...]] = {
    "/": ("GET", "HEAD"),
    "/api/version": ("GET", "HEAD"),
    "/api/tags": ("GET", "HEAD"),
    "/api/show": ("POST",),
    "/api/ps": ("GET",),
    "/api/chat": ("POST",),
    "/api/generate": ("POST",),
}


# --------------------------------------------------------------------------------------------------
# Request log
# --------------------------------------------------------------------------------------------------


@dataclass
class LoggedRequest:
    """One request as the stand-in saw it. Times are ``time.monotonic()`` seconds."""

    method: str
    path: str
    json: Any  # parsed JSON body; None when there was no (valid) JSON body
    received: float  # the whole request had arrived
    conn_id: int  # which TCP connection carried it (same id = keep-alive reuse)
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names
    started: float | None = None  # a generation slot was acquired (chat/generate only)
    finished: float | None = None  # the answer was completely written (or the request ended otherwise)
    status: int | None = None  # HTTP status sent; None = no answer (reset, or server went down)
    error: str | None = None  # the "error" text sent, or what happened to an unanswered request
    injected: bool = False  # answered by fail_next / fail_when / reset_connection_next

    @property
    def options(self) -> dict[str, Any]:
        body = self.json if isinstance(self.json, dict) else {}
        return dict(body.get("options") or {})

    @property
    def messages(self) -> list[dict[str, Any]]:
        body = self.json if isinstance(self.json, dict) else {}
        return list(body.get("messages") or [])

    @property
    def model(self) -> str | None:
        body = self.json if isinstance(self.json, dict) else {}
        return body.get("model") or body.get("name")


# --------------------------------------------------------------------------------------------------
# Deterministic "model"
# --------------------------------------------------------------------------------------------------

_OPENERS = ("In short,", "Broadly speaking,", "To answer directly,", "Put simply,", "On balance,",
            "In practice,")
_SUBJECTS = ("the key point", "the main consideration", "a careful approach", "the safest option",
             "the usual answer", "a practical first step", "the most important factor", "a sensible plan")
_VERBS = ("depends on", "comes down to", "starts with", "is shaped by", "benefits from", "relies on",
          "should reflect", "usually follows")
_OBJECTS = ("the context you describe", "the terms of the agreement", "clear documentation",
            "the relevant deadlines", "a quick review of the details", "what you want to achieve",
            "the available evidence", "your specific situation", "the people affected", "the costs involved")
_FOLLOWUPS = ("It is worth checking", "You may want to confirm", "Consider reviewing", "It helps to note",
              "Keep in mind", "Remember to look at")
_ENDINGS = ("before deciding.", "as early as possible.", "with someone you trust.", "in writing.",
            "step by step.", "so nothing is missed.")
_THOUGHTS = ("First I should restate the question.", "The user wants a clear and safe answer.",
             "I should mention the main trade-off.", "A short structured reply fits best.",
             "I will keep the answer concise.")
_WORD_RE = re.compile(r"[\w'-]+")


def _digest(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _last_user_text(messages: Sequence[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return str(message.get("content") or "")
    return str(messages[-1].get("content") or "") if messages else ""


def _schema_value(schema: Any, rng: random.Random, ref: str, depth: int = 0) -> Any:
    """A value that satisfies the simple JSON schemas used for structured outputs."""
    if not isinstance(schema, dict) or depth > 6:
        return ref
    if schema.get("enum"):
        return rng.choice(list(schema["enum"]))
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return _schema_value(schema[key][0], rng, ref, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        return {name: _schema_value(sub, rng, ref, depth + 1)
                for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        count = max(int(schema.get("minItems", 2)), 1)
        return [_schema_value(schema.get("items", {}), rng, ref, depth + 1) for _ in range(count)]
    if kind == "integer":
        low, high = int(schema.get("minimum", 1)), int(schema.get("maximum", 10))
        return rng.randint(low, max(low, high))
    if kind == "number":
        low, high = float(schema.get("minimum", 0.0)), float(schema.get("maximum", 1.0))
        return round(rng.uniform(low, max(low, high)), 3)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} ({ref})"


def response_text(model: str, messages: Sequence[dict[str, Any]], options: dict[str, Any] | None = None,
                  *, format: Any = None) -> str:
    """The full (untruncated) assistant content the stand-in answers with.

    Deterministic in (model, each message's role and content, options other than ``num_predict``, format):
    a short paragraph whose first word is ``[<10 hex digits of a hash of all that>]`` and which quotes the
    start of the last user message. ``format="json"`` gives ``{"response": paragraph}``, a JSON schema a
    matching object. ``num_predict`` is left out so a truncated reply is always a prefix of the full one.
    """
    options = {k: v for k, v in (options or {}).items() if k != "num_predict" and v is not None}
    convo = [[m.get("role"), m.get("content")] for m in messages]
    digest = _digest(model, convo, options, format)
    ref = digest[:10]
    rng = random.Random(int(digest[10:26], 16))
    snippet = " ".join(_WORD_RE.findall(_last_user_text(messages))[:6]) or "your message"
    sentences = [f"[{ref}] Regarding \"{snippet}\", {rng.choice(_OPENERS).lower()} "
                 f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}."]
    for _ in range(rng.randint(1, 3)):
        sentences.append(f"{rng.choice(_FOLLOWUPS)} {rng.choice(_OBJECTS)} {rng.choice(_ENDINGS)}")
    paragraph = " ".join(sentences)
    if format == "json":
        return json.dumps({"response": paragraph}, ensure_ascii=False)
    if isinstance(format, dict):
        return json.dumps(_schema_value(format, rng, ref), ensure_ascii=False)
    return paragraph


def _thinking_text(model: str, messages: Sequence[dict[str, Any]], options: dict[str, Any]) -> str:
    rng = random.Random(_digest("think", model, [[m.get("role"), m.get("content")] for m in messages],
                                {k: v for k, v in options.items() if k != "num_predict"}))
    return " ".join(rng.sample(_THOUGHTS, 3))


def model_capabilities(name: str) -> list[str]:
    """What ``/api/show`` reports for a model name (decided from the name, like the real model families)."""
    base = name.split("/")[-1].lower()
    if "embed" in base or base.startswith(("bge-", "all-minilm")):
        return ["embedding"]
    if base.startswith(("qwen3", "deepseek-r1", "gpt-oss", "magistral")):
        return ["completion", "tools", "thinking"]
    if base.startswith(("llama3.1", "llama3.2", "llama3.3", "qwen2.5", "mistral", "granite", "command-r")):
        return ["completion", "tools"]
    return ["completion"]


def _family(name: str) -> str:
    base = name.split("/")[-1].split(":")[0].lower()
    for prefix, family in (("llama", "llama"), ("mistral", "llama"), ("qwen3", "qwen3"),
                           ("qwen2", "qwen2"), ("gemma3", "gemma3"), ("gemma", "gemma"), ("phi", "phi3"),
                           ("deepseek-r1", "qwen2"), ("gpt-oss", "gptoss"), ("nomic", "nomic-bert")):
        if base.startswith(prefix):
            return family
    match = re.match(r"[a-z]+", base)
    return match.group(0) if match else "llama"


def _parameter_count(name: str) -> int:
    tag = name.split(":", 1)[1].lower() if ":" in name else ""
    match = re.search(r"(\d+(?:\.\d+)?)([bm])", tag)
    if not match:
        return 7_615_616_512
    scale = 1_000_000_000 if match.group(2) == "b" else 1_000_000
    return int(float(match.group(1)) * scale * 1.0037)


def _human_parameters(count: int) -> str:
    return f"{count / 1e9:.1f}B" if count >= 1_000_000_000 else f"{count / 1e6:.2f}M"


def _normalize(name: str) -> str:
    name = name.strip()
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def _go_time(ns: int | None = None) -> str:
    """RFC 3339 with nanoseconds in UTC, the way Go's time.Time marshals."""
    ns = time.time_ns() if ns is None else ns
    seconds, frac = divmod(ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{frac:09d}".rstrip("0")
    return f"{stamp}.{digits}Z" if digits else f"{stamp}Z"


def _parse_keep_alive(value: Any) -> float | None:
    """Seconds to stay loaded; None = forever; 0 = unload now."""
    if value is None:
        return 300.0
    if isinstance(value, bool):
        return 300.0
    if isinstance(value, int | float):
        return None if value < 0 else float(value)
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        total, units = 0.0, {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
        parts = re.findall(r"(-?\d+(?:\.\d+)?)(ms|h|m|s)", text)
        if not parts:
            return 300.0
        for amount, unit in parts:
            total += float(amount) * units[unit]
        return None if total < 0 else total
    return None if number < 0 else number


_REASONS = {499: "Client Closed Request"}


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return _REASONS.get(status, "Unknown")


_JSON_TYPE = "application/json; charset=utf-8"
_TEXT_TYPE = "text/plain; charset=utf-8"
_NDJSON_TYPE = "application/x-ndjson"


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class _DateCache:
    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def get(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._second, self._value = now, formatdate(now, usegmt=True)
        return self._value


# --------------------------------------------------------------------------------------------------
# HTTP/1.1 connection (asyncio protocol)
# --------------------------------------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """One client connection: parses requests one at a time (keep-alive, pipelining tolerated)."""

    def __init__(self, server: StandinOllama, conn_id: int) -> None:
        self.server = server
        self.conn_id = conn_id
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.busy = False
        self.closed = False
        self.server_aborted = False
        self.task: asyncio.Task[None] | None = None

    # -- asyncio callbacks -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server._connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._process()

    def eof_received(self) -> bool:
        # HTTP clients do not half-close: EOF means the client went away (closed, timed out, cancelled).
        # Like Go's net/http (whose request context is then cancelled), drop the connection; connection_lost
        # cancels a generation in progress, which gives its slot back.
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server._connections.discard(self)
        if self.task is not None and not self.task.done():
            self.task.cancel()

    # -- parsing -----------------------------------------------------------------------------------

    def _process(self) -> None:
        while not self.busy and not self.closed:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > 65536:
                    self.send(431, b"431 Request Header Fields Too Large", _TEXT_TYPE, keep_alive=False)
                    self.close()
                return
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            try:
                method, target, version = lines[0].split(" ", 2)
            except ValueError:
                self.send(400, b"400 Bad Request", _TEXT_TYPE, keep_alive=False)
                self.close()
                return
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self.send(501, b"501 chunked request bodies are not supported by the stand-in", _TEXT_TYPE,
                          keep_alive=False)
                self.close()
                return
            try:
                length = int(headers.get("content-length") or 0)
            except ValueError:
                length = -1
            if length < 0:
                self.send(400, b"400 Bad Request", _TEXT_TYPE, keep_alive=False)
                self.close()
                return
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            body = bytes(self.buffer[end + 4:total])
            del self.buffer[:total]
            connection = headers.get("connection", "").lower()
            http11 = version == "HTTP/1.1"
            keep_alive = "close" not in connection if http11 else "keep-alive" in connection
            self.busy = True
            self.server._dispatch(self, method, target.split("?", 1)[0], headers, body, keep_alive)

    def request_done(self, keep_alive: bool) -> None:
        """Called when the answer to the current request is complete."""
        self.task = None
        if self.closed:
            return
        if not keep_alive:
            self.close()
            return
        self.busy = False
        if self.buffer:
            # Called from a task (never from inside _process), so no recursion.
            self._process()

    # -- writing -----------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def response_bytes(self, status: int, body: bytes, content_type: str, *, keep_alive: bool,
                       head_only: bool = False) -> bytes:
        head = (f"HTTP/1.1 {status} {_reason(status)}\r\nContent-Type: {content_type}\r\n"
                f"Date: {self.server._date.get()}\r\nContent-Length: {len(body)}\r\n")
        if not keep_alive:
            head += "Connection: close\r\n"
        return head.encode("latin-1") + b"\r\n" + (b"" if head_only else body)

    def send(self, status: int, body: bytes, content_type: str, *, keep_alive: bool, head_only: bool = False,
             ) -> None:
        data = self.response_bytes(status, body, content_type, keep_alive=keep_alive, head_only=head_only)
        self.write(data)

    def start_chunked(self, status: int, content_type: str, *, keep_alive: bool) -> None:
        head = (f"HTTP/1.1 {status} {_reason(status)}\r\nContent-Type: {content_type}\r\n"
                f"Date: {self.server._date.get()}\r\nTransfer-Encoding: chunked\r\n")
        if not keep_alive:
            head += "Connection: close\r\n"
        self.write(head.encode("latin-1") + b"\r\n")

    def write_chunk(self, data: bytes) -> None:
        if data:
            self.write(b"%x\r\n%b\r\n" % (len(data), data))

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()

    def abort(self, *, reset: bool) -> None:
        """Drop the connection at once; with ``reset`` the peer gets a TCP RST (ECONNRESET)."""
        self.server_aborted = True
        if self.transport is None:
            return
        if reset:
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.closed = True
        self.transport.abort()


# --------------------------------------------------------------------------------------------------
# Generation slots
# --------------------------------------------------------------------------------------------------


async def hold_until(deadline: float) -> None:
    """Sleep until ``time.monotonic()`` reaches ``deadline`` (no sleep when it has passed)."""
    delay = deadline - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


class _Ticket:
    """One generation's claim on a slot: held at once, or a place in the FIFO queue."""

    __slots__ = ("holding", "waiter")

    def __init__(self, waiter: asyncio.Future[None] | None) -> None:
        self.waiter = waiter
        self.holding = waiter is None


class _Slots:
    """A FIFO semaphore whose size (``server.parallel``) may change at any time.

    Claims are made synchronously when a request arrives (so queue order is arrival order and the queue
    length is exact); a task then waits for its ticket, and gives it back exactly once however it ends.
    """

    def __init__(self, server: StandinOllama) -> None:
        self.server = server
        self.active = 0
        self.waiters: deque[asyncio.Future[None]] = deque()

    def has_free_slot(self) -> bool:
        return self.active < self.server._parallel and not self.waiters

    def reserve(self) -> _Ticket:
        if self.has_free_slot():
            self.active += 1
            return _Ticket(None)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        return _Ticket(waiter)

    async def wait(self, ticket: _Ticket) -> None:
        if not ticket.holding and ticket.waiter is not None:
            await ticket.waiter
            ticket.holding = True

    def give_back(self, ticket: _Ticket) -> None:
        """Release a held slot or leave the queue; safe to call more than once."""
        waiter, ticket.waiter = ticket.waiter, None
        if ticket.holding:
            ticket.holding = False
            self.release()
        elif waiter is not None:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over, but the task ended before taking it
            else:
                waiter.cancel()
                with contextlib.suppress(ValueError):
                    self.waiters.remove(waiter)

    def release(self) -> None:
        self.active -= 1
        self.wake()

    def wake(self) -> None:
        while self.waiters and self.active < self.server._parallel:
            waiter = self.waiters.popleft()
            if not waiter.done():
                self.active += 1
                waiter.set_result(None)


# --------------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------------


@dataclass
class _Plan:
    """Everything decided about a generation request before it waits for a slot."""

    endpoint: str  # "/api/chat" or "/api/generate"
    model: str  # as the request spelled it (Ollama echoes it)
    stream: bool
    pieces: list[tuple[str, str]]  # ("content" | "thinking", text piece) in output order
    done_reason: str
    prompt_eval_count: int
    keep_alive: Any
    resolved: str
    eval_count: int


class StandinOllama:
    """A real HTTP server on 127.0.0.1 (ephemeral port) speaking Ollama's API.

    ``latency`` (seconds a generation holds its slot) and ``parallel`` (number of slots) may be changed while
    it runs. ``requests`` is a snapshot of the request log, ``max_in_flight`` the most generations that ever
    held slots at once. Use as a context manager or call :meth:`start` / :meth:`stop`.
    """

    version = OLLAMA_VERSION

    def __init__(self, models: Sequence[str] = ("llama3.1:8b",), *, latency: float = 0.0, parallel: int = 4,
                 tokens_per_word: int = 1, max_queue: int = 512, port: int = 0) -> None:
        if parallel < 1:
            raise ValueError("parallel must be at least 1")
        if tokens_per_word < 1:
            raise ValueError("tokens_per_word must be at least 1")
        self.models: list[str] = [_normalize(m) for m in models]
        self.latency = float(latency)
        self._parallel = int(parallel)
        self.tokens_per_word = int(tokens_per_word)
        self.max_queue = int(max_queue)
        self.port = int(port)
        self.url = ""

        self._lock = threading.Lock()
        self._log: list[LoggedRequest] = []
        self._max_in_flight = 0
        self._fail_next: deque[tuple[int, str]] = deque()
        self._reset_next = 0
        self._fail_when: Callable[[dict[str, Any]], Any] | None = None
        self._answer_when: Callable[[dict[str, Any]], str | None] | None = None
        self._loaded: dict[str, float | None] = {}  # model -> monotonic expiry (None = forever)
        self._created_ns = time.time_ns()

        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._listener: asyncio.AbstractServer | None = None
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = _Slots(self)
        self._conn_ids = itertools.count(1)
        self._date = _DateCache()

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> StandinOllama:
        """Start the event-loop thread and listen; returns once the port accepts connections."""
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=self._run_loop, name=f"standin-ollama-{id(self):x}",
                                        daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._listen(), loop).result(timeout=10)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Close the listener and every connection, cancel running generations, end the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
        if not loop.is_running():
            loop.close()
        self._loop = None
        self._thread = None
        self._listener = None

    def __enter__(self) -> StandinOllama:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def go_down(self) -> None:
        """Stop listening and drop every open connection, like a crashed or stopped Ollama.

        New connections are refused; requests in progress end without an answer (status None in the log).
        """
        self._call(self._go_down())

    def come_up(self) -> None:
        """Listen again on the same port after :meth:`go_down`."""
        self._call(self._listen())

    @property
    def is_up(self) -> bool:
        return self._listener is not None

    # -- settings and observations -----------------------------------------------------------------

    @property
    def parallel(self) -> int:
        return self._parallel

    @parallel.setter
    def parallel(self, value: int) -> None:
        if value < 1:
            raise ValueError("parallel must be at least 1")
        self._parallel = int(value)
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self._slots.wake)

    @property
    def requests(self) -> list[LoggedRequest]:
        """A snapshot (copy) of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def chat_requests(self) -> list[LoggedRequest]:
        """The logged ``/api/chat`` requests, oldest first."""
        return [r for r in self.requests if r.path == "/api/chat"]

    @property
    def max_in_flight(self) -> int:
        return self._max_in_flight

    @property
    def in_flight(self) -> int:
        """Generations holding a slot right now."""
        return self._slots.active

    @property
    def queued(self) -> int:
        """Generations waiting for a slot right now."""
        return len(self._slots.waiters)

    def reset_stats(self) -> None:
        """Forget the request log and ``max_in_flight`` (injected failures stay armed)."""
        with self._lock:
            self._log.clear()
            self._max_in_flight = 0

    # -- fault injection ---------------------------------------------------------------------------

    def fail_next(self, count: int, status: int = 500, error: str = "injected failure") -> None:
        """The next ``count`` chat/generate requests answer HTTP ``status`` with ``{"error": error}``."""
        with self._lock:
            self._fail_next.extend([(int(status), error)] * count)

    def fail_when(self, predicate: Callable[[dict[str, Any]], Any] | None) -> None:
        """Per chat/generate request: ``predicate(body)`` returns a status (or ``(status, error)``) to fail
        that request, or None to serve it. ``fail_when(None)`` removes the predicate."""
        with self._lock:
            self._fail_when = predicate

    def reset_connection_next(self, count: int) -> None:
        """The next ``count`` chat/generate requests are read, then their connection is reset (TCP RST)
        without an answer."""
        with self._lock:
            self._reset_next += count

    def clear_faults(self) -> None:
        with self._lock:
            self._fail_next.clear()
            self._reset_next = 0
            self._fail_when = None

    # -- scripted replies -------------------------------------------------------------------------

    def answer_when(self, responder: Callable[[dict[str, Any]], str | None] | None) -> None:
        """Per chat/generate request that is served (not failed): ``responder(body)`` returns the assistant
        content to answer with instead of the deterministic reply, or None to keep that. It runs on the
        server's thread, once per request, before the request waits for a slot; streaming, truncation and
        token counts apply to the scripted text as to any other. ``answer_when(None)`` removes it."""
        with self._lock:
            self._answer_when = responder

    # -- expected answers (for tests) --------------------------------------------------------------

    @staticmethod
    def response_text(model: str, messages: Sequence[dict[str, Any]], options: dict[str, Any] | None = None,
                      *, format: Any = None) -> str:
        """See :func:`response_text`."""
        return response_text(model, messages, options, format=format)

    # -- event-loop side ---------------------------------------------------------------------------

    def _run_loop(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())

    def _call(self, coro: Any) -> Any:
        loop = self._loop
        if loop is None or not loop.is_running():
            coro.close()
            raise RuntimeError("the stand-in server is not running; call start() first")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=10)

    async def _listen(self) -> None:
        if self._listener is not None:
            return
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(
            lambda: _Connection(self, next(self._conn_ids)), "127.0.0.1", self.port, backlog=2048,
            reuse_address=True)
        self.port = self._listener.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    async def _drop_everything(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for conn in list(self._connections):
            conn.abort(reset=False)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0)  # let connection_lost callbacks run

    async def _go_down(self) -> None:
        await self._drop_everything()
        with self._lock:
            self._loaded.clear()

    async def _shutdown(self) -> None:
        await self._drop_everything()

    # -- request handling --------------------------------------------------------------------------

    def _dispatch(self, conn: _Connection, method: str, path: str, headers: dict[str, str], body: bytes,
                  keep_alive: bool) -> None:
        entry = LoggedRequest(method=method, path=path, json=None, received=time.monotonic(),
                              conn_id=conn.conn_id, headers=headers)
        if body:
            with contextlib.suppress(ValueError):
                entry.json = json.loads(body)
        with self._lock:
            self._log.append(entry)

        allowed = _ROUTES.get(path)
        if allowed is None:
            self._finish_text(conn, entry, 404, "404 page not found", keep_alive)
            return
        if method not in allowed:
            self._finish_text(conn, entry, 405, "405 method not allowed", keep_alive)
            return
        head_only = method == "HEAD"
        if path == "/":
            self._finish_text(conn, entry, 200, "Ollama is running", keep_alive, head_only=head_only)
        elif path == "/api/version":
            self._finish_json(conn, entry, 200, {"version": self.version}, keep_alive, head_only=head_only)
        elif path == "/api/tags":
            tags = [self._tag(m, i) for i, m in enumerate(self.models)]
            self._finish_json(conn, entry, 200, {"models": tags}, keep_alive, head_only=head_only)
        elif path == "/api/ps":
            self._finish_json(conn, entry, 200, {"models": self._ps()}, keep_alive)
        elif path == "/api/show":
            self._show(conn, entry, body, keep_alive)
        else:
            self._generation(conn, entry, body, keep_alive)

    def _finish_json(self, conn: _Connection, entry: LoggedRequest, status: int, payload: Any,
                     keep_alive: bool, *, head_only: bool = False) -> None:
        # The log is complete before the bytes leave: a client holding its answer sees a finished entry.
        entry.status = status
        if isinstance(payload, dict) and status >= 400:
            entry.error = payload.get("error")
        entry.finished = time.monotonic()
        conn.send(status, _dumps(payload), _JSON_TYPE, keep_alive=keep_alive, head_only=head_only)
        self._finish_sync(conn, keep_alive)

    def _finish_text(self, conn: _Connection, entry: LoggedRequest, status: int, text: str, keep_alive: bool,
                     *, head_only: bool = False) -> None:
        entry.status = status
        if status >= 400:
            entry.error = text
        entry.finished = time.monotonic()
        conn.send(status, text.encode("utf-8"), _TEXT_TYPE, keep_alive=keep_alive, head_only=head_only)
        self._finish_sync(conn, keep_alive)

    @staticmethod
    def _finish_sync(conn: _Connection, keep_alive: bool) -> None:
        # Inside _Connection._process: just flip the state; its loop picks up pipelined requests.
        if keep_alive:
            conn.busy = False
        else:
            conn.close()

    def _resolve(self, name: str) -> str | None:
        wanted = _normalize(name).lower()
        for model in self.models:
            if model.lower() == wanted:
                return model
        return None

    def _tag(self, name: str, index: int) -> dict[str, Any]:
        params = _parameter_count(name)
        family = _family(name)
        return {
            "name": name,
            "model": name,
            "modified_at": _go_time(self._created_ns - index * 3_600_000_000_000),
            "size": int(params * 0.61) + 1_000_000,
            "digest": hashlib.sha256(name.encode("utf-8")).hexdigest(),
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": family,
                "families": [family],
                "parameter_size": _human_parameters(params),
                "quantization_level": "Q4_K_M",
            },
        }

    def _show(self, conn: _Connection, entry: LoggedRequest, body: bytes, keep_alive: bool) -> None:
        request = entry.json
        if not body:
            self._finish_json(conn, entry, 400, {"error": _ERR_MISSING_BODY}, keep_alive)
            return
        if not isinstance(request, dict):
            self._finish_json(conn, entry, 400, {"error": "invalid JSON in request body"}, keep_alive)
            return
        wanted = request.get("model") or request.get("name") or ""
        if not wanted:
            self._finish_json(conn, entry, 400, {"error": _ERR_MODEL_REQUIRED}, keep_alive)
            return
        name = self._resolve(str(wanted))
        if name is None:
            error = _ERR_SHOW_MODEL_NOT_FOUND.format(wanted)
            self._finish_json(conn, entry, 404, {"error": error}, keep_alive)
            return
        self._finish_json(conn, entry, 200, self._show_payload(name), keep_alive)

    def _show_payload(self, name: str) -> dict[str, Any]:
        tag = self._tag(name, self.models.index(name))
        family = tag["details"]["family"]
        digest = tag["digest"]
        template = ("{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n"
                    "{{ .System }}<|eot_id|>{{ end }}"
                    "{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n"
                    "{{ .Prompt }}<|eot_id|>{{ end }}"
                    "<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>")
        stops = ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
        parameters = "\n".join(f"{'stop':<30} {json.dumps(s)}" for s in stops)
        modelfile = (
            '# Modelfile generated by "ollama show"\n'
            "# To build a new Modelfile based on this, replace FROM with:\n"
            f"# FROM {name}\n\n"
            f"FROM /root/.ollama/models/blobs/sha256-{digest}\n"
            f'TEMPLATE """{template}"""\n'
            + "".join(f"PARAMETER stop {s}\n" for s in stops)
            + 'LICENSE """Stand-in model for tests. No weights."""\n'
        )
        return {
            "license": "Stand-in model for tests. No weights.",
            "modelfile": modelfile,
            "parameters": parameters,
            "template": template,
            "details": tag["details"],
            "model_info": {
                "general.architecture": family,
                "general.basename": name.split(":")[0],
                "general.file_type": 15,
                "general.parameter_count": _parameter_count(name),
                "general.quantization_version": 2,
                f"{family}.block_count": 32,
                f"{family}.context_length": 131072,
                f"{family}.embedding_length": 4096,
                "tokenizer.ggml.model": "gpt2",
            },
            "capabilities": model_capabilities(name),
            "modified_at": tag["modified_at"],
        }

    def _ps(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        out = []
        with self._lock:
            loaded = dict(self._loaded)
        for name, expiry in loaded.items():
            if expiry is not None and expiry <= now:
                continue
            if name not in self.models:
                continue
            tag = self._tag(name, self.models.index(name))
            remaining = 10 * 365 * 86400.0 if expiry is None else expiry - now
            out.append({
                "name": name, "model": name, "size": tag["size"], "digest": tag["digest"],
                "details": tag["details"], "expires_at": _go_time(time.time_ns() + int(remaining * 1e9)),
                "size_vram": tag["size"], "context_length": 4096,
            })
        return out

    # -- chat / generate ---------------------------------------------------------------------------

    def _injected(self, entry: LoggedRequest) -> tuple[str, int, str] | None:
        """("reset"|"fail", status, error) when a fault is armed for this request."""
        with self._lock:
            if self._reset_next > 0:
                self._reset_next -= 1
                return ("reset", 0, "connection reset (injected)")
            if self._fail_next:
                status, error = self._fail_next.popleft()
                return ("fail", status, error)
            predicate = self._fail_when
        if predicate is not None and isinstance(entry.json, dict):
            try:
                verdict = predicate(entry.json)
            except Exception as exc:
                return ("fail", 500, f"fail_when predicate raised {exc!r}")
            if verdict is not None and verdict is not False:
                if isinstance(verdict, tuple):
                    return ("fail", int(verdict[0]), str(verdict[1]))
                return ("fail", int(verdict), "injected failure")
        return None

    def _generation(self, conn: _Connection, entry: LoggedRequest, body: bytes, keep_alive: bool) -> None:
        fault = self._injected(entry)
        if fault is not None:
            kind, status, error = fault
            entry.injected = True
            if kind == "reset":
                entry.error = error
                entry.finished = time.monotonic()
                conn.abort(reset=True)
                return
            self._finish_json(conn, entry, status, {"error": error}, keep_alive)
            return

        request = entry.json
        if not body:
            self._finish_json(conn, entry, 400, {"error": _ERR_MISSING_BODY}, keep_alive)
            return
        if not isinstance(request, dict):
            self._finish_json(conn, entry, 400, {"error": "invalid JSON in request body"}, keep_alive)
            return
        wanted = request.get("model")
        if not wanted or not isinstance(wanted, str):
            self._finish_json(conn, entry, 400, {"error": _ERR_MODEL_REQUIRED}, keep_alive)
            return
        resolved = self._resolve(wanted)
        if resolved is None:
            error = _ERR_CHAT_MODEL_NOT_FOUND.format(wanted)
            self._finish_json(conn, entry, 404, {"error": error}, keep_alive)
            return
        capabilities = model_capabilities(resolved)
        chat = entry.path == "/api/chat"
        if "completion" not in capabilities:
            what = "chat" if chat else "generate"
            self._finish_json(conn, entry, 400, {"error": f'"{wanted}" does not support {what}'}, keep_alive)
            return
        think = request.get("think")
        thinking_model = "thinking" in capabilities
        if think not in (None, False) and not thinking_model:
            error = f'"{wanted}" does not support thinking'
            self._finish_json(conn, entry, 400, {"error": error}, keep_alive)
            return

        if chat:
            messages = request.get("messages") or []
            if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
                error = "messages must be a list of objects"
                self._finish_json(conn, entry, 400, {"error": error}, keep_alive)
                return
        else:
            messages = []
            if request.get("system"):
                messages.append({"role": "system", "content": request["system"]})
            if request.get("prompt"):
                messages.append({"role": "user", "content": request["prompt"]})

        if not messages or (not chat and not request.get("prompt")):
            self._load_or_unload(conn, entry, request, wanted, resolved, chat, keep_alive)
            return

        if not self._slots.has_free_slot() and len(self._slots.waiters) >= self.max_queue:
            self._finish_json(conn, entry, 503, {"error": _ERR_MAX_QUEUE}, keep_alive)
            return

        options = request.get("options") or {}
        if not isinstance(options, dict):
            options = {}
        plan = self._plan(entry.path, wanted, resolved, messages, options, request,
                          thinking=thinking_model and think is not False)
        ticket = self._slots.reserve()
        task = asyncio.get_running_loop().create_task(
            self._run_generation(conn, entry, plan, keep_alive, ticket))
        conn.task = task
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._generation_ended, conn, entry, ticket))

    def _generation_ended(self, conn: _Connection, entry: LoggedRequest, ticket: _Ticket,
                          task: asyncio.Task[None]) -> None:
        # Also covers a task cancelled before it ever ran (its body, and so its finally, never executes).
        self._tasks.discard(task)
        self._slots.give_back(ticket)
        if entry.finished is None:
            self._note_cancelled(conn, entry)

    @staticmethod
    def _note_cancelled(conn: _Connection, entry: LoggedRequest) -> None:
        entry.finished = time.monotonic()
        if conn.server_aborted:
            entry.error = "connection dropped by the server"
        else:
            entry.status = 499  # what Ollama logs when the client goes away
            entry.error = "request canceled"

    def _load_or_unload(self, conn: _Connection, entry: LoggedRequest, request: dict[str, Any], wanted: str,
                        resolved: str, chat: bool, keep_alive: bool) -> None:
        expiry = _parse_keep_alive(request.get("keep_alive"))
        with self._lock:
            if expiry == 0:
                self._loaded.pop(resolved, None)
            else:
                self._loaded[resolved] = None if expiry is None else time.monotonic() + expiry
        payload: dict[str, Any] = {"model": wanted, "created_at": _go_time()}
        if chat:
            payload["message"] = {"role": "assistant", "content": ""}
        else:
            payload["response"] = ""
        payload["done_reason"] = "unload" if expiry == 0 else "load"
        payload["done"] = True
        self._finish_json(conn, entry, 200, payload, keep_alive)

    def _plan(self, endpoint: str, wanted: str, resolved: str, messages: list[dict[str, Any]],
              options: dict[str, Any], request: dict[str, Any], *, thinking: bool) -> _Plan:
        with self._lock:
            responder = self._answer_when
        scripted = responder(request) if responder is not None else None
        text = scripted if scripted is not None else response_text(resolved, messages, options,
                                                                   format=request.get("format"))
        words = text.split(" ")
        tpw = self.tokens_per_word
        sequence: list[tuple[str, str]] = []
        if thinking:
            sequence += [("thinking", w) for w in _thinking_text(resolved, messages, options).split(" ")]
        sequence += [("content", w) for w in words]
        total_tokens = len(sequence) * tpw
        limit = options.get("num_predict")
        done_reason = "stop"
        if isinstance(limit, int | float) and not isinstance(limit, bool) and 0 <= limit < total_tokens:
            sequence = sequence[: int(limit) // tpw]
            total_tokens = int(limit)
            done_reason = "length"
        pieces: list[tuple[str, str]] = []
        previous_kind = None
        for kind, word in sequence:
            pieces.append((kind, word if kind != previous_kind else " " + word))
            previous_kind = kind
        prompt_words = sum(len(str(m.get("content") or "").split()) for m in messages)
        return _Plan(
            endpoint=endpoint, model=wanted, stream=request.get("stream", True) is not False, pieces=pieces,
            done_reason=done_reason, prompt_eval_count=prompt_words * tpw + 4 * len(messages) + 1,
            keep_alive=request.get("keep_alive"), resolved=resolved, eval_count=total_tokens,
        )

    async def _run_generation(self, conn: _Connection, entry: LoggedRequest, plan: _Plan, keep_alive: bool,
                              ticket: _Ticket) -> None:
        try:
            queued = not ticket.holding
            await self._slots.wait(ticket)
            entry.started = time.monotonic()
            held_from = entry.started if queued else entry.received
            active = self._slots.active
            if active > self._max_in_flight:
                self._max_in_flight = active
            latency = self.latency
            if plan.stream:
                await self._stream(conn, plan, latency, keep_alive, held_from)
                final = _dumps(self._final_payload(plan, entry, whole=False)) + b"\n"
                tail = b"%x\r\n%b\r\n0\r\n\r\n" % (len(final), final)
            else:
                await hold_until(held_from + latency)
                payload = self._final_payload(plan, entry, whole=True)
                tail = conn.response_bytes(200, _dumps(payload), _JSON_TYPE, keep_alive=keep_alive)
            # Log and free the slot before the answer completes, so that a client holding its answer sees
            # a finished log entry and a free slot, and a queued generation starts after this one finished.
            entry.status = 200
            entry.finished = time.monotonic()
            self._mark_loaded(plan)
            self._slots.give_back(ticket)
            conn.write(tail)
        except asyncio.CancelledError:
            self._note_cancelled(conn, entry)
            return
        finally:
            self._slots.give_back(ticket)  # before request_done, so a queued request starts first
        conn.request_done(keep_alive)

    async def _stream(self, conn: _Connection, plan: _Plan, latency: float, keep_alive: bool,
                      held_from: float) -> None:
        """Headers and every chunk but the final one, spread over ``latency`` from ``held_from``."""
        conn.start_chunked(200, _NDJSON_TYPE, keep_alive=keep_alive)
        chat = plan.endpoint == "/api/chat"
        lines: list[bytes] = []
        for kind, piece in plan.pieces:
            chunk: dict[str, Any] = {"model": plan.model, "created_at": _go_time()}
            if chat:
                message = {"role": "assistant", "content": piece if kind == "content" else ""}
                if kind == "thinking":
                    message["thinking"] = piece
                chunk["message"] = message
            else:
                chunk["response"] = piece if kind == "content" else ""
                if kind == "thinking":
                    chunk["thinking"] = piece
            chunk["done"] = False
            lines.append(_dumps(chunk) + b"\n")
        batches = 8 if latency > 0 else 1
        size = max(1, -(-len(lines) // batches))
        groups = [lines[i:i + size] for i in range(0, len(lines), size)] or [[]]
        for number, group in enumerate(groups, start=1):
            if latency > 0:
                await hold_until(held_from + latency * number / len(groups))
            conn.write_chunk(b"".join(group))

    def _final_payload(self, plan: _Plan, entry: LoggedRequest, *, whole: bool) -> dict[str, Any]:
        now = time.monotonic()
        content = "".join(p for k, p in plan.pieces if k == "content") if whole else ""
        thinking = "".join(p for k, p in plan.pieces if k == "thinking") if whole else ""
        payload: dict[str, Any] = {"model": plan.model, "created_at": _go_time()}
        if plan.endpoint == "/api/chat":
            message: dict[str, Any] = {"role": "assistant", "content": content}
            if thinking:
                message["thinking"] = thinking
            payload["message"] = message
        else:
            payload["response"] = content
            if thinking:
                payload["thinking"] = thinking
        load_ns = 2_000_000
        prompt_ns = plan.prompt_eval_count * 150_000
        eval_ns = max(int((now - (entry.started or now)) * 1e9), plan.eval_count * 1_000)
        payload.update({
            "done_reason": plan.done_reason,
            "done": True,
            "total_duration": int((now - entry.received) * 1e9) + load_ns + prompt_ns,
            "load_duration": load_ns,
            "prompt_eval_count": plan.prompt_eval_count,
            "prompt_eval_duration": prompt_ns,
            "eval_count": plan.eval_count,
            "eval_duration": eval_ns,
        })
        return payload

    def _mark_loaded(self, plan: _Plan) -> None:
        expiry = _parse_keep_alive(plan.keep_alive)
        with self._lock:
            if expiry == 0:
                self._loaded.pop(plan.resolved, None)
            else:
                self._loaded[plan.resolved] = None if expiry is None else time.monotonic() + expiry
