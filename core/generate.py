"""Generation runs: candidates from LLM servers (Ollama, OpenAI-compatible), varied by variant.

A run plans one request per (prompt, variant) not yet done with the model, checks every host
before any work (reachable? model served?), then spreads the requests over the hosts through
one shared queue, at most each host's concurrency in flight on it, so no host idles while
another has a backlog. Hosts may speak different APIs (core/backends): an Ollama host and a vLLM
host share the same queue.

Failures: transient ones (server errors, 408/429, resets, timeouts, a host going down) are
retried with backoff on any host; a host that fails rests (backoff, doubled per consecutive
failure) while the others drain the queue; a request that keeps failing is recorded as failed
and the run goes on. At the end of the queue, a request that has run much longer than the run's
usual latency on a slow host is sent again to an idle host and the first answer wins (the other
is cancelled), so one slow or hung host does not hold up the end of the run.

Durability: a local store takes each outcome as it arrives, on the event loop, into its
generation journal (core/store/generation_journal.py: written at once, fsynced within 0.1 s on
the journal's thread); a store through `prefer serve` gets them within 10 ms from a writer
thread, in groups (core/outcome_writer.py). So Ctrl-C or kill -9 loses no outcome the store has
taken, and a re-run skips what is done.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import re
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from core import language
from core.backends import (
    Backend,
    BackendUnavailableError,
    ChatOptions,
    ChatReply,
    HostSettings,
    make_backend,
)
from core.config import Config, Variant
from core.errors import BadInputError, ConfigError
from core.models import GenerationRecord, Prompt, Run
from core.outcome_writer import OutcomeWriter
from core.store import Store
from core.store.local import LocalStore, utc_now

# Outcomes per store call: bounded so one call stays well under the server's message cap.
WRITE_BATCH = 256
# A request still running this many times the run's median latency (and at least HEDGE_MIN_S)
# while a host idles at the end of the queue is sent to that host too.
HEDGE_FACTOR = 4.0
HEDGE_MIN_S = 1.0

# Kept for callers of the Ollama-only version: the pre-flight error of any backend.
OllamaUnavailableError = BackendUnavailableError


def build_messages(prompt: Prompt, system: str | None) -> list[dict[str, str]]:
    """The chat messages of one request: the system prompt (if any), then the prompt.

    The one place a request's messages are made (a multi-turn prompt extends this)."""
    messages = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": prompt.prompt}]


@dataclass(frozen=True)
class GenerationJob:
    """One request to make: a prompt under a variant, with the exact messages and options."""

    prompt: Prompt
    variant: Variant
    system: str | None
    options: dict[str, float | int]

    @property
    def messages(self) -> list[dict[str, str]]:
        return build_messages(self.prompt, self.system)


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
    hedged: int = 0  # requests sent to a second host because the first was slow

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


def as_hosts(hosts: Sequence[HostSettings | str]) -> list[HostSettings]:
    """Hosts as settings (a bare URL is an Ollama host)."""
    return [h if isinstance(h, HostSettings) else HostSettings(url=h) for h in hosts]


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

BackendFactory = Callable[[HostSettings, float], Backend]


async def preflight(hosts: Sequence[HostSettings | str], model: str, timeout: float = 10.0,
                    backend_factory: BackendFactory | None = None) -> dict[str, str]:
    """Check every host answers and serves `model` (all at once); return each host's model
    digest ("" where the API has none). Raises BackendUnavailableError for the first host,
    in the order given, that fails."""
    factory = backend_factory or make_backend
    backends = [factory(host, timeout) for host in as_hosts(hosts)]
    try:
        found = await asyncio.gather(*(b.preflight(model) for b in backends),
                                     return_exceptions=True)
    finally:
        await asyncio.gather(*(b.aclose() for b in backends), return_exceptions=True)
    for outcome in found:
        if isinstance(outcome, BaseException):
            raise outcome
    return {b.host.url: str(digest) for b, digest in zip(backends, found, strict=True)}


# --- running --------------------------------------------------------------------------------

