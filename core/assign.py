"""Work distribution: prompts to annotators, K per item or a fraction overlapped for agreement.

Loads stay balanced (they differ by at most one item): every item goes to the least-loaded
annotators, ties broken by a seeded shuffle, so the same call on the same store gives the same
assignment. Only prompts nobody holds are assigned, so re-running after new prompts arrive
assigns just those.
"""

from __future__ import annotations

import difflib
import random
from collections.abc import Sequence
from dataclasses import dataclass

from core.config import annotator_name_problem
from core.errors import BadInputError
from core.store import Store


@dataclass(frozen=True)
class AssignmentResult:
    batch_id: str | None
    items: int
    assignments: int
    overlapped_items: int
    loads: dict[str, int]


def plan_assignments(prompt_ids: Sequence[str], annotators: Sequence[str], *,
                     per_item: int | None = None, overlap: float | None = None,
                     loads: dict[str, int] | None = None, seed: int = 0
                     ) -> tuple[list[tuple[str, str]], int]:
    """(prompt_id, annotator) pairs and the number of overlapped items.

    `per_item`: every item goes to that many annotators. `overlap`: that fraction of the items
    (chosen with the seed) goes to every annotator, the rest to one each.
    """
    names = list(dict.fromkeys(annotators))
    if not names:
        raise BadInputError("name at least one annotator: --annotators alice,bob")
    if (per_item is None) == (overlap is None):
        raise BadInputError("give either --per-item K or --overlap F")
    if per_item is not None and not 1 <= per_item <= len(names):
        raise BadInputError(f"--per-item must be from 1 to the number of annotators "
                            f"({len(names)}), got {per_item}")
    if overlap is not None and not 0.0 <= overlap <= 1.0:
        raise BadInputError(f"--overlap must be a fraction from 0 to 1, got {overlap}")
    rng = random.Random(seed)
    load = {name: (loads or {}).get(name, 0) for name in names}
    if overlap is not None:
        shared = set(rng.sample(list(prompt_ids), round(overlap * len(prompt_ids))))
    else:
        shared = set()
    pairs: list[tuple[str, str]] = []
    for prompt_id in prompt_ids:
        wanted = len(names) if prompt_id in shared else (per_item or 1)
        order = names[:]
        rng.shuffle(order)
        chosen = sorted(order, key=lambda name: load[name])[:wanted]
        for name in chosen:
            load[name] += 1
            pairs.append((prompt_id, name))
    return pairs, len(shared)


_LISTED = 20  # known names an error lists before "and N more"


def _unknown(names: Sequence[str], known: Sequence[str]) -> str:
    """'unknown annotator 'alcie' (did you mean 'alice'?)', for one name or several."""
    parts = []
    for name in names:
        close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
        parts.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    return ("unknown annotator " if len(parts) == 1 else "unknown annotators ") + ", ".join(parts)


def _listing(known: Sequence[str]) -> str:
    names = sorted(set(known))
    if not names:
        return "nobody"
    more = len(names) - _LISTED
    return ", ".join(names[:_LISTED]) + (f" and {more} more" if more > 0 else "")


def unassign(store: Store, annotator: str, *, actor: str,
             known_annotators: Sequence[str] = ()) -> int:
    """Free `annotator`'s assigned items they have not ranked yet; return how many.

    A name prefer.toml does not list and the store has never seen (no open assignment, no
    judgment) is a typo, refused with BadInputError rather than answered with "freed 0".
    """
    if annotator not in known_annotators:
        in_store = set(store.assignment_loads()) | {p.annotator for p in store.status().annotators}
        if annotator not in in_store:
            known = sorted(set(known_annotators) | in_store)
            raise BadInputError(
                f"--unassign: {_unknown([annotator], known)}: not in [annotators] of prefer.toml "
                f"and no assignment or judgment in the store (known: {_listing(known)})")
    return store.release_open_assignments(annotator, actor)


def check_annotator_names(names: Sequence[str], where: str) -> None:
    """Raise BadInputError, naming `where` (the option), at the first name that is not valid."""
    for name in names:
        problem = annotator_name_problem(name)
        if problem:
            raise BadInputError(f"{where}: {problem}")


def refuse_lookalikes(store: Store, annotators: Sequence[str]) -> None:
    """With no [annotators] in prefer.toml, a name the store has never seen that is one slip
    away from one it has ('alcie' beside 'alice') is taken for a typo and refused."""
    seen = {s.annotator for s in store.annotator_summaries()}
    for name in annotators:
        if name in seen:
            continue
        close = difflib.get_close_matches(name, sorted(seen), n=1, cutoff=0.75)
        if close:
            raise BadInputError(
                f"--annotators: '{name}' is new, and close to '{close[0]}', who already has "
                "work here: a typo?",
                hint=f"if {name} really is a new annotator, list the team in [annotators] of "
                     f"prefer.toml ({name} = \"annotator\"); then only listed names are taken")


def assign(store: Store, annotators: Sequence[str], *, actor: str,
           per_item: int | None = None, overlap: float | None = None, seed: int = 0,
           known_annotators: Sequence[str] = ()) -> AssignmentResult:
    """Assign every ready prompt nobody holds yet; record one batch and an audit event."""
    check_annotator_names(annotators, "--annotators")
    if known_annotators:
        unknown = [n for n in annotators if n not in known_annotators]
        if unknown:
            raise BadInputError(
                f"--annotators: {_unknown(unknown, known_annotators)}; [annotators] of "
                f"prefer.toml lists {_listing(known_annotators)}",
                hint="add new annotators to [annotators] in prefer.toml (name = \"annotator\") "
                     "so the server lets them in")
    else:
        refuse_lookalikes(store, annotators)
    prompt_ids = store.assignable_prompt_ids()
    current = store.assignment_loads()
    pairs, overlapped = plan_assignments(prompt_ids, annotators, per_item=per_item,
                                         overlap=overlap, loads=current, seed=seed)
    batch_id = None
    if pairs:
        batch_id = store.add_assignments(pairs, actor, {
            "annotators": list(annotators), "per_item": per_item, "overlap": overlap,
            "seed": seed, "items": len(prompt_ids)})
    return AssignmentResult(batch_id, len(prompt_ids), len(pairs), overlapped,
                            store.assignment_loads())
