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


SCHEMA = {"type": "object", "properties": {"score": {"type": "integer", "minimum": 1,
                                                     "maximum": 5},
                                           "reason": {"type": "string"}},
          "required": ["score", "reason"]}


def test_chat_with_a_json_schema_through_every_backend() -> None:
    """The seam's structured output (as the LLM judge uses it): the schema reaches the server in
    the backend's own form and the reply is JSON matching it."""
    import asyncio
    import json

    from core.backends import ChatOptions, HostSettings, make_backend
    from tests.ollama_standin import StandinOllama
    from tests.openai_standin import StandinOpenAI

    messages = [{"role": "user", "content": "Rate this answer from 1 to 5."}]
    with StandinOllama(["llama3.1:8b"]) as ollama_host, StandinOpenAI(["judge"]) as openai_host:
        hosts = {"ollama": (HostSettings(url=ollama_host.url), "llama3.1:8b", ollama_host),
                 "openai": (HostSettings(url=openai_host.url, api="openai"), "judge",
                            openai_host)}
        assert set(hosts) == set(BACKENDS)

        async def ask(host: HostSettings, model: str) -> str:
            backend = make_backend(host, timeout_s=30)
            try:
                reply = await backend.chat(model, messages, ChatOptions(temperature=0.0, seed=1),
                                           schema=SCHEMA)
            finally:
                await backend.aclose()
            assert reply.finish_reason == "stop" and not reply.truncated
            return reply.text

        for name, (host, model, server) in hosts.items():
            answer = json.loads(asyncio.run(ask(host, model)))
            assert set(answer) == {"score", "reason"} and 1 <= answer["score"] <= 5, name
            (sent,) = [r.json for r in server.requests if r.method == "POST"]
            if name == "ollama":
                assert sent["format"] == SCHEMA and sent["options"]["seed"] == 1
            else:
                assert sent["response_format"] == {"type": "json_schema", "json_schema": {
                    "name": "reply", "schema": SCHEMA, "strict": True}}
                assert sent["seed"] == 1 and sent["temperature"] == 0.0


def test_ollama_chat_sends_what_the_official_client_sends_and_fails_alike() -> None:
    """OllamaBackend.chat posts /api/chat itself (without the client's pydantic request model,
    see core/backends/ollama.py): the server must see the very body and headers
    `ollama.AsyncClient.chat` sends, get the same reply fields, and failures must be the
    client's exceptions, classified alike; a call's deadline is generation.timeout_s."""
    import asyncio

    import ollama

    from core.backends import ChatOptions, HostSettings, make_backend
    from tests.ollama_standin import StandinOllama

    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Kündigung: what is the notice period?"}]
    calls = [(ChatOptions(temperature=0.3, seed=7), None, {"temperature": 0.3, "seed": 7}),
             (ChatOptions(temperature=0.0, top_p=0.9, seed=1, max_tokens=5), SCHEMA,
              {"temperature": 0.0, "seed": 1, "top_p": 0.9, "num_predict": 5})]

    with StandinOllama(["llama3.1:8b"]) as server:
        host = HostSettings(url=server.url)

        async def both(options: ChatOptions, schema: dict | None, sent: dict) -> None:
            backend = make_backend(host, timeout_s=30)
            client = ollama.AsyncClient(host=server.url)
            try:
                ours = await backend.chat("llama3.1:8b", messages, options, schema=schema)
                theirs = await client.chat(model="llama3.1:8b", messages=messages,
                                           options=sent, stream=False, format=schema)
            finally:
                await backend.aclose()
                await client._client.aclose()
            assert ours.text == theirs.message.content and ours.text
            assert ours.finish_reason == theirs.done_reason
            assert ours.usage.completion_tokens == theirs.eval_count
            assert ours.usage.prompt_tokens == theirs.prompt_eval_count
            usage = ours.usage  # the durations are the stand-in's clock: present, not equal
            assert all(isinstance(ns, int) and ns > 0 for ns in (
                usage.total_duration_ns, usage.load_duration_ns, usage.prompt_eval_duration_ns,
                usage.eval_duration_ns))

        for options, schema, sent in calls:
            asyncio.run(both(options, schema, sent))
        posts = [r for r in server.requests if r.method == "POST"]
        assert len(posts) == 2 * len(calls)
        for ours_sent, theirs_sent in zip(posts[::2], posts[1::2], strict=True):
            assert ours_sent.path == theirs_sent.path == "/api/chat"
            assert ours_sent.json == theirs_sent.json
            assert ours_sent.headers == theirs_sent.headers

        async def failure(timeout_s: float = 30) -> tuple[BaseException, BaseException | None]:
            backend = make_backend(host, timeout_s=timeout_s)
            client = ollama.AsyncClient(host=server.url)
            errors: list[BaseException | None] = []
            try:
                for call in (backend.chat("llama3.1:8b", messages, ChatOptions()),
                             client.chat(model="llama3.1:8b", messages=messages)):
                    try:
                        await call
                        errors.append(None)
                    except Exception as exc:
                        errors.append(exc)
            finally:
                await backend.aclose()
                await client._client.aclose()
            assert errors[0] is not None
            return errors[0], errors[1]

        backend = make_backend(host)
        server.fail_next(2, status=503, error="overloaded")
        ours_exc, theirs_exc = asyncio.run(failure())
        assert isinstance(ours_exc, ollama.ResponseError) and type(theirs_exc) is type(ours_exc)
        assert backend.classify(ours_exc) == backend.classify(theirs_exc)
        assert backend.classify(ours_exc).retryable

        server.fail_next(2, status=404, error='model "llama3.1:8b" not found')
        ours_exc, theirs_exc = asyncio.run(failure())
        assert backend.classify(ours_exc) == backend.classify(theirs_exc)
        assert not backend.classify(ours_exc).retryable

        server.latency = 1.0  # longer than the deadline: the call times out, worth a retry
        ours_exc, _ = asyncio.run(failure(timeout_s=0.2))
        server.latency = 0.0
        assert isinstance(ours_exc, TimeoutError)
        timed_out = backend.classify(ours_exc)
        assert timed_out.retryable and timed_out.message.startswith("timed out")

    ours_exc, theirs_exc = asyncio.run(failure())  # the server is gone: cannot connect
    assert type(ours_exc) is type(theirs_exc) is ConnectionError
    assert backend.classify(ours_exc) == backend.classify(theirs_exc)
    assert backend.classify(ours_exc).unreachable


def test_ollama_host_that_never_answers_times_out_at_the_deadline() -> None:
    """The Ollama client has no httpx timeouts (one deadline per call instead): a host that
    accepts connections and never answers fails the pre-flight check as unreachable, and a
    chat call as a retryable timeout, both after timeout_s."""
    import asyncio
    import time

    import pytest

    from core.backends import BackendUnavailableError, ChatOptions, HostSettings, make_backend

    async def main() -> None:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # reads the request, never answers

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        backend = make_backend(HostSettings(url=f"http://127.0.0.1:{port}"), timeout_s=0.3)
        try:
            began = time.monotonic()
            with pytest.raises(BackendUnavailableError, match="cannot reach Ollama"):
                await backend.preflight("llama3.1:8b")
            with pytest.raises(TimeoutError) as caught:
                await backend.chat("llama3.1:8b", [{"role": "user", "content": "hi"}],
                                   ChatOptions())
            assert time.monotonic() - began < 5
            failure = backend.classify(caught.value)
            assert failure.retryable and failure.message.startswith("timed out")
        finally:
            await backend.aclose()
            server.close()

    asyncio.run(main())
