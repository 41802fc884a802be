"""Network outputs -> a frame (intent + slot spans), the one decoding rule everyone shares.

The firmware decodes exactly the same way, so the rule is spelled out:
  1. intent = argmax of the intent logits; slot tag of token t = argmax of slot_logits[t] for
     t < the number of projection tokens; the lowest index wins ties (numpy's argmax does that);
  2. BIO repair: tag tokens (BOS/EOS/empty) become O; an I-X that does not follow B-X or I-X
     becomes B-X (conlleval reads it as a slot start too, so the spans are the same);
  3. spans: B-X followed by I-X... is one slot from the first token's char_start to the last
     token's char_end; the slot's text is that slice of the utterance.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..datasets.example import OUTSIDE, spans_from_tags
from ..projection import Token
from .metrics import Frame


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
               intent_labels: list[str], slot_labels: list[str]) -> Decoded:
    """intent_logits [n_intents], slot_logits [T, n_slot_tags] (rows past len(tokens) ignored)."""
    intent = intent_labels[int(argmax_lowest(intent_logits))]
    raw = [slot_labels[int(i)] for i in argmax_lowest(slot_logits[: len(tokens)])]
    tags = repair_bio(tokens, raw)
    spans = tuple(spans_from_tags(tokens, tags))
    return Decoded(Frame(intent, spans), tags, [text[s:e] for _, s, e in spans])
