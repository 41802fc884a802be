"""Reader for the SNIPS NLU benchmark (2017 custom intent engines): `{Intent: [{data: [{text,
entity?}, ...]}, ...]}`; an utterance is its segments' texts joined, a slot each segment with
an entity. Files are UTF-8 except train_PlayMusic_full.json, which is Latin-1: a file that is
not valid UTF-8 is read as Latin-1 unless encoding= says otherwise."""
from __future__ import annotations

from pathlib import Path

from ..errors import PqError
from .common import ExampleList, check_file, finish, json_item_lines, parse_json, pick_lang, read_text
from .example import Example, normalize_spans

SPLITS = {"train": "train_*_full.json", "validate": "validate_*.json"}


def read_snips(path, split: str = "train", lang: str | None = None, encoding: str | None = None) -> ExampleList:
    """One SNIPS JSON file, or a folder: every train_<Intent>_full.json (split=train) or
    validate_<Intent>.json (split=validate) in it."""
    p = Path(path)
    if p.is_dir():
        if split not in SPLITS:
            raise PqError(f"unknown snips split {split!r} (known: {', '.join(SPLITS)})")
        files = sorted(p.glob(SPLITS[split]))
        if not files:
            raise PqError(f"no {SPLITS[split]} files in {p}")
    else:
        files = [check_file(p)]
    out = ExampleList()
    for f in files:
        out.extend_from(_read_file(f, pick_lang({"lang": lang}, None, "en"), encoding))
    return finish(out, out.skipped, p)


def _read_file(path: Path, lang: str, encoding: str | None) -> ExampleList:
    text = read_text(path, (encoding,) if encoding else ("utf-8", "latin-1"))
    data = parse_json(path, text)
    if not isinstance(data, dict) or len(data) != 1 or not isinstance(next(iter(data.values())), list):
        raise PqError(f"{path}:1: expected {{\"<Intent>\": [{{\"data\": [...]}}, ...]}}")
    intent, items = next(iter(data.items()))
    lines = json_item_lines(text, len(items), path)
    examples = []
    for item, line in zip(items, lines):
        where = f"{path}:{line}"
        segs = item.get("data") if isinstance(item, dict) else None
        if not isinstance(segs, list):
            raise PqError(f"{where}: expected an object with a 'data' list")
        parts, spans, pos = [], [], 0
        for seg in segs:
            if not isinstance(seg, dict) or not isinstance(seg.get("text"), str):
                raise PqError(f"{where}: expected segments {{\"text\": ..., \"entity\": ...}}")
            t = seg["text"]
            if seg.get("entity") and t.strip():
                spans.append((seg["entity"], pos, pos + len(t)))
            parts.append(t)
            pos += len(t)
        utterance = "".join(parts)
        examples.append(Example(utterance, intent, normalize_spans(utterance, spans, where), lang, str(path), line))
    return finish(examples, [], path)
