"""Packed rows: a batch's valid positions (t < L) only, utterance after utterance.

The pQRNN encoder works on these rows instead of the padded [B, T] grid: every per-position layer
(bottleneck, gate layers) then skips the padding, which is about half of a batch of MTOP
utterances. Positions t >= L are exactly zero in the padded encoder output, so unpacking with
zeros gives the same tensor.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..errors import PqError


@dataclass
class Packing:
    """rows: int64 [N], the flat index b * T + t of each valid position, b-major; offsets: int64
    [B + 1], utterance b's rows are offsets[b] .. offsets[b+1] - 1; lengths: int64 [B]."""

    rows: torch.Tensor
    offsets: torch.Tensor
    lengths: torch.Tensor
    batch: int
    steps: int
    _windows: dict = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, mask: torch.Tensor) -> "Packing":
        """From a prefix mask bool [B, T] (t < L)."""
        mask = mask.bool()
        B, T = mask.shape
        lengths = mask.sum(dim=1)
        if not torch.equal(mask, torch.arange(T, device=mask.device)[None] < lengths[:, None]):
            raise PqError("a batch mask must mark each utterance's first L positions (t < L)")
        offsets = torch.zeros(B + 1, dtype=torch.int64, device=mask.device)
        torch.cumsum(lengths, 0, out=offsets[1:])
        rows = mask.reshape(-1).nonzero()[:, 0]
        return cls(rows, offsets, lengths, B, T)

    @property
    def n(self) -> int:
        return int(self.rows.shape[0])

    def mask(self) -> torch.Tensor:
        """bool [B, T]: t < L."""
        return torch.arange(self.steps, device=self.rows.device)[None] < self.lengths[:, None]

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, ...] -> [N, ...] (the valid positions)."""
        return x.reshape(self.batch * self.steps, *x.shape[2:]).index_select(0, self.rows)

    def unpack(self, x: torch.Tensor, fill: torch.Tensor | None = None) -> torch.Tensor:
        """[N, ...] -> [B, T, ...] with zeros (or the row `fill`) at t >= L."""
        shape = (self.batch * self.steps, *x.shape[1:])
        base = x.new_zeros(shape) if fill is None else fill.expand(shape)
        return base.index_copy(0, self.rows, x).view(self.batch, self.steps, *x.shape[1:])

    def window_rows(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Row indices [N, k] of the forward window (row of t-j) and the backward window (t+j);
        N (one past the last row) where that position is outside the utterance. Computed once per k."""
        if k not in self._windows:
            self._windows[k] = self._window_rows(k)
        return self._windows[k]

    def _window_rows(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        n, device = self.n, self.rows.device
        r = torch.arange(n, device=device)
        b = torch.repeat_interleave(torch.arange(self.batch, device=device), self.lengths)
        t = r - self.offsets[b]
        j = torch.arange(k, device=device)
        fwd = torch.where(t[:, None] - j >= 0, r[:, None] - j, n)
        bwd = torch.where(t[:, None] + j < self.lengths[b][:, None], r[:, None] + j, n)
        return fwd, bwd
