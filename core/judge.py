"""The local judge: a second opinion from a local LLM, never an annotator.

`prefer judge` asks a model (through Ollama, as `prefer generate` does) to score every candidate
of an item against guidelines.md, with structured output: a JSON schema sent as Ollama's
`format`, checked again on receipt. Each item is asked twice, candidates in stored order and then
reversed, so a model that favours a position cannot pass that off as a preference; the two
answers are combined into one verdict, and how often they disagree is reported. Runs are
resumable and recorded like generation runs (model, digest, options, prompt version, every
request and its reply).

Verdicts are stored apart (core/store/judge.py) and used for three things only:

- calibration (`judge_calibration`): judge vs humans, with the statistics and bootstrap
  intervals of human agreement (core/agreement.py), and a verdict on whether it helps;
- triage: annotation.order = "informative" serves uncertain items first (the store's query);
- checks (`possible_slips`, `obvious_items`): human decisions a confident judge contradicts, and
  items so clear that their pairs teach little.

They never reach an annotator's screen, never make pairs and never enter human agreement.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import math
import os
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from core import agreement as ag
from core.agreement_report import collect_labels
from core.backends import Backend, ChatOptions, ChatReply, HostSettings, make_backend
from core.config import Config
from core.errors import BadInputError
from core.generate import BackendFactory, as_hosts, preflight
from core.judge_models import JudgeOutcome, JudgeRequestRecord, JudgeRun, JudgeVerdict
from core.models import Item
from core.outcome_writer import OutcomeWriter
from core.store import Store
from core.store.local import utc_now

WRITE_BATCH = 32  # judged items per store write
JUDGE_ACTOR = "@judge"  # the judge's name in calibration ratings: never a valid annotator name
MIN_SCORE, MAX_SCORE = 1, 10
MAX_REASON_CHARS = 1_000

SYSTEM_TEMPLATE = """\
You review candidate responses for an organisation that is building a preference dataset.
Experts make the decisions; you give a second opinion that helps them spend their time well.

Score every response from 1 (unacceptable) to 10 (exemplary) by how well it follows the
organisation's guidelines below. Judge substance, accuracy, compliance and tone, not length or
formatting for its own sake. Give two responses the same score only when you cannot tell which
is better. Then name the behaviour dimensions on which the responses differ most (from:
{dimensions}) and give a one-sentence reason.

Answer with JSON only, exactly in the requested schema; the responses are labelled
{labels}.

--- guidelines.md ---
{guidelines}
--- end of guidelines ---"""

USER_TEMPLATE = """\
The user's message{system_note}:
<<<
{prompt}
>>>

The responses:

