"""Plain dataclasses passed between the store, the core and the faces (never DuckDB objects)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Candidate:
    """One candidate response to a prompt; `position` is its order of arrival for that prompt."""

    candidate_id: str
    prompt_id: str
    position: int
    text: str
    origin: str = "import"


@dataclass(frozen=True)
class Turn:
    """One message of a conversation before its last user turn: role user or assistant."""

    role: str
    content: str


@dataclass(frozen=True)
class Prompt:
    """A prompt as stored: the user message, an optional system prompt and its labels.

    A multi-turn prompt keeps its last user turn in `prompt` and the turns before it in
    `turns`, oldest first (empty for a single-turn prompt).
    """

    prompt_id: str
    prompt: str
    system: str | None = None
    dimension: str | None = None
    language: str | None = None
    source: str | None = None
    turns: tuple[Turn, ...] = ()


@dataclass(frozen=True)
class Item:
    """What an annotator judges: a prompt with all its candidates (in stored order)."""

    prompt: Prompt
    candidates: tuple[Candidate, ...]


@dataclass(frozen=True)
class Judgment:
    """One annotator's decision on one item; an edit is a new Judgment that `supersedes` the old.

    `kind` is "ranked" (a preference: best and worst chosen, or a whole ranking in `groups`),
    "skipped", or an outcome without a preference: "no_difference" (no meaningful difference)
    or "cannot_judge", with the reason in `justification`. `shown_order` lists candidate ids in
    the order they were displayed, labelled 1..k. `groups` is a rank-mode ranking, best first;
    candidates in one group are tied.
    """

    judgment_id: str
    annotator: str
    prompt_id: str
    kind: str
    shown_order: tuple[str, ...]
    best_candidate_id: str | None = None
    worst_candidate_id: str | None = None
    ranking: tuple[str, ...] | None = None
    dimensions: tuple[str, ...] = ()
    justification: str | None = None
    guideline_version: str | None = None
    seconds_spent: float | None = None
    supersedes: str | None = None
    created_at: datetime | None = None
    groups: tuple[tuple[str, ...], ...] | None = None


@dataclass(frozen=True)
class Progress:
    """An annotator's progress: items judged, skipped, still open, and the total available."""

    annotator: str
    judged: int
    skipped: int
    total: int
    assigning: bool = False  # assignments are in force: the annotator sees only theirs
    assigned: int = 0  # items assigned to the annotator and not released

    @property
    def remaining(self) -> int:
        return max(self.total - self.judged, 0)


