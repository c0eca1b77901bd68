"""Token lengths of the kept pairs with a local tokenizer, against the trainers' length limits.

`--tokenizer PATH` names a `tokenizer.json` (the file every Hugging Face model ships, read with
the `tokenizers` library, offline). Texts are counted as the trainer tokenizes the raw fields,
without special tokens and without the few tokens a chat template adds per message: the prompt
is its system prompt and its user text, each encoded on its own and added up.

Limits (shared/reference/export-formats.md):
- TRL `max_length` (1024 by default) counts prompt + completion per sequence, so a pair runs over
  when prompt + the longer of chosen and rejected exceeds it; TRL >= 1.9 drops a row whose prompt
  alone reaches it.
- LLaMA-Factory `cutoff_len` (2048 by default) is shared between the prompt and the longer
  answer (`infer_seqlen`), so a pair runs over on the same sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import BadInputError
from core.models import SourceFilter
from core.store.api import Store

TRL_MAX_LENGTH = 1024
LLAMAFACTORY_CUTOFF_LEN = 2048
PAGE = 5_000  # pairs read from the store and encoded at once


@dataclass(frozen=True)
class LengthStats:
    """Token counts of one field over the pairs."""

    mean: float
    median: float
    p95: float
    max: int


@dataclass(frozen=True)
class LimitCheck:
    """How many pairs one trainer's length limit cuts."""

    setting: str  # max_length, cutoff_len
    limit: int
    over: int  # prompt + the longer answer exceeds the limit: an answer is cut
    prompt_alone: int  # the prompt alone reaches the limit: no answer token is left


@dataclass(frozen=True)
class TokenLengths:
    tokenizer: str
    pairs: int
    prompt: LengthStats
    chosen: LengthStats
    rejected: LengthStats
    limits: tuple[LimitCheck, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"tokenizer": self.tokenizer, "pairs": self.pairs,
                "prompt": self.prompt.__dict__, "chosen": self.chosen.__dict__,
                "rejected": self.rejected.__dict__,
                "limits": {c.setting: {"limit": c.limit, "pairs_over": c.over,
                                       "prompt_alone_reaches_limit": c.prompt_alone}
                           for c in self.limits}}


def load_tokenizer(path: Path) -> Any:
    """The `tokenizers.Tokenizer` in `path` (a tokenizer.json); BadInputError naming the file."""
    if not path.is_file():
        raise BadInputError(f"{path}: no such file", hint="give --tokenizer a tokenizer.json")
    try:
        from tokenizers import Tokenizer
    except ImportError as missing:
        raise BadInputError(f"--tokenizer needs the `tokenizers` library ({missing})",
                            hint="pip install tokenizers") from None
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # the library raises plain Exception for a malformed file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadInputError(f"{path}: not a tokenizer.json the tokenizers library can read "
                            f"({first})", hint="give the tokenizer.json of your model") from None


def _stats(values: np.ndarray) -> LengthStats:
    if not len(values):
        return LengthStats(0.0, 0.0, 0.0, 0)
    return LengthStats(mean=round(float(values.mean()), 1), median=float(np.median(values)),
                       p95=float(np.percentile(values, 95)), max=int(values.max()))


def _count(tokenizer: Any, texts: list[str]) -> np.ndarray:
    encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
    return np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))


def token_lengths(store: Store, tokenizer_path: Path, *, max_length: int = TRL_MAX_LENGTH,
                  cutoff_len: int = LLAMAFACTORY_CUTOFF_LEN,
                  sources: SourceFilter = SourceFilter()) -> TokenLengths:
    """Token lengths of the latest build's kept pairs (those `sources` decided), and how many
    run over each limit."""
    for name, value in (("--max-length", max_length), ("--cutoff-len", cutoff_len)):
        if value < 1:
            raise BadInputError(f"{name} must be at least 1, got {value}")
    tokenizer = load_tokenizer(tokenizer_path)
    prompts: list[np.ndarray] = []
    chosen: list[np.ndarray] = []
    rejected: list[np.ndarray] = []
    after = ""
    while page := store.kept_pair_texts(after, PAGE, sources):
        after = page[-1][0]
        systems = [row[1] for row in page]
        with_system = [i for i, s in enumerate(systems) if s]
        prompt_tokens = _count(tokenizer, [row[2] for row in page])
        if with_system:
            prompt_tokens[with_system] += _count(tokenizer, [systems[i] for i in with_system])
        prompts.append(prompt_tokens)
        chosen.append(_count(tokenizer, [row[3] for row in page]))
        rejected.append(_count(tokenizer, [row[4] for row in page]))
    empty = np.zeros(0, dtype=np.int64)
    prompt_all = np.concatenate(prompts) if prompts else empty
    chosen_all = np.concatenate(chosen) if chosen else empty
    rejected_all = np.concatenate(rejected) if rejected else empty
    longest = prompt_all + np.maximum(chosen_all, rejected_all)
    limits = tuple(LimitCheck(setting, limit, int(np.count_nonzero(longest > limit)),
                              int(np.count_nonzero(prompt_all >= limit)))
                   for setting, limit in (("max_length", max_length), ("cutoff_len", cutoff_len)))
    return TokenLengths(tokenizer=str(tokenizer_path), pairs=len(prompt_all),
                        prompt=_stats(prompt_all), chosen=_stats(chosen_all),
                        rejected=_stats(rejected_all), limits=limits)
