"""Training-time input noise.

Character distortion (PRADO/pQRNN): each word token, with probability p, has one character
deleted, two neighbours swapped, or one character inserted before its features are hashed. The
token keeps its place and spans, so its slot tag stays.

Unseen-word simulation (`--unseen-words p`): each word token, with probability p, gets a fresh
random ternary vector in its whole-token columns, as a word the model never saw would (its hash
is unrelated to every trained one), while its character n-gram and case columns stay. The targets
stay the teacher's (or gold) labels of the real word, so the model learns to label a word it
cannot recognise from its context, its n-grams and its case: eval slot values hold a word that no
training text has in 11.6% of cases, and most student-only errors are on such words.

Randomness comes from a generator seeded by (seed, epoch, example index), so an example is
distorted the same way whichever process or batch it lands in: single-process and DDP training,
and a resumed run, see identical inputs.
"""
from __future__ import annotations

import numpy as np

from ..projection import Token


# the random stream of unseen-word simulation, apart from distortion's (seed, epoch, index)
UNSEEN_STREAM = 1
TERNARY = np.array([0, 1, -1, 0], dtype=np.int8)


def example_rng(seed: int, epoch: int, index: int, stream: int | None = None) -> np.random.Generator:
    return np.random.default_rng((seed, epoch, index) if stream is None else (seed, epoch, index, stream))


def simulate_unseen_words(features: np.ndarray, tokens: list[list[Token]], width: int, prob: float,
                          rngs: list[np.random.Generator]) -> int:
    """In place: features[b, t, :width] (a word's whole-token columns) becomes a random ternary
    vector, drawn like a hash's ({0, +1, -1, 0}[2 random bits]), for each word token t of example b
    with probability prob (tags never); rngs[b] is example b's generator. Returns how many."""
    hits = 0
    for b, (toks, rng) in enumerate(zip(tokens, rngs)):
        chosen = np.flatnonzero(rng.random(len(toks)) < prob)
        for t in chosen:
            if not toks[t].is_tag:
                features[b, t, :width] = TERNARY[rng.integers(0, 4, size=width)]
                hits += 1
    return hits


def distort_word(word: str, rng: np.random.Generator) -> str:
    """One random edit: delete a character, swap two neighbours, or insert a copy of one of the
    word's own characters (so the script stays the same) at a random place."""
    n = len(word)
    op = int(rng.integers(3)) if n > 1 else 2
    if op == 0:
        i = int(rng.integers(n))
        return word[:i] + word[i + 1:]
    if op == 1:
        i = int(rng.integers(n - 1))
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    i, c = int(rng.integers(n + 1)), word[int(rng.integers(n))]
    return word[:i] + c + word[i:]


def distort_tokens(tokens: list[Token], prob: float, rng: np.random.Generator) -> list[Token]:
    """A copy of tokens where each word (not BOS/EOS/empty tags) is distorted with probability prob;
    only the hashed bytes change."""
    if prob <= 0:
        return tokens
    out = list(tokens)
    for i, hit in enumerate((rng.random(len(tokens)) < prob).tolist()):
        tok = tokens[i]
        if hit and not tok.is_tag:
            hashed = distort_word(tok.hashed.decode("utf-8"), rng).encode("utf-8")
            out[i] = Token(tok.text, hashed, tok.char_start, tok.char_end, tok.byte_start, tok.byte_end, tok.is_tag)
    return out
