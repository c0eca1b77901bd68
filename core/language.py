"""Language detection: py3langid's model (offline), applied to many texts at once.

py3langid.classify() walks a byte DFA in Python and scores with numpy, text by text: ~4,000
texts a second, mostly per-call overhead. Here a batch is walked with one numpy step per byte
position for all its texts together, the features are counted into one sparse matrix and scored
by one product: the same naive Bayes and the same answer as classify(), over ten times faster.

A text with too few letters ("Ok.", "Danke!", "12,50 €") or a doubtful score gets 'und'.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy and scipy load on first detection: every command imports this module
    import numpy as np

UNDETERMINED = "und"
# The first characters decide. 200 (a sentence or two) give py3langid's answer on the whole
# text for every text of sample_data; more cost time in proportion (a million-row import
# detects ~1.5 million texts) and change almost no answer.
MAX_CHARS = 200
# Fewer letters than this is too little to tell a language by ("Ok.", "Danke!", "Vielen Dank").
MIN_LETTERS = 12
# py3langid's normalised confidence (softmax of the length-scaled scores) the best language
# needs. Ordinary one-sentence texts score 0.9 and more; the few short ones that pass the
# letter rule but read like several languages score lower and stay 'und'.
MIN_CONFIDENCE = 0.5
_CHUNK = 8192  # texts per walk: bounds memory (a chunk's feature grid is maxlen x chunk)

# At least MIN_LETTERS letters (any script; digits and underscore are not letters).
_ENOUGH_LETTERS = re.compile(rf"(?:[\W\d_]*[^\W\d_]){{{MIN_LETTERS}}}")


@dataclass(frozen=True)
class _Model:
    next_state: np.ndarray   # DFA: next_state[row_base[state] + byte]
    row_base: np.ndarray     # per state, its row's offset in next_state
    feature: np.ndarray      # per state, the feature counted on entering it, or -1
    weights: np.ndarray      # features x classes, log P(feature | class), float32
    prior: np.ndarray        # per class, log P(class)
    labels: np.ndarray       # per class column, its language code
    alias: np.ndarray        # per class column, the other column with the same label, or -1


_model: _Model | None = None
_model_lock = threading.Lock()


def _load() -> _Model:
    """py3langid's model, loaded once per process (~1 s) and only when something is detected."""
    global _model
    with _model_lock:
        if _model is None:
            import numpy as np
            import scipy.sparse  # noqa: F401 - used by every detection: imported with the model
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            ident = LanguageIdentifier.from_model_file(MODEL_FILE)
            labels = np.array(ident.nb_classes)
            alias = np.full(len(labels), -1, dtype=np.intp)
            for i, label in enumerate(labels):
                for j in np.flatnonzero(labels == label):
                    if j != i:
                        alias[i] = j
            _model = _Model(
                next_state=np.frombuffer(ident.tk_nextmove,
                                         dtype=f"u{ident.tk_nextmove.itemsize}"),
                row_base=np.asarray(ident._rowbase, dtype=np.int64),
                feature=np.asarray(ident.tk_output, dtype=np.int32),
                # float32 like classify(): its float32 counts times the float16 table give float32.
                weights=np.asarray(ident.nb_ptc, dtype=np.float32),
                prior=np.asarray(ident.nb_pc, dtype=np.float32),
                labels=labels,
                alias=alias,
            )
        return _model


def preload() -> None:
    """Load the model now (~1 s, once per process) rather than on the first detection.

    Generation runs call this at their start, so their first batch of outcomes is committed as
    promptly as every later one.
    """
    _load()


def _encode(text: str) -> bytes:
    """py3langid's own encoding: lower-cased if all upper case, NFC, UTF-8."""
    if text.isupper():
        text = text.lower()
    return unicodedata.normalize("NFC", text).encode("utf-8", errors="surrogatepass")


