"""Teacher inputs for a batch of texts, and where each projection token sits among the sub-words.

The teacher's slot head reads the FIRST sub-word of each projection token, so teacher and student
label exactly the same tokens (the projection's, from `pqcompile.projection.tokenize`). The fast
tokenizer's offset mapping gives each sub-word's character span in the text; a projection token
[s, e) takes the first sub-word starting inside it (or the first one overlapping it). Tag tokens
(BOS/EOS/empty), and words cut off by the teacher's max_length, read position 0 ([CLS]): their
gold tag is always O, or they are beyond what the teacher sees.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..projection import ProjectionSpec, Token, tokenize


@dataclass
class Batch:
    """input_ids/attention_mask [B, L]; first_subword [B, T] (position of each projection
    token's first sub-word); token_mask [B, T] (True on real projection tokens); tokens: the
    projection tokens of each text."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    first_subword: torch.Tensor
    token_mask: torch.Tensor
    tokens: list[list[Token]]


def first_subwords(tokens: list[Token], offsets: list[tuple[int, int]], special: list[int]) -> list[int]:
    """For each projection token, the index of its first sub-word in `offsets` (0 if none).
    special[i] is 1 for [CLS]/[SEP]/padding positions, which never match."""
    subwords = [(i, s, e) for i, ((s, e), sp) in enumerate(zip(offsets, special)) if not sp and e > s]
    out = []
    j = 0
    for tok in tokens:
        if tok.is_tag or tok.char_end <= tok.char_start:
            out.append(0)
            continue
        while j < len(subwords) and subwords[j][2] <= tok.char_start:
            j += 1   # sub-words ending before this token (tokens are in order, so never revisited)
        if j < len(subwords) and subwords[j][1] < tok.char_end:
            out.append(subwords[j][0])
        else:
            out.append(0)
    return out


def encode_batch(texts: list[str], tokenizer, spec: ProjectionSpec, max_length: int) -> Batch:
    tokens = [tokenize(t, spec) for t in texts]
    enc = tokenizer(texts, padding=True, truncation=True, max_length=max_length,
                    return_offsets_mapping=True, return_special_tokens_mask=True)
    width = max(len(t) for t in tokens)
    first = torch.zeros(len(texts), width, dtype=torch.long)
    mask = torch.zeros(len(texts), width, dtype=torch.bool)
    for b, toks in enumerate(tokens):
        idx = first_subwords(toks, enc["offset_mapping"][b], enc["special_tokens_mask"][b])
        first[b, : len(idx)] = torch.tensor(idx, dtype=torch.long)
        mask[b, : len(idx)] = True
    return Batch(torch.tensor(enc["input_ids"]), torch.tensor(enc["attention_mask"]), first, mask, tokens)
