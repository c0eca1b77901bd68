"""Plain dataclasses of the local judge (core/judge.py), passed between the store and the core.

Kept apart from core/models.py on purpose: none of these is ever taken or returned by an operation
an annotator may call (tests/test_judge.py walks the Store declaration to prove it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class JudgeRun:
    """One `prefer judge` run: what it set out to do and how it ended."""

    judge_run_id: str
    actor: str
    model: str
    hosts: tuple[str, ...]
    concurrency: int
    prompt_version: str
    settings: str  # JSON: digests, options, attempts, pid, guideline version
    planned: int
    skipped: int
    succeeded: int | None
    failed: int | None
    status: str
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class JudgeRequestRecord:
    """One request to the judge (an item in one display order) as the request log stores it."""

    request_id: str
    verdict_id: str
    judge_run_id: str
    prompt_id: str
    order_index: int
    shown_order: tuple[str, ...]
    model: str
    model_digest: str | None
    host: str | None
    status: str
    error: str | None
    attempts: int
    system: str
    options: str
    reply: str | None
    scores: tuple[int, ...] | None
    dimensions: tuple[str, ...] | None
    reason: str | None
    prompt_eval_count: int | None
    eval_count: int | None
    total_duration_ns: int | None
    latency_s: float | None
    started_at: datetime
    finished_at: datetime


@dataclass(frozen=True)
class JudgeVerdict:
    """The judge's view of one item: both display orders combined (or why it failed).

    `scores` are the mean 1-10 scores of the two orders, aligned with `candidate_ids` (stored
    order). `margin` is how far the best stands above the runner-up, 0 (a tie) to 1 (10 vs 1);
    `orders_agree` says whether both orders chose the same best and the same worst.
    """

    verdict_id: str
    judge_run_id: str
    prompt_id: str
    model: str
    model_digest: str | None
    prompt_version: str
    guideline_version: str | None
    candidates_key: str
    status: str
    error: str | None
    candidate_ids: tuple[str, ...]
    scores: tuple[float, ...] | None
    best_candidate_id: str | None
    worst_candidate_id: str | None
    margin: float | None
    orders_agree: bool | None
    dimensions: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True)
class JudgeOutcome:
    """What one judged item writes at once: its verdict and the requests behind it."""

    verdict: JudgeVerdict
    requests: tuple[JudgeRequestRecord, ...]
