"""`pqcompile teacher combine`: the ensemble of teachers that already labelled the same texts.

`pqcompile teacher label T1 T2 ...` runs every teacher over every text and stores their mean
log-probabilities. When each teacher has already labelled the same rows on its own (the same
--data, --augment, --transfer and --seed), this writes the same ensemble from those folders
without running a teacher again: per text, the mean over the folders of log_softmax(intent) and of
log_softmax(slots) per token (soft_labels.mean_log_probs, as pqcompile.teacher.predict.ensemble_logits,
computed from the stored float16 logits). The rows (and their order) are the first folder's; every one of its texts must be
in every other folder, on the same projection tokens and with the same teacher labels.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import PqError
from .soft_labels import SoftLabels, check_same_labels, mean_log_probs, write_soft_labels


def _check_compatible(first: SoftLabels, other: SoftLabels) -> dict[str, int]:
    """other's row of each text (the first row where a text repeats); refuses what cannot combine."""
    check_same_labels(first, other, "only teachers trained on the same labels can be combined")
    where: dict[str, int] = {}
    for i, row in enumerate(other.rows):
        where.setdefault(row["text"], i)
    missing = [r["text"] for r in first.rows if r["text"] not in where]
    if missing:
        raise PqError(f"{len(missing)} of the {len(first.rows)} texts of {first.folder} are not in {other.folder} "
                      f"(e.g. {missing[0]!r}): combine labels of the same texts (same --data, --augment, "
                      "--transfer and --seed)")
    for r in first.rows:
        if other.rows[where[r["text"]]]["n_tokens"] != r["n_tokens"]:
            raise PqError(f"{other.folder} has {r['text']!r} on another number of tokens than {first.folder}")
    return where


def combine_labels(folders: list[str | Path], out: str | Path, progress: bool = True,
                   shard_size: int = 1024) -> dict:
    """Write the ensemble of the labels folders (module docstring) to `out`; returns its index."""
    out = Path(out)
    if len(folders) < 2:
        raise PqError("combine needs two or more labels folders")
    if out.exists():
        raise PqError(f"{out} already exists (remove it or choose another --out)")
    parts = [SoftLabels(f) for f in folders]
    first = parts[0]
    where = [{r["text"]: i for i, r in reversed(list(enumerate(first.rows)))}] + \
            [_check_compatible(first, p) for p in parts[1:]]

    def label_batch(texts):
        intents, slots = [], []
        for text in texts:
            pairs = [p.logits(w[text]) for p, w in zip(parts, where)]
            intents.append(mean_log_probs([i for i, _ in pairs]))
            slots.append(mean_log_probs([s for _, s in pairs]))
        width = max(1, max(s.shape[0] for s in slots))
        padded = [np.pad(s, ((0, width - s.shape[0]), (0, 0))) for s in slots]
        return np.stack(intents), np.stack(padded)

    header = {k: v for k, v in first.index.items()
              if k not in ("format", "version", "dtype", "shards", "rows", "ensemble", "combined")}
    header["ensemble"] = [str(p.index.get("teacher")) for p in parts]
    header["combined"] = [str(p.folder) for p in parts]
    return write_soft_labels(out, [dict(r) for r in first.rows], header, label_batch, shard_size,
                             batch_size=256, progress=progress)
