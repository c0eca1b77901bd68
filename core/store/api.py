"""The Store declaration: every store operation, once, with who may call it and how.

`Store` is a Protocol: LocalStore (core/store/local.py) implements it over the DuckDB file;
everything else is derived from it and never written again by hand:

- the server's permission table and scope checks (core/server.py reads OPERATIONS),
- the actor rule (an operation's `actor` argument is always the caller the server identified),
- the remote client's typed methods (core/store/remote.py installs one forwarder per operation),
- the wire types the codec may decode (every dataclass the signatures mention, recursively),
- the argument check on the server (decoded values must conform to the declared types).

Each operation carries the least role that may call it, the argument naming the annotator who
must be the caller (`owner`, admins exempt), the argument naming an item that must be assigned
to the caller (`item`, reviewers and admins exempt), and the argument the server fills with the
caller's user name (`actor`). tests/test_store_api.py fails when an operation is declared but
not implemented, served, typed or documented (docs/store.md).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any, Protocol, TypeVar

from core.judge_models import JudgeOutcome, JudgeRun, JudgeVerdict
from core.models import (
    Adjudication,
    AnnotatorSummary,
    AuditAnchor,
    AuditHead,
    AuditReport,
    Disagreement,
    Event,
    ExportCounts,
    ExportRequest,
    Flag,
    GenerationRecord,
    ImportBatch,
    ImportCounts,
    Item,
    ItemDetail,
    ItemFilter,
    ItemJudgment,
    ItemSummary,
    Judgment,
    JudgmentImportCounts,
    PairBuild,
    PairSettings,
    Progress,
    Prompt,
    Provenance,
    QualityFacts,
    RefreshCounts,
    RefreshCriteria,
    RefreshOutcome,
    Removal,
    RowProblem,
    Run,
    SourceFilter,
    SourceImportCounts,
    SourceOptions,
    SourcePreference,
    StoreStatus,
)


class Role(IntEnum):
    """Roles from [annotators] in prefer.toml, each allowed what the ones below may do."""

    annotator = 1
    reviewer = 2
    admin = 3


@dataclass(frozen=True)
class Operation:
    """One store operation as declared: its rules, its signature and its documentation."""

    name: str
    role: Role
    owner: str | None  # dotted path to the annotator who must be the caller (admins exempt)
    item: str | None  # dotted path to a prompt id that must be assigned to the caller
    actor: str | None  # dotted path the server sets to the caller's OS user
    writes: bool
    doc: str
    signature: inspect.Signature
    hints: dict[str, Any]

    def value_at(self, arguments: dict[str, Any], path: str) -> Any:
        """The value at `path` ("judgment.annotator") among bound `arguments`."""
        head, *rest = path.split(".")
        value = arguments.get(head)
        for name in rest:
            value = getattr(value, name, None)
        return value


F = TypeVar("F", bound=Callable[..., Any])


def operation(role: Role, *, owner: str | None = None, item: str | None = None,
              actor: str | None = None, writes: bool = False) -> Callable[[F], F]:
    """Declare a Store method as an operation callable by `role` and above."""

    def mark(method: F) -> F:
        method.__store_operation__ = {  # type: ignore[attr-defined]
            "role": role, "owner": owner, "item": item, "actor": actor, "writes": writes}
        return method

    return mark


A = Role.annotator
R = Role.reviewer
ADMIN = Role.admin


class Store(Protocol):
    """What the faces (CLI, TUI, server) may ask of a project's store."""

    # --- items and work ---------------------------------------------------------------------

    @operation(A, item="prompt_id")
    def get_item(self, prompt_id: str) -> Item | None:
        """An item (prompt and candidates in stored order), or None when there is none."""
        ...

    @operation(A, owner="annotator")
    def next_prompt_id(self, annotator: str, exclude: tuple[str, ...] = ()) -> str | None:
        """The next item for `annotator`: not yet ranked by them, items they skipped last;
        never one of `exclude` (at most 1,000 prompt ids)."""
        ...

    @operation(A, owner="annotator")
    def progress(self, annotator: str) -> Progress:
        """An annotator's items judged, skipped and available."""
        ...

    @operation(A, owner="annotator")
    def is_assigned(self, annotator: str, prompt_id: str) -> bool:
        """Whether `annotator` may work on `prompt_id` (always, while nothing is assigned)."""
        ...

    @operation(A)
    def provenance(self, candidate_ids: Sequence[str]) -> dict[str, Provenance]:
        """How generated candidates were made (variant, model), shown only on request."""
        ...

    @operation(A, item="prompt_id")
    def source_preferences(self, prompt_id: str) -> list[SourcePreference]:
        """What imported sources say about an item (pre-labels), strongest first."""
        ...

    # --- judgments --------------------------------------------------------------------------

    @operation(A, owner="annotator")
    def current_judgment(self, annotator: str, prompt_id: str) -> Judgment | None:
        """An annotator's current judgment of an item."""
        ...

    @operation(A, owner="annotator")
    def judgments_of(self, annotator: str, include_superseded: bool = False) -> list[Judgment]:
        """An annotator's own judgments, oldest first."""
        ...

    @operation(A, owner="judgment.annotator", item="judgment.prompt_id", actor="actor",
               writes=True)
    def save_judgment(self, judgment: Judgment, actor: str | None = None) -> Judgment:
        """Validate and append a judgment (it supersedes the annotator's current one)."""
        ...

    @operation(A, owner="flag.annotator", item="flag.prompt_id", actor="actor", writes=True)
    def save_flag(self, flag: Flag, actor: str | None = None) -> Flag:
        """Record an annotator's flag on an item, open until a reviewer resolves it."""
        ...

    # --- review -----------------------------------------------------------------------------

    @operation(R)
    def status(self) -> StoreStatus:
        """Counts per pipeline stage and per annotator."""
        ...

    @operation(R)
    def disagreements(self, include_adjudicated: bool = False) -> list[Disagreement]:
        """Items whose annotators disagree or that have open flags."""
        ...

    @operation(R)
    def item_judgments(self, prompt_id: str) -> list[ItemJudgment]:
        """Every annotator's current judgment of an item."""
        ...

    @operation(R)
    def current_adjudication(self, prompt_id: str) -> Adjudication | None:
        """The latest adjudication of an item."""
        ...

    @operation(R, owner="adjudication.reviewer", actor="actor", writes=True)
    def save_adjudication(self, adjudication: Adjudication, resolve_flags: Sequence[str] = (),
                          actor: str | None = None) -> Adjudication:
        """Validate and store a reviewer's decision; its note also resolves `resolve_flags`."""
        ...

    @operation(A, owner="annotator")
    def flags_of(self, annotator: str) -> list[Flag]:
        """An annotator's own flags, open and resolved (with the reviewer's note), oldest first."""
        ...

    @operation(R)
    def open_flags(self, prompt_id: str | None = None) -> list[Flag]:
        """Flags not resolved yet, oldest first."""
        ...

    @operation(R, owner="resolved_by", actor="actor", writes=True)
    def resolve_flag(self, flag_id: str, resolved_by: str, resolution: str,
                     actor: str | None = None) -> Flag:
        """Close a flag with a reviewer's note."""
        ...

    @operation(R)
    def agreement_rows(self) -> dict[str, list[tuple]]:
        """Current judgments, pairwise labels, item labels, adjudications, flags and gold."""
        ...

    @operation(R)
    def quality_facts(self, stale_before: datetime, guideline_version: str | None = None,
                      sources: SourceFilter = SourceFilter()) -> QualityFacts:
        """Facts about the kept pairs of the latest build (those `sources` decided), for
        `prefer report`."""
        ...

    # --- pairs and balance ------------------------------------------------------------------

    @operation(R, actor="actor", writes=True)  # rebuilds derived rows only; reports need it
    def build_pairs(self, settings: PairSettings, actor: str,
                    universe: dict[str, list[str]]) -> PairBuild:
        """Rebuild the pairs from current decisions."""
        ...

    @operation(R)
    def balance_plan(self) -> tuple[str, dict[str, float], int] | None:
        """The balance plan every build re-applies: (by, targets, seed)."""
        ...

    @operation(R)
    def pair_counts(self, by: str, before_balance: bool = False,
                    sources: SourceFilter = SourceFilter()) -> dict[str, int]:
        """Kept pairs of the latest build per dimension, language, (prompt) source, `turns`
        (the prompt's user turns) or `decided_by` (experts or a trusted import kind); limited
        by `sources`."""
        ...

    @operation(R)
    def kept_pair_texts(self, after: str, limit: int, sources: SourceFilter = SourceFilter()
                        ) -> list[tuple[str, str, str, str, str]]:
        """Texts of the latest build's kept pairs (those `sources` decided) in pair id order
        after `after` ("" first), at most `limit` (1 to 10,000) a call: (pair_id, system or "",
        prompt, chosen, rejected)."""
        ...

    @operation(ADMIN, actor="actor", writes=True)
    def save_balance_plan(self, by: str, targets: dict[str, float] | None, seed: int,
                          actor: str) -> None:
        """Record the targets every later build downsamples to (None clears the plan)."""
        ...

    # --- administration ---------------------------------------------------------------------

    @operation(ADMIN)
    def events(self, limit: int | None = None) -> list[Event]:
        """The audit trail in chain order (the newest `limit` events)."""
        ...

    @operation(ADMIN)
    def audit_head(self) -> AuditHead | None:
        """The newest event's seq and hash (what an export manifest and an anchor keep)."""
        ...

    @operation(ADMIN)
    def verify_audit(self, anchors: Sequence[AuditAnchor] = ()) -> AuditReport:
        """Check the chain, every event's rows, the head file and `anchors` (heads kept elsewhere)."""
        ...

    @operation(ADMIN)
    def gold_items(self) -> list[tuple]:
        """Calibration items with their expected answers."""
        ...

    @operation(ADMIN, actor="actor", writes=True)
    def set_gold(self, prompt_id: str, best_candidate_id: str, worst_candidate_id: str | None,
                 note: str | None, actor: str) -> None:
        """Mark a calibration item with its expected answer."""
        ...

    @operation(ADMIN, actor="actor")
    def upload(self, upload_id: str, data: bytes, actor: str) -> int:
        """Append a chunk of a file to import to the caller's upload; its size so far."""
        ...

    @operation(ADMIN, actor="actor", writes=True)
    def import_file(self, upload_id: str, name: str, kind: str, *, dry_run: bool,
                    actor: str, mapping: dict[str, str] | None = None
                    ) -> RowProblem | ImportCounts:
        """Validate and store the prompts and candidates of an uploaded file (`mapping` renames
        the file's fields: {file's name: prefer's})."""
        ...

    @operation(ADMIN, actor="actor", writes=True)
    def import_judgments(self, upload_id: str, name: str, kind: str, *,
                         mapping: dict[str, str] | None = None, dry_run: bool = False,
                         actor: str) -> RowProblem | JudgmentImportCounts:
        """Validate and store the judgments (made elsewhere) of an uploaded file."""
        ...

    @operation(ADMIN, actor="actor", writes=True)
    def import_source(self, upload_id: str, name: str, file_format: str, source_kind: str, *,
                      mapping: dict[str, str] | None = None,
                      options: SourceOptions = SourceOptions(), dry_run: bool = False,
                      actor: str) -> RowProblem | SourceImportCounts:
        """Validate and store the prompts, responses and preferences of an uploaded source
        (feedback, A/B tests, corrections, ratings, DPO data; core/store/sources/)."""
        ...

    @operation(ADMIN, actor="actor", writes=True)
    def refresh(self, criteria: RefreshCriteria, *, dry_run: bool = False,
                actor: str) -> RefreshCounts:
        """Re-queue the items whose current decisions are stale, for the annotators who made
        them (or `criteria.to`); one `refresh` audit event."""
        ...

    @operation(R)
    def pre_label_outcomes(self) -> list[tuple[str, int, int, int]]:
        """Per import kind: pre-labels experts have judged, confirmed and overturned."""
        ...

    @operation(R)
    def refresh_outcomes(self) -> list[RefreshOutcome]:
        """Refresh requests answered: each stale decision with the new one."""
        ...

    @operation(ADMIN)
    def assignable_prompt_ids(self) -> list[str]:
        """Items ready to annotate that nobody is assigned to."""
        ...

    @operation(ADMIN)
    def assignment_loads(self) -> dict[str, int]:
        """Active assignments per annotator."""
        ...

    @operation(ADMIN, actor="actor", writes=True)
    def add_assignments(self, pairs: Sequence[tuple[str, str]], actor: str,
                        details: dict[str, Any]) -> str:
        """Record (prompt_id, annotator) assignments as one batch."""
        ...

    @operation(ADMIN, actor="actor", writes=True)
    def release_open_assignments(self, annotator: str, actor: str) -> int:
        """Free an annotator's assigned items they have not ranked yet."""
        ...

    # --- looking inside and undoing ---------------------------------------------------------

    @operation(R)
    def ids_with_prefix(self, kind: str, prefix: str, limit: int = 10) -> list[str]:
        """Up to `limit` prompt or candidate ids (`kind`) that start with `prefix`."""
        ...

    @operation(R)
    def list_items(self, where: ItemFilter) -> list[ItemSummary]:
        """Items in import order, filtered by dimension, language, source and status."""
        ...

    @operation(R)
    def item_detail(self, prompt_id: str) -> ItemDetail | None:
        """Everything stored about an item: candidates and where they came from, every
        judgment, the decision, flags, assignments and the pairs the latest build made."""
        ...

    @operation(R)
    def import_batches(self) -> list[ImportBatch]:
        """Every import of a file, with the rows it still holds."""
        ...

    @operation(ADMIN, actor="actor", writes=True)
    def remove_import(self, seq: int, with_judgments: bool, actor: str) -> Removal:
        """Delete an import batch's rows; refused (nothing removed) while people's work depends
        on them, unless `with_judgments` removes that work too. One audit event names what went."""
        ...

    @operation(R)
    def annotator_summaries(self) -> list[AnnotatorSummary]:
        """Everyone with an assignment, judgment, label or flag: assigned, done, last active."""
        ...

    @operation(ADMIN, actor="actor", writes=True)
    def remove_annotator(self, annotator: str, drop_judgments: bool, actor: str) -> Removal:
        """Free an annotator's open assignments; with `drop_judgments` delete their judgments,
        labels, flags and assignments. One audit event names what went."""
        ...

    # --- generation -------------------------------------------------------------------------

    @operation(ADMIN)
    def prompts_for_generation(self, limit: int | None = None) -> list[Prompt]:
        """Prompts in import order."""
        ...

    @operation(ADMIN)
    def generation_done_keys(self, model: str) -> set[tuple[str, str]]:
        """(prompt_id, variant) already generated with `model`."""
        ...

    @operation(ADMIN, actor="run.actor", writes=True)
    def start_run(self, run: Run) -> None:
        """Record the start of a generation run."""
        ...

    @operation(ADMIN, actor="actor", writes=True)
    def record_generations(self, records: Sequence[GenerationRecord],
                           actor: str | None = None) -> None:
        """Store a batch of generation outcomes and their candidates (on return they survive the
        store process's death; on disk against power loss within 0.1 s)."""
        ...

    @operation(ADMIN, actor="actor", writes=True)
    def finish_run(self, run_id: str, status: str, actor: str) -> Run:
        """Record how a generation run ended."""
        ...

    @operation(ADMIN)
    def runs(self, limit: int = 20) -> list[Run]:
        """The newest generation runs."""
        ...

    # --- the local judge (reviewers and admins only: never an annotator's) -------------------

    @operation(ADMIN)
    def judge_items(self, limit: int | None = None) -> list[Item]:
        """Items ready to judge (two or more candidates) with their candidates, in import order."""
        ...

    @operation(ADMIN)
    def judge_done_keys(self, model: str, prompt_version: str) -> set[tuple[str, str]]:
        """(prompt_id, candidates_key) already judged with `model` and this judge prompt."""
        ...

    @operation(ADMIN, actor="run.actor", writes=True)
    def start_judge_run(self, run: JudgeRun) -> None:
        """Record the start of a judge run."""
        ...

    @operation(ADMIN, actor="actor", writes=True)
    def record_judge_outcomes(self, outcomes: Sequence[JudgeOutcome],
                              actor: str | None = None) -> None:
        """Store a batch of judged items: each verdict with the requests behind it."""
        ...

    @operation(ADMIN, actor="actor", writes=True)
    def finish_judge_run(self, judge_run_id: str, status: str, actor: str) -> JudgeRun:
        """Record how a judge run ended."""
        ...

    @operation(R)
    def judge_runs(self, limit: int = 20) -> list[JudgeRun]:
        """The newest judge runs."""
        ...

    @operation(R)
    def judge_verdicts(self, model: str | None = None) -> list[JudgeVerdict]:
        """The judge's latest verdict per item (of `model`, or any), for calibration and checks."""
        ...

    # --- export -----------------------------------------------------------------------------

    @operation(ADMIN, actor="actor")
    def export_pairs(self, request: ExportRequest, actor: str) -> ExportCounts:
        """Write the kept pairs' split files into the store's private spool (see ExportRequest)."""
        ...

    @operation(ADMIN, actor="actor")
    def read_export_file(self, spool_id: str, split: str, offset: int, actor: str) -> bytes:
        """Up to 4 MiB of an exported file from `offset` (empty at the end)."""
        ...

    @operation(ADMIN, actor="actor")
    def discard_export(self, spool_id: str, actor: str) -> None:
        """Delete an export's spooled files."""
        ...

    @operation(ADMIN, actor="actor", writes=True)
    def record_export(self, actor: str, out_dir: str, details: dict[str, Any]) -> Event:
        """Append the audit event of an export the caller finished writing."""
        ...

    # --- lifecycle (not operations: each side closes its own end) ----------------------------

    def close(self) -> None:
        """Close the file or the connection."""
        ...