@dataclass(frozen=True)
class Event:
    """One row of the audit trail; `prev_hash` chains it to the row before."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str | None
    details: str
    prev_hash: str
    row_hash: str


@dataclass(frozen=True)
class ChainReport:
    """Result of verifying the audit chain: `broken_seq` is the first bad row, or None."""

    checked: int
    broken_seq: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


@dataclass(frozen=True)
class AuditHead:
    """The newest event of the audit chain: its number and hash (what an anchor keeps)."""

    seq: int
    hash: str
    at: datetime | None = None


@dataclass(frozen=True)
class AuditAnchor:
    """A head kept elsewhere (a manifest, a head file line): the chain must still contain it.

    `source` says where it came from, for the report ("manifest.json", "heads:12").
    """

    seq: int
    hash: str
    source: str


@dataclass(frozen=True)
class AuditProblem:
    """One thing `verify_audit` found wrong.

    `kind` is one of: chain (a row's hash or link), rows_changed, rows_missing, rows_added (rows
    no longer match the event that wrote them), rows_without_event, rewrite (a write found rows it
    changed already tampered with), anchor (a kept head the chain no longer contains),
    head_file (prefer.audit-heads does not cover the chain).
    """

    kind: str
    message: str
    seq: int | None = None
    table: str | None = None


@dataclass(frozen=True)
class AuditReport:
    """What `verify_audit` checked and found: `problems` empty means intact.

    `events`: events whose hash and link verified; `rows`: rows matched against the events
    that wrote them; `heads`: kept heads checked (the head file's lines and the anchors given);
    `notes`: facts worth knowing that are not failures (rows adopted at migration 007, events
    noted late). At most `MAX_PROBLEMS` problems are listed; `more_problems` counts the rest.
    """

    events: int
    rows: int
    heads: int
    head: AuditHead | None
    problems: tuple[AuditProblem, ...] = ()
    more_problems: int = 0
    notes: tuple[str, ...] = ()

    MAX_PROBLEMS = 200

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class ImportCounts:
    """What an import found and, unless a dry run, stored."""

    rows: int
    prompts_in_file: int
    new_prompts: int
    candidates_in_file: int
    new_candidates: int
    ignored_fields: tuple[str, ...] = ()
    dry_run: bool = False


@dataclass(frozen=True)
class SourceOptions:
    """How `prefer import --kind KIND` reads a source: trust it, and the A/B test threshold."""

    trust: bool = False  # its preferences also count as judgments by 'source:KIND'
    max_p: float = 0.05  # abtest: a result implies a preference only at p <= max_p


@dataclass(frozen=True)
class IgnoredRows:
    """Rows of a source file that imply no preference, for one reason."""

    reason: str
    rows: int
    first_line: int


@dataclass(frozen=True)
class SourceImportCounts:
    """What an import of a preference source found and, unless a dry run, stored."""

    kind: str
    rows: int
    prompts_in_file: int
    new_prompts: int
    multi_turn_prompts: int
    candidates_in_file: int
    new_candidates: int
    preferences_in_file: int
    new_preferences: int
    trusted: bool = False
    source_judgments: int = 0  # judgments by 'source:KIND' stored (with --trust)
    not_a_ranking: int = 0  # trusted items whose preferences form no ranking: pre-labels only
    ignored: tuple[IgnoredRows, ...] = ()
    ignored_fields: tuple[str, ...] = ()
    dry_run: bool = False


@dataclass(frozen=True)
class SourcePreference:
    """A preference an imported source implies on one item, with its provenance and strength."""

    kind: str
    prompt_id: str
    chosen_candidate_id: str
    rejected_candidate_id: str
    source: str
    source_line: int
    trusted: bool
    p_value: float | None = None
    score_gap: float | None = None
    reviewer: str | None = None
    signal: str | None = None


@dataclass(frozen=True)
class RefreshCriteria:
    """Which current decisions `prefer refresh` finds stale, and whom it asks again.

    A decision is stale when made before `older_than`, or (with `guideline`) under another
    guideline version before that version was first used. Sources' judgments are never stale.
    """

    older_than: datetime | None = None
    guideline: str | None = None
    to: tuple[str, ...] = ()  # ask these annotators instead of the ones who decided


@dataclass(frozen=True)
class RefreshCounts:
    """What `prefer refresh` re-queued (or, in a dry run, would)."""

    stale_decisions: int
    requests: int  # new re-queued (item, annotator) pairs
    already_queued: int
    items: int
    by_dimension: dict[str, int]
    by_annotator: dict[str, int]
    dry_run: bool = False


@dataclass(frozen=True)
class RefreshOutcome:
    """A refresh request answered: the stale decision and the new one on the same item."""

    prompt_id: str
    annotator: str
    dimension: str
    stale_best: str | None
    stale_worst: str | None
    new_best: str | None
    new_worst: str | None
    stale_groups: tuple[tuple[str, ...], ...] | None = None
    new_groups: tuple[tuple[str, ...], ...] | None = None


@dataclass(frozen=True)
class StoreStatus:
    """Counts per pipeline stage, for `prefer status`."""

    prompts: int
    prompts_ready: int
    candidates: int
    judgments: int
    skips: int
    superseded: int
    annotators: tuple[Progress, ...]
    prompts_by_dimension: dict[str, int] = field(default_factory=dict)
    prompts_by_language: dict[str, int] = field(default_factory=dict)
    exports: int = 0
    events: int = 0
    assignments: int = 0  # active (not released)
    open_flags: int = 0
    held_back: int = 0  # items that give no pairs until a reviewer acts: disputed or flagged


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: files with hashes, pair counts per split and dimension, what it held back."""

    out_dir: str
    format: str
    conversational: bool
    files: dict[str, str]
    pairs_by_split: dict[str, int]
    pairs_by_split_and_dimension: dict[str, dict[str, int]]
    prompts_by_split: dict[str, int]
    dropped: dict[str, int]
    held_back_prompts: int
    manifest_path: str
    balanced_out: int = 0


@dataclass(frozen=True)
class GenerationRecord:
    """The outcome of one generation request, as the run log stores it.

    With status "ok", `text` is the candidate; `candidate_id` is filled in by the store.
    """

    generation_id: str
    run_id: str
    prompt_id: str
    variant: str
    model: str
    model_digest: str | None
    host: str | None
    status: str
    error: str | None
    attempts: int
    text: str | None
    system: str | None
    options: str
    done_reason: str | None
    truncated: bool
    prompt_eval_count: int | None
    eval_count: int | None
    total_duration_ns: int | None
    load_duration_ns: int | None
    prompt_eval_duration_ns: int | None
    eval_duration_ns: int | None
    latency_s: float | None
    started_at: datetime
    finished_at: datetime
    backend: str | None = None  # the API the host speaks (core.backends.BACKENDS)


@dataclass(frozen=True)
class Run:
    """One `prefer generate` run: what it set out to do and how it ended."""

    run_id: str
    actor: str
    model: str
    hosts: tuple[str, ...]
    variants: tuple[str, ...]
    concurrency: int
    settings: str
    planned: int
    skipped: int
    succeeded: int | None
    failed: int | None
    status: str
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class Provenance:
    """How a generated candidate was made: shown in the TUI only on request."""

    candidate_id: str
    variant: str
    model: str
    temperature: float | None
    truncated: bool


@dataclass(frozen=True)
class ItemJudgment:
    """One annotator's current decision on an item, as a reviewer reads it.

    `source` is "judgment" (ranked in prefer: best and worst, or a ranking as `groups`, best group
    first, tied candidates in one group) or "pairwise" (a label made in another tool comparing
    `shown[0]` with `shown[1]`; `winner` is "first", "second" or "tie").
    """

    judgment_id: str
    annotator: str
    prompt_id: str
    source: str
    shown: tuple[str, ...]
    best_candidate_id: str | None = None
    worst_candidate_id: str | None = None
    groups: tuple[tuple[str, ...], ...] | None = None
    winner: str | None = None
    dimensions: tuple[str, ...] = ()
    justification: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class Disagreement:
    """An item a reviewer should look at: what its annotators differ on, its open flags."""

    prompt_id: str
    prompt: str
    annotators: int
    differs_on: tuple[str, ...]  # "best", "worst", "opposite pairs"
    open_flags: int = 0
    adjudicated: bool = False

    @property
    def unresolved(self) -> bool:
        return self.open_flags > 0 or (bool(self.differs_on) and not self.adjudicated)


@dataclass(frozen=True)
class Adjudication:
    """A reviewer's decision on an item; the latest one per item is what pairs are built from."""

    adjudication_id: str
    prompt_id: str
    reviewer: str
    note: str
    best_candidate_id: str | None = None
    worst_candidate_id: str | None = None
    groups: tuple[tuple[str, ...], ...] | None = None
    guideline_change: str | None = None
    supersedes: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class Flag:
    """An annotator's note that an item needs a reviewer; open until `resolution` is set."""

    flag_id: str
    annotator: str
    prompt_id: str
    note: str
    created_at: datetime | None = None
    resolved_by: str | None = None
    resolution: str | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True)