@dataclass(eq=False)
class _Attempt:
    job: GenerationJob
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    started_at: datetime | None = None  # when its first try began
    done: bool = False  # recorded (by one host; a hedged copy elsewhere is then cancelled)
    calls: dict[str, asyncio.Task[ChatReply]] = field(default_factory=dict)  # host -> call
    began: float = 0.0  # monotonic start of the oldest call in flight
    hedged: bool = False


@dataclass
class _Host:
    settings: HostSettings
    backend: Backend
    slots: int
    failures: int = 0  # consecutive


class _Engine:
    """One run's requests over its hosts: the shared queue, the workers, the outcomes."""

    def __init__(self, plan: GenerationPlan, run_id: str, hosts: list[HostSettings],
                 digests: dict[str, str], concurrency: int, writer: OutcomeWriter[GenerationRecord],
                 progress: RunProgress, on_progress: Callable[[RunProgress], None] | None, *,
                 max_attempts: int, backoff_s: float, timeout_s: float,
                 backend_factory: BackendFactory) -> None:
        self.plan = plan
        self.run_id = run_id
        self.settings = hosts
        self.digests = digests
        self.concurrency = concurrency
        self.writer = writer
        self.progress = progress
        self.on_progress = on_progress
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.factory = backend_factory
        self.errors: list[str] = []
        self.remaining = len(plan.jobs)
        self.in_flight: set[_Attempt] = set()
        self.latencies: list[float] = []  # of recent successful calls, for hedging
        self.hosts: list[_Host] = []
        # Generation ids: unique per run (a random prefix) and cheap (no urandom per outcome).
        self.id_prefix = uuid.uuid4().hex[:16]
        self.ids = itertools.count(1)

    # -- outcomes --------------------------------------------------------------------------

    def record(self, attempt: _Attempt, host: _Host | None, reply: ChatReply | None,
               latency: float | None, error: str | None) -> None:
        if attempt.done:
            return
        attempt.done = True
        job = attempt.job
        ok = reply is not None and bool(reply.text.strip())
        if reply is not None and not ok:
            error = "the model returned an empty response"
        usage = reply.usage if reply is not None else None
        url = host.settings.url if host is not None else None
        self.writer.put(GenerationRecord(
            generation_id=f"g_{self.id_prefix}{next(self.ids):08x}", run_id=self.run_id,
            prompt_id=job.prompt.prompt_id, variant=job.variant.name, model=self.plan.model,
            model_digest=self.digests.get(url or "") or None, host=url,
            backend=host.backend.name if host is not None else None,
            status="ok" if ok else "failed", error=None if ok else error,
            attempts=attempt.attempts, text=reply.text if ok and reply is not None else None,
            system=job.system, options=json.dumps(job.options, sort_keys=True),
            done_reason=reply.finish_reason if reply is not None else None,
            truncated=reply.truncated if reply is not None else False,
            prompt_eval_count=usage.prompt_tokens if usage else None,
            eval_count=usage.completion_tokens if usage else None,
            total_duration_ns=usage.total_duration_ns if usage else None,
            load_duration_ns=usage.load_duration_ns if usage else None,
            prompt_eval_duration_ns=usage.prompt_eval_duration_ns if usage else None,
            eval_duration_ns=usage.eval_duration_ns if usage else None,
            latency_s=latency, started_at=attempt.started_at or utc_now(), finished_at=utc_now(),
        ))
        for call in attempt.calls.values():
            call.cancel()  # a hedged copy still running elsewhere
        self.in_flight.discard(attempt)
        self.remaining -= 1
        if ok:
            self.progress.succeeded += 1
        else:
            self.progress.failed += 1
            self.errors.append(f"{job.prompt.prompt_id} / {job.variant.name}: {error}")
        if self.on_progress is not None:
            self.on_progress(self.progress)
        if self.remaining == 0:
            self.all_done.set()

    # -- the workers -----------------------------------------------------------------------

    def others_reachable(self, host: _Host) -> bool:
        return any(other.failures == 0 for other in self.hosts if other is not host)

    def hedge_candidate(self, host: _Host) -> _Attempt | None:
        """A request running elsewhere for far longer than usual, to send to `host` too."""
        if not self.latencies:
            return None
        limit = max(HEDGE_MIN_S, HEDGE_FACTOR * statistics.median(self.latencies[-200:]))
        now = time.monotonic()
        slow = [a for a in self.in_flight if not a.hedged and not a.done
                and host.settings.url not in a.calls and now - a.began > limit]
        return min(slow, key=lambda a: a.began) if slow else None

    async def next_attempt(self, host: _Host) -> _Attempt | None:
        """The next request for `host`: from the queue, else a slow one to hedge; None when
        the run is over."""
        while True:
            if host.failures:
                # This host just failed: rest before taking more work, so healthy hosts drain
                # the queue meanwhile, and probe it again afterwards.
                await asyncio.sleep(min(self.backoff_s * 2 ** (host.failures - 1), 10.0))
            try:
                return self.work.get_nowait()
            except asyncio.QueueEmpty:
                pass
            if self.remaining == 0:
                return None
            candidate = self.hedge_candidate(host)
            if candidate is not None:
                candidate.hedged = True
                self.progress.hedged += 1
                return candidate
            getter = asyncio.ensure_future(self.work.get())
            done_waiter = asyncio.ensure_future(self.all_done.wait())
            await asyncio.wait({getter, done_waiter}, timeout=0.25,
                               return_when=asyncio.FIRST_COMPLETED)
            done_waiter.cancel()
            if getter.done():
                return getter.result()
            getter.cancel()
            if self.remaining == 0:
                return None

    async def worker(self, host: _Host) -> None:
        # A client (connection pool) of its own per slot: httpcore's pool work grows with the
        # connections it holds, so one shared pool costs more per request as concurrency grows.
        backend = self.factory(host.settings, self.timeout_s)
        try:
            await self._work(host, backend)
        finally:
            await backend.aclose()

    async def _work(self, host: _Host, backend: Backend) -> None:
        model = self.plan.model
        while True:
            attempt = await self.next_attempt(host)
            if attempt is None:
                return
            if attempt.done:
                continue
            options = ChatOptions.from_recorded(attempt.job.options)
            began = time.monotonic()
            if not attempt.calls:
                attempt.began = began
            if attempt.started_at is None:
                attempt.started_at = utc_now()
            call = asyncio.ensure_future(backend.chat(model, attempt.job.messages, options))
            attempt.calls[host.settings.url] = call
            self.in_flight.add(attempt)
            try:
                reply = await call
            except asyncio.CancelledError:
                me = asyncio.current_task()
                if me is not None and me.cancelling():
                    raise  # the run is stopping
                continue  # another host answered first and cancelled this call
            except Exception as exc:
                self.forget(attempt, host, call)
                if not attempt.done:
                    self.failed(attempt, host, exc)
                continue
            self.forget(attempt, host, call)
            if attempt.done:
                continue
            host.failures = 0
            attempt.attempts += 1
            latency = time.monotonic() - began
            self.latencies.append(latency)
            if len(self.latencies) > 1000:
                del self.latencies[:500]
            self.record(attempt, host, reply, latency, None)

    @staticmethod
    def forget(attempt: _Attempt, host: _Host, call: asyncio.Future[ChatReply]) -> None:
        if attempt.calls.get(host.settings.url) is call:
            del attempt.calls[host.settings.url]

    def failed(self, attempt: _Attempt, host: _Host, exc: BaseException) -> None:
        failure = host.backend.classify(exc)
        if failure.retryable:
            host.failures += 1  # it rests before taking more work
        if attempt.calls:  # a hedged copy is still running elsewhere: let it finish
            return
        self.in_flight.discard(attempt)
        message = failure.message
        if not failure.retryable:
            attempt.attempts += 1
            self.record(attempt, host, None, None,
                        f"{message} ({failure.hint})" if failure.hint else message)
            return
        # A refused connection says nothing about the request: when another host answers,
        # the request just moves there without using up a try.
        if not (failure.unreachable and self.others_reachable(host)):
            attempt.attempts += 1
        if attempt.attempts < self.max_attempts:
            self.progress.retries += 1
            attempt.hedged = False
            self.work.put_nowait(attempt)
            return
        self.record(attempt, host, None, None,
                    f"{message} (after {attempt.attempts} attempt"
                    f"{'s' if attempt.attempts > 1 else ''})")

    async def run(self) -> list[str]:
        self.work: asyncio.Queue[_Attempt] = asyncio.Queue()
        self.all_done = asyncio.Event()
        for job in self.plan.jobs:
            self.work.put_nowait(_Attempt(job))
        if not self.plan.jobs:
            return []
        self.hosts = [_Host(h, self.factory(h, self.timeout_s), h.concurrency or self.concurrency)
                      for h in self.settings]
        workers = [asyncio.create_task(self.worker(host), name=f"generate:{host.settings.url}")
                   for host in self.hosts for _ in range(host.slots)]
        try:
            await self.all_done.wait()
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            await asyncio.gather(*(h.backend.aclose() for h in self.hosts),
                                 return_exceptions=True)
        return self.errors


