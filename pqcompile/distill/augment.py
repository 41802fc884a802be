"""Extra text for the teacher to label, made offline and deterministically from a seed.

The paper paraphrased with a large model; here every kind works from the data alone:
  chars       character distortion: delete, swap, insert or replace a character in a word or two
  dropout     token dropout: drop each word with probability 0.15 (at least one, never all)
  swap        swap two adjacent words
  slotsub     slot-value substitution: a slot's text replaced by another example's value of the
              same slot label and language
  codeswitch  code-switching: a slot's text replaced by the same slot in a translation of the
              utterance (needs aligned data: the same file and line in several languages, as
              `mtop6:` gives)
  xslotsub    cross-corpus slot substitution: a slot's text replaced by a value of the matching
              slot in another corpus (the --transfer texts: SNIPS artists, playlists, cities,
              MTOD dates and reminders, ...; FOREIGN_SLOTS maps their labels), so the student
              meets words that no training text has, in the training texts' contexts
  wordsub     word substitution: each content word (at least one) replaced with probability 0.3 by one of
              its nearest neighbours in the teacher's word-piece embedding table (neighbours.py:
              "pizza" -> burger, "boston" -> seattle), keeping its capitalisation
Augmented texts carry no gold frame: the student learns them from the teacher's targets only.
`--augment KIND=N` asks for N texts per source example (N may be fractional: 0.5 = half as many).
"""
from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass

from ..datasets import Example
from ..errors import PqError
from .neighbours import TEXT_WORD

DROPOUT = 0.15
WORDSUB = 0.3    # probability that wordsub replaces a word that has neighbours
MAX_TRIES = 4   # attempts per wanted text before a kind gives up (e.g. no aligned siblings)


@dataclass(frozen=True)
class Augmented:
    text: str
    lang: str
    kind: str
    source: int   # index of the example it was made from


def _words(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(r"\S+", text)]


def distort_chars(ex: Example, rng: random.Random, ctx) -> str | None:
    text = ex.text
    words = [w for w in _words(text) if w[1] - w[0] >= 2] or _words(text)
    if not words:
        return None
    alphabet = sorted(set(text) - {" "})
    for s, e in sorted(rng.sample(words, min(len(words), rng.choice((1, 2)))), reverse=True):
        w = list(text[s:e])
        i = rng.randrange(len(w))
        op = rng.choice(("delete", "swap", "insert", "replace"))
        if op == "delete" and len(w) > 1:
            del w[i]
        elif op == "swap" and len(w) > 1:
            i = min(i, len(w) - 2)
            w[i], w[i + 1] = w[i + 1], w[i]
        elif op == "insert":
            w.insert(i, rng.choice(alphabet))
        else:
            w[i] = rng.choice(alphabet)
        text = text[:s] + "".join(w) + text[e:]
    return text


def drop_tokens(ex: Example, rng: random.Random, ctx) -> str | None:
    words = ex.text.split()
    if len(words) < 2:
        return None
    keep = [w for w in words if rng.random() >= DROPOUT]
    if len(keep) == len(words):
        keep.pop(rng.randrange(len(keep)))
    return " ".join(keep) if keep else None


def swap_tokens(ex: Example, rng: random.Random, ctx) -> str | None:
    words = ex.text.split()
    if len(words) < 2:
        return None
    i = rng.randrange(len(words) - 1)
    words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def _replace_spans(ex: Example, new: dict[int, str]) -> str:
    """ex.text with the slot spans numbered in `new` replaced by their new text."""
    out, pos = [], 0
    for k, (_, s, e) in enumerate(ex.spans):
        if k in new:
            out += [ex.text[pos:s], new[k]]
            pos = e
    return "".join(out) + ex.text[pos:]


def _substitute(ex: Example, rng: random.Random, values: dict, min_pool: int, fold) -> str | None:
    """ex.text with its first substitutable slot (and each later one with probability 1/2) given a
    value drawn from values[(lang, label)]; a pool smaller than min_pool, or a drawn value equal
    to the slot's text after fold, leaves that slot as it is."""
    new = {}
    for k, (label, s, e) in enumerate(ex.spans):
        pool = values.get((ex.lang, label), ())
        if len(pool) >= min_pool and (not new or rng.random() < 0.5):
            v = rng.choice(pool)
            if fold(v) != fold(ex.text[s:e]):
                new[k] = v
    return _replace_spans(ex, new) if new else None


def substitute_slots(ex: Example, rng: random.Random, ctx) -> str | None:
    # the pool holds the slot's own value too: it takes two to have another
    return _substitute(ex, rng, ctx["values"], 2, str)


# Other corpora's slot labels -> the MTOP slot whose values they can stand in for. Only the
# values move (the teacher labels the new text), so a loose match costs naturalness, not labels.
FOREIGN_SLOTS = {
    # SNIPS
    "artist": "SL:MUSIC_ARTIST_NAME", "album": "SL:MUSIC_ALBUM_TITLE", "track": "SL:MUSIC_TRACK_TITLE",
    "playlist": "SL:MUSIC_PLAYLIST_TITLE", "genre": "SL:MUSIC_GENRE", "music_item": "SL:MUSIC_TYPE",
    "service": "SL:MUSIC_PROVIDER_NAME", "city": "SL:LOCATION", "state": "SL:LOCATION",
    "country": "SL:LOCATION", "geographic_poi": "SL:LOCATION", "timeRange": "SL:DATE_TIME",
    "served_dish": "SL:RECIPES_DISH", "cuisine": "SL:RECIPES_CUISINE",
    # MTOD (Schuster et al.)
    "datetime": "SL:DATE_TIME", "location": "SL:LOCATION", "reminder/todo": "SL:TODO",
}


