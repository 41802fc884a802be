"""An exponential moving average of a model's parameters (`pqcompile train --ema DECAY`).

After every optimiser step the average moves towards the live weights:
    avg <- d * avg + (1 - d) * w,   d = min(DECAY, (1 + n) / (10 + n)) at update n (1-based)
(the short ramp lets the average forget the random initialisation quickly). Dev evaluation, the
best/ weights and the int8 model are those of the average; training continues on the live
weights. Buffers (the moving-average activation ranges of QAT) are the live model's.

The average is part of the checkpoint (checkpoint/ema.safetensors plus its update count in
state.json), so a resumed run continues exactly as an uninterrupted one."""
from __future__ import annotations

from contextlib import contextmanager

import torch

from ..errors import PqError

EMA_FILE = "ema.safetensors"


class WeightAverage:
    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0 < decay < 1:
            raise PqError(f"--ema must be in (0, 1), got {decay}")
        self.decay = decay
        self.named = [(name, p) for name, p in model.named_parameters()]
        self.average = [p.detach().clone() for _, p in self.named]
        self.updates = 0

    def update(self) -> None:
        """Move the average after one optimiser step."""
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        with torch.no_grad():
            torch._foreach_lerp_(self.average, [p.detach() for _, p in self.named], 1.0 - d)

    @contextmanager
    def swapped_in(self):
        """The model holds the averaged weights inside the block, its live weights again after."""
        live = [p.detach().clone() for _, p in self.named]
        with torch.no_grad():
            for (_, p), a in zip(self.named, self.average):
                p.copy_(a)
        try:
            yield
        finally:
            with torch.no_grad():
                for (_, p), w in zip(self.named, live):
                    p.copy_(w)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The average by parameter name (for the checkpoint)."""
        return {name: a.contiguous().clone() for (name, _), a in zip(self.named, self.average)}

    def load(self, tensors: dict[str, torch.Tensor], updates: int) -> None:
        names = [name for name, _ in self.named]
        if sorted(tensors) != sorted(names):
            raise PqError("checkpoint/ema.safetensors does not match the model's parameters")
        self.average = [tensors[name].clone() for name in names]
        self.updates = int(updates)