def run_generation(store: Store, plan: GenerationPlan, *, hosts: Sequence[HostSettings | str],
                   concurrency: int, actor: str, max_attempts: int = 4, backoff_s: float = 0.5,
                   timeout_s: float = 300.0,
                   on_progress: Callable[[RunProgress], None] | None = None,
                   digests: dict[str, str] | None = None,
                   backend_factory: BackendFactory | None = None) -> RunResult:
    """Run `plan` against `hosts` (after a pre-flight check unless `digests` is given).

    `concurrency` is the requests in flight on a host that sets none of its own."""
    settings = as_hosts(hosts)
    if not settings:
        raise BadInputError("no host: set [[generation.hosts]] in prefer.toml or pass --host")
    if concurrency < 1:
        raise BadInputError(f"--concurrency must be at least 1, got {concurrency}")
    urls = [h.url for h in settings]
    if len(set(urls)) != len(urls):
        raise BadInputError("a host is given twice")
    factory = backend_factory or make_backend
    # A local store detects each new candidate's language when it folds outcomes into DuckDB:
    # its model takes ~1 s of CPU to load. Loaded here, beside the pre-flight check, it is
    # start-up work like the imports; loaded after the run began (as LocalStore.start_run
    # would), it competed with the run's first requests for the interpreter and a core.
    loading = None
    if isinstance(store, LocalStore):
        loading = threading.Thread(target=language.preload, name="prefer-language-preload",
                                   daemon=True)
        loading.start()
    try:
        if digests is None:
            digests = asyncio.run(preflight(settings, plan.model, backend_factory=factory))
    finally:
        if loading is not None:
            loading.join()
    described = [{"url": h.url, "api": h.api, "concurrency": h.concurrency or concurrency}
                 for h in settings]  # never the key, nor where it is kept
    run = Run(
        run_id="r_" + uuid.uuid4().hex[:16], actor=actor, model=plan.model, hosts=tuple(urls),
        variants=tuple(v.name for v in plan.variants), concurrency=concurrency,
        settings=json.dumps({"variants": [v.__dict__ for v in plan.variants], "pid": os.getpid(),
                             "hosts": described, "max_attempts": max_attempts,
                             "backoff_s": backoff_s, "timeout_s": timeout_s,
                             "digests": digests}, sort_keys=True),
        planned=len(plan.jobs), skipped=plan.skipped, succeeded=None, failed=None,
        status="running", started_at=utc_now(), finished_at=None,
    )
    store.start_run(run)
    progress = RunProgress(planned=len(plan.jobs))
    # A local store's journal takes an outcome in microseconds (it fsyncs on a thread of its
    # own): each is written on the event loop as it arrives. Any other store (through `prefer
    # serve`) answers over a socket: written from a thread, in groups.
    local = isinstance(store, LocalStore) and store.journals_generations
    writer = OutcomeWriter(store.record_generations, batch=WRITE_BATCH,
                           name="prefer-generation-writer", threaded=not local)
    status = "interrupted"
    errors: list[str] = []
    try:
        engine = _Engine(plan, run.run_id, settings, digests, concurrency, writer, progress,
                         on_progress, max_attempts=max_attempts, backoff_s=backoff_s,
                         timeout_s=timeout_s, backend_factory=factory)
        errors = asyncio.run(engine.run())
        status = "done"
    finally:
        writer.close()
        finished = store.finish_run(run.run_id, status, actor)
    return RunResult(finished, progress, errors, interrupted=status != "done")
