"""Batch: what every student model's forward reads (projection features, mask, token strings)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch

from ..projection import Projection, ProjectionSpec, Token, project


@dataclass
class Batch:
    """features: projection features [B, T, F] (int8 ternary, any dtype accepted); mask: bool [B, T]
    (t < L); tokens: each utterance's hashed token strings (the projection's own tokens, used by
    the word-embedding baseline)."""

    features: torch.Tensor
    mask: torch.Tensor
    tokens: list[list[str]]

    @property
    def lengths(self) -> torch.Tensor:
        return self.mask.sum(dim=1)

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(self.features.to(device), self.mask.to(device), self.tokens)


def token_strings(tokens: list[Token]) -> list[str]:
    """The strings a word vocabulary is built from: exactly the bytes the projection hashes."""
    return [t.hashed.decode("utf-8", errors="replace") for t in tokens]


def batch_from_projection(proj: Projection) -> Batch:
    return Batch(torch.from_numpy(np.ascontiguousarray(proj.features)), torch.from_numpy(proj.mask),
                 [token_strings(toks) for toks in proj.tokens])


def make_batch(texts: Iterable[str | bytes], spec: ProjectionSpec,
               tokens: list[list[Token]] | None = None) -> Batch:
    """Project texts (or given, e.g. augmented, tokenisations) into a Batch."""
    return batch_from_projection(project(list(texts), spec, tokens=tokens))