class JudgmentImportCounts:
    """What `prefer import-judgments` found in a file and, unless a dry run, stored.

    `superseded`: new judgments that replace an annotator's earlier one on the item;
    `replaced_pairwise`: stored pairwise labels the file's labels on the same pair replaced.
    """

    rows: int
    prompts_in_file: int
    new_prompts: int
    candidates_in_file: int
    new_candidates: int
    judgments_in_file: int
    new_judgments: int
    superseded: int
    pairwise_in_file: int
    new_pairwise: int
    replaced_pairwise: int
    annotators: tuple[str, ...] = ()
    ignored_fields: tuple[str, ...] = ()
    dry_run: bool = False


# Filters in the order they are applied: a pair dropped by one is counted there only.
PAIR_FILTERS = ("empty", "encoding", "truncated", "near_identical", "language_mismatch",
                "duplicate", "contradiction")


@dataclass(frozen=True)
class PairSettings:
    """How `prefer pairs` (and every export and report, which build first) makes pairs."""

    strategy: str = "best-vs-rest"
    near_identical_threshold: float = 0.95
    near_duplicate_prompt_threshold: float = 0.95
    seed: int = 42  # ties between equally agreed pairs when a balance plan downsamples
    # Minimal pairs (core/difference.py): pairs at least this alike are compared token by token,
    # and a change of at most so many tokens and whole sentences that carries meaning is minimal.
    minimal_examine_from: float = 0.9
    minimal_max_changed_tokens: int = 5
    minimal_max_changed_sentences: int = 1


