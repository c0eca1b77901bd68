"""Generation runs: candidates from a local LLM served by Ollama, varied by temperature and system.

A run plans one request per (prompt, variant) not yet done with the model, checks every host
before any work (reachable? model pulled?), then spreads the requests over the hosts through one
shared queue, at most `concurrency` in flight per host, so no host idles while another has a
backlog. Transient failures (server errors, resets, timeouts, a host going down) are retried
with backoff, on any host; a request that keeps failing is recorded as failed and the run goes
on. Every outcome is committed as soon as it arrives (a writer thread groups whatever has arrived
into one transaction), so Ctrl-C or kill -9 loses no completed candidate.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from core.config import Config, Variant
from core.errors import BadInputError, ConfigError, PreferError
from core.models import GenerationRecord, Prompt, Run
from core.store import Store
from core.store.local import utc_now

if TYPE_CHECKING:  # imported where used: ollama loads httpx, which loads rich and click
    import ollama


# Outcomes per store write: bounded so one call stays well under the server's message cap.
WRITE_BATCH = 64


class OllamaUnavailableError(PreferError):
    """The pre-flight check could not reach a host, or the model is not on it."""


@dataclass(frozen=True)
class GenerationJob:
    """One request to make: a prompt under a variant, with the exact messages and options."""

    prompt: Prompt
    variant: Variant
    system: str | None
    options: dict[str, float | int]

    @property
    def messages(self) -> list[dict[str, str]]:
        messages = [{"role": "system", "content": self.system}] if self.system else []
        return [*messages, {"role": "user", "content": self.prompt.prompt}]


@dataclass(frozen=True)
class GenerationPlan:
    model: str
    variants: tuple[Variant, ...]
    jobs: tuple[GenerationJob, ...]
    skipped: int
    prompts: int


@dataclass
class RunProgress:
    """Counts so far, passed to the progress callback after every outcome."""

    planned: int
    succeeded: int = 0
    failed: int = 0
    retries: int = 0

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed


@dataclass
class RunResult:
    run: Run
    progress: RunProgress
    errors: list[str] = field(default_factory=list)
    interrupted: bool = False


def shown_status(run: Run) -> str:
    """A run's status for people: a 'running' run whose process is gone was killed."""
    if run.status != "running":
        return run.status
    pid = json.loads(run.settings).get("pid")
    if isinstance(pid, int):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return "interrupted (killed)"
        except PermissionError:
            pass
    return "running"


# --- planning -------------------------------------------------------------------------------

def guideline_rules(guidelines: str) -> dict[str, str]:
    """Rules of guidelines.md: each `### heading` with the text under it."""
    rules: dict[str, str] = {}
    for match in re.finditer(r"^###\s+(.+?)\s*$\n(.*?)(?=^#{1,3}\s|\Z)", guidelines,
                             flags=re.MULTILINE | re.DOTALL):
        rules[match.group(1).strip()] = " ".join(match.group(2).split())
    return rules


def variant_system(prompt: Prompt, variant: Variant, rules: dict[str, str]) -> str | None:
    """The system prompt sent: the prompt's own, then the variant's, then a rule to break."""
    parts = [prompt.system, variant.system]
    if variant.violates_rule:
        text = rules[variant.violates_rule]
        parts.append(f"For this answer, deliberately break this rule of the style guide: "
                     f"\"{variant.violates_rule}\": {text}")
    joined = "\n\n".join(p.strip() for p in parts if p and p.strip())
    return joined or None


def request_seed(prompt_id: str, variant: Variant) -> int:
    """The variant's seed, else one derived from (prompt, variant): every request is repeatable."""
    if variant.seed is not None:
        return variant.seed
    return int(hashlib.sha256(f"{prompt_id}:{variant.name}".encode()).hexdigest()[:8], 16)


def request_options(prompt_id: str, variant: Variant) -> dict[str, float | int]:
    options: dict[str, float | int] = {"temperature": variant.temperature,
                                       "seed": request_seed(prompt_id, variant)}
    if variant.top_p is not None:
        options["top_p"] = variant.top_p
    if variant.num_predict is not None:
        options["num_predict"] = variant.num_predict
    return options


def select_variants(config: Config, names: Sequence[str] | None) -> tuple[Variant, ...]:
    variants = config.generation.variants
    if not names:
        if not variants:
            raise ConfigError("prefer.toml defines no [[generation.variants]]")
        return tuple(variants)
    known = {v.name: v for v in variants}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise BadInputError(f"unknown variant {', '.join(repr(n) for n in unknown)}",
                            hint=f"prefer.toml defines: {', '.join(known)}")
    return tuple(known[n] for n in names)


