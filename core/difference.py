"""What differs between a chosen and a rejected text, from a token-level diff: trivial, minimal or
neither (docs/pairs.md, "Minimal and trivial pairs").

The strongest DPO signal is a pair whose two answers are alike but for one thing that matters: a
changed dose, a dropped "not", another deadline, a missing disclosure sentence. Character
similarity cannot tell those from a changed comma, so pairs that are alike enough to be examined
(`DifferenceRules.examine_from`, RapidFuzz similarity as in core/similarity.py) are compared token
by token:

- tokens are words and numbers (letters and digits, with inner `.` `,` `'` `’` kept: `4.5`,
  `1,000`, `don't`, `l'eau`) and the symbols `% € $ £ ¥ ‰ °`; everything else (whitespace,
  punctuation, Markdown markup) separates tokens and is never compared, and tokens are compared
  case-folded and NFC-normalised;
- **trivial**: the token sequences are equal, so the texts differ only in whitespace,
  punctuation, case or formatting markup. Dropped (counted under `near_identical`);
- **minimal**: the diff changes tokens that carry meaning (a number, a unit or currency, a
  negation, a modal verb, a date word, a named entity) or adds or removes whole sentences, and is
  small: at most `max_changed_tokens` tokens outside whole sentences and at most
  `max_changed_sentences` whole sentences, or the texts are at least the near-identical threshold
  alike. Kept, and counted: the most valuable kind of pair;
- **near_identical**: at least the near-identical threshold alike, but no change carries meaning
  ("Hello" for "Hi"). Dropped as before;
- otherwise the pair is an ordinary one (kept, not counted as minimal).

The word lists cover the four languages of the sample data (English, German, French, Spanish).
German capitalises every noun, so a capitalised word counts as a named entity there only when it
is an acronym or has a capital inside (`IBAN`, `McAfee`); elsewhere any capitalised word that does
not start a sentence counts.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple

from rapidfuzz.distance import Indel, Postfix, Prefix

TRIVIAL = "trivial"
MINIMAL = "minimal"
NEAR_IDENTICAL = "near_identical"
# What made a pair minimal, the first that applies in this order.
KINDS = ("number", "unit", "negation", "modal", "date", "entity", "sentence")

_TOKEN = re.compile(r"[^\W_]+(?:['’.,][^\W_]+)*|[%€$£¥‰°]")
# A sentence ends at . ! ? … (or CJK/Arabic ones) followed by space or the end, or at a newline.
_SENTENCE_END = re.compile(r"[.!?…。！？؟]+[\"'”’»)\]]*(?=\s|$)|\n+")

def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_UNITS = _words("""
mg g kg µg mcg ug ml l dl cl cm mm km m s sec h hr hrs min kwh kw w v mb gb tb iu
second seconds minute minutes hour hours day days week weeks month months year years
percent eur euro euros usd dollar dollars gbp pound pounds cent cents tablet tablets dose doses
sekunde sekunden minute minuten stunde stunden tag tage tagen woche wochen monat monate monaten
jahr jahre jahren prozent tablette tabletten
seconde secondes heure heures jour jours semaine semaines mois ans année années pourcent
comprimé comprimés
segundo segundos hora horas día días semana semanas meses año años ciento comprimido
comprimidos pastilla pastillas % € $ £ ¥ ‰ °
""")
_NEGATIONS = _words("""
not no never none nothing nobody neither nor cannot can't won't don't doesn't didn't isn't aren't
wasn't weren't shouldn't mustn't couldn't wouldn't without
nicht kein keine keinen keinem keiner keines nie niemals nichts niemand weder ohne
ne n' pas jamais aucun aucune rien personne ni sans non
nunca jamás ningún ninguno ninguna nada nadie sin tampoco
""")
_MODALS = _words("""
must may might can could should shall will would need needs ought required allowed mandatory
optional always
muss müssen musst müsst darf dürfen darfst kann können kannst soll sollen sollte sollten sollst
will wollen mag möchte möchten könnte könnten müsste müssten dürfte immer pflicht verpflichtend
doit doivent devez devrait devraient devriez peut peuvent pouvez pourrait pourraient pourriez
faut obligatoire facultatif toujours
debe deben debes debería deberían puede pueden puedes podría podrían obligatorio opcional
siempre
""")
_DATES = _words("""
january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday today tomorrow yesterday tonight
weekend weekday weekdays
januar februar märz april mai juni juli august september oktober november dezember
montag dienstag mittwoch donnerstag freitag samstag sonntag heute morgen gestern
janvier février mars avril mai juin juillet août septembre octobre novembre décembre
lundi mardi mercredi jeudi vendredi samedi dimanche aujourd'hui demain hier
enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre
lunes martes miércoles jueves viernes sábado domingo hoy mañana ayer
""")


@dataclass(frozen=True)
class DifferenceRules:
    """The thresholds of prefer.toml's [pairs] section the classification uses."""

    near_identical_threshold: float = 0.95
    examine_from: float = 0.9  # pairs at least this similar are compared token by token
    max_changed_tokens: int = 5
    max_changed_sentences: int = 1