def _declared() -> dict[str, Operation]:
    found: dict[str, Operation] = {}
    for name, method in vars(Store).items():
        rules = getattr(method, "__store_operation__", None)
        if rules is None:
            continue
        signature = inspect.signature(method)
        hints = typing.get_type_hints(method)
        parameters = set(signature.parameters) - {"self"}
        for key in ("owner", "item", "actor"):
            path = rules[key]
            if path is not None and path.split(".")[0] not in parameters:
                raise TypeError(f"Store.{name}: {key} {path!r} names no parameter")
        if "actor" in parameters and rules["actor"] != "actor":
            raise TypeError(f"Store.{name} takes an actor the server must set: declare actor=")
        found[name] = Operation(name=name, doc=inspect.getdoc(method) or "",
                                signature=signature, hints=hints, **rules)
    return found


OPERATIONS: dict[str, Operation] = _declared()


# --- wire types and the argument check --------------------------------------------------------

def _dataclasses_in(hint: Any, found: dict[str, type]) -> None:
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if hint.__name__ not in found:
            found[hint.__name__] = hint
            for field_hint in typing.get_type_hints(hint).values():
                _dataclasses_in(field_hint, found)
        return
    for arg in typing.get_args(hint):
        _dataclasses_in(arg, found)


def wire_types() -> dict[str, type]:
    """Every dataclass an operation takes or returns, by name: all the codec may build."""
    found: dict[str, type] = {}
    for op in OPERATIONS.values():
        for hint in op.hints.values():
            _dataclasses_in(hint, found)
    return found


