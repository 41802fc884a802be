"""Network outputs -> a frame (intent + slot spans), the one decoding rule everyone shares.

The firmware decodes exactly the same way, so the rule is spelled out:
  1. intent = argmax of the intent logits, the lowest index winning ties (numpy's argmax does that);
  2. slot tags (decode="viterbi", the default everywhere): the BIO-constrained Viterbi path over
     the raw slot logits of the projection's tokens (rows past the number of tokens are ignored):
     the valid tag sequence with the largest sum of logits, where I-X only follows B-X or I-X,
     the first token is not I-X, and tag tokens (BOS/EOS/empty) are O; ties and the exact
     algorithm are in viterbi.py;
     decode="argmax" (the earlier rule, kept for comparison): per-token argmax (lowest index
     wins ties), then BIO repair: tag tokens become O; an I-X that does not follow B-X or I-X
     becomes B-X (conlleval reads it as a slot start too, so the spans are the same);
  3. spans: B-X followed by I-X... is one slot from the first token's char_start to the last
     token's char_end; the slot's text is that slice of the utterance.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..datasets.example import OUTSIDE, spans_from_tags
from ..errors import PqError
from ..projection import Token
from .metrics import Frame
from .viterbi import viterbi_tags

DECODERS = ("viterbi", "argmax")
DEFAULT_DECODER = "viterbi"


def argmax_lowest(logits: np.ndarray) -> np.ndarray:
    """Argmax over the last axis; on a tie the lowest index wins."""
    return np.asarray(logits).argmax(axis=-1)


def repair_bio(tokens: list[Token], tags: list[str]) -> list[str]:
    out, prev = [], OUTSIDE
    for tok, tag in zip(tokens, tags):
        if tok.is_tag or tag == OUTSIDE:
            tag = OUTSIDE
        elif tag.startswith("I-") and prev[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        out.append(tag)
        prev = tag
    return out


def slot_tags(tokens: list[Token], slot_logits: np.ndarray, slot_labels: list[str],
              decode: str = DEFAULT_DECODER) -> list[str]:
    """The decoded BIO tag of each token (rule 2 of the module docstring)."""
    if decode == "viterbi":
        path = viterbi_tags(slot_logits, [t.is_tag for t in tokens], slot_labels)
        return [OUTSIDE if i is None else slot_labels[i] for i in path]
    if decode == "argmax":
        return repair_bio(tokens, [slot_labels[int(i)] for i in argmax_lowest(slot_logits[: len(tokens)])])
    raise PqError(f"unknown slot decoder {decode!r} (choose from {', '.join(DECODERS)})")


@dataclass
class Decoded:
    """A decoded utterance: the frame plus the per-token tags and the slots' surface text."""

    frame: Frame
    tags: list[str]
    slot_texts: list[str]

    def to_dict(self, text: str) -> dict:
        return {"text": text, "intent": self.frame.intent,
                "slots": [{"label": label, "start": s, "end": e, "text": t}
                          for (label, s, e), t in zip(self.frame.spans, self.slot_texts)],
                "tags": self.tags}


def decode_one(text: str, tokens: list[Token], intent_logits: np.ndarray, slot_logits: np.ndarray,
               intent_labels: list[str], slot_labels: list[str], decode: str = DEFAULT_DECODER) -> Decoded:
    """intent_logits [n_intents], slot_logits [T, n_slot_tags] (rows past len(tokens) ignored)."""
    intent = intent_labels[int(argmax_lowest(intent_logits))]
    tags = slot_tags(tokens, slot_logits, slot_labels, decode)
    spans = tuple(spans_from_tags(tokens, tags))
    return Decoded(Frame(intent, spans), tags, [text[s:e] for _, s, e in spans])
