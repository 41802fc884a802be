"""Float intent and slot heads shared by the baselines (the pQRNN has their quantised twin):
attention pooling (one-unit dense, softmax over valid positions, weighted sum) -> intent dense,
and a per-token slot dense."""
from __future__ import annotations

import torch
from torch import nn


class Heads(nn.Module):
    def __init__(self, d_model: int, n_intents: int, n_slot_tags: int):
        super().__init__()
        self.attention = nn.Linear(d_model, 1)
        self.intent = nn.Linear(d_model, n_intents)
        self.slot = nn.Linear(d_model, n_slot_tags)

    def forward(self, encoded: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """encoded [B, T, D], mask bool [B, T] -> (intent logits [B, n_intents], slot logits [B, T, S])."""
        score = self.attention(encoded).squeeze(-1).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(score, dim=1)
        pooled = torch.einsum("bt,btd->bd", weights, encoded)
        return self.intent(pooled), self.slot(encoded)
