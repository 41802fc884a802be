"""Run a teacher (or an ensemble of teachers) over texts: logits in batches, and the same frame
metrics students report.

An ensemble's logits are the mean of its members' log-probabilities (log_softmax), for the intent
and for each token's slot tag: the normalised geometric mean of their distributions, still valid
logits for the distillation loss and the decoder. The members must share labels and projection
spec (teachers fine-tuned on the same data with different seeds)."""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from ..datasets import Example
from ..train.decode import decode_one
from ..train.metrics import Frame, frame_metrics
from .align import encode_batch
from .model import Teacher
from .precision import compute


def batches(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i: i + size]


@torch.no_grad()
def teacher_logits(teacher: Teacher, texts: list[str]):
    """(intent logits [B, n_intents], slot logits [B, T, n_tags], projection tokens) as numpy fp32;
    T = the most projection tokens of any text in the batch."""
    teacher.model.eval()
    b = encode_batch(texts, teacher.tokenizer, teacher.spec, teacher.max_length)
    with compute(teacher.precision):
        intent, slots = teacher.model(b.input_ids, b.attention_mask, b.first_subword)
    return intent.float().numpy(), slots.float().numpy(), b.tokens


def check_ensemble(teachers: list[Teacher], names: list[str]) -> None:
    """One-line error unless every teacher has the first one's labels and projection spec."""
    from ..errors import PqError
    first = teachers[0]
    for t, name in zip(teachers[1:], names[1:]):
        if t.labels.to_dict() != first.labels.to_dict():
            raise PqError(f"{name} has other intents or slot tags than {names[0]}: an ensemble needs the same labels")
        if t.spec.to_dict() != first.spec.to_dict():
            raise PqError(f"{name} has another projection spec than {names[0]}: an ensemble needs the same tokens")


def ensemble_logits(teachers: list[Teacher], texts: list[str]):
    """As teacher_logits; one teacher's logits pass unchanged, several are averaged as
    log-probabilities (module docstring)."""
    if len(teachers) == 1:
        return teacher_logits(teachers[0], texts)
    from ..distill.soft_labels import mean_log_probs
    intents, slots, tokens = [], [], None
    for t in teachers:
        i, s, tokens = teacher_logits(t, texts)
        intents.append(i)
        slots.append(s)
    return mean_log_probs(intents), mean_log_probs(slots), tokens


def evaluate(teacher: Teacher | list[Teacher], examples: list[Example], batch_size: int = 64, progress=None) -> dict:
    """frame_metrics over the examples: {"overall": {...}, "per_lang": {...}}."""
    teachers = teacher if isinstance(teacher, list) else [teacher]
    golds, preds = [], []
    intents, tags = list(teachers[0].labels.intents), list(teachers[0].labels.slot_tags)
    for chunk in batches(examples, batch_size):
        intent, slots, tokens = ensemble_logits(teachers, [ex.text for ex in chunk])
        for k, ex in enumerate(chunk):
            d = decode_one(ex.text, tokens[k], intent[k], slots[k], intents, tags)
            preds.append(d.frame)
            golds.append(Frame(ex.intent, tuple(ex.spans)))
        if progress is not None:
            progress.update(len(chunk))
    return frame_metrics(golds, preds, [ex.lang for ex in examples])
