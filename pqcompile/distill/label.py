"""`pqcompile teacher label`: a corpus (plus augmented text) -> the teacher's (or an ensemble of
teachers') soft targets on disk."""
from __future__ import annotations

import re
from pathlib import Path

from ..datasets import Example
from ..errors import PqError
from ..projection import tokenize
from ..teacher.model import Teacher
from ..teacher.predict import ensemble_logits
from .augment import augment, needs_neighbours
from .neighbours import content_words, teacher_neighbours
from .soft_labels import write_soft_labels


def normalised(text: str) -> str:
    """A text's identity for de-duplication: lowercase words, punctuation and spacing ignored."""
    return " ".join(re.findall(r"\w+", text.lower()))


def transfer_texts(transfer: list[Example], examples: list[Example], exclude: list[Example] = ()) -> list[Example]:
    """The transfer examples worth labelling: each distinct text once, none that repeats a gold
    training text, none that appears in `exclude` (the held-out sets: keep them unseen)."""
    seen = {normalised(ex.text) for ex in list(examples) + list(exclude)}
    kept = []
    for ex in transfer:
        key = normalised(ex.text)
        if key and key not in seen:
            seen.add(key)
            kept.append(ex)
    return kept


def plan_rows(examples: list[Example], requests: list[tuple[str, float]], seed: int, spec,
              transfer: list[Example] = (), neighbours: dict[str, list[str]] | None = None) -> list[dict]:
    """The texts to label: the examples (with their gold frame), the augmented texts, then the
    transfer texts (other corpora's text, whose own frames are in another label set: no gold)."""
    rows = [{"text": ex.text, "lang": ex.lang, "origin": "gold", "intent": ex.intent,
             "spans": [list(s) for s in ex.spans]} for ex in examples]
    rows += [{"text": a.text, "lang": a.lang, "origin": a.kind, "source": a.source, "intent": None, "spans": None}
             for a in augment(examples, requests, seed, foreign=transfer, neighbours=neighbours)]
    rows += [{"text": ex.text, "lang": ex.lang, "origin": "transfer", "source": k, "intent": None, "spans": None}
             for k, ex in enumerate(transfer)]
    for r in rows:
        r["n_tokens"] = len(tokenize(r["text"], spec))
    return rows


def label_corpus(teacher: Teacher | list[Teacher], teacher_path: Path | list[Path], examples: list[Example], out: Path,
                 requests: list[tuple[str, float]] = (), seed: int = 0, shard_size: int = 1024,
                 batch_size: int = 64, sources: list[str] | None = None, progress: bool = True,
                 transfer: list[Example] = (), transfer_sources: list[str] | None = None,
                 exclude_sources: list[str] | None = None) -> dict:
    """Label the examples, their augmented texts and the transfer texts with the teacher; with a
    list of teachers, with their ensemble (pqcompile.teacher.predict.ensemble_logits)."""
    if out.exists():
        raise PqError(f"{out} already exists (remove it or choose another --out)")
    teachers = teacher if isinstance(teacher, list) else [teacher]
    paths = teacher_path if isinstance(teacher_path, list) else [teacher_path]
    first = teachers[0]
    neighbours = None
    if needs_neighbours(list(requests)):
        neighbours = teacher_neighbours(first, content_words(ex.text for ex in examples))
    rows = plan_rows(examples, list(requests), seed, first.spec, list(transfer), neighbours)
    header = {"teacher": str(paths[0]), "teacher_trained": first.info.get("trained"),
              **({"ensemble": [str(p) for p in paths]} if len(paths) > 1 else {}),
              "labels": first.labels.to_dict(), "spec": first.spec.to_dict(),
              "data": sources or [], "transfer": transfer_sources or [], "exclude": exclude_sources or [],
              "augment": [list(r) for r in requests], "seed": seed, "precision": first.precision}

    def label_batch(texts):
        intent, slots, _ = ensemble_logits(teachers, texts)
        return intent, slots

    return write_soft_labels(out, rows, header, label_batch, shard_size, batch_size, progress)
