"""Baselines with the pQRNN's heads and interface (`forward(batch) -> (intent, slot logits)`):

- BiLSTMTagger: a trainable word-embedding table over the projection's own tokens (their hashed
  strings; index 0 = padding, 1 = UNK), a bidirectional LSTM, the shared heads.
- TransformerTagger: a small transformer encoder over the projection features (a dense input
  layer instead of an embedding table, so its size can match the pQRNN's), learned positions.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

import torch
from torch import nn

from ..errors import PqError
from .batch import Batch
from .checks import check_positive_ints
from .heads import Heads

PAD, UNK = "<pad>", "<unk>"


def build_vocab(token_lists: Iterable[list[str]], min_count: int = 1, max_size: int | None = None) -> list[str]:
    """Vocabulary from training token strings: [PAD, UNK, most frequent first (ties by string)]."""
    counts = Counter(t for toks in token_lists for t in toks)
    words = sorted((w for w, c in counts.items() if c >= min_count and w not in (PAD, UNK)),
                   key=lambda w: (-counts[w], w))
    return [PAD, UNK] + words[:max_size]


@dataclass
class BiLSTMConfig:
    embedding: int = 128
    hidden: int = 128
    layers: int = 1
    dropout: float = 0.1
    vocab: list[str] = field(default_factory=list)   # filled from the training data

    def __post_init__(self) -> None:
        check_positive_ints("bilstm", self, ("embedding", "hidden", "layers"))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class BiLSTMTagger(nn.Module):
    kind = "bilstm"

    def __init__(self, config: BiLSTMConfig, n_intents: int, n_slot_tags: int):
        super().__init__()
        if len(config.vocab) < 2 or config.vocab[:2] != [PAD, UNK]:
            raise PqError("bilstm needs a vocabulary built from the training data (build_vocab)")
        self.config, self.n_intents, self.n_slot_tags = config, n_intents, n_slot_tags
        self.index = {w: i for i, w in enumerate(config.vocab)}
        self.embedding = nn.Embedding(len(config.vocab), config.embedding, padding_idx=0)
        self.lstm = nn.LSTM(config.embedding, config.hidden, num_layers=config.layers, batch_first=True,
                            bidirectional=True, dropout=config.dropout if config.layers > 1 else 0.0)
        self.dropout = nn.Dropout(config.dropout)
        self.heads = Heads(2 * config.hidden, n_intents, n_slot_tags)

    def token_ids(self, batch: Batch) -> torch.Tensor:
        B, T = batch.mask.shape
        ids = torch.zeros(B, T, dtype=torch.long)
        for b, toks in enumerate(batch.tokens):
            ids[b, :len(toks)] = torch.tensor([self.index.get(t, 1) for t in toks[:T]], dtype=torch.long)
        return ids.to(batch.mask.device)

    def forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        mask = batch.mask.bool()
        x = self.dropout(self.embedding(self.token_ids(batch)))
        lengths = mask.sum(dim=1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=mask.shape[1])
        return self.heads(self.dropout(out), mask)


@dataclass
class TransformerConfig:
    feature_size: int = 512
    d_model: int = 128
    heads: int = 4
    ff: int = 256
    layers: int = 2
    max_tokens: int = 32
    dropout: float = 0.1

    def __post_init__(self) -> None:
        check_positive_ints("transformer", self, ("feature_size", "d_model", "heads", "ff", "layers", "max_tokens"))
        if self.d_model % self.heads:
            raise PqError(f"transformer config: d_model {self.d_model} is not a multiple of heads {self.heads}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class TransformerTagger(nn.Module):
    kind = "transformer"

    def __init__(self, config: TransformerConfig, n_intents: int, n_slot_tags: int):
        super().__init__()
        self.config, self.n_intents, self.n_slot_tags = config, n_intents, n_slot_tags
        c = config
        self.input = nn.Linear(c.feature_size, c.d_model)
        self.position = nn.Parameter(torch.randn(c.max_tokens, c.d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(c.d_model, c.heads, c.ff, c.dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, c.layers, enable_nested_tensor=False)
        self.heads = Heads(c.d_model, n_intents, n_slot_tags)

    def forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        mask = batch.mask.bool()
        T = mask.shape[1]
        if T > self.config.max_tokens or batch.features.shape[-1] != self.config.feature_size:
            raise PqError(f"batch [T={T}, F={batch.features.shape[-1]}] does not fit the transformer "
                          f"(max_tokens {self.config.max_tokens}, feature_size {self.config.feature_size})")
        x = torch.relu(self.input(batch.features.float())) + self.position[:T]
        out = self.encoder(x, src_key_padding_mask=~mask)
        return self.heads(out * mask[..., None], mask)