def plan_generation(store: Store, config: Config, guidelines: str, *, model: str,
                    variant_names: Sequence[str] | None = None, limit: int | None = None,
                    force: bool = False) -> GenerationPlan:
    """Every (prompt, variant) to request, minus those already done with `model` (unless force)."""
    variants = select_variants(config, variant_names)
    rules = guideline_rules(guidelines)
    for variant in variants:
        if variant.violates_rule and variant.violates_rule not in rules:
            raise ConfigError(
                f"variant '{variant.name}': violates_rule names no rule of guidelines.md: "
                f"'{variant.violates_rule}'",
                hint=f"rules (### headings) in guidelines.md: {', '.join(rules) or 'none'}",
            )
    prompts = store.prompts_for_generation(limit)
    done = set() if force else store.generation_done_keys(model)
    jobs = []
    skipped = 0
    for prompt in prompts:
        for variant in variants:
            if (prompt.prompt_id, variant.name) in done:
                skipped += 1
                continue
            jobs.append(GenerationJob(prompt, variant, variant_system(prompt, variant, rules),
                                      request_options(prompt.prompt_id, variant)))
    return GenerationPlan(model, variants, tuple(jobs), skipped, len(prompts))


# --- pre-flight -----------------------------------------------------------------------------

def _model_names(name: str) -> set[str]:
    return {name, f"{name}:latest"} if ":" not in name else {name}


async def preflight(hosts: Sequence[str], model: str, timeout: float = 10.0) -> dict[str, str]:
    """Check every host answers and has `model`; return each host's model digest."""
    import httpx
    import ollama
    digests: dict[str, str] = {}
    for host in hosts:
        client = ollama.AsyncClient(host=host, timeout=timeout)
        try:
            listing = await client.list()
        except (ConnectionError, httpx.TransportError) as exc:
            raise OllamaUnavailableError(
                f"cannot reach Ollama at {host}",
                hint="start it there with `ollama serve` (or fix generation.hosts / --host)",
            ) from exc
        except ollama.ResponseError as exc:
            raise OllamaUnavailableError(f"Ollama at {host} answered {exc.status_code}: "
                                         f"{exc.error}") from exc
        wanted = _model_names(model)
        match = next((m for m in listing.models if m.model in wanted), None)
        if match is None:
            raise OllamaUnavailableError(
                f"model {model} not found on {host}: run `ollama pull {model}`",
                hint="or pick a model it has with --model (`ollama list` shows them)",
            )
        digests[host] = match.digest or ""
    return digests


# --- running --------------------------------------------------------------------------------

def _is_transient(exc: BaseException) -> bool:
    import httpx
    import ollama
    if isinstance(exc, ollama.ResponseError):
        return exc.status_code >= 500 or exc.status_code in (408, 429)
    return isinstance(exc, ConnectionError | httpx.TransportError | asyncio.TimeoutError)


def _is_unreachable(exc: BaseException) -> bool:
    """The host refused or could not take the connection (as opposed to failing a request)."""
    import httpx
    return isinstance(exc, httpx.ConnectError) or (
        isinstance(exc, ConnectionError) and not isinstance(exc, ConnectionResetError))


