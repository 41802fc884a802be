"""Reader for the multilingual task-oriented dialog data (Schuster et al., 2019), CoNLL-U-like.

A block per utterance: `# text: ...`, `# intent: ...`, `# slots: start:end:label,...` (character
spans into the text), then one line per token: index, token, intent, BIO tag (NoLabel = O).
The `# slots:` spans are the gold frame; token lines are checked for shape only, since the
projection's tokens, not the data set's, carry the tags.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import PqError
from .common import ExampleList, check_file, finish, folder_file, lang_from_path, pick_lang, read_text
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
        spans = []
        for item in filter(None, block.get("slots", "").split(",")):
            s, _, rest = item.partition(":")
            e, _, label = rest.partition(":")
            if not (s.isdigit() and e.isdigit() and label):
                raise PqError(f"{where}: bad slot {item!r} (expected start:end:label)")
            spans.append((label, int(s), int(e)))
        examples.append(Example(text, block["intent"], normalize_spans(text, spans, where), language,
                                str(p), block["line"]))
        block.clear()

    for n, line in enumerate(read_text(p).split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            flush()
            continue
        if line.startswith("#"):
            key, sep, value = line[1:].partition(":")
            key = key.strip()
            if not sep:
                raise PqError(f"{p}:{n}: comment line without 'key: value'")
            if key in ("text", "intent", "slots"):
                if "tokens" in block:
                    flush()
                block.setdefault("line", n)
                block[key] = value[1:] if value.startswith(" ") else value
                if key == "intent":
                    block[key] = value.strip()
            continue
        if len(line.split("\t")) != 4:
            raise PqError(f"{p}:{n}: expected a token line with 4 tab-separated columns "
                          f"(index, token, intent, slot tag)")
        if "text" not in block:
            raise PqError(f"{p}:{n}: token line before '# text:'")
        block["tokens"] = True
    flush()
    return finish(examples, [], p)