{responses}"""

RESPONSE_TEMPLATE = "[{label}]\n{text}"


def judge_schema(labels: Sequence[str], dimensions: Sequence[str]) -> dict[str, Any]:
    """The JSON schema of a reply, sent as Ollama's `format`: a score per label, the dimensions
    the responses differ on, a reason."""
    score = {"type": "integer", "minimum": MIN_SCORE, "maximum": MAX_SCORE}
    return {
        "type": "object",
        "properties": {
            "scores": {"type": "object", "properties": {label: score for label in labels},
                       "required": list(labels), "additionalProperties": False},
            "dimensions": {"type": "array", "items": {"type": "string", "enum": list(dimensions)},
                           "minItems": 1, "maxItems": len(dimensions)},
            "reason": {"type": "string", "maxLength": MAX_REASON_CHARS},
        },
        "required": ["scores", "dimensions", "reason"],
        "additionalProperties": False,
    }


def _prompt_version() -> str:
    """The judge prompt's version: changes whenever the templates or the schema's shape do."""
    shape = json.dumps(judge_schema(("A", "B"), ("dimension",)), sort_keys=True)
    text = "\x1f".join((SYSTEM_TEMPLATE, USER_TEMPLATE, RESPONSE_TEMPLATE, shape))
    return "judge-1-" + hashlib.sha256(text.encode()).hexdigest()[:10]


PROMPT_VERSION = _prompt_version()


def labels_for(count: int) -> tuple[str, ...]:
    """Response labels: A, B, C, ... (then A2, B2, ... past Z)."""
    return tuple(chr(65 + i % 26) + (str(i // 26 + 1) if i >= 26 else "") for i in range(count))


def candidates_key(candidate_ids: Sequence[str]) -> str:
    """Which candidate set a verdict is about: a new candidate makes the item due again."""
    return hashlib.sha256("\x1f".join(sorted(candidate_ids)).encode()).hexdigest()[:16]


# --- the request ------------------------------------------------------------------------------

@dataclass(frozen=True)
class JudgeRequest:
    """One item in one display order, with the exact messages, schema and options to send."""

    item: Item
    order_index: int  # 0: stored order, 1: reversed
    shown_order: tuple[str, ...]
    system: str
    user: str
    schema: dict[str, Any]
    options: dict[str, float | int]
    dimensions: tuple[str, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        return labels_for(len(self.shown_order))

    def messages(self) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]


def build_request(item: Item, order_index: int, guidelines: str, dimensions: Sequence[str],
                  temperature: float) -> JudgeRequest:
    candidates = list(item.candidates)
    if order_index == 1:
        candidates.reverse()
    labels = labels_for(len(candidates))
    system = SYSTEM_TEMPLATE.format(dimensions=", ".join(dimensions),
                                    labels=", ".join(labels), guidelines=guidelines.strip())
    prompt = item.prompt
    note = (f" (the responses were written under this system prompt: {prompt.system.strip()})"
            if prompt.system and prompt.system.strip() else "")
    responses = "\n\n".join(RESPONSE_TEMPLATE.format(label=label, text=c.text)
                            for label, c in zip(labels, candidates, strict=True))
    user = USER_TEMPLATE.format(system_note=note, prompt=prompt.prompt, responses=responses)
    seed = int(hashlib.sha256(f"judge:{prompt.prompt_id}:{order_index}".encode())
               .hexdigest()[:8], 16)
    return JudgeRequest(item, order_index, tuple(c.candidate_id for c in candidates), system,
                        user, judge_schema(labels, dimensions),
                        {"temperature": temperature, "seed": seed}, tuple(dimensions))


class InvalidReply(ValueError):
    """A reply that does not fit the schema (or names a label twice, or none)."""


@dataclass(frozen=True)
class ParsedReply:
    scores: tuple[int, ...]  # per shown candidate
    dimensions: tuple[str, ...]
    reason: str


@functools.lru_cache(maxsize=64)
def _validator(labels: tuple[str, ...], dimensions: tuple[str, ...]) -> Any:
    """The schema's validator, built once per shape (building one costs more than a check)."""
    import jsonschema
    return jsonschema.Draft202012Validator(judge_schema(labels, dimensions))