@dataclass(frozen=True)
class Contradiction:
    """Two pairs that prefer opposite texts for the same (or a near-duplicate) prompt."""

    prompt_id: str
    other_prompt_id: str
    chosen_id: str
    rejected_id: str
    chosen_start: str = ""  # the first characters of each text, for people
    rejected_start: str = ""


@dataclass(frozen=True)
class PairBuild:
    """What one build made: pairs kept, dropped per filter (PAIR_FILTERS, balanced_out), held back."""

    build_id: str
    strategy: str
    built_at: datetime
    items: int  # items with a decision to build from
    pairs_built: int  # before any filter
    kept: int
    dropped: dict[str, int] = field(default_factory=dict)
    balanced_out: int = 0
    balance_plan: dict[str, float] | None = None  # targets re-applied from `prefer balance --apply`
    balance_by: str | None = None
    held_back_disputed: int = 0  # items whose annotators disagree and no reviewer decided
    held_back_flagged: int = 0  # items with an open flag
    languages_detected: int = 0  # rows of an older store given a language during this build
    contradictions: tuple[Contradiction, ...] = ()  # a sample, for the terminal
    kept_by_dimension: dict[str, int] = field(default_factory=dict)
    minimal: int = 0  # kept pairs whose texts differ in a few tokens that carry meaning
    minimal_by_reason: dict[str, int] = field(default_factory=dict)  # core.difference.KINDS
    trivial: int = 0  # of the near_identical drops: only whitespace, punctuation, case, markup


@dataclass(frozen=True)
class RowProblem:
    """The first bad row of a file: its line (1-based), the field and what is wrong."""

    line: int
    field: str | None
    problem: str


@dataclass(frozen=True)
class QualityFacts:
    """Everything `prefer report` reads from the store, as plain values (crosses the socket)."""

    kept: int
    statuses: dict[str, int] = field(default_factory=dict)  # pairs of the latest build by status
    chosen_longer: int = 0
    same_length: int = 0
    rejected_longer: int = 0
    ratio_quantiles: tuple[float, ...] = ()  # chosen/rejected characters at RATIO_QUANTILES
    ratio_histogram: tuple[int, ...] = ()  # pairs per RATIO_BUCKETS
    median_chars_chosen: float | None = None
    median_chars_rejected: float | None = None
    # feature -> (only chosen has it, only rejected, both, neither)
    formatting: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    # (variant or None for imported, pairs where only chosen is from it, only rejected, both)
    by_variant: tuple[tuple[str | None, int, int, int], ...] = ()
    by_source: tuple[tuple[str | None, int, int, int], ...] = ()  # same, per candidate source
    judged_before_cutoff: int = 0
    stale: int = 0  # judged before the cutoff or under another guideline version (either)
    judged_at_unknown: int = 0
    oldest_judged_at: datetime | None = None
    guideline_versions: dict[str | None, int] = field(default_factory=dict)
    by_dimension: dict[str, int] = field(default_factory=dict)
    by_language: dict[str, int] = field(default_factory=dict)
    by_prompt_source: dict[str, int] = field(default_factory=dict)
    # build_id, built_by, built_at, strategy, settings JSON, counts JSON (None: never built)
    latest_build: tuple | None = None


@dataclass(frozen=True)
class SourceFilter:
    """Which decisions pairs may rest on, by who made them: `experts` (people, adjudications
    included) or an import kind trusted as 'source:KIND'. An item is kept when one of its
    current judgments comes from an `include`d source (any, when none is named) and none from an
    `exclude`d one."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.include or self.exclude)


@dataclass(frozen=True)
class ExportRequest:
    """What to export, declared: the store builds the rows and its SQL itself from these values.

    `layout` names a row layout of core/export_formats.py (LAYOUTS); nothing in a request is
    executed, and no path travels: the store writes into its private spool and the caller
    copies the files out (read_export_file), so files are written as the caller, where the
    caller may write.
    """

    layout: str
    validation_fraction: float
    seed: int
    conversational: bool | None  # None: conversational when any exported prompt has a system
    # The pair build to write (the one the caller just made); None: the latest. The export
    # fails when another build has replaced it meanwhile, rather than write other pairs.
    build_id: str | None = None
    sources: SourceFilter = SourceFilter()  # limit to or exclude pairs by who decided them


@dataclass(frozen=True)
class SpoolFile:
    """One file an export left in the store's private spool: its name in the export and size."""

    name: str
    size: int


