"""The field's metrics for flat frames: intent accuracy, slot micro-F1, exact match.

A frame is (intent, slot spans); spans are (label, char_start, char_end) into the utterance, so
gold frames come straight from the data and predicted ones from decoding on projection tokens.

Slot F1 has conlleval semantics: a predicted slot counts as correct only when its label and both
boundaries equal a gold slot's; precision = correct / predicted, recall = correct / gold, each 0
when its denominator is 0, F1 = 2PR / (P + R) (0 when P + R = 0), micro-averaged over all slots.
Exact match: the intent is right and the set of predicted slots equals the gold set.
Every number is a fraction in [0, 1]; reported overall and per language.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

Span = tuple[str, int, int]


@dataclass
class Frame:
    """An utterance's intent and its slot spans (label, char_start, char_end), end exclusive."""

    intent: str
    spans: tuple[Span, ...]


@dataclass
class FrameCounts:
    """Running counts from which all the metrics follow; add() one utterance at a time."""

    n: int = 0
    intent_correct: int = 0
    exact: int = 0
    slots_correct: int = 0
    slots_predicted: int = 0
    slots_gold: int = 0

    def add(self, gold: Frame, pred: Frame) -> None:
        gold_spans, pred_spans = set(gold.spans), set(pred.spans)
        intent_ok = gold.intent == pred.intent
        self.n += 1
        self.intent_correct += intent_ok
        self.exact += intent_ok and gold_spans == pred_spans
        self.slots_correct += len(gold_spans & pred_spans)
        self.slots_predicted += len(pred_spans)
        self.slots_gold += len(gold_spans)

    def result(self) -> dict:
        p = self.slots_correct / self.slots_predicted if self.slots_predicted else 0.0
        r = self.slots_correct / self.slots_gold if self.slots_gold else 0.0
        return {
            "n": self.n,
            "intent_accuracy": self.intent_correct / self.n if self.n else 0.0,
            "slot_precision": p,
            "slot_recall": r,
            "slot_f1": 2 * p * r / (p + r) if p + r else 0.0,
            "exact_match": self.exact / self.n if self.n else 0.0,
        }


def frame_metrics(golds: Sequence[Frame], preds: Sequence[Frame],
                  langs: Iterable[str] | None = None) -> dict:
    """{"overall": metrics, "per_lang": {lang: metrics}} for aligned gold/predicted frames."""
    if len(golds) != len(preds):
        raise ValueError(f"{len(golds)} gold frames but {len(preds)} predictions")
    langs = list(langs) if langs is not None else ["und"] * len(golds)
    overall = FrameCounts()
    per_lang: dict[str, FrameCounts] = {}
    for gold, pred, lang in zip(golds, preds, langs):
        overall.add(gold, pred)
        per_lang.setdefault(lang, FrameCounts()).add(gold, pred)
    return {"overall": overall.result(),
            "per_lang": {lang: c.result() for lang, c in sorted(per_lang.items())}}
