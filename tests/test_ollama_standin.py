"""The stand-in Ollama server, exercised through the official ``ollama`` client (sync and async)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator

import httpx
import ollama
import pytest

from tests.ollama_standin import StandinOllama, response_text

MODEL = "llama3.1:8b"
QUESTION = [{"role": "user", "content": "May I cancel my gym contract early?"}]


@pytest.fixture
def server() -> Iterator[StandinOllama]:
    with StandinOllama(models=(MODEL, "qwen3:4b")) as standin:
        yield standin


@pytest.fixture
def client(server: StandinOllama) -> Iterator[ollama.Client]:
    with ollama.Client(host=server.url) as sync_client:
        yield sync_client


def _wait_until(condition, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


# -- models ----------------------------------------------------------------------------------------------


def test_list_and_show(server: StandinOllama, client: ollama.Client) -> None:
    listed = client.list()
    assert [m.model for m in listed.models] == [MODEL, "qwen3:4b"]
    first = listed.models[0]
    assert first.digest is not None and len(first.digest) == 64
    assert int(first.digest, 16) >= 0
    assert first.size and first.size > 0
    assert first.modified_at is not None
    assert first.details is not None and first.details.family == "llama"
    assert first.details.parameter_size == "8.0B"
    with StandinOllama(models=(MODEL,)) as other, ollama.Client(host=other.url) as other_client:
        assert other_client.list().models[0].digest == first.digest  # deterministic per name

    shown = client.show(MODEL)
    assert shown.modelfile and f"# FROM {MODEL}" in shown.modelfile
    assert shown.parameters and "stop" in shown.parameters
    assert shown.template and "{{ .Prompt }}" in shown.template
    assert shown.details is not None and shown.details.format == "gguf"
    assert shown.modelinfo is not None and shown.modelinfo["general.architecture"] == "llama"
    assert shown.capabilities == ["completion", "tools"]
    assert "thinking" in (client.show("qwen3:4b").capabilities or [])
    assert client.show("qwen3:4b").details is not None

    with pytest.raises(ollama.ResponseError) as missing:
        client.show("mistral:7b")
    assert missing.value.status_code == 404
    assert missing.value.error == "model 'mistral:7b' not found"

    version = httpx.get(f"{server.url}/api/version").json()
    assert version == {"version": "0.12.0"}
    unknown = httpx.get(f"{server.url}/api/nothing")
    assert (unknown.status_code, unknown.text) == (404, "404 page not found")
    assert httpx.get(f"{server.url}/api/chat").status_code == 405
    assert httpx.get(server.url).text == "Ollama is running"


def test_untagged_names_mean_latest() -> None:
    with StandinOllama(models=("llama3",)) as server, ollama.Client(host=server.url) as client:
        assert [m.model for m in client.list().models] == ["llama3:latest"]
        assert client.show("llama3").details is not None
        reply = client.chat(model="llama3", messages=QUESTION)
        assert reply.model == "llama3"  # Ollama echoes the name as the request spelled it


# -- chat ------------------------------------------------------------------------------------------------


def test_sync_chat_non_stream() -> None:
    with StandinOllama(tokens_per_word=2) as server, ollama.Client(host=server.url) as client:
        reply = client.chat(model=MODEL, messages=QUESTION)
        expected = response_text(MODEL, QUESTION)
        assert reply.message.role == "assistant"
        assert reply.message.content == expected
        assert "May I cancel my gym contract" in expected
        assert reply.done is True and reply.done_reason == "stop"
        assert reply.eval_count == 2 * len(expected.split(" "))
        assert reply.model == MODEL and reply.created_at
        assert reply.prompt_eval_count and reply.prompt_eval_count > 0
        for duration in (reply.total_duration, reply.load_duration, reply.prompt_eval_duration,
                         reply.eval_duration):
            assert isinstance(duration, int) and duration > 0
        assert client.chat(model=MODEL, messages=QUESTION).message.content == expected  # deterministic
        logged = server.chat_requests()[-1]
        assert logged.json["stream"] is False and logged.status == 200


def test_sync_chat_stream(client: ollama.Client) -> None:
    chunks = list(client.chat(model=MODEL, messages=QUESTION, stream=True))
    assert len(chunks) > 3
    assert all(c.done is False and c.done_reason is None for c in chunks[:-1])
    final = chunks[-1]
    assert final.done is True and final.done_reason == "stop"
    assert final.message.content == ""
    text = "".join(c.message.content or "" for c in chunks)
    assert text == response_text(MODEL, QUESTION)
    assert final.eval_count == len(text.split(" "))
    assert final.total_duration and final.eval_duration


async def test_async_chat_stream_and_non_stream(server: StandinOllama) -> None:
    async with ollama.AsyncClient(host=server.url) as client:
        reply = await client.chat(model=MODEL, messages=QUESTION)
        assert reply.message.content == response_text(MODEL, QUESTION)
        assert reply.done_reason == "stop"
        pieces = []
        async for chunk in await client.chat(model=MODEL, messages=QUESTION, stream=True):
            pieces.append(chunk)
        assert "".join(p.message.content or "" for p in pieces) == reply.message.content
        assert pieces[-1].done and pieces[-1].eval_count == reply.eval_count
    assert [r.json["stream"] for r in server.chat_requests()] == [False, True]


def test_options_and_system_prompt_change_the_reply(server: StandinOllama, client: ollama.Client) -> None:
    def ask(options=None, system=None) -> str:
        messages = ([{"role": "system", "content": system}] if system else []) + QUESTION
        return client.chat(model=MODEL, messages=messages, options=options).message.content or ""

    cool = ask({"temperature": 0.2, "top_p": 0.9, "seed": 7})
    assert ask({"temperature": 0.2, "top_p": 0.9, "seed": 7}) == cool
    warm = ask({"temperature": 0.9, "top_p": 0.9, "seed": 7})
    reseeded = ask({"temperature": 0.2, "top_p": 0.9, "seed": 8})
    plain = ask()
    with_system = ask(system="You are a consumer-rights lawyer.")
    assert len({cool, warm, reseeded, plain, with_system}) == 5
    assert cool == response_text(MODEL, QUESTION, {"temperature": 0.2, "top_p": 0.9, "seed": 7})

    logged = server.chat_requests()
    assert logged[0].options == {"temperature": 0.2, "top_p": 0.9, "seed": 7}
    assert logged[2].options["temperature"] == 0.9
    assert logged[4].options == {}
    assert logged[5].messages[0] == {"role": "system", "content": "You are a consumer-rights lawyer."}


def test_num_predict_truncates_with_done_reason_length(client: ollama.Client) -> None:
    full = response_text(MODEL, QUESTION)
    reply = client.chat(model=MODEL, messages=QUESTION, options={"num_predict": 5})
    assert reply.done_reason == "length"
    assert reply.eval_count == 5
    assert reply.message.content == " ".join(full.split(" ")[:5])

    chunks = list(client.chat(model=MODEL, messages=QUESTION, options={"num_predict": 3}, stream=True))
    assert chunks[-1].done_reason == "length" and chunks[-1].eval_count == 3
    assert "".join(c.message.content or "" for c in chunks) == " ".join(full.split(" ")[:3])

    roomy = client.chat(model=MODEL, messages=QUESTION, options={"num_predict": 10_000})
    assert roomy.done_reason == "stop" and roomy.message.content == full


def test_tokens_per_word_scales_truncation() -> None:
    with StandinOllama(tokens_per_word=3) as server, ollama.Client(host=server.url) as client:
        reply = client.chat(model=MODEL, messages=QUESTION, options={"num_predict": 7})
        assert reply.eval_count == 7 and reply.done_reason == "length"
        assert len((reply.message.content or "").split(" ")) == 2


def test_unknown_model_is_404_with_ollamas_wording(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as raised:
        client.chat(model="nope:1b", messages=QUESTION)
    assert raised.value.status_code == 404
    assert raised.value.error == 'model "nope:1b" not found, try pulling it first'


def test_generate_thinking_format_and_load(client: ollama.Client) -> None:
    generated = client.generate(model=MODEL, prompt="Why is the sky blue?")
    assert generated.response and generated.done_reason == "stop"

    thought = client.chat(model="qwen3:4b", messages=QUESTION, think=True)
    assert thought.message.thinking and thought.message.content
    with pytest.raises(ollama.ResponseError) as no_thinking:
        client.chat(model=MODEL, messages=QUESTION, think=True)
    assert no_thinking.value.status_code == 400
    assert no_thinking.value.error == f'"{MODEL}" does not support thinking'

    schema = {"type": "object", "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5},
                                               "reason": {"type": "string"}}, "required": ["score", "reason"]}
    structured = json.loads(client.chat(model=MODEL, messages=QUESTION, format=schema).message.content or "")
    assert set(structured) == {"score", "reason"} and 1 <= structured["score"] <= 5

    loaded = client.chat(model=MODEL, messages=[])
    assert loaded.done_reason == "load" and loaded.message.content == ""
    assert [m.model for m in client.ps().models] == [MODEL, "qwen3:4b"]


# -- failures --------------------------------------------------------------------------------------------


def test_fail_next(server: StandinOllama, client: ollama.Client) -> None:
    server.fail_next(2, status=503, error="busy for a moment")
    for _ in range(2):
        with pytest.raises(ollama.ResponseError) as raised:
            client.chat(model=MODEL, messages=QUESTION)
        assert (raised.value.status_code, raised.value.error) == (503, "busy for a moment")
    assert client.chat(model=MODEL, messages=QUESTION).done

    server.fail_next(1)
    stream = client.chat(model=MODEL, messages=QUESTION, stream=True)  # lazy: raises when iterated
    with pytest.raises(ollama.ResponseError) as raised:
        list(stream)
    assert (raised.value.status_code, raised.value.error) == (500, "injected failure")
    assert [(r.status, r.injected) for r in server.chat_requests()] == [
        (503, True), (503, True), (200, False), (500, True)]


async def test_fail_when_poison(server: StandinOllama) -> None:
    server.fail_when(lambda body: 500 if "poison" in body["messages"][-1]["content"] else None)
    prompts = ["fine one", "poison pill", "fine two", "more poison"]
    async with ollama.AsyncClient(host=server.url) as client:
        results = await asyncio.gather(
            *(client.chat(model=MODEL, messages=[{"role": "user", "content": p}]) for p in prompts),
            return_exceptions=True)
    outcome = {p: (r.status_code if isinstance(r, ollama.ResponseError) else r.done)
               for p, r in zip(prompts, results, strict=True)}
    assert outcome == {"fine one": True, "poison pill": 500, "fine two": True, "more poison": 500}
    server.fail_when(None)
    with ollama.Client(host=server.url) as sync_client:
        assert sync_client.chat(model=MODEL, messages=[{"role": "user", "content": "poison"}]).done


def test_reset_connection_surfaces_as_transport_error(server: StandinOllama, client: ollama.Client) -> None:
    server.reset_connection_next(1)
    with pytest.raises(httpx.TransportError):  # ReadError (ECONNRESET); not wrapped by the ollama client
        client.chat(model=MODEL, messages=QUESTION)
    assert client.chat(model=MODEL, messages=QUESTION).done
    reset = server.chat_requests()[0]
    assert reset.status is None and reset.injected


async def test_reset_connection_async(server: StandinOllama) -> None:
    server.reset_connection_next(1)
    async with ollama.AsyncClient(host=server.url) as client:
        with pytest.raises(httpx.TransportError):
            await client.chat(model=MODEL, messages=QUESTION)
        assert (await client.chat(model=MODEL, messages=QUESTION)).done


def test_go_down_and_come_up_on_the_same_port(server: StandinOllama, client: ollama.Client) -> None:
    url = server.url
    assert client.chat(model=MODEL, messages=QUESTION).done
    server.go_down()
    assert not server.is_up
    with pytest.raises(ConnectionError):  # the builtin, raised by ollama for httpx.ConnectError
        client.chat(model=MODEL, messages=QUESTION)
    with pytest.raises(ConnectionError):
        client.list()
    with pytest.raises(httpx.ConnectError):  # streaming calls are not wrapped
        list(client.chat(model=MODEL, messages=QUESTION, stream=True))
    server.come_up()
    assert server.url == url
    assert client.chat(model=MODEL, messages=QUESTION).done  # the same client object recovers


async def test_go_down_async(server: StandinOllama) -> None:
    async with ollama.AsyncClient(host=server.url) as client:
        await client.list()
        server.go_down()
        with pytest.raises(ConnectionError):
            await client.chat(model=MODEL, messages=QUESTION)
        server.come_up()
        assert (await client.chat(model=MODEL, messages=QUESTION)).done


# -- concurrency -----------------------------------------------------------------------------------------


async def test_parallel_limit_queues_extra_requests() -> None:
    latency = 0.2
    with StandinOllama(parallel=2, latency=latency) as server:
        async with ollama.AsyncClient(host=server.url) as client:
            replies = await asyncio.gather(*(
                client.chat(model=MODEL, messages=[{"role": "user", "content": f"question {i}"}])
                for i in range(6)))
        assert all(r.done for r in replies)
        assert server.max_in_flight == 2
        log = server.chat_requests()
        assert len(log) == 6 and all(r.status == 200 for r in log)
        assert all(r.started is not None and r.finished is not None for r in log)
        starts = sorted(r.started for r in log if r.started is not None)
        finishes = sorted(r.finished for r in log if r.finished is not None)
        for index, start in enumerate(starts[2:], start=2):
            # with two slots, the k-th generation can only start after k-1 others have finished
            assert sum(f <= start for f in finishes) >= index - 1
        events = sorted([(r.started, 1) for r in log] + [(r.finished, -1) for r in log],
                        key=lambda e: (e[0], e[1]))
        running, peak = 0, 0
        for _, change in events:
            running += change
            peak = max(peak, running)
        assert peak == 2
        for r in log:
            assert r.finished is not None and r.started is not None
            assert r.started >= r.received
            assert r.finished - r.started >= latency - 0.01  # each holds its slot for the latency


async def test_full_queue_answers_503() -> None:
    # One slot, one place in the queue: of three simultaneous chats the last to arrive is refused at once.
    with StandinOllama(parallel=1, max_queue=1, latency=30) as server:
        async with ollama.AsyncClient(host=server.url) as client:
            chats = [asyncio.create_task(client.chat(model=MODEL, messages=[{"role": "user", "content": q}]))
                     for q in ("q0", "q1", "q2")]
            done, pending = await asyncio.wait(chats, timeout=10, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()  # the client goes away; the server frees the slot and the queue place
            await asyncio.gather(*pending, return_exceptions=True)
        assert len(done) == 1
        refused = next(iter(done)).exception()
        assert isinstance(refused, ollama.ResponseError) and refused.status_code == 503
        assert refused.error == "server busy, please try again.  maximum pending requests exceeded"
        assert _wait_until(lambda: server.in_flight == 0 and server.queued == 0)
        assert sorted(r.status or 0 for r in server.chat_requests()) == [499, 499, 503]


async def test_client_timeout_gives_the_slot_back() -> None:
    with StandinOllama(parallel=1, latency=0.5) as server:
        async with ollama.AsyncClient(host=server.url, timeout=0.05) as client:
            with pytest.raises(httpx.ReadTimeout):  # raw httpx exception, not wrapped by ollama
                await client.chat(model=MODEL, messages=QUESTION)
        assert _wait_until(lambda: server.in_flight == 0)
        assert server.chat_requests()[0].status == 499


async def test_runtime_settings_and_keep_alive_reuse(server: StandinOllama) -> None:
    server.parallel = 1
    server.latency = 0.02
    async with ollama.AsyncClient(host=server.url) as client:
        for i in range(3):
            await client.chat(model=MODEL, messages=[{"role": "user", "content": f"q{i}"}])
    log = server.chat_requests()
    assert len({r.conn_id for r in log}) == 1  # sequential requests reuse one keep-alive connection
    assert server.max_in_flight == 1
    server.reset_stats()
    assert server.requests == [] and server.max_in_flight == 0


def test_stop_cleans_up() -> None:
    server = StandinOllama().start()
    with ollama.Client(host=server.url) as client:
        client.list()
        server.stop()
        server.stop()  # idempotent
        assert not [t for t in threading.enumerate() if t.name.startswith("standin-ollama")]
        with pytest.raises(ConnectionError):
            client.list()
