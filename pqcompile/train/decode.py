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
  2b. slots allowed per intent: when the model has intent_slots (QuantizedModel.intent_slots:
     for each intent the slot labels X seen with it in the training data), the tags B-X and I-X
     of every X not listed for the intent chosen in 1 are absent, in both decoders: the Viterbi
     never chooses them (exactly like I-X at a segment start), and "argmax" takes the per-token
     argmax over the allowed tags only (lowest index on ties) before the BIO repair. O is always
     allowed, so a valid path always exists. Without intent_slots every tag is allowed (as before);
     tie rules are otherwise unchanged;
  3. spans: B-X followed by I-X... is one slot from the first token's char_start to the last
     token's char_end; the slot's text is that slice of the utterance.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..datasets.example import OUTSIDE, Example, slot_type, spans_from_tags
from ..errors import PqError
from ..projection import Token
from ..quant.qmodel import check_intent_slots
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


def intent_slots_from_examples(examples: Iterable[Example], intent_labels: Sequence[str],
                               slot_labels: Sequence[str]) -> list[list[str]]:
    """For each intent of intent_labels, the slot labels X (B-X/I-X in slot_labels) that occur in
    the gold frame of some example with that intent: a model's intent_slots (rule 2b). Examples
    without a gold intent (augmented rows: intent "") and intents or slot labels the model does
    not know are skipped. Each list is in the order of the slot labels' first tag."""
    types = list(dict.fromkeys(t for t in map(slot_type, slot_labels) if t is not None))
    seen: dict[str, set[str]] = {intent: set() for intent in intent_labels}
    for ex in examples:
        if ex.intent in seen:
            seen[ex.intent].update(label for label, _, _ in ex.spans)
    return [[x for x in types if x in seen[intent]] for intent in intent_labels]


def intent_tag_mask(intent_slots: Sequence[Sequence[str]] | None, intent_labels: Sequence[str],
                    slot_labels: Sequence[str]) -> np.ndarray | None:
    """bool [n_intents, n_slot_tags]: tag j allowed with intent i (rule 2b): O always, B-X and I-X
    when X is in intent_slots[i]. None (every tag allowed) without intent_slots."""
    intent_slots = check_intent_slots(intent_slots, list(intent_labels), list(slot_labels))
    if intent_slots is None:
        return None
    types = [slot_type(t) for t in slot_labels]
    rows = [set(row) for row in intent_slots]
    return np.array([[tag == OUTSIDE or x in row for tag, x in zip(slot_labels, types)] for row in rows],
                    dtype=bool).reshape(len(intent_labels), len(slot_labels))


def slot_tags(tokens: list[Token], slot_logits: np.ndarray, slot_labels: list[str],
              decode: str = DEFAULT_DECODER, allowed: np.ndarray | None = None) -> list[str]:
    """The decoded BIO tag of each token (rule 2 of the module docstring); allowed: bool
    [n_slot_tags], the tags the decoded intent allows (rule 2b; None: all)."""
    if decode == "viterbi":
        path = viterbi_tags(slot_logits, [t.is_tag for t in tokens], slot_labels, allowed)
        return [OUTSIDE if i is None else slot_labels[i] for i in path]
    if decode == "argmax":
        rows = np.asarray(slot_logits)[: len(tokens)]
        if allowed is not None:
            rows = np.where(np.asarray(allowed, dtype=bool), rows.astype(np.float64), -np.inf)
        return repair_bio(tokens, [slot_labels[int(i)] for i in argmax_lowest(rows)])
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
               intent_labels: list[str], slot_labels: list[str], decode: str = DEFAULT_DECODER,
               tag_mask: np.ndarray | None = None) -> Decoded:
    """intent_logits [n_intents], slot_logits [T, n_slot_tags] (rows past len(tokens) ignored);
    tag_mask: intent_tag_mask(model's intent_slots, ...) or None (no per-intent constraint)."""
    i = int(argmax_lowest(intent_logits))
    intent = intent_labels[i]
    tags = slot_tags(tokens, slot_logits, slot_labels, decode, None if tag_mask is None else tag_mask[i])
    spans = tuple(spans_from_tags(tokens, tags))
    return Decoded(Frame(intent, spans), tags, [text[s:e] for _, s, e in spans])
