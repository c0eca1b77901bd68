"""Benchmark: near-duplicate filtering throughput (core/similarity.py) and minimal-pair
classification (core/difference.py) against bare RapidFuzz.

Three measurements, each against baselines measured in the same run on the same texts:

- minimal-pair classification: `core.store.pair_worker.score_batch` (what the build's worker does
  per batch: normalise, similarities, and the token diff of every pair at least 0.9 alike) over
  N / 5 pairs of similar texts, 7 in 8 made by one edit of a 300-600 character text (a number,
  a negation, a modal verb or a sentence changed; punctuation and case, or markup; a cosmetic
  word) and 1 in 8 unrelated, against `process.cpdist(fuzz.ratio)` on the raw texts; every
  pair's class is checked against its edit.

- near-identical chosen/rejected (the `near_identical` pair filter): `normalise` both texts and
  `similarities` (RapidFuzz `process.cpdist` with `fuzz.ratio`), exactly what
  core/store/pairs.py `_near_identical` does per batch, over N realistic (chosen, rejected)
  pairs in batches of 50,000 (as the build fetches them), in pairs per second. Baselines:
  `process.cpdist(chosen, rejected, scorer=fuzz.ratio, workers=1)` on the raw texts (RapidFuzz's
  own floor: no normalisation) and a plain Python loop of `fuzz.ratio(a, b)` over the same raw
  pairs. Each batch runs all three back to back, their order rotating per batch, so a busy
  moment of the shared machine hits them alike; only the calls are timed, not making the texts.
- near-duplicate prompt groups (the split unit and the contradiction scope):
  `near_duplicate_groups` over M prompts, in prompts per second. Baseline: the bare sorted
  neighbourhood, i.e. the same comparisons without normalisation, exact-duplicate merging or
  union-find (sort the raw texts forwards and reversed, `cpdist` each with its 4 next
  neighbours).

Texts: responses are slices of 300-600 characters of seeded pseudo-words with ä/ö/ß (as the
export benchmark's), a few with doubled spaces, newlines or capitals so normalising has work;
1 pair in 100 is near-identical (one character changed). Prompts are 25-70 seeded pseudo-words
(150-450 characters); 1 in 100 is a near copy of another (one character changed at a random
place) and 1 in 100 an exact copy with other case and spacing. The checks: every planted
near-identical pair, and no other, scores >= 0.95; every planted prompt copy shares its
original's group.

    .venv/bin/python tests/benchmarks/bench_neardup.py [--pairs 1000000] [--prompts 300000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
from rapidfuzz import fuzz, process  # noqa: E402

from core import similarity  # noqa: E402

THRESHOLD = 0.95  # prefer.toml's default pairs.near_identical_threshold and prompt threshold
BATCH = 50_000  # as core/store/pairs.py _near_identical fetches
NEAR_EVERY = 100


def _corpus(seed: int, chars: int) -> tuple[str, list[str]]:
    rng = random.Random(seed)
    syllables = ["ka", "re", "to", "mi", "sa", "lu", "ne", "po", "di", "va", "ge", "ri", "ost",
                 "an", "el", "um", "ä", "ö", "ß", "en", "claim", "policy", "cover"]
    words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(600)]
    text: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(words) + ("." if rng.random() < 0.08 else
                                    "," if rng.random() < 0.05 else "")
        text.append(word)
        size += len(word) + 1
    return " ".join(text)[:chars], words


def pair_batches(n: int, seed: int = 7):
    """(chosen, rejected, planted near-identical mask) in batches of BATCH pairs."""
    corpus, _ = _corpus(seed, 60_000)
    rng = random.Random(seed + 1)
    for start in range(0, n, BATCH):
        size = min(BATCH, n - start)
        chosen, rejected = [], []
        near = np.zeros(size, dtype=bool)
        for k in range(start, start + size):
            # Chosen from the first half of the corpus, rejected from the second: unrelated texts.
            a = rng.randrange(0, 29_000)
            b = rng.randrange(30_000, 59_000)
            left = f"Answer 1 to {k}: " + corpus[a:a + rng.randint(300, 600)] + "."
            right = f"Answer 2 to {k}: " + corpus[b:b + rng.randint(300, 600)] + "."
            if k % NEAR_EVERY == 0:  # one character changed
                near[k - start] = True
                right = "Answer 2" + left[8:]
            if k % 10 == 3:
                left = left.replace(" ", "  ", 3)
            if k % 10 == 7:
                right = right[:40] + "\n\n" + right[40:].capitalize()
            chosen.append(left)
            rejected.append(right)
        yield chosen, rejected, near


def prompt_texts(n: int, seed: int = 11) -> tuple[list[str], list[tuple[int, int]]]:
    """n prompts; the (copy, original) index pairs that must share a group."""
    _, words = _corpus(seed, 1000)
    rng = random.Random(seed + 1)
    texts: list[str] = []
    planted: list[tuple[int, int]] = []
    for i in range(n):
        if i >= 100 and i % NEAR_EVERY == 1:
            j = rng.randrange(i)
            original = texts[j]
            at = rng.randrange(len(original))
            texts.append(original[:at] + ("x" if original[at] != "x" else "y") + original[at + 1:])
            planted.append((i, j))
        elif i >= 100 and i % NEAR_EVERY == 2:
            j = rng.randrange(i)
            texts.append("  " + texts[j].upper().replace(" ", "  ") + " ")
            planted.append((i, j))
        else:
            texts.append(" ".join(rng.choices(words, k=rng.randint(25, 70))).capitalize() + "?")
    return texts, planted


@dataclass
class Throughput:
    items: int
    ours: float  # seconds
    raw_cpdist: float
    python_loop: float
    flagged: int  # pairs >= threshold (ours)
    normalising: float  # of `ours`


NORMALISING = [0.0]  # seconds of _ours spent in normalise (the rest: similarities)


def _ours(chosen: list[str], rejected: list[str]) -> np.ndarray:
    t0 = time.perf_counter()
    left = [similarity.normalise(t) for t in chosen]
    right = [similarity.normalise(t) for t in rejected]
    NORMALISING[0] += time.perf_counter() - t0
    return similarity.similarities(left, right)


def _raw_cpdist(chosen: list[str], rejected: list[str]) -> np.ndarray:
    return process.cpdist(chosen, rejected, scorer=fuzz.ratio, workers=1, dtype=np.float32)


def _python_loop(chosen: list[str], rejected: list[str]) -> list[float]:
    ratio = fuzz.ratio
    return [ratio(a, c) for a, c in zip(chosen, rejected, strict=True)]


def bench_pairs(n: int) -> Throughput:
    timed = [("ours", _ours), ("cpdist", _raw_cpdist), ("loop", _python_loop)]
    seconds = {name: 0.0 for name, _ in timed}
    flagged = 0
    NORMALISING[0] = 0.0
    for b, (chosen, rejected, near) in enumerate(pair_batches(n)):
        shift = b % 3
        results = {}
        for name, fn in timed[shift:] + timed[:shift]:
            t0 = time.perf_counter()
            results[name] = fn(chosen, rejected)
            seconds[name] += time.perf_counter() - t0
        hits = results["ours"] >= THRESHOLD
        flagged += int(hits.sum())
        if not np.array_equal(hits, near):
            sys.exit(f"BENCH FAILED: near-identical pairs: {int(hits.sum())} flagged in batch {b}, "
                     f"{int(near.sum())} planted ({int((hits & ~near).sum())} unplanted)")
        raw = np.asarray(results["loop"], dtype=np.float64)
        if not np.allclose(np.asarray(results["cpdist"], dtype=np.float64), raw, atol=1e-3):
            sys.exit("BENCH FAILED: cpdist and the fuzz.ratio loop disagree")
    return Throughput(n, seconds["ours"], seconds["cpdist"], seconds["loop"], flagged,
                      NORMALISING[0])


def bare_sorted_neighbourhood(texts: list[str], neighbours: int = similarity.NEIGHBOURS) -> int:
    """The comparisons of near_duplicate_groups on raw texts, nothing else; the hits found."""
    hits = 0
    for reverse in (False, True):
        order = sorted(range(len(texts)),
                       key=(lambda i: texts[i][::-1]) if reverse else texts.__getitem__)
        ordered = [texts[i] for i in order]
        for step in range(1, min(neighbours, len(order) - 1) + 1):
            scores = process.cpdist(ordered[:-step], ordered[step:], scorer=fuzz.ratio,
                                    workers=1, dtype=np.float32)
            hits += int((scores >= THRESHOLD * 100).sum())
    return hits


@dataclass
class GroupThroughput:
    items: int
    ours: float
    bare: float
    grouped: int  # prompts in a group of two or more
    planted: int


def bench_groups(n: int) -> GroupThroughput:
    texts, planted = prompt_texts(n)
    keys = [f"p_{i:08d}" for i in range(n)]
    t0 = time.perf_counter()
    bare_sorted_neighbourhood(texts)
    bare = time.perf_counter() - t0
    t0 = time.perf_counter()
    groups = similarity.near_duplicate_groups(keys, texts, THRESHOLD)
    ours = time.perf_counter() - t0
    missed = [(i, j) for i, j in planted if groups[i] != groups[j]]
    if missed:
        sys.exit(f"BENCH FAILED: {len(missed)} of {len(planted)} planted prompt copies were not "
                 f"grouped with their original, e.g. {missed[:3]}")
    sizes: dict[str, int] = {}
    for g in groups:
        sizes[g] = sizes.get(g, 0) + 1
    grouped = sum(s for s in sizes.values() if s > 1)
    return GroupThroughput(n, ours, bare, grouped, len(planted))


# Edits that make a (chosen, rejected) pair out of one text, each with the class core/difference.py
# must give it: (name, edit, expected class, expected reason). Texts are the corpus slices above
# with a fixed head, so the edits land in readable places.
_EDITS: list[tuple[str, Any, str | None, str | None]] = [
    ("number", lambda t: t.replace("take 4 g", "take 8 g"), "minimal", "number"),
    ("negation", lambda t: t.replace("do not exceed", "do exceed"), "minimal", "negation"),
    ("modal", lambda t: t.replace("You must", "You may"), "minimal", "modal"),
    ("sentence", lambda t: t.replace(" Ask a pharmacist first.", ""), "minimal", "sentence"),
    ("punctuation and case", lambda t: t.replace(",", "").replace(".", "!").lower(), "trivial",
     None),
    ("markup", lambda t: "**" + t.replace(" first.", " **first**."), "trivial", None),
    ("cosmetic word", lambda t: t.replace("Thank you", "Thanks"), "near_identical", None),
]


def classification_rows(n: int, seed: int = 13) -> tuple[list[tuple], list[str]]:
    """n pair rows (n, chosen_id, chosen, rejected_id, rejected, language) in the shape the
    build hands to the worker: every 8th pair unrelated texts, the others one of _EDITS applied
    to a 300-600 character text; and the edit name of each row ('unrelated' for the others)."""
    corpus, _ = _corpus(seed, 60_000)
    rng = random.Random(seed + 1)
    rows: list[tuple] = []
    kinds: list[str] = []
    for k in range(n):
        a = rng.randrange(0, 29_000)
        body = corpus[a:a + rng.randint(300, 600)]
        text = (f"Thank you for asking. You must take 4 g at most, and do not exceed it, for "
                f"case {k}. {body}. Ask a pharmacist first. More: {body[:80]}.")
        if k % 8 == 7:
            b = rng.randrange(30_000, 59_000)
            other = f"Answer to {k}: " + corpus[b:b + rng.randint(300, 600)] + "."
            rows.append((k, f"a{k}", text, f"b{k}", other, "en"))
            kinds.append("unrelated")
            continue
        name, edit, _, _ = _EDITS[k % len(_EDITS)]
        rows.append((k, f"a{k}", text, f"b{k}", edit(text), "en"))
        kinds.append(name)
    return rows, kinds


@dataclass
class ClassifyThroughput:
    items: int
    ours: float  # seconds: normalise + similarities + the token diff of the examined pairs
    raw_cpdist: float  # RapidFuzz alone on the raw texts
    examined: int
    minimal: int
    trivial: int


def bench_classification(n: int) -> ClassifyThroughput:
    from core.difference import DifferenceRules
    from core.store.pair_worker import score_batch

    rules = DifferenceRules()
    ours = raw = 0.0
    examined = minimal = trivial = 0
    for start in range(0, n, BATCH):
        rows, kinds = classification_rows(min(BATCH, n - start), seed=13 + start)
        chosen = [r[2] for r in rows]
        rejected = [r[4] for r in rows]
        for first in ("ours", "raw") if (start // BATCH) % 2 == 0 else ("raw", "ours"):
            t0 = time.perf_counter()
            if first == "ours":
                scores, classes, reasons = score_batch(rows, rules)
                ours += time.perf_counter() - t0
            else:
                process.cpdist(chosen, rejected, scorer=fuzz.ratio, workers=1, dtype=np.float32)
                raw += time.perf_counter() - t0
        examined += int((scores >= rules.examine_from).sum())
        expected = {name: (kind, reason) for name, _, kind, reason in _EDITS}
        expected["unrelated"] = (None, None)
        for kind, got, why in zip(kinds, classes, reasons, strict=True):
            if (got, why) != expected[kind]:
                sys.exit(f"BENCH FAILED: a '{kind}' pair was classified {got} ({why}), "
                         f"expected {expected[kind]}")
        minimal += sum(c == "minimal" for c in classes)
        trivial += sum(c == "trivial" for c in classes)
    return ClassifyThroughput(n, ours, raw, examined, minimal, trivial)


def run(pairs: int, prompts: int, classify_pairs: int | None = None) -> dict:
    t0 = time.perf_counter()
    classify_n = classify_pairs if classify_pairs is not None else max(1000, pairs // 5)
    c = bench_classification(classify_n)
    print(f"  minimal-pair classification, {classify_n:,} pairs: ours {c.ours:.1f} s "
          f"({classify_n / c.ours:,.0f}/s), raw cpdist {c.raw_cpdist:.1f} s "
          f"({classify_n / c.raw_cpdist:,.0f}/s); {c.examined:,} examined, {c.minimal:,} "
          f"minimal, {c.trivial:,} trivial", flush=True)
    p = bench_pairs(pairs)
    print(f"  near-identical, {pairs:,} pairs: ours {p.ours:.1f} s ({pairs / p.ours:,.0f}/s), "
          f"raw cpdist {p.raw_cpdist:.1f} s ({pairs / p.raw_cpdist:,.0f}/s), fuzz.ratio loop "
          f"{p.python_loop:.1f} s ({pairs / p.python_loop:,.0f}/s); {p.flagged:,} flagged; "
          f"normalise {p.normalising:.1f} s of ours",
          flush=True)
    g = bench_groups(prompts)
    print(f"  near-duplicate prompts, {prompts:,} prompts: ours {g.ours:.1f} s "
          f"({prompts / g.ours:,.0f}/s), bare sorted neighbourhood {g.bare:.1f} s "
          f"({prompts / g.bare:,.0f}/s); {g.grouped:,} prompts grouped ({g.planted:,} planted "
          "copies, all found)", flush=True)
    return {"pairs": p, "groups": g, "classify": c, "seconds": time.perf_counter() - t0}


def markdown(result: dict) -> str:
    p: Throughput = result["pairs"]
    g: GroupThroughput = result["groups"]
    c: ClassifyThroughput = result["classify"]

    def rate(items: int, seconds: float) -> str:
        return f"{items / seconds:,.0f}"

    return "\n".join([
        "| task | prefer (items/s) | baseline | baseline (items/s) | prefer / baseline |",
        "|---|---:|---|---:|---:|",
        f"| near-identical check, {p.items:,} (chosen, rejected) pairs: `normalise` + "
        f"`similarities` | {rate(p.items, p.ours)} | `process.cpdist(fuzz.ratio)` on raw texts | "
        f"{rate(p.items, p.raw_cpdist)} | {p.raw_cpdist / p.ours:.2f} |",
        f"| (same) | | Python loop of `fuzz.ratio` on raw texts | {rate(p.items, p.python_loop)} "
        f"| {p.python_loop / p.ours:.2f} |",
        f"| near-duplicate prompt groups, {g.items:,} prompts: `near_duplicate_groups` | "
        f"{rate(g.items, g.ours)} | bare sorted neighbourhood (raw texts, 2 x 4 `cpdist`) | "
        f"{rate(g.items, g.bare)} | {g.bare / g.ours:.2f} |",
        f"| minimal-pair classification, {c.items:,} similar pairs: `score_batch` (`normalise`, "
        f"`similarities`, the token diff of every pair >= 0.9 alike) | {rate(c.items, c.ours)} | "
        f"`process.cpdist(fuzz.ratio)` on raw texts | {rate(c.items, c.raw_cpdist)} | "
        f"{c.raw_cpdist / c.ours:.2f} |",
        "",
        f"- near-identical: {p.ours:.1f} s for prefer ({p.normalising:.1f} s of it `normalise`, "
        f"{p.ours - p.normalising:.1f} s `similarities`), {p.raw_cpdist:.1f} s raw `cpdist`, "
        f"{p.python_loop:.1f} s Python loop, summed over batches of {BATCH:,}; {p.flagged:,} "
        f"pairs >= {THRESHOLD} (exactly the planted ones).",
        f"- classification: {c.ours:.1f} s for prefer, {c.raw_cpdist:.1f} s raw `cpdist`, in "
        f"batches of {BATCH:,}; {c.examined:,} pairs examined token by token, {c.minimal:,} "
        f"minimal and {c.trivial:,} trivial, each pair's class checked against its planted "
        "edit (a number, negation, modal verb or sentence changed: minimal; punctuation, case "
        "or markup: trivial; a cosmetic word: near-identical; 1 in 8 unrelated: none).",
        f"- prompt groups: {g.ours:.1f} s for prefer, {g.bare:.1f} s bare; {g.grouped:,} prompts "
        f"in groups of two or more ({g.planted:,} planted copies, each grouped with its "
        "original).",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--prompts", type=int, default=300_000)
    parser.add_argument("--classify", type=int, default=None,
                        help="pairs for the classification benchmark (default: pairs / 5)")
    args = parser.parse_args()
    print(markdown(run(args.pairs, args.prompts, args.classify)))


if __name__ == "__main__":
    main()
