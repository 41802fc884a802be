"""Sub-word features (spec.char_ngrams): a word's character n-grams, hashed and summed.

A word token's hashed bytes (its lower-cased UTF-8) are read as code points and framed by two
marker bytes that never occur in UTF-8, BEGIN (0xFE) and END (0xFF), so prefixes and suffixes
hash apart from the same letters inside a word: "cat" with n = 3 gives BEGIN"ca", "cat", "at"END.
Each n-gram of each size in spec.char_ngrams is hashed as its bytes (a marker is one byte, a code
point its UTF-8) with MurmurHash64A seeded with NGRAM_SEED, expanded to ternary features exactly as
a whole token (hashing.ternary_features), and the token's n-gram vectors are summed per column and
clamped to [-127, 127]. The generated C does the same (emit_c.py); docs/projection.md.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .hashing import NGRAM_SEED, ternary_features

BEGIN, END = b"\xfe", b"\xff"
CLAMP = 127


def char_ngrams(word: bytes, sizes: Sequence[int]) -> list[bytes]:
    """The n-grams (as hashed bytes) of one word's hashed bytes, for each size in sizes, in order.
    Bytes that are not UTF-8 (only possible for hand-made tokens) are read as U+FFFD, as the
    device would decode them."""
    if word.isascii():
        framed = BEGIN + word + END
        return [framed[i:i + n] for n in sizes for i in range(len(framed) - n + 1)]
    pieces = [BEGIN, *(c.encode("utf-8") for c in word.decode("utf-8", "replace")), END]
    return [b"".join(pieces[i:i + n]) for n in sizes for i in range(len(pieces) - n + 1)]


def ngram_features(words: Sequence[bytes], sizes: Sequence[int], width: int) -> np.ndarray:
    """int8[len(words), width]: per word, the sum of its n-grams' ternary hash vectors (width
    columns each), clamped to [-127, 127]; a word without n-grams of these sizes gets zeros."""
    grams: list[bytes] = []
    counts = np.zeros(len(words), dtype=np.intp)
    for k, word in enumerate(words):
        g = char_ngrams(word, sizes)
        grams.extend(g)
        counts[k] = len(g)
    out = np.zeros((len(words), width), dtype=np.int8)
    if grams:
        vectors = ternary_features(grams, width, seed=NGRAM_SEED)
        has = counts > 0
        starts = (np.cumsum(counts) - counts)[has]
        sums = np.add.reduceat(vectors, starts, axis=0, dtype=np.int32)
        out[has] = np.clip(sums, -CLAMP, CLAMP)
    return out
