"""`pqcompile teacher label`: a corpus (plus augmented text) -> the teacher's soft targets on disk."""
from __future__ import annotations

from pathlib import Path

from ..datasets import Example
from ..errors import PqError
from ..projection import tokenize
from ..teacher.model import Teacher
from ..teacher.predict import teacher_logits
from .augment import augment
from .soft_labels import write_soft_labels


def plan_rows(examples: list[Example], requests: list[tuple[str, float]], seed: int, spec) -> list[dict]:
    """The texts to label: the examples (with their gold frame) then the augmented texts (none)."""
    rows = [{"text": ex.text, "lang": ex.lang, "origin": "gold", "intent": ex.intent,
             "spans": [list(s) for s in ex.spans]} for ex in examples]
    rows += [{"text": a.text, "lang": a.lang, "origin": a.kind, "source": a.source, "intent": None, "spans": None}
             for a in augment(examples, requests, seed)]
    for r in rows:
        r["n_tokens"] = len(tokenize(r["text"], spec))
    return rows


def label_corpus(teacher: Teacher, teacher_path: Path, examples: list[Example], out: Path,
                 requests: list[tuple[str, float]] = (), seed: int = 0, shard_size: int = 1024,
                 batch_size: int = 64, sources: list[str] | None = None, progress: bool = True) -> dict:
    if out.exists():
        raise PqError(f"{out} already exists (remove it or choose another --out)")
    rows = plan_rows(examples, list(requests), seed, teacher.spec)
    header = {"teacher": str(teacher_path), "teacher_trained": teacher.info.get("trained"),
              "labels": teacher.labels.to_dict(), "spec": teacher.spec.to_dict(),
              "data": sources or [], "augment": [list(r) for r in requests], "seed": seed}

    def label_batch(texts):
        intent, slots, _ = teacher_logits(teacher, texts)
        return intent, slots

    return write_soft_labels(out, rows, header, label_batch, shard_size, batch_size, progress)
