"""Reader for MultiATIS++ TSV files: a header row, then `id, utterance, slot_labels, intent`.

slot_labels are BIO tags, one per whitespace-separated word of the utterance; they become
character spans. A row whose tag count differs from its word count is left out and counted.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import PqError
from .common import ExampleList, check_file, finish, lang_from_path, pick_lang, read_text
from .example import Example, bio_spans, normalize_spans

COLUMNS = ("id", "utterance", "slot_labels", "intent")


def read_matis(path, lang: str | None = None) -> ExampleList:
    """A MultiATIS++ TSV file (e.g. train_DE.tsv; the language comes from the name or lang=)."""
    p = check_file(Path(path))
    language = pick_lang({"lang": lang}, lang_from_path(p))
    lines = read_text(p).split("\n")
    header = lines[0].rstrip("\r").split("\t") if lines else []
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise PqError(f"{p}:1: header row lacks column(s) {', '.join(missing)} (expected {', '.join(COLUMNS)})")
    col = {c: header.index(c) for c in COLUMNS}
    examples, skipped = [], []
    for n, line in enumerate(lines[1:], 2):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        cols = line.split("\t")
        where = f"{p}:{n}"
        if len(cols) != len(header):
            raise PqError(f"{where}: {len(cols)} columns, the header has {len(header)}")
        text, intent = cols[col["utterance"]], cols[col["intent"]].strip()
        if not intent:
            raise PqError(f"{where}: empty intent")
        words = [m.span() for m in re.finditer(r"\S+", text)]
        tags = cols[col["slot_labels"]].split()
        if len(tags) != len(words):
            skipped.append((where, f"{len(tags)} slot labels for {len(words)} words"))
            continue
        spans = bio_spans(words, tags, where)
        examples.append(Example(text, intent, normalize_spans(text, spans, where), language, str(p), n))
    return finish(examples, skipped, p)
