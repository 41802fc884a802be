"""Teacher soft targets on disk: memory-mappable .npy shards plus an index, written resumably.

A labels folder holds:
  index.json   format, the teacher's labels (column order) and projection spec, the dtype,
               the shards, and one row per text: text, lang, origin ("gold" or an augmentation
               kind), n_tokens, and the gold frame (intent, spans) or null for augmented text
  NNNNN.intent.npy   [rows, n_intents] teacher intent logits
  NNNNN.slots.npy    [rows, T, n_tags] teacher slot logits on projection tokens; T is the most
                     tokens of any row in the shard; row r's first index.rows[r].n_tokens are real
While labelling, everything lives in `.NAME.partial/` beside the output, with plan.json (the rows
and a fingerprint); each shard is written atomically, so a killed run keeps its finished shards
and the same command later resumes with the next one. The folder appears complete or not at all.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from ..atomic import atomic_file, replace_dir
from ..errors import PqError

FORMAT = "pqcompile-soft-labels"
VERSION = 1
DTYPE = "float16"


def log_softmax(x: np.ndarray) -> np.ndarray:
    """log_softmax over the last axis, in float32."""
    x = np.asarray(x, dtype=np.float32)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def mean_log_probs(logits: list[np.ndarray]) -> np.ndarray:
    """An ensemble's logits: the mean over its members of log_softmax (last axis). Both ways of
    making an ensemble's labels use it: `teacher label T1 T2` (teacher.predict.ensemble_logits)
    and `teacher combine` (combine.py), so they write the same numbers."""
    return np.mean([log_softmax(x) for x in logits], axis=0, dtype=np.float32)


def check_same_labels(first, other, why: str) -> None:
    """One-line PqError unless two labels folders (SoftLabels) have the same teacher labels
    (intents and slot tags, in order) and projection spec; why ends the labels message."""
    if other.index["labels"] != first.index["labels"]:
        raise PqError(f"{other.folder} has other intents or slot tags than {first.folder}: {why}")
    if other.index["spec"] != first.index["spec"]:
        raise PqError(f"{other.folder} was labelled on another projection spec than {first.folder}")


def partial_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.partial"


def _shard_names(k: int) -> tuple[str, str]:
    return f"{k:05d}.intent.npy", f"{k:05d}.slots.npy"


def plan_fingerprint(teacher_meta: dict, rows: list[dict], shard_size: int) -> str:
    h = hashlib.sha256(json.dumps([teacher_meta, shard_size], sort_keys=True, default=str).encode())
    for r in rows:
        h.update(r["text"].encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_file(path) as f:
        np.save(f, array)


def write_soft_labels(out: Path, rows: list[dict], header: dict, label_batch, shard_size: int = 1024,
                      batch_size: int = 64, progress: bool = True) -> dict:
    """Label rows[i]["text"] with `label_batch(texts) -> (intent [B, I], slots [B, T, S])` shard by
    shard (each row already holds its projection token count, "n_tokens"); resume from
    `.NAME.partial/` when it holds the same plan. Returns the index."""
    from tqdm import tqdm

    if shard_size < 1 or batch_size < 1:
        raise PqError("shard and batch sizes must be >= 1")
    tmp = partial_dir(out)
    fp = plan_fingerprint(header, rows, shard_size)
    plan_file = tmp / "plan.json"
    if plan_file.is_file():
        try:
            same = json.loads(plan_file.read_text(encoding="utf-8")).get("fingerprint") == fp
        except (OSError, json.JSONDecodeError):
            same = False
        if not same:   # left by a different run: start over
            shutil.rmtree(tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    if not plan_file.is_file():
        with atomic_file(plan_file, "w") as f:
            json.dump({"fingerprint": fp, "n_rows": len(rows)}, f)

    starts = list(range(0, len(rows), shard_size))
    shards = []
    done_rows = sum(min(shard_size, len(rows) - s) for k, s in enumerate(starts)
                    if all((tmp / n).is_file() for n in _shard_names(k)))
    bar = tqdm(total=len(rows), initial=done_rows, desc="teacher label", unit="text",
               disable=not progress, leave=False)
    for k, start in enumerate(starts):
        end = min(start + shard_size, len(rows))
        intent_name, slots_name = _shard_names(k)
        shards.append({"rows": [start, end], "intent": intent_name, "slots": slots_name})
        if (tmp / intent_name).is_file() and (tmp / slots_name).is_file():
            continue
        # batches of similar length (less padding for the teacher), stored back in row order
        order = sorted(range(start, end), key=lambda i: (len(rows[i]["text"]), i))
        intents, slots = [], []
        for b in range(0, len(order), batch_size):
            texts = [rows[i]["text"] for i in order[b: b + batch_size]]
            i_logits, s_logits = label_batch(texts)
            intents.append(i_logits)
            slots.append(s_logits)
            bar.update(len(texts))
        width = max(s.shape[1] for s in slots)
        padded = [np.pad(s, ((0, 0), (0, width - s.shape[1]), (0, 0))) for s in slots]
        back = np.argsort(np.asarray(order) - start)    # sorted position of each row
        _save_npy(tmp / slots_name, np.concatenate(padded)[back].astype(DTYPE))
        _save_npy(tmp / intent_name, np.concatenate(intents)[back].astype(DTYPE))
    bar.close()

    index = {"format": FORMAT, "version": VERSION, "dtype": DTYPE, **header, "shards": shards, "rows": rows}
    with atomic_file(tmp / "index.json", "w") as f:
        json.dump(index, f, ensure_ascii=False)
    os.unlink(plan_file)
    replace_dir(tmp, out)
    return index


class SoftLabels:
    """A labels folder opened for reading; the shards are memory-mapped, not loaded."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        p = self.folder / "index.json"
        if not p.is_file():
            hint = " (an interrupted run? rerun `pqcompile teacher label` to finish it)" \
                if partial_dir(self.folder).is_dir() else ""
            raise PqError(f"{self.folder} is not a soft-labels folder (no index.json){hint}")
        try:
            self.index = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise PqError(f"cannot read {p}: {e}") from None
        if self.index.get("format") != FORMAT or self.index.get("version") != VERSION:
            raise PqError(f"{p} is not version-{VERSION} pqcompile soft labels")
        self.rows: list[dict] = self.index["rows"]
        self.intents: list[str] = self.index["labels"]["intents"]
        self.tags: list[str] = self.index["labels"]["slot_tags"]
        self._shard_of = np.zeros(len(self.rows), dtype=np.int64)
        for k, sh in enumerate(self.index["shards"]):
            self._shard_of[sh["rows"][0]: sh["rows"][1]] = k
        self._arrays: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def _shard(self, k: int):
        if k not in self._arrays:
            sh = self.index["shards"][k]
            try:
                self._arrays[k] = (np.load(self.folder / sh["intent"], mmap_mode="r"),
                                   np.load(self.folder / sh["slots"], mmap_mode="r"))
            except (OSError, ValueError) as e:
                raise PqError(f"cannot read shard {k} of {self.folder}: {e}") from None
        return self._arrays[k]

    def logits(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(intent logits [n_intents], slot logits [n_tokens, n_tags]) of row i, as float32."""
        k = int(self._shard_of[i])
        intent, slots = self._shard(k)
        r = i - self.index["shards"][k]["rows"][0]
        return (np.asarray(intent[r], dtype=np.float32),
                np.asarray(slots[r, : self.rows[i]["n_tokens"]], dtype=np.float32))


class SoftLabelsUnion:
    """Several labels folders read as one (`pqcompile train --teacher-labels A --teacher-labels B`):
    their rows in order, each distinct text once (the first folder that has it wins: a second
    corpus labelled from the same --data repeats the gold rows, and an augmentation made with
    the same seed repeats its texts). The folders must agree on labels and projection spec, so
    one corpus can be labelled in parts (e.g. more augmented or transfer text later) and trained
    on together. Reads like a SoftLabels: rows, intents, tags, index (the first folder's header
    with every part named), folder (for messages) and logits(i)."""

    def __init__(self, folders: list[str | Path]):
        self.parts = [SoftLabels(f) for f in folders]
        first = self.parts[0]
        for p in self.parts[1:]:
            check_same_labels(first, p, "labels folders trained on together need the same teacher labels")
        self.folder = " + ".join(str(p.folder) for p in self.parts)
        self.intents, self.tags = first.intents, first.tags
        self.rows: list[dict] = []
        self._where: list[tuple[int, int]] = []
        seen: set[str] = set()
        for k, p in enumerate(self.parts):
            for i, row in enumerate(p.rows):
                if row["text"] not in seen:
                    seen.add(row["text"])
                    self.rows.append(row)
                    self._where.append((k, i))
        self.index = {**{key: v for key, v in first.index.items() if key not in ("rows", "shards")},
                      "parts": [str(p.folder) for p in self.parts]}

    def __len__(self) -> int:
        return len(self.rows)

    def logits(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        k, j = self._where[i]
        return self.parts[k].logits(j)


def open_labels(labels: str | Path | list) -> SoftLabels | SoftLabelsUnion:
    """One labels folder, or (a list of several) their union."""
    if isinstance(labels, (list, tuple)):
        return SoftLabels(labels[0]) if len(labels) == 1 else SoftLabelsUnion(list(labels))
    return SoftLabels(labels)
