"""The Python reference projection: the training featuriser and the oracle the C code must match."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from .hashing import ternary_features
from .spec import DEFAULT_SPEC, ProjectionSpec
from .text import Token, tokenize


@dataclass
class Projection:
    """features int8[batch, max_tokens, feature_size] (zero rows past each utterance's tokens),
    mask bool[batch, max_tokens], tokens: each utterance's Token list (spans for slot decoding)."""

    features: np.ndarray
    mask: np.ndarray
    tokens: list[list[Token]]

    @property
    def lengths(self) -> np.ndarray:
        return self.mask.sum(axis=1).astype(np.int32)


class FeatureCache:
    """Token bytes -> feature row, so each distinct token is hashed once per spec.
    Bounded: it is emptied when it reaches max_entries."""

    def __init__(self, feature_size: int, max_entries: int = 200_000):
        self.feature_size = feature_size
        self.max_entries = max_entries
        self._index: dict[bytes, int] = {}
        self._rows = np.zeros((1024, feature_size), dtype=np.int8)

    def rows_for(self, keys: Sequence[bytes]) -> np.ndarray:
        """Row indices (into self.rows) for each key, hashing the ones not seen yet."""
        new = [k for k in dict.fromkeys(keys) if k not in self._index]
        if len(self._index) + len(new) > self.max_entries:
            self._index.clear()
            new = list(dict.fromkeys(keys))
        if new:
            start = len(self._index)
            need = start + len(new)
            if need > len(self._rows):
                grown = np.zeros((max(need, 2 * len(self._rows)), self.feature_size), dtype=np.int8)
                grown[:start] = self._rows[:start]
                self._rows = grown
            self._rows[start:need] = ternary_features(new, self.feature_size)
            for i, k in enumerate(new):
                self._index[k] = start + i
        idx = self._index
        return np.fromiter((idx[k] for k in keys), dtype=np.intp, count=len(keys))

    @property
    def rows(self) -> np.ndarray:
        return self._rows


_CACHES: dict[int, FeatureCache] = {}


def _cache_for(spec: ProjectionSpec) -> FeatureCache:
    # The features of a token depend only on its hashed bytes and feature_size.
    cache = _CACHES.get(spec.feature_size)
    if cache is None:
        cache = _CACHES[spec.feature_size] = FeatureCache(spec.feature_size)
    return cache


def project(texts: Iterable[str | bytes], spec: ProjectionSpec = DEFAULT_SPEC,
            tokens: list[list[Token]] | None = None) -> Projection:
    """Project a batch of utterances (str or raw bytes). Pass `tokens` to reuse a tokenisation
    (e.g. augmented tokens); otherwise the texts are tokenised with `tokenize`."""
    if tokens is None:
        tokens = [tokenize(t, spec) for t in texts]
    batch = len(tokens)
    T, F = spec.max_tokens, spec.feature_size
    keys = [tok.hashed for toks in tokens for tok in toks]
    lengths = np.fromiter((len(t) for t in tokens), dtype=np.intp, count=batch)
    if lengths.size and lengths.max() > T:
        raise ValueError(f"an utterance has {lengths.max()} tokens, more than max_tokens={T}")
    features = np.zeros((batch, T, F), dtype=np.int8)
    mask = np.zeros((batch, T), dtype=bool)
    if keys:
        cache = _cache_for(spec)
        rows = cache.rows_for(keys)
        b_idx = np.repeat(np.arange(batch), lengths)
        t_idx = np.arange(len(keys)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        features[b_idx, t_idx] = cache.rows[rows]
        mask[b_idx, t_idx] = True
    return Projection(features, mask, tokens)


def project_one(text: str | bytes, spec: ProjectionSpec = DEFAULT_SPEC) -> Projection:
    return project([text], spec)