# A dataclass's field types, evaluated once: every call the server checks goes through here.
_field_hints = functools.cache(typing.get_type_hints)


class NonConforming(ValueError):
    """A decoded value does not have the declared type; the message names where."""


def check_type(value: Any, hint: Any, where: str) -> None:
    """Raise NonConforming unless `value` has type `hint` (the declared types only)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        _check_plain(value, where)
        return
    if hint is None or hint is type(None):
        if value is not None:
            raise NonConforming(f"{where}: expected nothing (null)")
        return
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                check_type(value, option, where)
                return
            except NonConforming:
                continue
        raise NonConforming(f"{where}: expected {_name(hint)}")
    if hint is bool:
        if not isinstance(value, bool):
            raise NonConforming(f"{where}: expected true or false")
        return
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise NonConforming(f"{where}: expected a whole number")
        return
    if hint is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise NonConforming(f"{where}: expected a number")
        return
    if hint in (str, bytes, datetime):
        if not isinstance(value, hint):
            raise NonConforming(f"{where}: expected {_name(hint)}")
        return
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if type(value) is not hint:
            raise NonConforming(f"{where}: expected {hint.__name__}")
        for name, field_hint in _field_hints(hint).items():
            check_type(getattr(value, name), field_hint, f"{where}.{name}")
        return
    if hint is tuple or hint is list or hint is dict:
        _check_plain(value, where)
        return
    if origin is tuple:
        if not isinstance(value, tuple):
            raise NonConforming(f"{where}: expected a tuple")
        if len(args) == 2 and args[1] is Ellipsis:
            for i, element in enumerate(value):
                check_type(element, args[0], f"{where}[{i}]")
        elif len(args) != len(value):
            raise NonConforming(f"{where}: expected {len(args)} values")
        else:
            for i, (element, element_hint) in enumerate(zip(value, args, strict=True)):
                check_type(element, element_hint, f"{where}[{i}]")
        return
    if origin in (list, set, Sequence):
        allowed: tuple[type, ...] = {list: (list,), set: (set,)}.get(origin, (list, tuple))
        if not isinstance(value, allowed):
            raise NonConforming(f"{where}: expected a list")
        for i, element in enumerate(value):
            check_type(element, args[0], f"{where}[{i}]")
        return
    if origin is dict:
        if not isinstance(value, dict):
            raise NonConforming(f"{where}: expected a mapping")
        for key, element in value.items():
            check_type(key, args[0], f"{where} key")
            check_type(element, args[1], f"{where}[{key!r}]")
        return
    raise NonConforming(f"{where}: {_name(hint)} is not a wire type")


def _check_plain(value: Any, where: str) -> None:
    """Free-form values (details, bare tuples): JSON-like data only, never a dataclass."""
    if value is None or isinstance(value, str | int | float | bool | datetime):
        return
    if isinstance(value, list | tuple | set):
        for i, element in enumerate(value):
            _check_plain(element, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, element in value.items():
            _check_plain(key, f"{where} key")
            _check_plain(element, f"{where}[{key!r}]")
        return
    raise NonConforming(f"{where}: expected plain data, got {type(value).__name__}")


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def bind_arguments(op: Operation, args: Sequence[Any], kwargs: dict[str, Any]
                   ) -> inspect.BoundArguments:
    """Bind a call to the declared signature and check every value's type."""
    try:
        bound = op.signature.bind(None, *args, **kwargs)
    except TypeError as exc:
        raise NonConforming(f"{op.name}: {exc}") from None
    for name, value in bound.arguments.items():
        if name != "self":
            check_type(value, op.hints[name], f"{op.name}({name})")
    return bound


def reference_table() -> str:
    """The operations as the Markdown table docs/store.md carries (a test keeps them equal)."""
    rows = ["| operation | least role | must be the caller | item assigned to the caller "
            "| actor set by the server | writes |",
            "| --- | --- | --- | --- | --- | --- |"]
    for op in OPERATIONS.values():
        rows.append(f"| `{op.name}` | {op.role.name} | {_cell(op.owner)} | {_cell(op.item)} "
                    f"| {_cell(op.actor)} | {'yes' if op.writes else 'no'} |")
    return "\n".join(rows)


def _cell(path: str | None) -> str:
    return f"`{path}`" if path else "–"
