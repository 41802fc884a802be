"""A teacher's lexicon: what the teacher knows about a word on its own, as a vector per word.

The student's projection gives a word it never saw in training an unrelated whole-token vector;
only its character n-grams relate it to words it knows. The teacher, pre-trained on far more
text, knows most words (a name, a weekday, a unit). A lexicon holds, for many words (the
teacher's own whole-word vocabulary and the words of the training texts), the teacher's
last-layer hidden state for the word read alone ("[CLS] word [SEP]"), averaged over its
sub-words. `pqcompile train --lexicon` regresses the student's bottleneck output for each word
onto these vectors (train/lexicon_loss.py), so that the n-gram columns learn what kind of word
they spell.

File: an .npz with `words` (str), `vectors` (float16 [n, hidden]) and `meta` (a JSON string).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from ..errors import PqError
from ..projection import ProjectionSpec, tokenize

FORMAT = "pqcompile-lexicon"
VERSION = 1


def vocabulary_words(vocab: Iterable[str], min_length: int = 2) -> list[str]:
    """The whole words of a word-piece vocabulary: alphabetic, at least min_length characters,
    no continuation pieces ("##ing") and no specials ("[CLS]")."""
    return sorted({w for w in vocab if w.isalpha() and len(w) >= min_length})


def text_words(texts: Iterable[str], spec: ProjectionSpec) -> list[str]:
    """The lower-cased projection tokens of texts that hold a letter (not "?", not "7")."""
    return [w for text in texts for t in tokenize(text, spec) if not t.is_tag
            for w in [t.text.lower()] if any(c.isalpha() for c in w)]


def single_token_words(words: Iterable[str], spec: ProjectionSpec) -> list[str]:
    """The distinct words that the projection reads as exactly one token, in first-seen order
    (a word that splits, e.g. "o'clock", has no single bottleneck vector to regress)."""
    seen, out = set(), []
    for w in words:
        if w in seen:
            continue
        seen.add(w)
        if len(tokenize(w, spec)) == 1:
            out.append(w)
    return out


@torch.no_grad()
def teacher_word_vectors(teacher, words: list[str], batch_size: int = 256, progress=None) -> np.ndarray:
    """[len(words), hidden] float32: the teacher encoder's last hidden state for each word read
    alone, averaged over the word's sub-words (the [CLS] and [SEP] positions left out)."""
    encoder = teacher.model.encoder
    teacher.model.eval()
    out = []
    for i in range(0, len(words), batch_size):
        chunk = words[i:i + batch_size]
        enc = teacher.tokenizer(chunk, padding=True, truncation=True, max_length=16, return_tensors="pt",
                                return_special_tokens_mask=True)
        hidden = encoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
        keep = (enc["attention_mask"].bool() & ~enc["special_tokens_mask"].bool()).unsqueeze(-1).float()
        out.append(((hidden * keep).sum(1) / keep.sum(1).clamp_min(1.0)).float().numpy())
        if progress is not None:
            progress.update(len(chunk))
    return np.concatenate(out) if out else np.zeros((0, encoder.config.hidden_size), np.float32)


def check_lexicon_path(path: str | Path) -> Path:
    """A lexicon file's path (it must end in .npz); a one-line error otherwise."""
    path = Path(path)
    if path.suffix != ".npz":
        raise PqError(f"{path}: a lexicon file must end in .npz")
    return path


def save_lexicon(path: str | Path, words: list[str], vectors: np.ndarray, meta: dict) -> None:
    path = check_lexicon_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, words=np.array(words, dtype=str), vectors=vectors.astype(np.float16),
                        meta=np.array(json.dumps({"format": FORMAT, "version": VERSION, **meta})))
    tmp.replace(path)


def load_lexicon(path: str | Path) -> tuple[list[str], np.ndarray, dict]:
    """(words, vectors float32 [n, d], meta); a one-line error for anything else."""
    try:
        with np.load(path, allow_pickle=False) as z:
            words, vectors, meta = [str(w) for w in z["words"]], z["vectors"].astype(np.float32), json.loads(str(z["meta"]))
    except FileNotFoundError:
        raise PqError(f"lexicon {path} not found") from None
    except (OSError, ValueError, KeyError) as e:
        raise PqError(f"{path} is not a lexicon file ({e})") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise PqError(f"{path} is not a {FORMAT} version {VERSION} file")
    if vectors.ndim != 2 or len(words) != len(vectors) or not len(words):
        raise PqError(f"{path}: words and vectors do not match (or the lexicon is empty)")
    return words, vectors, meta
