"""The Python reference projection: the training featuriser and the oracle the C code must match."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from .case import case_class, case_rows
from .hashing import ternary_features
from .ngrams import ngram_features
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


def token_features(keys: Sequence[bytes | tuple], spec: ProjectionSpec) -> np.ndarray:
    """int8[len(keys), feature_size]: the feature row of each token, given by its key (token_keys):
    a word's hashed bytes, or with case_features a (hashed bytes, case class) pair; a tag's hashed
    bytes in a 1-tuple (a tag gets no n-gram or case features). Columns [0, token_features) hash
    the whole token, the next ngram_features sum its n-grams, the last case_features hold its case
    class (case.py)."""
    hashed = [k if isinstance(k, bytes) else k[0] for k in keys]
    if not (spec.char_ngrams or spec.case_features):
        return ternary_features(hashed, spec.feature_size)
    rows = np.zeros((len(keys), spec.feature_size), dtype=np.int8)
    rows[:, :spec.token_features] = ternary_features(hashed, spec.token_features)
    words = [i for i, k in enumerate(keys) if isinstance(k, bytes) or len(k) == 2]
    if words and spec.char_ngrams:
        rows[words, spec.token_features:spec.case_start] = ngram_features(
            [hashed[i] for i in words], spec.char_ngrams, spec.ngram_features)
    if words and spec.case_features:
        classes = np.fromiter((keys[i][1] for i in words), dtype=np.intp, count=len(words))
        rows[words, spec.case_start:] = case_rows(spec.case_features)[classes]
    return rows


def token_keys(tokens: list[list[Token]], spec: ProjectionSpec) -> list:
    """The cache key of every token: its hashed bytes; with case_features a word's is the pair
    (hashed bytes, case class of its text); a tag's are wrapped in a 1-tuple when the spec has
    n-grams or case columns (a tag gets neither, so it may not share a row with a word of the
    same bytes)."""
    if spec.case_features:
        return [(tok.hashed,) if tok.is_tag else (tok.hashed, case_class(tok.text))
                for toks in tokens for tok in toks]
    if not spec.char_ngrams:
        return [tok.hashed for toks in tokens for tok in toks]
    return [(tok.hashed,) if tok.is_tag else tok.hashed for toks in tokens for tok in toks]


class FeatureCache:
    """Token key (see token_keys) -> feature row, so each distinct token is hashed once per spec.
    Bounded: it is emptied when it reaches max_entries."""

    def __init__(self, spec: ProjectionSpec, max_entries: int = 200_000):
        self.spec = spec
        self.feature_size = spec.feature_size
        self.max_entries = max_entries
        self._index: dict[bytes, int] = {}
        self._rows = np.zeros((1024, spec.feature_size), dtype=np.int8)

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
            self._rows[start:need] = token_features(new, self.spec)
            for i, k in enumerate(new):
                self._index[k] = start + i
        idx = self._index
        return np.fromiter((idx[k] for k in keys), dtype=np.intp, count=len(keys))

    @property
    def rows(self) -> np.ndarray:
        return self._rows


_CACHES: dict[tuple, FeatureCache] = {}


def _cache_for(spec: ProjectionSpec) -> FeatureCache:
    # The features of a token depend only on its key (hashed bytes, tag or not) and these fields.
    key = (spec.feature_size, spec.char_ngrams, spec.ngram_features, spec.case_features)
    cache = _CACHES.get(key)
    if cache is None:
        cache = _CACHES[key] = FeatureCache(spec)
    return cache


def project(texts: Iterable[str | bytes], spec: ProjectionSpec = DEFAULT_SPEC,
            tokens: list[list[Token]] | None = None) -> Projection:
    """Project a batch of utterances (str or raw bytes). Pass `tokens` to reuse a tokenisation
    (e.g. augmented tokens); otherwise the texts are tokenised with `tokenize`."""
    if tokens is None:
        tokens = [tokenize(t, spec) for t in texts]
    batch = len(tokens)
    T, F = spec.max_tokens, spec.feature_size
    keys = token_keys(tokens, spec)
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
