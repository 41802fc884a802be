"""The data adapter between a soft-labels folder and the student's training loop.

`select_rows` picks the rows to train on (every gold row, plus the augmented kinds asked for);
`distill_training_set` turns those labelled texts into the loop's EncodedSet (gold rows keep their
gold targets; augmented rows, and gold rows whose frame cannot be put on the tokens, get IGNORE
targets but stay in, since the teacher's targets still teach). `TeacherTargets` hands out the
teacher's logits for a batch's rows in the STUDENT's label order (columns matched by name; a label
the teacher lacks gets a logit so low its probability is 0) and computes the distillation loss
for a TrainBatch, in place of the plain cross-entropy.
"""
from __future__ import annotations

import numpy as np
import torch

from ..datasets import Example, slot_tags
from ..errors import PqError
from ..projection import ProjectionSpec, tokenize
from ..train.data import IGNORE, EncodedSet, TrainBatch
from .loss import DistillSettings, distillation_loss
from .soft_labels import SoftLabels

ABSENT = -1e4   # teacher logit of a label only the student has


def _row_example(row: dict) -> Example:
    if row["intent"] is None:
        return Example(row["text"], "", (), row["lang"], f"<{row['origin']}>", 0)
    return Example(row["text"], row["intent"], tuple(tuple(s) for s in row["spans"]), row["lang"])


def gold_examples(soft: SoftLabels) -> list[Example]:
    """The rows that carry a gold frame (not augmented), as Examples (for the label inventory)."""
    return [_row_example(r) for r in soft.rows if r["intent"] is not None]


def parse_augmented(items: list[str] | None) -> dict[str, int | None] | None:
    """--augmented KIND[=N] ... -> {kind: at most N texts per source example, or None for all};
    None (not given) keeps every augmented row; ["none"] keeps none."""
    if items is None:
        return None
    wanted: dict[str, int | None] = {}
    for item in items:
        kind, eq, n = item.partition("=")
        if kind == "none" and not eq:
            continue
        if not kind or (eq and not n.isdigit()):
            raise PqError(f"--augmented {item!r} is not KIND or KIND=N (N a whole number of texts per example)")
        wanted[kind] = int(n) if eq else None
    return wanted


def select_rows(soft: SoftLabels, augmented: list[str] | None = None) -> np.ndarray:
    """Indices of the labels' rows to train on: every gold row, then the augmented rows whose kind
    is asked for (KIND=N: only the first N made from each source example). None: every row."""
    wanted = parse_augmented(augmented)
    if wanted is None:
        return np.arange(len(soft), dtype=np.int64)
    present = sorted({r["origin"] for r in soft.rows} - {"gold"})
    unknown = sorted(set(wanted) - set(present))
    if unknown:
        raise PqError(f"{soft.folder} has no {', '.join(unknown)} text (augmented kinds in it: "
                      f"{', '.join(present) or 'none'})")
    taken: dict[tuple[str, int], int] = {}
    keep = []
    for k, row in enumerate(soft.rows):
        kind = row["origin"]
        if kind == "gold":
            keep.append(k)
        elif kind in wanted:
            key = (kind, row.get("source", k))
            taken[key] = taken.get(key, 0) + 1
            if wanted[kind] is None or taken[key] <= wanted[kind]:
                keep.append(k)
    return np.array(keep, dtype=np.int64)


def distill_training_set(soft: SoftLabels, spec: ProjectionSpec, intent_labels: list[str],
                         slot_labels: list[str], rows: np.ndarray | None = None) -> EncodedSet:
    """The loop's training set from the labels' rows (all, or the indices `rows`, in that order)."""
    intent_index = {l: i for i, l in enumerate(intent_labels)}
    tag_index = {l: i for i, l in enumerate(slot_labels)}
    examples, tokens, intents, tags = [], [], [], []
    for k in (range(len(soft)) if rows is None else rows):
        k = int(k)
        row = soft.rows[k]
        ex = _row_example(row)
        toks = tokenize(ex.text, spec)
        if len(toks) != row["n_tokens"]:
            raise PqError(f"{soft.folder}: row {k} has {row['n_tokens']} teacher tokens but {len(toks)} "
                          "student tokens: the labels were made with another tokenisation (projection spec)")
        bio = slot_tags(ex, spec, toks) if row["intent"] is not None else None
        if bio is not None and any(t not in tag_index for t in bio):
            raise PqError(f"{soft.folder}: row {k}: a slot label the student does not know")
        if row["intent"] is not None and row["intent"] not in intent_index:
            raise PqError(f"{soft.folder}: row {k}: intent {row['intent']!r} is not one the student knows")
        examples.append(ex)
        tokens.append(toks)
        intents.append(IGNORE if row["intent"] is None else intent_index[row["intent"]])
        tags.append(np.full(len(toks), IGNORE, dtype=np.int64) if bio is None
                    else np.array([tag_index[t] for t in bio], dtype=np.int64))
    return EncodedSet(examples, tokens, np.array(intents, dtype=np.int64), tags)


def _columns(student: list[str], teacher: list[str]) -> np.ndarray:
    where = {l: i for i, l in enumerate(teacher)}
    return np.array([where.get(l, -1) for l in student], dtype=np.int64)


class TeacherTargets:
    """Teacher logits in the student's label order, and the loss that uses them. Training-set row i
    is the labels' row rows[i] (all rows in order when rows is None)."""

    def __init__(self, soft: SoftLabels, intent_labels: list[str], slot_labels: list[str],
                 settings: DistillSettings, rows: np.ndarray | None = None):
        settings.check()
        self.soft, self.settings = soft, settings
        self.rows = np.arange(len(soft), dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        self.intent_cols = _columns(list(intent_labels), soft.intents)
        self.tag_cols = _columns(list(slot_labels), soft.tags)
        if (self.tag_cols < 0).all() or (self.intent_cols < 0).all():
            raise PqError(f"{soft.folder}: the teacher's labels share nothing with the student's")

    @staticmethod
    def _pick(logits: np.ndarray, cols: np.ndarray) -> np.ndarray:
        out = logits[..., np.maximum(cols, 0)]
        out[..., cols < 0] = ABSENT
        return out

    def batch(self, indices, width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(intent [B, I], slots [B, width, S], token mask [B, width]) for dataset rows `indices`."""
        intents, slots = [], np.zeros((len(indices), width, len(self.tag_cols)), dtype=np.float32)
        mask = np.zeros((len(indices), width), dtype=bool)
        for b, i in enumerate(indices):
            intent, s = self.soft.logits(int(self.rows[i]))
            n = min(len(s), width)
            intents.append(self._pick(intent, self.intent_cols))
            slots[b, :n] = self._pick(s[:n], self.tag_cols)
            mask[b, :n] = True
        return torch.from_numpy(np.stack(intents)), torch.from_numpy(slots), torch.from_numpy(mask)

    def loss(self, intent_logits: torch.Tensor, slot_logits: torch.Tensor,
             batch: TrainBatch) -> tuple[torch.Tensor, dict[str, float]]:
        """The distillation loss of one TrainBatch (drop-in for train.loop.training_loss)."""
        t_intent, t_slots, mask = self.batch(batch.indices, batch.tags.shape[1])
        return distillation_loss(intent_logits, slot_logits, batch.intents, batch.tags,
                                 t_intent, t_slots, mask, self.settings)