def _describe(exc: BaseException) -> str:
    import ollama
    if isinstance(exc, ollama.ResponseError):
        return f"HTTP {exc.status_code}: {exc.error}"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Writer:
    """Commits outcomes on its own thread, grouping whatever has arrived into one transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pending: queue.Queue[GenerationRecord | None] = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="prefer-generation-writer",
                                       daemon=True)
        self.thread.start()

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[GenerationRecord] = []
            item = self.pending.get()
            while True:
                if item is None:
                    stop = True
                else:
                    batch.append(item)
                if len(batch) >= WRITE_BATCH:
                    break
                try:
                    item = self.pending.get_nowait()
                except queue.Empty:
                    break
            try:
                self.store.record_generations(batch)
            except BaseException as exc:  # surfaced by close(); nothing else may write
                self.error = exc
                return

    def put(self, record: GenerationRecord) -> None:
        self.pending.put(record)

    def close(self) -> None:
        self.pending.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


@dataclass
class _Attempt:
    job: GenerationJob
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    started_at: datetime = field(default_factory=utc_now)


async def _run_jobs(plan: GenerationPlan, run_id: str, hosts: Sequence[str], digests: dict[str, str],
                    concurrency: int, writer: _Writer, progress: RunProgress,
                    on_progress: Callable[[RunProgress], None] | None, *, max_attempts: int,
                    backoff_s: float, timeout_s: float,
                    client_factory: Callable[[str], ollama.AsyncClient] | None) -> list[str]:
    import ollama
    work: asyncio.Queue[_Attempt] = asyncio.Queue()
    for job in plan.jobs:
        work.put_nowait(_Attempt(job))
    errors: list[str] = []
    factory = client_factory or (lambda host: ollama.AsyncClient(host=host, timeout=timeout_s))

    def record(attempt: _Attempt, host: str | None, response: ollama.ChatResponse | None,
               latency: float | None, error: str | None) -> None:
        job = attempt.job
        ok = response is not None and bool((response.message.content or "").strip())
        if response is not None and not ok:
            error = "the model returned an empty response"
        done_reason = response.done_reason if response is not None else None
        writer.put(GenerationRecord(
            generation_id="g_" + uuid.uuid4().hex, run_id=run_id, prompt_id=job.prompt.prompt_id,
            variant=job.variant.name, model=plan.model, model_digest=digests.get(host or ""),
            host=host, status="ok" if ok else "failed", error=None if ok else error,
            attempts=attempt.attempts,
            text=response.message.content if ok and response is not None else None,
            system=job.system, options=json.dumps(job.options, sort_keys=True),
            done_reason=done_reason, truncated=done_reason == "length",
            prompt_eval_count=getattr(response, "prompt_eval_count", None),
            eval_count=getattr(response, "eval_count", None),
            total_duration_ns=getattr(response, "total_duration", None),
            load_duration_ns=getattr(response, "load_duration", None),
            prompt_eval_duration_ns=getattr(response, "prompt_eval_duration", None),
            eval_duration_ns=getattr(response, "eval_duration", None),
            latency_s=latency, started_at=attempt.started_at, finished_at=utc_now(),
        ))
        if ok:
            progress.succeeded += 1
        else:
            progress.failed += 1
            errors.append(f"{job.prompt.prompt_id} / {job.variant.name}: {error}")
        if on_progress is not None:
            on_progress(progress)

    host_failures = dict.fromkeys(hosts, 0)  # consecutive failures per host

    def others_reachable(host: str) -> bool:
        return any(count == 0 for other, count in host_failures.items() if other != host)

    async def worker(host: str) -> None:
        client = factory(host)
        while True:
            if host_failures[host]:
                # This host just failed: wait before taking more work, so healthy hosts pick up
                # the queue meanwhile, and probe it again afterwards.
                await asyncio.sleep(min(backoff_s * 2 ** (host_failures[host] - 1), 10.0))
            attempt = await work.get()
            try:
                began = time.perf_counter()
                try:
                    response = await client.chat(model=plan.model, messages=attempt.job.messages,
                                                 options=attempt.job.options, stream=False)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    message = _describe(exc)
                    if not _is_transient(exc):
                        attempt.attempts += 1
                        record(attempt, host, None, None, message)
                        continue
                    host_failures[host] += 1
                    # A refused connection says nothing about the request: when another host
                    # answers, the request just moves there without using up an attempt.
                    if not (_is_unreachable(exc) and others_reachable(host)):
                        attempt.attempts += 1
                    if attempt.attempts < max_attempts:
                        progress.retries += 1
                        work.put_nowait(attempt)
                        continue
                    record(attempt, host, None, None,
                           f"{message} (after {attempt.attempts} attempt"
                           f"{'s' if attempt.attempts > 1 else ''})")
                    continue
                host_failures[host] = 0
                attempt.attempts += 1
                record(attempt, host, response, time.perf_counter() - began, None)
            finally:
                work.task_done()

    workers = [asyncio.create_task(worker(host), name=f"generate:{host}:{slot}")
               for host in hosts for slot in range(concurrency)]
    try:
        await work.join()
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return errors


def run_generation(store: Store, plan: GenerationPlan, *, hosts: Sequence[str],
                   concurrency: int, actor: str, max_attempts: int = 4, backoff_s: float = 0.5,
                   timeout_s: float = 300.0,
                   on_progress: Callable[[RunProgress], None] | None = None,
                   digests: dict[str, str] | None = None,
                   client_factory: Callable[[str], ollama.AsyncClient] | None = None) -> RunResult:
    """Run `plan` against `hosts` (after a pre-flight check unless `digests` is given)."""
    if not hosts:
        raise BadInputError("no Ollama host: set generation.hosts in prefer.toml or pass --host")
    if concurrency < 1:
        raise BadInputError(f"--concurrency must be at least 1, got {concurrency}")
    if digests is None:
        digests = asyncio.run(preflight(hosts, plan.model))
    run = Run(
        run_id="r_" + uuid.uuid4().hex[:16], actor=actor, model=plan.model, hosts=tuple(hosts),
        variants=tuple(v.name for v in plan.variants), concurrency=concurrency,
        settings=json.dumps({"variants": [v.__dict__ for v in plan.variants], "pid": os.getpid(),
                             "max_attempts": max_attempts, "backoff_s": backoff_s,
                             "timeout_s": timeout_s, "digests": digests}, sort_keys=True),
        planned=len(plan.jobs), skipped=plan.skipped, succeeded=None, failed=None,
        status="running", started_at=utc_now(), finished_at=None,
    )
    store.start_run(run)
    progress = RunProgress(planned=len(plan.jobs))
    writer = _Writer(store)
    status = "interrupted"
    errors: list[str] = []
    try:
        errors = asyncio.run(_run_jobs(
            plan, run.run_id, hosts, digests, concurrency, writer, progress, on_progress,
            max_attempts=max_attempts, backoff_s=backoff_s, timeout_s=timeout_s,
            client_factory=client_factory))
        status = "done"
    finally:
        writer.close()
        finished = store.finish_run(run.run_id, status, actor)
    return RunResult(finished, progress, errors, interrupted=status != "done")
