"""The token hash: MurmurHash64A-style mixing of a token's UTF-8 bytes, then ternary features.

Vectorised over many tokens at once with numpy uint64 arithmetic (wrapping, like C's uint64_t).

    m = 0xc6a4a7935bd1e995, r = 47, h = seed ^ (len * m)    (seed: SEED for tokens, NGRAM_SEED for n-grams)
    for each full 8-byte little-endian block k:  k *= m; k ^= k >> r; k *= m; h ^= k; h *= m
    if len % 8:  h ^= (the remaining bytes, little-endian, zero-extended); h *= m
    h ^= h >> r; h *= m; h ^= h >> r                       -> hash word 0
    word i >= 1 = splitmix64_finalize(h + i * 0x9e3779b97f4a7835)   (remixing, no new seed)
    feature j = TERNARY[(word[j // 32] >> (2 * (j % 32))) & 3],  TERNARY = {0, +1, -1, 0}
"""
from __future__ import annotations

import numpy as np

MURMUR_M = 0xC6A4A7935BD1E995
MURMUR_R = 47
SEED = 0
# Seed of the character n-gram hashes (spec.char_ngrams), so an n-gram never shares a hash with the
# whole token of the same bytes: the 64-bit value of the ASCII text "pq-ngram".
NGRAM_SEED = int.from_bytes(b"pq-ngram", "big")
GOLDEN_GAMMA = 0x9E3779B97F4A7835
SPLITMIX_C1 = 0xBF58476D1CE4E5B9
SPLITMIX_C2 = 0x94D049BB133111EB
SPLITMIX_SHIFTS = (30, 27, 31)
TERNARY = np.array([0, 1, -1, 0], dtype=np.int8)

_U64 = np.uint64
_M = _U64(MURMUR_M)
_R = _U64(MURMUR_R)


def _pack_blocks(tokens: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Tokens as a zero-padded [n, n_words] little-endian uint64 matrix, plus their lengths."""
    lengths = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
    n_words = int(lengths.max() + 7) // 8 if len(tokens) else 0
    n_words = max(n_words, 1)
    buf = np.zeros((len(tokens), n_words * 8), dtype=np.uint8)
    flat = np.frombuffer(b"".join(tokens), dtype=np.uint8)
    if flat.size:
        rows = np.repeat(np.arange(len(tokens)), lengths)
        starts = np.cumsum(lengths) - lengths
        cols = np.arange(flat.size) - np.repeat(starts, lengths)
        buf[rows, cols] = flat
    return buf.view("<u8").reshape(len(tokens), n_words), lengths


def murmur64(tokens: list[bytes], seed: int = SEED) -> np.ndarray:
    """Hash word 0 of each token (uint64[n])."""
    if not tokens:
        return np.zeros(0, dtype=np.uint64)
    blocks, lengths = _pack_blocks(tokens)
    ulen = lengths.astype(np.uint64)
    with np.errstate(over="ignore"):
        h = _U64(seed) ^ (ulen * _M)
        full = lengths // 8
        for b in range(blocks.shape[1]):
            k = blocks[:, b] * _M
            k ^= k >> _R
            k *= _M
            mixed = (h ^ k) * _M
            h = np.where(b < full, mixed, h)
        rem = lengths % 8
        has_tail = rem > 0
        tail_idx = np.minimum(full, blocks.shape[1] - 1)
        tail = blocks[np.arange(len(tokens)), tail_idx]
        h = np.where(has_tail, (h ^ tail) * _M, h)
        h ^= h >> _R
        h *= _M
        h ^= h >> _R
    return h


def hash_words(tokens: list[bytes], n_words: int, seed: int = SEED) -> np.ndarray:
    """All hash words of each token: uint64[n, n_words]."""
    h = murmur64(tokens, seed)
    out = np.empty((len(tokens), n_words), dtype=np.uint64)
    if n_words == 0 or not len(tokens):
        return out
    out[:, 0] = h
    with np.errstate(over="ignore"):
        s1, s2, s3 = (_U64(s) for s in SPLITMIX_SHIFTS)
        for i in range(1, n_words):
            x = h + _U64((i * GOLDEN_GAMMA) & 0xFFFFFFFFFFFFFFFF)
            x = (x ^ (x >> s1)) * _U64(SPLITMIX_C1)
            x = (x ^ (x >> s2)) * _U64(SPLITMIX_C2)
            out[:, i] = x ^ (x >> s3)
    return out


def _byte_table() -> np.ndarray:
    """int8[256, 4]: the four ternary features encoded by one byte of a hash word (low bits first)."""
    v = np.arange(256)
    return np.stack([TERNARY[(v >> (2 * i)) & 3] for i in range(4)], axis=1).astype(np.int8)


_BYTE_TABLE = _byte_table()
_BYTE_TABLE_U32 = np.ascontiguousarray(_BYTE_TABLE).view(np.uint32)[:, 0]   # the 4 features as one word


def ternary_features(tokens: list[bytes], feature_size: int, seed: int = SEED) -> np.ndarray:
    """int8[n, feature_size] with values in {-1, 0, +1}. Feature j of word w is bits 2j..2j+1 of w,
    so each little-endian byte of a word holds four consecutive features: one table lookup per byte."""
    n_words = (feature_size + 31) // 32
    words = hash_words(tokens, n_words, seed).astype("<u8", copy=False)
    codes = np.ascontiguousarray(words).view(np.uint8)          # [n, n_words * 8]
    features = _BYTE_TABLE_U32[codes].view(np.int8)                # [n, n_words * 32]
    return features[:, :feature_size]


def murmur64_scalar(token: bytes, seed: int = SEED) -> int:
    """Plain-Python hash word 0, a readable second implementation used by the tests."""
    mask = (1 << 64) - 1
    h = (seed ^ (len(token) * MURMUR_M)) & mask
    n_full = len(token) // 8
    for i in range(n_full):
        k = int.from_bytes(token[8 * i:8 * i + 8], "little")
        k = (k * MURMUR_M) & mask
        k ^= k >> MURMUR_R
        k = (k * MURMUR_M) & mask
        h = ((h ^ k) * MURMUR_M) & mask
    tail = token[8 * n_full:]
    if tail:
        h = ((h ^ int.from_bytes(tail, "little")) * MURMUR_M) & mask
    h ^= h >> MURMUR_R
    h = (h * MURMUR_M) & mask
    h ^= h >> MURMUR_R
    return h
