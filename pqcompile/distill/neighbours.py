"""Word neighbours from the teacher's own word-piece embedding table, for `--augment wordsub`.

A pre-trained encoder's input embeddings place related words near each other ("pizza": cheese,
sandwich, burger; "boston": chicago, seattle; "beyonce": rihanna, britney). Replacing a training
text's words by such neighbours gives texts with words that no training text has, in the training
texts' contexts; the teacher labels them like any other augmented text. That is what the student
lacks most: a word it never saw is hashed to features it cannot read (docs/results.md,
session 16: a slot value with an unseen word is 29% of the utterances the teacher gets right and
the student wrong).

Only words the teacher's vocabulary holds as one whole piece take part, as query and as
neighbour: lower-case ASCII letters, at least two. A neighbour that shares its first
SAME_STEM letters with the word (or is a prefix of it, or it of the neighbour) is skipped, so
"alarm" gives "doorbell" and "siren", not "alarms" and "alarmed". The FREQUENT most frequent
words of the texts (the most frequent tenth when they have fewer than 10 x FREQUENT) get no neighbours ("me", "the", "to", "set", "reminder"): replacing them
breaks the sentence or its intent rather than bringing a new word into a known context.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import torch

from ..errors import PqError

WORD = re.compile(r"[a-z]{2,}")
# a run of ASCII letters that is a whole word: no letter or digit right before or after it ("pm" in
# "11pm" is not one)
TEXT_WORD = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]+(?![A-Za-z0-9])")
FREQUENT = 150
SAME_STEM = 4
NEIGHBOURS = 8        # kept per word
CHUNK = 2048          # query words per similarity matrix


def _related(a: str, b: str) -> bool:
    return a[:SAME_STEM] == b[:SAME_STEM] or a.startswith(b) or b.startswith(a)


def embedding_neighbours(vocab: dict[str, int], embeddings: torch.Tensor, words: Iterable[str],
                         k: int = NEIGHBOURS) -> dict[str, list[str]]:
    """{word: its k nearest whole-word pieces by cosine similarity, nearest first} for each of
    `words` (lower-cased) that vocab holds as a whole word; vocab: piece -> row of embeddings
    [n_pieces, dim]. Deterministic: ties go to the lower row."""
    pieces = sorted((i, w) for w, i in vocab.items() if WORD.fullmatch(w))
    if not pieces:
        raise PqError("the teacher's vocabulary has no whole-word pieces to take neighbours from")
    rows = torch.tensor([i for i, _ in pieces])
    names = [w for _, w in pieces]
    if int(rows.max()) >= embeddings.shape[0]:
        raise PqError(f"the teacher's vocabulary ({len(vocab)} pieces) does not fit its embedding table "
                      f"({embeddings.shape[0]} rows)")
    table = torch.nn.functional.normalize(embeddings.detach().float()[rows], dim=1)
    index = {w: n for n, w in enumerate(names)}
    queries = sorted({w.lower() for w in words if w.lower() in index})
    out: dict[str, list[str]] = {}
    take = min(len(names), 4 * k + 1)   # enough to drop the word itself and its own stems
    for start in range(0, len(queries), CHUNK):
        chunk = queries[start:start + CHUNK]
        sims = table[[index[w] for w in chunk]] @ table.T
        # stable order: by similarity, then by row (a sort, not topk, whose tie order is unspecified)
        order = torch.argsort(-sims, dim=1, stable=True)[:, :take].tolist()
        for w, cand in zip(chunk, order):
            near = [names[j] for j in cand if not _related(w, names[j])][:k]
            if near:
                out[w] = near
    return out


def content_words(texts: Iterable[str], frequent: int = FREQUENT) -> list[str]:
    """The lower-cased whole words (TEXT_WORD) of the texts but their `frequent` most frequent (a
    tenth of the distinct words when that is fewer; ties by first occurrence), in first-occurrence
    order."""
    counts = Counter(m.group().lower() for t in texts for m in TEXT_WORD.finditer(t))
    common = {w for w, _ in counts.most_common(min(frequent, len(counts) // 10))}
    return [w for w in counts if w not in common]


def teacher_neighbours(teacher, words: Iterable[str], k: int = NEIGHBOURS) -> dict[str, list[str]]:
    """embedding_neighbours over a loaded teacher's tokenizer vocabulary and input embeddings."""
    vocab = teacher.tokenizer.get_vocab()
    embeddings = teacher.model.encoder.get_input_embeddings().weight
    return embedding_neighbours(vocab, embeddings, words, k)
