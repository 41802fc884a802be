"""Character-distortion augmentation (PRADO/pQRNN): during training each word token, with
probability p, has one character deleted, two neighbours swapped, or one character inserted
before its features are hashed. The token keeps its place and spans, so its slot tag stays.

Randomness comes from a generator seeded by (seed, epoch, example index), so an example is
distorted the same way whichever process or batch it lands in: single-process and DDP training,
and a resumed run, see identical inputs.
"""
from __future__ import annotations

import numpy as np

from ..projection import Token


def example_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng((seed, epoch, index))


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