def foreign_values(foreign: list[Example]) -> dict[tuple[str, str], list[str]]:
    """(lang, MTOP slot label) -> the distinct values of the matching slots in other corpora."""
    values: dict[tuple[str, str], set[str]] = defaultdict(set)
    for ex in foreign:
        for label, s, e in ex.spans:
            value = ex.text[s:e].strip()
            if label in FOREIGN_SLOTS and value:
                values[(ex.lang, FOREIGN_SLOTS[label])].add(value)
    return {k: sorted(v) for k, v in values.items()}


def substitute_foreign_slots(ex: Example, rng: random.Random, ctx) -> str | None:
    return _substitute(ex, rng, ctx["foreign"], 1, str.lower)


def code_switch(ex: Example, rng: random.Random, ctx) -> str | None:
    siblings = [o for o in ctx["aligned"].get((ex.file, ex.line), ()) if o.lang != ex.lang]
    if not ex.spans or not siblings:
        return None
    other = rng.choice(siblings)
    occurrences: dict[str, list[str]] = defaultdict(list)
    for label, s, e in other.spans:
        occurrences[label].append(other.text[s:e])
    seen: dict[str, int] = defaultdict(int)
    candidates = {}
    for k, (label, _, _) in enumerate(ex.spans):
        n = seen[label]
        seen[label] += 1
        if n < len(occurrences[label]):
            candidates[k] = occurrences[label][n]
    if not candidates:
        return None
    picked = rng.sample(sorted(candidates), rng.randint(1, len(candidates)))
    return _replace_spans(ex, {k: candidates[k] for k in picked})


def _same_case(word: str, like: str) -> str:
    if len(like) > 1 and like.isupper():
        return word.upper()
    return word.capitalize() if like[:1].isupper() else word


def substitute_words(ex: Example, rng: random.Random, ctx) -> str | None:
    near = ctx["neighbours"]
    words = [m for m in TEXT_WORD.finditer(ex.text) if m.group().lower() in near]
    if not words:
        return None
    picked = [m for m in words if rng.random() < WORDSUB] or [rng.choice(words)]
    text = ex.text
    for m in reversed(picked):
        new = _same_case(rng.choice(near[m.group().lower()]), m.group())
        text = text[:m.start()] + new + text[m.end():]
    return text


KINDS = {"chars": distort_chars, "dropout": drop_tokens, "swap": swap_tokens,
         "slotsub": substitute_slots, "codeswitch": code_switch, "xslotsub": substitute_foreign_slots,
         "wordsub": substitute_words}


def parse_request(item: str) -> tuple[str, float]:
    """`KIND=N` -> (kind, N)."""
    kind, eq, amount = item.partition("=")
    if kind not in KINDS:
        raise PqError(f"unknown augmentation {kind!r} (kinds: {', '.join(KINDS)})")
    try:
        n = float(amount) if eq else 1.0
    except ValueError:
        raise PqError(f"augmentation amount must be a number: {item!r}") from None
    if not 0 <= n <= 100:
        raise PqError(f"augmentation amount must be in 0..100: {item!r}")
    return kind, n


def needs_neighbours(requests: list[tuple[str, float]]) -> bool:
    return any(kind == "wordsub" for kind, _ in requests)


def _context(examples: list[Example], foreign: list[Example], neighbours: dict | None) -> dict:
    values: dict[tuple[str, str], set[str]] = defaultdict(set)
    aligned: dict[tuple[str, int], list[Example]] = defaultdict(list)
    for ex in examples:
        for label, s, e in ex.spans:
            values[(ex.lang, label)].add(ex.text[s:e])
        if ex.file:
            aligned[(ex.file, ex.line)].append(ex)
    return {"values": {k: sorted(v) for k, v in values.items()}, "aligned": aligned,
            "foreign": foreign_values(foreign), "neighbours": neighbours or {}}


def augment(examples: list[Example], requests: list[tuple[str, float]], seed: int = 0,
            foreign: list[Example] = (), neighbours: dict[str, list[str]] | None = None) -> list[Augmented]:
    """New texts (none equal to an original or to each other), in request order; the same
    examples, requests, seed, foreign examples (other corpora, for xslotsub) and neighbours
    (word -> replacements, for wordsub: neighbours.teacher_neighbours) always give the same list."""
    ctx = _context(examples, list(foreign), neighbours)
    if any(kind == "xslotsub" for kind, _ in requests) and not ctx["foreign"]:
        raise PqError("--augment xslotsub needs --transfer corpora with slots it can map "
                      f"({', '.join(sorted(FOREIGN_SLOTS))})")
    if needs_neighbours(requests) and not ctx["neighbours"]:
        raise PqError("--augment wordsub needs word neighbours from the teacher's embeddings, and none of "
                      "the texts' words has any")
    seen = {ex.text for ex in examples}
    out: list[Augmented] = []
    for kind, amount in requests:
        fn = KINDS[kind]
        rng = random.Random(f"{seed}:{kind}:{amount}")
        want = round(amount * len(examples))
        made = tries = 0
        order: list[int] = []
        while made < want and tries < MAX_TRIES * want:
            if not order:
                order = list(range(len(examples)))
                rng.shuffle(order)
            i = order.pop()
            tries += 1
            text = fn(examples[i], rng, ctx)
            if text is None or not text.strip() or text in seen:
                continue
            seen.add(text)
            out.append(Augmented(text, examples[i].lang, kind, i))
            made += 1
    return out
