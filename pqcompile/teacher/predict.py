"""Run a teacher over texts: logits in batches, and the same frame metrics students report."""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from ..datasets import Example
from ..train.decode import decode_one
from ..train.metrics import Frame, frame_metrics
from .align import encode_batch
from .model import Teacher


def batches(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i: i + size]


@torch.no_grad()
def teacher_logits(teacher: Teacher, texts: list[str]):
    """(intent logits [B, n_intents], slot logits [B, T, n_tags], projection tokens) as numpy fp32;
    T = the most projection tokens of any text in the batch."""
    teacher.model.eval()
    b = encode_batch(texts, teacher.tokenizer, teacher.spec, teacher.max_length)
    intent, slots = teacher.model(b.input_ids, b.attention_mask, b.first_subword)
    return intent.float().numpy(), slots.float().numpy(), b.tokens


def evaluate(teacher: Teacher, examples: list[Example], batch_size: int = 64, progress=None) -> dict:
    """frame_metrics over the examples: {"overall": {...}, "per_lang": {...}}."""
    golds, preds = [], []
    intents, tags = list(teacher.labels.intents), list(teacher.labels.slot_tags)
    for chunk in batches(examples, batch_size):
        intent, slots, tokens = teacher_logits(teacher, [ex.text for ex in chunk])
        for k, ex in enumerate(chunk):
            d = decode_one(ex.text, tokens[k], intent[k], slots[k], intents, tags)
            preds.append(d.frame)
            golds.append(Frame(ex.intent, tuple(ex.spans)))
        if progress is not None:
            progress.update(len(chunk))
    return frame_metrics(golds, preds, [ex.lang for ex in examples])