def _classify_chunk(model: _Model, encoded: list[bytes]) -> list[str]:
    """Languages of up to _CHUNK encoded texts (each with at least one byte)."""
    import numpy as np
    import scipy.sparse

    n = len(encoded)
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=n)
    # Longest first: at byte position t the texts still going are a prefix, walked as a slice.
    order = np.argsort(-lengths, kind="stable")
    lengths = lengths[order]
    steps = int(lengths[0])
    going = np.searchsorted(-lengths, -np.arange(steps), side="left")
    padded = np.zeros((n, steps), dtype=np.uint8)
    padded[np.arange(steps) < lengths[:, None]] = np.frombuffer(
        b"".join([encoded[i] for i in order]), dtype=np.uint8)
    text_bytes = np.ascontiguousarray(padded.T)  # step-major: byte t of every text in one row
    # grid[t, i]: the feature text i counts at byte t, -1 for none (or past its end).
    grid = np.full((steps, n), -1, dtype=np.int32)
    state = np.zeros(n, dtype=model.next_state.dtype)
    index = np.empty(n, dtype=np.int64)
    for t in range(steps):
        k = int(going[t])
        np.add(model.row_base[state[:k]], text_bytes[t, :k], out=index[:k])
        # mode="clip": np.take with out= buffers a copy under the default mode.
        np.take(model.next_state, index[:k], out=state[:k], mode="clip")
        np.take(model.feature, state[:k], out=grid[t, :k], mode="clip")
    # Each text's features sorted (-1 first), so the repeats of a feature are one run: the run
    # length is its count. Run starts, in row-major order, are the entries of a CSR matrix.
    features = np.ascontiguousarray(grid.T)
    features.sort(axis=1)
    first = features >= 0
    first[:, 1:] &= features[:, 1:] != features[:, :-1]
    starts = np.flatnonzero(first)
    rows = starts // steps
    # A run ends where the next one starts or at its row's end, whichever is first (the next
    # row's first run starts after its -1 padding, so never before this row's end).
    ends = rows * steps
    ends += steps
    np.minimum(ends[:-1], starts[1:], out=ends[:-1])
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    counts = scipy.sparse.csr_matrix(
        (np.log1p((ends - starts).astype(np.float32)), features.ravel()[starts], indptr),
        shape=(n, model.weights.shape[0]))
    scores = np.asarray(counts @ model.weights) + model.prior
    # classify(): merge alias columns (sr/sr, uz/uz) by max, then the best column's label.
    best = scores.argmax(axis=1)
    # The confidence py3langid reports with norm_probs: softmax of scores / sqrt(bytes), with
    # alias columns summed.
    scaled = scores / np.sqrt(lengths.astype(np.float32))[:, None]
    scaled = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    scaled /= scaled.sum(axis=1, keepdims=True)
    at = np.arange(n)
    confidence = scaled[at, best]
    partner = model.alias[best]
    confidence += np.where(partner >= 0, scaled[at, np.maximum(partner, 0)], 0.0)
    found = np.where((confidence >= MIN_CONFIDENCE) & (indptr[1:] > indptr[:-1]),
                     model.labels[best], UNDETERMINED)
    found[found == "zxx"] = UNDETERMINED  # py3langid's "no linguistic content"
    result = np.empty(n, dtype=object)
    result[order] = found
    return result.tolist()


def detect_languages(texts: Sequence[str]) -> list[str]:
    """The language of each text (ISO 639-1 code such as 'en', or 'und'), in input order.

    Decides on the first MAX_CHARS characters; a text with fewer than MIN_LETTERS letters
    there, or whose best language has a confidence under MIN_CONFIDENCE, is 'und'.
    """
    heads = [text[:MAX_CHARS] for text in texts]
    # Equal texts are detected once (templated answers, repeated prompts).
    distinct = [h for h in dict.fromkeys(heads) if _ENOUGH_LETTERS.match(h)]
    found: dict[str, str] = {}
    if distinct:
        model = _load()
        for start in range(0, len(distinct), _CHUNK):
            chunk = distinct[start:start + _CHUNK]
            found.update(zip(chunk, _classify_chunk(model, [_encode(h) for h in chunk]),
                             strict=True))
    return [found.get(h, UNDETERMINED) for h in heads]
