"""Reader for the multilingual task-oriented dialog data (Schuster et al., 2019), CoNLL-U-like.

A block per utterance: `# text: ...`, `# intent: ...`, `# slots: start:end:label,...` (character
spans into the text), then one line per token: index, token, intent, BIO tag (NoLabel = O).
The `# slots:` spans are the gold frame; token lines are checked for shape only, since the
projection's tokens, not the data set's, carry the tags.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import PqError
from .common import (ExampleList, check_file, finish, folder_file, lang_from_path, parse_span_list, pick_lang,
                     read_text)
from .example import Example, normalize_spans


def read_mtod(path, split: str = "train", lang: str | None = None) -> ExampleList:
    """MTOD from a .conllu file or a language folder holding <split>.conllu (train, dev, test)."""
    p = Path(path)
    if p.is_dir():
        p = folder_file(p, split, ("{split}.conllu",))
    p = check_file(p)
    language = pick_lang({"lang": lang}, lang_from_path(p))
    examples = []
    block: dict = {}

    def flush():
        if not block:
            return
        where = f"{p}:{block['line']}"
        if "text" not in block or "intent" not in block:
            raise PqError(f"{where}: block without '# text:' and '# intent:' lines")
        text = block["text"]
        spans = parse_span_list(block.get("slots", ""), where)
        examples.append(Example(text, block["intent"], normalize_spans(text, spans, where), language,
                                str(p), block["line"]))
        block.clear()

    for n, line in enumerate(read_text(p).split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            flush()
            continue
        if line.startswith("#"):   # other comment lines ("# sent_id = ...") are ignored
            key, sep, value = line[1:].partition(":")
            key = key.strip()
            if sep and key in ("text", "intent", "slots"):
                if "tokens" in block:   # a new block without a blank line before it
                    flush()
                block.setdefault("line", n)
                block[key] = value.removeprefix(" ") if key == "text" else value.strip()
            continue
        if len(line.split("\t")) != 4:
            raise PqError(f"{p}:{n}: expected a token line with 4 tab-separated columns "
                          f"(index, token, intent, slot tag)")
        if "text" not in block:
            raise PqError(f"{p}:{n}: token line before '# text:'")
        block["tokens"] = True
    flush()
    return finish(examples, [], p)