@dataclass
class ExportCounts:
    conversational: bool
    pairs_by_split: dict[str, int] = field(default_factory=dict)
    pairs_by_split_and_dimension: dict[str, dict[str, int]] = field(default_factory=dict)
    # split -> dimension -> language -> pairs
    pairs_by_split_dimension_language: dict[str, dict[str, dict[str, int]]] = field(
        default_factory=dict)
    prompts_by_split: dict[str, int] = field(default_factory=dict)
    # dimension -> split -> prompts (the stratification the split holds)
    prompts_by_dimension_and_split: dict[str, dict[str, int]] = field(default_factory=dict)
    spool_id: str = ""  # where the files wait until the caller copies them (read_export_file)
    files: dict[str, SpoolFile] = field(default_factory=dict)  # split -> its file in the spool
    pairs_with_system: int = 0  # exported pairs whose prompt has a system prompt


# --- looking inside the store: items, imports, annotators, removals ----------------------------

ITEM_STATUSES = ("unjudged", "judged", "disputed", "flagged", "held-back", "decided")


@dataclass(frozen=True)
class ItemFilter:
    """Which items `prefer items` lists; None matches everything. `status` is one of
    ITEM_STATUSES: judged (a current ranking by anyone), disputed (annotators disagree and no
    reviewer decided), flagged (an open flag), held-back (disputed or flagged: it gives no
    pairs), decided (a reviewer's decision), unjudged."""

    dimension: str | None = None
    language: str | None = None
    source: str | None = None  # the import file's name or path, or a part of it
    status: str | None = None
    limit: int | None = None


@dataclass(frozen=True)
class ItemSummary:
    """One line of `prefer items`."""

    prompt_id: str
    prompt: str
    dimension: str | None
    language: str | None
    source: str | None
    candidates: int
    judgments: int  # current rankings (and pairwise labels) by distinct annotators
    statuses: tuple[str, ...]  # from ITEM_STATUSES, most telling first


@dataclass(frozen=True)
class PairRow:
    """A pair the latest build made from an item: kept, or the filter that dropped it."""

    chosen_id: str
    rejected_id: str
    status: str  # "kept", "balanced_out" or the filter's name (near_identical, truncated, ...)
    dimension: str | None = None
    decision: str | None = None  # where the preference came from (unanimous, adjudicated, ...)


@dataclass(frozen=True)
class ItemDetail:
    """Everything stored about one item, for reviewers and admins (`prefer items show`)."""

    item: Item
    imported_at: datetime | None
    candidate_sources: dict[str, str]  # candidate id -> the file it came from, or "generated"
    provenance: dict[str, Provenance]
    judgments: tuple[ItemJudgment, ...]
    adjudication: Adjudication | None
    flags: tuple[Flag, ...]
    assigned_to: tuple[str, ...]
    gold: bool
    disagreement: Disagreement | None
    pairs: tuple[PairRow, ...]
    build_id: str | None  # the pair build `pairs` come from (None: never built)


@dataclass(frozen=True)
class ImportBatch:
    """One import of a file (`prefer imports`): the event that wrote it and what it still holds."""

    batch_id: str  # "i" + the import event's number
    seq: int
    kind: str  # "prompts" or "judgments"
    file: str
    imported_at: datetime
    actor: str
    prompts: int  # rows of this batch still stored
    candidates: int
    judgments: int
    dependents: dict[str, int] = field(default_factory=dict)  # work on its rows, by kind


@dataclass(frozen=True)
class AnnotatorSummary:
    """One annotator as the store knows them (role comes from prefer.toml, in core)."""

    annotator: str
    assigned: int  # active assignments
    judged: int  # current rankings
    skipped: int
    pairwise: int  # imported pairwise labels
    flags_open: int
    last_active: datetime | None


@dataclass(frozen=True)
class Removal:
    """What a removal deleted (by table) and the audit event that records it."""

    what: str
    removed: dict[str, int]
    event_seq: int | None  # None: refused or a dry run, nothing removed
    refused: str | None = None  # why, when anything depends on the rows
