"""Case features (spec.case_features): what lower-casing took away, as a few columns of its own.

The projection hashes lower-cased words, so "Nicholas" and "nicholas" share every feature. In
MTOP-en eval a word after the first that starts with a capital lies inside a slot 91% of the time
(names, titles, places), a lower-case one 43%: the case of a word is a strong hint the hash throws
away. With case_features = K, the last K columns of a word's row hold the ternary vector of its
case class; lower-case and case-less words (digits, punctuation, scripts without case) and tags
get zeros there.

The case class of a word, from its decoded code points (before lower-casing), where a code point
"changes" when chr(cp).lower() != chr(cp) (the projection's own lower-casing rule):
  0 NONE     no code point changes                       "call", "7:45", "?"
  1 INITIAL  the first changes and no other does         "Nicholas", "I", "U2"
  2 UPPER    two or more code points, every one changes  "NPR", "UK"
  3 MIXED    any other word with a change                "iPhone", "McDonald", "UK2"
Class c > 0 has the ternary vector of the bytes CLASS_KEYS[c] hashed with CASE_SEED (the same
MurmurHash64A and expansion as a whole token, hashing.ternary_features). The generated C computes
the class in one more pass over the word (pq_lower for code points >= 0x80) and copies the row
from a table of the three vectors (emit_c.py); docs/projection.md.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .hashing import ternary_features

NONE, INITIAL, UPPER, MIXED = 0, 1, 2, 3
CLASS_KEYS = (b"", b"initial", b"upper", b"mixed")
# Seed of the case-class hashes: the 64-bit value of the ASCII text "pq-case!".
CASE_SEED = int.from_bytes(b"pq-case!", "big")


@lru_cache(maxsize=1 << 16)
def case_class(word: str) -> int:
    """The case class of a word's decoded text (see the module docstring). Memoised: training
    asks for it at every occurrence of every word in every batch (projection.reference.token_keys)."""
    ascii = word.isascii()
    changes = [("A" <= ch <= "Z") if ascii else ch.lower() != ch for ch in word]
    n_changed = sum(changes)
    if n_changed == 0:
        return NONE
    if changes[0] and n_changed == 1:
        return INITIAL
    if len(word) >= 2 and n_changed == len(word):
        return UPPER
    return MIXED


@lru_cache(maxsize=16)
def case_rows(width: int) -> np.ndarray:
    """int8[4, width]: the case columns of each class (row 0, NONE, is zeros). Read-only."""
    rows = np.zeros((len(CLASS_KEYS), width), dtype=np.int8)
    rows[1:] = ternary_features(list(CLASS_KEYS[1:]), width, seed=CASE_SEED)
    rows.setflags(write=False)
    return rows
