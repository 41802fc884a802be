"""Examples -> model inputs: label inventories, projection tokens with tag ids, and batches.

The projection runs on the fly (the Python reference), with character distortion in training.
Gold slot tags live on the projection's own tokens (`datasets.slot_tags`); a training example
whose gold frame cannot be represented on them is left out of training (and counted), while an
evaluation example keeps its gold frame, so such examples count as errors there, honestly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..datasets import Example, slot_tags
from ..errors import PqError
from ..model.batch import Batch, batch_from_projection
from ..projection import Projection, ProjectionSpec, Token, project, tokenize
from .augment import UNSEEN_STREAM, distort_tokens, example_rng, simulate_unseen_words

IGNORE = -100   # target id for positions past an utterance's tokens (torch cross_entropy's default)


@dataclass
class EncodedSet:
    """Examples with their projection tokens and targets. tag_ids[i] is None when example i's
    gold frame cannot be represented on its tokens."""

    examples: list[Example]
    tokens: list[list[Token]]
    intent_ids: np.ndarray
    tag_ids: list[np.ndarray | None]

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def n_unrepresentable(self) -> int:
        return sum(t is None for t in self.tag_ids)

    def representable(self) -> "EncodedSet":
        keep = [i for i, t in enumerate(self.tag_ids) if t is not None]
        return EncodedSet([self.examples[i] for i in keep], [self.tokens[i] for i in keep],
                          self.intent_ids[keep], [self.tag_ids[i] for i in keep])


def encode(examples: list[Example], spec: ProjectionSpec, intent_labels: list[str],
           slot_labels: list[str], strict: bool = True) -> EncodedSet:
    """Tokenise and map labels to ids. A label the inventory lacks is an error naming it; with
    strict=False (evaluation: the model simply cannot get that example right) its intent id is
    IGNORE and its tags None."""
    intent_index = {l: i for i, l in enumerate(intent_labels)}
    tag_index = {l: i for i, l in enumerate(slot_labels)}
    tokens, intents, tags = [], [], []
    for ex in examples:
        known_slots = all(f"B-{label}" in tag_index for label, _, _ in ex.spans)
        if strict and ex.intent not in intent_index:
            raise PqError(f"{ex.where}: intent {ex.intent!r} is not one the model knows "
                          f"({len(intent_labels)} intents)")
        if strict and not known_slots:
            label = next(l for l, _, _ in ex.spans if f"B-{l}" not in tag_index)
            raise PqError(f"{ex.where}: slot label {label!r} is not one the model knows")
        toks = tokenize(ex.text, spec)
        bio = slot_tags(ex, spec, toks) if known_slots else None
        tokens.append(toks)
        intents.append(intent_index.get(ex.intent, IGNORE))
        tags.append(None if bio is None else np.array([tag_index[t] for t in bio], dtype=np.int64))
    return EncodedSet(list(examples), tokens, np.array(intents, dtype=np.int64), tags)


@dataclass
class TrainBatch:
    inputs: Batch              # what the model reads: features, mask, token strings
    intents: torch.Tensor      # int64 [B]
    tags: torch.Tensor         # int64 [B, T], IGNORE past each utterance's tokens (and where unknown)
    indices: np.ndarray        # dataset indices of the rows


def make_batch(data: EncodedSet, indices, spec: ProjectionSpec, distortion: float = 0.0,
               seed: int = 0, epoch: int = 0, unseen_words: float = 0.0) -> TrainBatch:
    """Project the rows `indices` of data; with distortion > 0 each example's words are distorted
    by a generator seeded with (seed, epoch, index), and with unseen_words > 0 words get random
    whole-token features (augment.simulate_unseen_words; generator (seed, epoch, index, 1)). Time
    steps past the batch's longest utterance are cut off: every model ignores them (masked), and
    the recurrence is much cheaper without."""
    indices = np.asarray(indices, dtype=np.int64)
    toks = [data.tokens[i] for i in indices]
    if distortion > 0:
        toks = [distort_tokens(t, distortion, example_rng(seed, epoch, int(i))) for t, i in zip(toks, indices)]
    p = project(None, spec, tokens=toks)
    if unseen_words > 0:
        simulate_unseen_words(p.features, toks, spec.token_features, unseen_words,
                              [example_rng(seed, epoch, int(i), UNSEEN_STREAM) for i in indices])
    T = max(len(t) for t in toks)
    p = Projection(p.features[:, :T], p.mask[:, :T], p.tokens)
    tags = np.full(p.mask.shape, IGNORE, dtype=np.int64)
    for row, i in enumerate(indices):
        t = data.tag_ids[i]
        if t is not None:
            tags[row, : len(t)] = t
    return TrainBatch(batch_from_projection(p), torch.from_numpy(data.intent_ids[indices]),
                      torch.from_numpy(tags), indices)
