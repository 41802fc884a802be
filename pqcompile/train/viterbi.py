"""BIO-constrained Viterbi over raw slot logits: the slot decoding rule of decode.py and of the device.

The decoded tags of an utterance's tokens are the sequence that maximises the SUM OF THE RAW
SLOT LOGITS (logits[t, tag] summed over the tokens, no softmax) subject to:
  - an I-X tag may only follow B-X or I-X (the same X); the first token cannot be I-X;
  - a tag token (Token.is_tag: BOS, EOS, the empty-utterance marker) is O, whatever its logits,
    and so ends a slot: the token after it is constrained like a first token.
  - with an allowed-tag mask (decode.py: the intent's slot labels, when the model has
    intent_slots), a tag that is not allowed is absent at every token, exactly like I-X at a
    segment's start: no valid sequence contains it. O is always allowed, so a valid sequence exists.
Raw logits make the rule scale free: the int8 model's integer logits and the float QAT model's
(the same integers times one positive scale) give the same path, and the device sums int8
logits exactly in int32.

Since a tag token is O on every path, the word tokens between tag tokens form independent
segments; each is decoded on its own, and the tag tokens' logits never count.

Ties (exact equality of sums) follow one rule, which pqrnn_main.c implements too:
  - at the segment's last token, the lowest tag index with the best score wins;
  - each backpointer is the lowest predecessor index among those with the best score.
Equivalently: among all best-scoring valid sequences, the one that is smallest when compared
tag index by tag index from the LAST token backwards. Scores are accumulated in float64, which
is exact for integer logits (the device's int32 sums are the same numbers).

Implementation per token t of a segment, with S[t, j] the best score of a valid sequence ending
in tag j at t (absent if none):
  - S[0, j] = logits[0, j] for every allowed j that is not I-X; I-X is absent;
  - a tag that is not I-X may follow any tag: its predecessor is g, the lowest index with the
    largest S[t-1, .] (there is always one: O is never absent, nor is an allowed B- tag);
  - I-X may follow B-X or I-X: of those two (those present), the one with the larger
    S[t-1, .], the lower index on a tie; I-X is absent at t when both are absent (or B-X is not
    a label and I-X was absent);
  - a tag that is not allowed is absent at every t (S[t, j] absent), whatever its predecessor.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import PqError

NO_PARTNER = -1


def begin_partners(slot_labels: Sequence[str]) -> np.ndarray:
    """For each tag index: for I-X, the index of B-X (NO_PARTNER when B-X is not a label); for
    any other tag, NO_PARTNER. The firmware gets the same table (pq_slot_begin in pq_labels.h)."""
    index = {label: i for i, label in enumerate(slot_labels)}
    return np.array([index.get("B-" + tag[2:], NO_PARTNER) if is_inside(tag) else NO_PARTNER
                     for tag in slot_labels], dtype=np.int64)


def is_inside(tag: str) -> bool:
    return tag.startswith("I-")


def viterbi_tags(slot_logits: np.ndarray, is_tag_token: Sequence[bool], slot_labels: Sequence[str],
                 allowed: np.ndarray | None = None) -> list[int | None]:
    """Tag indices of the best valid sequence (module docstring) for the n = len(is_tag_token)
    tokens; slot_logits [n or more, n_tags] (rows past n ignored). None marks a tag token (O).
    allowed: bool [n_tags], the tags a sequence may use (None: all)."""
    n_tags = len(slot_labels)
    inside = np.array([is_inside(t) for t in slot_labels], dtype=bool)
    if not inside.size or inside.all():
        raise PqError("slot labels have no O or B- tag: no valid BIO sequence exists")
    if allowed is None:
        allowed = np.ones(n_tags, dtype=bool)
    allowed = np.asarray(allowed, dtype=bool)
    if allowed.shape != (n_tags,) or not (allowed & ~inside).any():
        raise PqError(f"the allowed-tag mask (shape {allowed.shape}) does not fit {n_tags} slot tags or "
                      "allows no O or B- tag")
    logits = np.asarray(slot_logits)
    if logits.ndim != 2 or logits.shape[1] != n_tags or logits.shape[0] < len(is_tag_token):
        raise PqError(f"slot logits of shape {logits.shape} do not fit {len(is_tag_token)} tokens "
                      f"and {n_tags} slot tags")
    partners = begin_partners(slot_labels)
    out: list[int | None] = []
    start = 0
    for t, tag_token in enumerate(list(is_tag_token) + [True]):   # a virtual tag token closes the last segment
        if tag_token:
            if t > start:
                out += _segment(logits[start:t].astype(np.float64), inside, partners, allowed)
            if t < len(is_tag_token):
                out.append(None)
            start = t + 1
    return out


def _segment(logits: np.ndarray, inside: np.ndarray, partners: np.ndarray, allowed: np.ndarray) -> list[int]:
    """The best valid tag sequence of one segment of word tokens (no tag token inside)."""
    logits = np.where(allowed, logits, -np.inf)    # a tag that is not allowed is absent everywhere
    n, n_tags = logits.shape
    inside_idx = np.flatnonzero(inside)
    begin = partners[inside_idx]
    has_begin = begin != NO_PARTNER
    # of the two possible predecessors of I-X (B-X, I-X), the lower and the higher index
    low = np.where(has_begin, np.minimum(begin, inside_idx), inside_idx)
    high = np.where(has_begin, np.maximum(begin, inside_idx), inside_idx)
    score = np.where(inside, -np.inf, logits[0])
    back = np.zeros((n, n_tags), dtype=np.int64)
    for t in range(1, n):
        g = int(np.argmax(score))                  # numpy's argmax: the lowest index wins ties
        pred = np.full(n_tags, g, dtype=np.int64)
        pred[inside_idx] = np.where(score[low] >= score[high], low, high)
        back[t] = pred
        score = score[pred] + logits[t]            # an absent predecessor (-inf) stays absent
    tags = [int(np.argmax(score))]
    for t in range(n - 1, 0, -1):
        tags.append(int(back[t, tags[-1]]))
    return tags[::-1]