def parse_reply(text: str, request: JudgeRequest) -> ParsedReply:
    """Validate a reply against the request's schema; InvalidReply says what is wrong."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise InvalidReply(f"not JSON: {exc}") from None
    # request.schema is judge_schema(labels, dimensions) (build_request): its validator is cached
    errors = sorted(_validator(request.labels, request.dimensions).iter_errors(value),
                    key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "reply"
        raise InvalidReply(f"does not fit the schema at {where}: {errors[0].message}")
    dimensions = tuple(dict.fromkeys(value["dimensions"]))
    return ParsedReply(tuple(int(value["scores"][label]) for label in request.labels),
                       dimensions, " ".join(value["reason"].split()))


# --- combining two orders ---------------------------------------------------------------------

def _unique_extreme(scores: dict[str, float], pick: Callable[..., float]) -> str | None:
    target = pick(scores.values())
    at = [cid for cid, s in scores.items() if s == target]
    return at[0] if len(at) == 1 else None


def combine(item: Item, replies: Sequence[tuple[JudgeRequest, ParsedReply]],
            dimensions_order: Sequence[str]) -> dict[str, Any]:
    """The verdict fields of an item from its two answered orders: mean scores, best and worst,
    margin (the best's lead over the runner-up / 9) and whether the orders agree."""
    per_order = []
    for request, reply in replies:
        per_order.append(dict(zip(request.shown_order, reply.scores, strict=True)))
    candidate_ids = tuple(c.candidate_id for c in item.candidates)
    mean = {cid: sum(order[cid] for order in per_order) / len(per_order) for cid in candidate_ids}
    ends = [(_unique_extreme(o, max), _unique_extreme(o, min)) for o in per_order]
    ranked = sorted(mean.values(), reverse=True)
    named = {d for _, reply in replies for d in reply.dimensions}
    return {
        "candidate_ids": candidate_ids,
        "scores": tuple(mean[cid] for cid in candidate_ids),
        "best_candidate_id": _unique_extreme(mean, max),
        "worst_candidate_id": _unique_extreme(mean, min),
        "margin": (ranked[0] - ranked[1]) / (MAX_SCORE - MIN_SCORE),
        "orders_agree": all(e == ends[0] for e in ends),
        "dimensions": tuple(d for d in dimensions_order if d in named),
    }


# --- planning ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class JudgePlan:
    model: str
    prompt_version: str
    guideline_version: str
    items: tuple[Item, ...]
    skipped: int
    requests: tuple[JudgeRequest, ...]


def plan_judging(store: Store, config: Config, guidelines: str, guideline_version: str, *,
                 model: str, limit: int | None = None, force: bool = False) -> JudgePlan:
    """Every ready item not yet judged with `model` and this prompt (unless `force`), twice."""
    done = set() if force else store.judge_done_keys(model, PROMPT_VERSION)
    items, skipped = [], 0
    for item in store.judge_items(limit):
        if (item.prompt.prompt_id, candidates_key([c.candidate_id for c in item.candidates])) \
                in done:
            skipped += 1
            continue
        items.append(item)
    dims = tuple(config.project.dimensions)
    requests = tuple(build_request(item, order, guidelines, dims, config.judge.temperature)
                     for item in items for order in (0, 1))
    return JudgePlan(model, PROMPT_VERSION, guideline_version, tuple(items), skipped, requests)


# --- running ----------------------------------------------------------------------------------

@dataclass
class JudgeProgress:
    """Counts so far, passed to the progress callback after every judged item."""

    planned: int  # items
    succeeded: int = 0
    failed: int = 0
    retries: int = 0  # transient errors retried
    invalid_replies: int = 0  # replies that did not fit the schema (each retried or failed)
    orders_disagree: int = 0  # judged items whose two orders chose a different best or worst
    first_shown_best: int = 0  # answered requests whose best was the first response shown
    answered_requests: int = 0

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed


@dataclass
class JudgeResult:
    run: JudgeRun
    progress: JudgeProgress
    errors: list[str] = field(default_factory=list)
    interrupted: bool = False


async def _ask_judge(backend: Backend, model: str, request: JudgeRequest,
                     options: dict[str, float | int]) -> ChatReply:
    """The one call to the model, through the host's backend (core/backends: Ollama's `format`
    or OpenAI's `response_format`), constrained to the reply's JSON schema."""
    return await backend.chat(model, request.messages(), ChatOptions.from_recorded(options),
                              schema=request.schema)


@dataclass
class _Attempt:
    request: JudgeRequest
    verdict_id: str
    attempts: int = 0  # requests sent
    invalid: int = 0  # of which answered with a reply that did not fit
    errors: list[str] = field(default_factory=list)
    started_at: datetime = field(default_factory=utc_now)


def _record(attempt: _Attempt, run_id: str, model: str, digest: str | None, host: str | None,
            options: dict[str, float | int], response: ChatReply | None,
            reply: ParsedReply | None,
            error: str | None, latency: float | None) -> JudgeRequestRecord:
    request = attempt.request
    return JudgeRequestRecord(
        request_id="jq_" + uuid.uuid4().hex, verdict_id=attempt.verdict_id, judge_run_id=run_id,
        prompt_id=request.item.prompt.prompt_id, order_index=request.order_index,
        shown_order=request.shown_order, model=model, model_digest=digest, host=host,
        status="ok" if reply is not None else "failed", error=error, attempts=attempt.attempts,
        system=request.system, options=json.dumps(options, sort_keys=True),
        reply=response.text if response is not None else None,
        scores=reply.scores if reply else None, dimensions=reply.dimensions if reply else None,
        reason=reply.reason if reply else None,
        prompt_eval_count=response.usage.prompt_tokens if response is not None else None,
        eval_count=response.usage.completion_tokens if response is not None else None,
        total_duration_ns=response.usage.total_duration_ns if response is not None else None,
        latency_s=latency, started_at=attempt.started_at, finished_at=utc_now())


async def _run_requests(plan: JudgePlan, run_id: str, hosts: Sequence[HostSettings],
                        digests: dict[str, str], concurrency: int,
                        writer: OutcomeWriter[JudgeOutcome],
                        progress: JudgeProgress, dimensions: Sequence[str],
                        on_progress: Callable[[JudgeProgress], None] | None, *,
                        max_attempts: int, max_invalid: int, backoff_s: float, timeout_s: float,
                        backend_factory: BackendFactory | None) -> list[str]:
    work: asyncio.Queue[_Attempt] = asyncio.Queue()
    verdict_ids = {item.prompt.prompt_id: "jv_" + uuid.uuid4().hex for item in plan.items}
    for request in plan.requests:
        work.put_nowait(_Attempt(request, verdict_ids[request.item.prompt.prompt_id]))
    errors: list[str] = []
    halves: dict[str, list[tuple[JudgeRequestRecord, JudgeRequest, ParsedReply | None]]] = {}
    factory = backend_factory or make_backend

    def finished(attempt: _Attempt, record: JudgeRequestRecord, reply: ParsedReply | None,
                 digest: str | None) -> None:
        """A request is settled; when its item's other order is too, the item is written."""
        if reply is not None:
            progress.answered_requests += 1
            progress.first_shown_best += int(max(reply.scores) == reply.scores[0]
                                              and reply.scores.count(reply.scores[0]) == 1)
        both = halves.setdefault(attempt.verdict_id, [])
        both.append((record, attempt.request, reply))
        if len(both) < 2:
            return
        del halves[attempt.verdict_id]
        item = attempt.request.item
        both.sort(key=lambda half: half[1].order_index)
        failures = [r.error for r, _, reply in both if reply is None]
        base = {"candidate_ids": tuple(c.candidate_id for c in item.candidates), "scores": None,
                "best_candidate_id": None, "worst_candidate_id": None, "margin": None,
                "orders_agree": None, "dimensions": ()}
        if not failures:
            base = combine(item, [(req, reply) for _, req, reply in both if reply is not None],
                           dimensions)
        verdict = JudgeVerdict(
            verdict_id=attempt.verdict_id, judge_run_id=run_id,
            prompt_id=item.prompt.prompt_id, model=plan.model, model_digest=digest,
            prompt_version=plan.prompt_version, guideline_version=plan.guideline_version,
            candidates_key=candidates_key(base["candidate_ids"]),
            status="failed" if failures else "ok",
            error="; ".join(e for e in failures if e) if failures else None,
            created_at=utc_now(), **base)
        writer.put(JudgeOutcome(verdict, tuple(r for r, _, _ in both)))
        if failures:
            progress.failed += 1
            errors.append(f"{item.prompt.prompt_id}: {verdict.error}")
        else:
            progress.succeeded += 1
            progress.orders_disagree += int(not verdict.orders_agree)
        if on_progress is not None:
            on_progress(progress)

    host_failures = dict.fromkeys((h.url for h in hosts), 0)  # consecutive failures per host

    def others_reachable(host: str) -> bool:
        return any(count == 0 for other, count in host_failures.items() if other != host)

    async def worker(settings: HostSettings) -> None:
        backend = factory(settings, timeout_s)
        host = settings.url
        digest = digests.get(host)
        try:
            await _work(backend, host, digest)
        finally:
            await backend.aclose()

    async def _work(backend: Backend, host: str, digest: str | None) -> None:
        while True:
            if host_failures[host]:
                # This host just failed: wait before taking more work, so healthy hosts pick up
                # the queue meanwhile, and probe it again afterwards.
                await asyncio.sleep(min(backoff_s * 2 ** (host_failures[host] - 1), 10.0))
            attempt = await work.get()
            try:
                # A retried invalid reply is asked again with another seed: at a fixed seed the
                # model would give the same reply.
                options = {**attempt.request.options,
                           "seed": int(attempt.request.options["seed"]) + attempt.invalid}
                began = time.perf_counter()
                try:
                    response = await _ask_judge(backend, plan.model, attempt.request, options)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    failure = backend.classify(exc)
                    message = failure.message
                    if not failure.retryable:
                        attempt.attempts += 1
                        finished(attempt, _record(attempt, run_id, plan.model, digest, host,
                                                  options, None, None, message, None), None,
                                 digest)
                        continue
                    host_failures[host] += 1
                    if not (failure.unreachable and others_reachable(host)):
                        attempt.attempts += 1
                    if attempt.attempts < max_attempts:
                        progress.retries += 1
                        work.put_nowait(attempt)
                        continue
                    finished(attempt, _record(
                        attempt, run_id, plan.model, digest, host, options, None, None,
                        f"{message} (after {attempt.attempts} attempts)", None), None, digest)
                    continue
                host_failures[host] = 0
                attempt.attempts += 1
                latency = time.perf_counter() - began
                try:
                    reply = parse_reply(response.text or "", attempt.request)
                except InvalidReply as exc:
                    attempt.invalid += 1
                    progress.invalid_replies += 1
                    if attempt.invalid < max_invalid:
                        work.put_nowait(attempt)
                        continue
                    finished(attempt, _record(
                        attempt, run_id, plan.model, digest, host, options, response, None,
                        f"invalid reply {attempt.invalid} times, last: {exc}", latency), None,
                        digest)
                    continue
                finished(attempt, _record(attempt, run_id, plan.model, digest, host, options,
                                          response, reply, None, latency), reply, digest)
            finally:
                work.task_done()

    workers = [asyncio.create_task(worker(host), name=f"judge:{host.url}:{slot}")
               for host in hosts for slot in range(concurrency)]
    try:
        await work.join()
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return errors


def run_judging(store: Store, plan: JudgePlan, config: Config, *,
                hosts: Sequence[HostSettings | str],
                concurrency: int, actor: str, max_attempts: int = 4, backoff_s: float = 0.5,
                timeout_s: float = 300.0,
                on_progress: Callable[[JudgeProgress], None] | None = None,
                digests: dict[str, str] | None = None,
                backend_factory: BackendFactory | None = None) -> JudgeResult:
    """Judge `plan` on `hosts` (after a pre-flight check unless `digests` is given).

    Every judged item is committed as soon as both its orders are settled, so Ctrl-C or kill -9
    loses only items in flight, and the next run asks only for what is not stored.
    """
    if not hosts:
        raise BadInputError("no host: set generation.hosts in prefer.toml or pass --host")
    host_settings = as_hosts(hosts)
    if concurrency < 1:
        raise BadInputError(f"--concurrency must be at least 1, got {concurrency}")
    if digests is None:
        digests = asyncio.run(preflight(host_settings, plan.model))
    for labels, dimensions in {(r.labels, r.dimensions) for r in plan.requests}:
        _validator(labels, dimensions)  # loads jsonschema and builds the validators up front
    max_invalid = config.judge.max_invalid_replies
    run = JudgeRun(
        judge_run_id="jr_" + uuid.uuid4().hex[:16], actor=actor, model=plan.model,
        hosts=tuple(h.url for h in host_settings), concurrency=concurrency,
        prompt_version=plan.prompt_version,
        settings=json.dumps({"pid": os.getpid(), "digests": digests,
                             "temperature": config.judge.temperature,
                             "guideline_version": plan.guideline_version,
                             "dimensions": list(config.project.dimensions),
                             "max_attempts": max_attempts, "max_invalid_replies": max_invalid,
                             "backoff_s": backoff_s, "timeout_s": timeout_s}, sort_keys=True),
        planned=len(plan.items), skipped=plan.skipped, succeeded=None, failed=None,
        status="running", started_at=utc_now(), finished_at=None)
    store.start_judge_run(run)
    progress = JudgeProgress(planned=len(plan.items))
    writer = OutcomeWriter(store.record_judge_outcomes, batch=WRITE_BATCH,
                           name="prefer-judge-writer")
    status = "interrupted"
    errors: list[str] = []
    try:
        errors = asyncio.run(_run_requests(
            plan, run.judge_run_id, host_settings, digests, concurrency, writer, progress,
            tuple(config.project.dimensions), on_progress, max_attempts=max_attempts,
            max_invalid=max_invalid, backoff_s=backoff_s, timeout_s=timeout_s,
            backend_factory=backend_factory))
        status = "done"
    finally:
        writer.close()
        finished_run = store.finish_judge_run(run.judge_run_id, status, actor)
    return JudgeResult(finished_run, progress, errors, interrupted=status != "done")


# --- position bias over stored verdicts ---------------------------------------------------------

@dataclass(frozen=True)
class PositionBias:
    judged: int
    orders_disagree: int

    @property
    def share(self) -> float | None:
        return self.orders_disagree / self.judged if self.judged else None


def position_bias(verdicts: Sequence[JudgeVerdict]) -> PositionBias:
    return PositionBias(len(verdicts), sum(1 for v in verdicts if not v.orders_agree))


# --- calibration: the judge against the humans ---------------------------------------------------

class JudgeUnit(NamedTuple):
    """A unit of judge-vs-human agreement: one human's label on one candidate pair of an item."""

    item_id: str
    pair: tuple[str, str]
    annotator: str


def _item_of(unit: Hashable) -> Hashable:
    return unit[0]  # type: ignore[index]


def judge_labels(verdict: JudgeVerdict) -> dict[ag.PairUnit, str]:
    """The pairwise labels the judge's mean scores imply (every pair: higher preferred, equal
    scores a tie), in core.agreement's canonical orientation."""
    assert verdict.scores is not None
    score = dict(zip(verdict.candidate_ids, verdict.scores, strict=True))
    labels = {}
    for low, high in ((a, b) for a in score for b in score if a < b):
        label = (ag.TIE if score[low] == score[high]
                 else ag.FIRST if score[low] > score[high] else ag.SECOND)
        labels[ag.PairUnit(verdict.prompt_id, (low, high))] = label
    return labels


# The judge helps when it agrees with the experts at least this well (Cohen's kappa, the lower
# end of its 95% interval counting for "helps").
HELPS_KAPPA = ag.STRONG_AGREEMENT
TRIAGE_KAPPA = ag.MODERATE_AGREEMENT
MIN_CALIBRATION_ITEMS = 30


@dataclass(frozen=True)
class CalibrationRow:
    """Judge-vs-human agreement in one scope ("overall", "dimension=tone", "language=de")."""

    scope: str
    items: int
    human_labels: int  # (human, candidate pair) labels compared
    kappa: float
    kappa_low: float
    kappa_high: float
    alpha: float
    alpha_low: float
    alpha_high: float
    percent_agreement: float
    best_match: float  # share of human judgments whose best is the judge's best
    best_match_low: float
    best_match_high: float
    verdict: str  # helps, triage only, do not use, too few items


@dataclass
class Calibration:
    model: str | None
    verdicts: int
    items_compared: int
    position_bias: PositionBias
    human_alpha: float | None  # Krippendorff's alpha between the humans (the yardstick)
    rows: list[CalibrationRow] = field(default_factory=list)

    @property
    def overall(self) -> CalibrationRow | None:
        return next((r for r in self.rows if r.scope == "overall"), None)

    @property
    def advice(self) -> str:
        row = self.overall
        if row is None or row.verdict == "too few items":
            shown = row.items if row else 0
            return (f"Too few items to tell ({shown} judged by both the judge and an expert; "
                    f"{MIN_CALIBRATION_ITEMS} needed): judge more items and let the experts rank "
                    "some of them before trusting triage or checks.")
        if row.verdict == "helps":
            return (f"The judge agrees with the experts well (kappa {row.kappa:.2f}, 95% "
                    f"{row.kappa_low:.2f}-{row.kappa_high:.2f}): use it to order the queue "
                    "(annotation.order = \"informative\") and to look for slips.")
        if row.verdict == "triage only":
            return (f"The judge agrees with the experts moderately (kappa {row.kappa:.2f}): "
                    "ordering the queue by it is safe, but treat its slips list with care.")
        return (f"The judge agrees with the experts weakly (kappa {row.kappa:.2f}): do not use "
                "it for triage or checks; try a stronger model or clearer guidelines.")


def _calibration_verdict(kappa: float, low: float, items: int, min_items: int) -> str:
    if items < min_items:
        return "too few items"
    if math.isnan(kappa):
        return "undefined"
    if kappa >= HELPS_KAPPA and (math.isnan(low) or low >= TRIAGE_KAPPA):
        return "helps"
    if kappa >= TRIAGE_KAPPA:
        return "triage only"
    return "do not use"


def judge_calibration(rows: dict[str, list[tuple]], verdicts: Sequence[JudgeVerdict], *,
                      by: Sequence[str] = ("dimension", "language"),
                      min_items: int = MIN_CALIBRATION_ITEMS, seed: int = 42,
                      resamples: int = 2000, model: str | None = None) -> Calibration:
    """Judge-vs-human agreement from `store.agreement_rows()` and the judge's verdicts.

    Every human label on a candidate pair (core.agreement's pairwise labels of their current
    judgment) is compared with the judge's label on that pair: Cohen's kappa, Krippendorff's
    alpha and percent agreement over those (human, judge) label pairs, and the share of human
    judgments whose best is the judge's best. Intervals resample items (core.agreement's
    bootstrap), so an item many experts judged is one draw.
    """
    judgments, ratings = collect_labels(rows)
    by_item = {v.prompt_id: v for v in verdicts if v.status == "ok" and v.scores is not None}
    judge_pairs: dict[ag.PairUnit, str] = {}
    for verdict in by_item.values():
        judge_pairs.update(judge_labels(verdict))
    compared: dict[JudgeUnit, dict[str, str]] = {}
    for unit, labels in ratings.items():
        judge_label = judge_pairs.get(unit)
        if judge_label is None:
            continue
        for annotator, label in labels.items():
            compared[JudgeUnit(unit.item_id, unit.pair, annotator)] = {
                "human": label, JUDGE_ACTOR: judge_label}
    best_compared: dict[tuple[str, str], dict[str, str]] = {}
    for judgment in judgments:
        verdict = by_item.get(judgment.item_id)
        best, _worst = ag.best_worst_choice(judgment)
        if verdict is None or best is None:
            continue
        best_compared[(judgment.item_id, judgment.annotator)] = {
            "human": best, JUDGE_ACTOR: verdict.best_candidate_id or "(tie)"}

    meta = {prompt_id: {"dimension": dim or "unspecified", "language": lang or "unknown"}
            for prompt_id, dim, lang in rows["items"]}
    scopes: dict[str, set[str]] = {"overall": {u.item_id for u in compared}}
    for key in by:
        groups: dict[str, set[str]] = defaultdict(set)
        for item in scopes["overall"]:
            groups[meta.get(item, {}).get(key, "unknown")].add(item)
        scopes.update({f"{key}={value}": groups[value] for value in sorted(groups)})

    statistics: dict[str, Any] = {}
    for scope, items in scopes.items():
        subset = {u: labels for u, labels in compared.items() if u.item_id in items}
        human = {u: labels["human"] for u, labels in subset.items()}
        judge = {u: labels[JUDGE_ACTOR] for u, labels in subset.items()}
        statistics[f"{scope}\x1fkappa"] = ag.cohen_kappa_sums(human, judge, item_of=_item_of)
        statistics[f"{scope}\x1falpha"] = ag.krippendorff_alpha_sums(subset, item_of=_item_of)
        statistics[f"{scope}\x1fpercent"] = ag.percent_agreement_sums(subset, item_of=_item_of)
        statistics[f"{scope}\x1fbest"] = ag.percent_agreement_sums(
            {k: v for k, v in best_compared.items() if k[0] in items}, item_of=_item_of)
    all_items = sorted(scopes["overall"])
    intervals = ag.bootstrap_cis(all_items, statistics, seed, n_resamples=resamples) \
        if all_items else {}

    def value(name: str) -> tuple[float, float, float]:
        stat = statistics[name]
        estimate = stat.value() if stat.n_units else math.nan
        interval = intervals.get(name)
        return (estimate, interval.low if interval else math.nan,
                interval.high if interval else math.nan)

    human_alpha = None
    if any(len(labels) >= 2 for labels in ratings.values()):
        alpha = ag.krippendorff_alpha_sums(ratings).value()  # the report's headline, overall
        human_alpha = alpha if math.isfinite(alpha) else None
    calibration = Calibration(model, len(by_item), len(scopes["overall"]),
                              position_bias(list(by_item.values())), human_alpha)
    for scope, items in scopes.items():
        kappa, kappa_low, kappa_high = value(f"{scope}\x1fkappa")
        alpha, alpha_low, alpha_high = value(f"{scope}\x1falpha")
        percent, _, _ = value(f"{scope}\x1fpercent")
        best, best_low, best_high = value(f"{scope}\x1fbest")
        calibration.rows.append(CalibrationRow(
            scope, len(items), statistics[f"{scope}\x1fkappa"].n_units, kappa, kappa_low,
            kappa_high, alpha, alpha_low, alpha_high, percent, best, best_low, best_high,
            _calibration_verdict(kappa, kappa_low, len(items), min_items)))
    return calibration


# --- checks: possible slips and obvious items -----------------------------------------------------

@dataclass(frozen=True)
class PossibleSlip:
    """A human decision a confident judge contradicts: worth a reviewer's second look."""

    prompt_id: str
    decided_by: str  # an annotator, or "(adjudication)"
    kind: str  # "swapped" (best and worst the wrong way round), "best is judge's worst", ...
    human_best: str | None
    human_worst: str | None
    judge_best: str | None
    judge_worst: str | None
    margin: float
    candidate_ids: tuple[str, ...] = ()  # the item's candidates in stored order

    def position(self, candidate_id: str | None) -> str:
        """A candidate as "#n", its place in stored order (what `prefer adjudicate` shows)."""
        if candidate_id is None:
            return "–"
        if candidate_id in self.candidate_ids:
            return f"#{self.candidate_ids.index(candidate_id) + 1}"
        return candidate_id


def is_confident(verdict: JudgeVerdict, margin: float) -> bool:
    return bool(verdict.status == "ok" and verdict.orders_agree and verdict.margin is not None
                and verdict.margin >= margin and verdict.best_candidate_id is not None)


def possible_slips(rows: dict[str, list[tuple]], verdicts: Sequence[JudgeVerdict],
                   confident_margin: float) -> list[PossibleSlip]:
    """Current human decisions (judgments, and adjudications) a confident judge contradicts,
    the most glaring first (swaps, then a best the judge thinks worst, then other bests)."""
    by_item = {v.prompt_id: v for v in verdicts if is_confident(v, confident_margin)}
    decisions: list[tuple[str, str, str | None, str | None]] = []
    for annotator, prompt_id, kind, _shown, best, worst, groups, _dims, _secs in rows["judgments"]:
        if kind != "ranked":
            continue
        if groups:
            best, worst = (groups[0][0] if len(groups[0]) == 1 else None,
                           groups[-1][0] if len(groups) > 1 and len(groups[-1]) == 1 else None)
        decisions.append((prompt_id, annotator, best, worst))
    decisions += [(p, "(adjudication)", b, w) for p, b, w in rows["adjudications"]]
    found = []
    for prompt_id, who, best, worst in decisions:
        verdict = by_item.get(prompt_id)
        if verdict is None or best is None:
            continue
        judge_best, judge_worst = verdict.best_candidate_id, verdict.worst_candidate_id
        if best == judge_worst and worst is not None and worst == judge_best:
            kind = "swapped"
        elif best == judge_worst:
            kind = "best is the judge's worst"
        elif worst is not None and worst == judge_best:
            kind = "worst is the judge's best"
        elif best != judge_best:
            kind = "another best"
        else:
            continue
        found.append(PossibleSlip(prompt_id, who, kind, best, worst, judge_best, judge_worst,
                                  float(verdict.margin or 0.0), verdict.candidate_ids))
    rank = {"swapped": 0, "best is the judge's worst": 1, "worst is the judge's best": 2,
            "another best": 3}
    return sorted(found, key=lambda s: (rank[s.kind], -s.margin, s.prompt_id, s.decided_by))


@dataclass(frozen=True)
class ObviousItems:
    """Items the humans agreed on unanimously and the judge found clear-cut (a large margin)."""

    count: int
    unanimous: int  # items two or more experts ranked with the same best and worst
    judged_by_two_or_more: int
    prompt_ids: tuple[str, ...]
    warnings: list[str] = field(default_factory=list)


def obvious_items(rows: dict[str, list[tuple]], verdicts: Sequence[JudgeVerdict],
                  obvious_margin: float) -> ObviousItems:
    """Count obvious items: unanimous experts (two or more) and a confident judge that agrees."""
    decisions: dict[str, set[tuple[str | None, str | None]]] = defaultdict(set)
    raters: dict[str, int] = defaultdict(int)
    for _annotator, prompt_id, kind, _shown, best, worst, _groups, _d, _s in rows["judgments"]:
        if kind == "ranked":
            decisions[prompt_id].add((best, worst))
            raters[prompt_id] += 1
    shared = [p for p, n in raters.items() if n >= 2]
    unanimous = [p for p in shared if len(decisions[p]) == 1 and None not in next(
        iter(decisions[p]))]
    by_item = {v.prompt_id: v for v in verdicts if is_confident(v, obvious_margin)}
    obvious = tuple(sorted(p for p in unanimous if p in by_item
                           and next(iter(decisions[p]))[0] == by_item[p].best_candidate_id))
    warnings = []
    if shared and len(obvious) / len(shared) > 0.25:
        warnings.append(
            f"{len(obvious):,} of the {len(shared):,} items several experts ranked "
            f"({len(obvious) / len(shared):.0%}) are obvious: every expert agreed and the judge "
            "found the best answer far ahead. Pairs from such items teach the model little; "
            "make the flawed variants subtler or add harder prompts, and spend expert time "
            "on the uncertain items (annotation.order = \"informative\").")
    elif obvious:
        warnings.append(
            f"{len(obvious):,} items are obvious (unanimous experts, a clear-cut judge): fine in "
            "small numbers, but they add little to training.")
    return ObviousItems(len(obvious), len(unanimous), len(shared), obvious, warnings)


def judge_checks(store: Store, config: Config) -> ObviousItems | None:
    """The report's judge section: None when nothing was judged."""
    verdicts = store.judge_verdicts()
    if not verdicts:
        return None
    return obvious_items(store.agreement_rows(), verdicts, config.judge.obvious_margin)