class _Token(NamedTuple):
    folded: str
    text: str
    sentence_start: bool  # the first token of its sentence
    sentence_end: bool  # the last token of its sentence


def tokens(text: str) -> list[_Token]:
    """The compared tokens of `text`, each knowing whether it starts or ends a sentence."""
    out: list[_Token] = []
    for sentence in _SENTENCE_END.split(unicodedata.normalize("NFC", text)):
        words = _TOKEN.findall(sentence)
        last = len(words) - 1
        out.extend([_Token(word.casefold(), word, i == 0, i == last)
                    for i, word in enumerate(words)])
    return out


def _differing_sentences(left: str, right: str) -> tuple[str, str]:
    """The two texts without the whole sentences they share at the start and at the end (their
    tokens would compare equal): most pairs examined differ in one place, and tokenising only
    the sentences around it is what keeps the classification fast."""
    prefix = Prefix.similarity(left, right)
    suffix = min(Postfix.similarity(left, right), min(len(left), len(right)) - prefix)
    start = 0
    for match in _SENTENCE_END.finditer(left, 0, prefix):
        if match.end() < prefix:  # a match touching the cut may be one only because of the cut
            start = match.end()
    shared_end = left[len(left) - suffix:]
    first_end = _SENTENCE_END.search(shared_end)
    keep = first_end.end() if first_end else suffix
    return left[start:len(left) - suffix + keep], right[start:len(right) - suffix + keep]


def _kind(token: _Token, language: str) -> str | None:
    """What meaning a changed token carries, or None."""
    word = token.folded
    if any(ch.isdigit() for ch in word):
        return "number"
    if word in _UNITS:
        return "unit"
    if word in _NEGATIONS or word.endswith("n't") or word.startswith("n'"):
        return "negation"
    if word in _MODALS:
        return "modal"
    if word in _DATES:
        return "date"
    text = token.text
    if text[:1].isupper():
        inner_capital = any(ch.isupper() for ch in text[1:])
        if language == "de":
            if inner_capital:
                return "entity"
        elif inner_capital or not token.sentence_start:
            return "entity"
    return None


@dataclass(frozen=True)
class Difference:
    """How a chosen and a rejected text differ: `kind` is trivial, minimal, near_identical or
    None (an ordinary pair); `reason` names what made a minimal pair minimal (one of KINDS)."""

    kind: str | None
    reason: str | None = None


def classify(chosen: str, rejected: str, similarity: float, rules: DifferenceRules,
             language: str = "und") -> Difference:
    """Classify one pair whose texts are `similarity` alike (core/similarity.py)."""
    if similarity < rules.examine_from:
        return Difference(None)
    left_text, right_text = _differing_sentences(unicodedata.normalize("NFC", chosen),
                                                 unicodedata.normalize("NFC", rejected))
    left, right = tokens(left_text), tokens(right_text)
    left_words = [t.folded for t in left]
    right_words = [t.folded for t in right]
    if left_words == right_words:
        return Difference(TRIVIAL)
    base = language.split("-")[0].lower()
    changed: list[_Token] = []
    sentences = 0
    for tag, a0, a1, b0, b1 in Indel.opcodes(left_words, right_words).as_list():
        if tag == "equal":
            continue
        for side, start, stop in ((left, a0, a1), (right, b0, b1)):
            if start == stop:
                continue
            span = side[start:stop]
            other_empty = (b0 == b1) if side is left else (a0 == a1)
            if other_empty and span[0].sentence_start and span[-1].sentence_end:
                sentences += sum(t.sentence_start for t in span)
            else:
                changed.extend(span)
    kinds = {k for k in (_kind(t, base) for t in changed) if k is not None}
    if sentences:
        kinds.add("sentence")
    near = similarity >= rules.near_identical_threshold
    few = len(changed) <= rules.max_changed_tokens and sentences <= rules.max_changed_sentences
    if kinds and (few or near):
        return Difference(MINIMAL, next(k for k in KINDS if k in kinds))
    return Difference(NEAR_IDENTICAL if near else None)
