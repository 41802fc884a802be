"""`pqcompile train --lexicon FILE`: an auxiliary loss that teaches the bottleneck what the
teacher knows about single words (distill/lexicon.py).

Each update draws `batch` lexicon words, projects each as a one-token text, runs the student's
bottleneck on it (the same QAT layer the network uses, without observing its activation range,
which stays the utterances'), maps the result with a training-only linear head to the teacher's
hidden size and adds weight x the mean squared error against the word's teacher vector
(standardised per dimension). The head is not part of the model: nothing of it reaches the int8
model or the device. Draws are seeded by (seed, epoch, update), so a resumed run is exact.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..distill.lexicon import load_lexicon, single_token_words
from ..errors import PqError
from ..projection import ProjectionSpec, project, tokenize
from ..quant.qat import requant

HEAD_FILE = "lexicon_head.safetensors"
STREAM = 7      # the generator stream of lexicon draws: (seed, epoch, update, STREAM)


class LexiconLoss(nn.Module):
    def __init__(self, path: str, spec: ProjectionSpec, bottleneck: int, weight: float, batch: int, seed: int):
        super().__init__()
        words, vectors, _ = load_lexicon(path)
        index = {w: i for i, w in enumerate(words)}
        kept = single_token_words(words, spec)
        if not kept:
            raise PqError(f"{path}: no lexicon word is a single token of the run's projection")
        self.n_words, self.n_lexicon = len(kept), len(words)
        target = vectors[[index[w] for w in kept]]
        target = (target - target.mean(0)) / (target.std(0) + 1e-6)
        proj = project(None, spec, tokens=[tokenize(w, spec) for w in kept])
        self.register_buffer("features", torch.from_numpy(np.ascontiguousarray(proj.features[:, 0, :])),
                             persistent=False)
        self.register_buffer("targets", torch.from_numpy(target.astype(np.float32)), persistent=False)
        with torch.random.fork_rng():          # the head's start depends on the seed only
            torch.manual_seed(seed)
            self.head = nn.Linear(bottleneck, target.shape[1])
        self.weight, self.batch, self.seed = weight, min(batch, self.n_words), seed

    def draw(self, epoch: int, update: int) -> np.ndarray:
        rng = np.random.default_rng((self.seed, epoch, update, STREAM))
        return rng.choice(self.n_words, size=self.batch, replace=False)

    def forward(self, model: nn.Module, epoch: int, update: int) -> torch.Tensor:
        """weight x MSE(head(bottleneck(word)), teacher vector) over this update's words."""
        rows = torch.from_numpy(self.draw(epoch, update))
        x = self.features.index_select(0, rows).float()
        layer = model.bottleneck
        one = torch.ones((), device=x.device)
        w, b, s = layer.int_params(one)
        y = requant(x @ w + b, s, layer.lo, layer.hi, layer.quantize) * layer.out_scale()
        return self.weight * F.mse_loss(self.head(y), self.targets.index_select(0, rows))
