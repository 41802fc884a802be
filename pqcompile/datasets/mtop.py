"""MTOP readers: the original 8-column TSV, the parse-only JSON list, and the 6-language aligned JSON.

All give the flat frame (top-level intent + top-level slot spans; see mtop_parse). The TSV has
gold slot spans as UTF-8 *byte* offsets into the utterance (like its tokenSpans; the official
non-English files and some English rows hold multi-byte characters), converted here to the
character offsets every Example uses; the JSON forms have only a parse, aligned to the sentence by
mtop_parse, and utterances whose parse cannot be aligned are left out and counted in `skipped`.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import PqError
from .common import (ExampleList, byte_spans_to_chars, check_file, finish, folder_file, json_item_lines,
                     lang_from_path, parse_json, parse_span_list, pick_lang, read_text)
from .example import Example, normalize_spans
from .mtop_parse import ParseError, align_slots, flat_frame

# The official TSV's columns; the reader needs the first four (locale, when there, names the language).
COLUMNS = ("id", "intent", "slots", "utterance", "domain", "locale", "parse", "tokens")
MIN_COLUMNS = 4

def read_mtop(path, split: str = "train", lang: str | None = None) -> ExampleList:
    """MTOP from a TSV file (eval.txt), a parse-only JSON file (train.json), or a language folder
    holding <split>.txt / <split>.json (split: train, eval or test)."""
    p = Path(path)
    if p.is_dir():
        p = folder_file(p, split, ("{split}.txt", "{split}.tsv", "{split}.json", "mtop_{split}.json"))
    p = check_file(p)
    text = read_text(p)
    opts = {"lang": lang}
    if text.lstrip().startswith(("[", "{")):      # a JSON object is refused there, by name
        return _read_parse_json(p, text, opts)
    return _read_tsv(p, text, opts)


def _read_tsv(path: Path, text: str, opts: dict) -> ExampleList:
    examples = []
    for n, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        cols = line.split("\t")
        where = f"{path}:{n}"
        if not MIN_COLUMNS <= len(cols) <= len(COLUMNS):
            raise PqError(f"{where}: expected MTOP's tab-separated columns {', '.join(COLUMNS[:MIN_COLUMNS])}"
                          f"[, {', '.join(COLUMNS[MIN_COLUMNS:])}] ({MIN_COLUMNS} to {len(COLUMNS)}), "
                          f"got {len(cols)}")
        intent, slots, utterance = cols[1], cols[2], cols[3]
        if not intent:
            raise PqError(f"{where}: empty intent")
        spans = byte_spans_to_chars(utterance, parse_span_list(slots, where), where)
        locale = cols[5].split("_")[0].lower() if len(cols) > 5 else ""
        lang = pick_lang(opts, locale or lang_from_path(path))
        examples.append(Example(utterance, intent, normalize_spans(utterance, spans, where), lang, str(path), n))
    return finish(examples, [], path)


def parsed_example(sentence, parse, lang: str, path: Path, line: int) -> Example | str:
    """An Example from a sentence and its bracketed parse, or the reason it cannot be aligned."""
    where = f"{path}:{line}"
    if not isinstance(sentence, str) or not isinstance(parse, str):
        raise PqError(f"{where}: sentence and parse must be strings")
    try:
        intent, slots = flat_frame(parse)
    except ParseError as e:
        return f"bad parse: {e}"
    spans = align_slots(sentence, slots)
    if isinstance(spans, str):
        return spans
    return Example(sentence, intent, normalize_spans(sentence, spans, where), lang, str(path), line)


def _read_parse_json(path: Path, text: str, opts: dict) -> ExampleList:
    items = parse_json(path, text)
    if not isinstance(items, list):
        raise PqError(f"{path}:1: expected a JSON list of {{original_sentence, mtop_parsing}} objects, "
                      f"got {_json_kind(items)}")
    lines = json_item_lines(text, len(items), path)
    lang = pick_lang(opts, lang_from_path(path))
    examples, skipped = [], []
    for item, line in zip(items, lines):
        if not isinstance(item, dict) or "original_sentence" not in item or "mtop_parsing" not in item:
            raise PqError(f"{path}:{line}: expected an object with original_sentence and mtop_parsing")
        ex = parsed_example(item["original_sentence"], item["mtop_parsing"], lang, path, line)
        if isinstance(ex, str):
            skipped.append((f"{path}:{line}", ex))
        else:
            examples.append(ex)
    return finish(examples, skipped, path)


def _json_kind(value) -> str:
    if isinstance(value, dict):
        keys = ", ".join(list(value)[:4]) + (", ..." if len(value) > 4 else "")
        return f"a JSON object ({{{keys}}})" if value else "an empty JSON object"
    return f"a JSON {type(value).__name__}"


def read_mtop6(path, langs: str | None = None) -> ExampleList:
    """The aligned 6-language MTOP JSON (`{id, question: {lang: text}, mr: {slot_intent: {lang:
    parse}}}`; the shared copy has en, de, es, fr, hi, th); langs: '+'-separated codes
    (default: every language of the file's first item)."""
    p = check_file(Path(path))
    text = read_text(p)
    items = parse_json(p, text)
    if not isinstance(items, list) or not items or not isinstance(items[0], dict) \
            or not isinstance(items[0].get("question"), dict):
        got = _json_kind(items) if not isinstance(items, list) else "a list without them"
        raise PqError(f"{p}:1: expected a JSON list of {{id, question, mr}} objects, got {got}")
    present = tuple(items[0]["question"])
    wanted = tuple(langs.split("+")) if langs else present
    bad = [x for x in wanted if x not in present]
    if bad:
        raise PqError(f"language(s) {'+'.join(bad)} not in {p} (it has {'+'.join(present)})")
    lines = json_item_lines(text, len(items), p)
    examples, skipped = [], []
    for lang in wanted:
        for item, line in zip(items, lines):
            try:
                sentence, parse = item["question"][lang], item["mr"]["slot_intent"][lang]
            except (KeyError, TypeError):
                raise PqError(f"{p}:{line}: expected question.{lang} and mr.slot_intent.{lang}") from None
            ex = parsed_example(sentence, parse, lang, p, line)
            if isinstance(ex, str):
                skipped.append((f"{p}:{line} [{lang}]", ex))
            else:
                examples.append(ex)
    return finish(examples, skipped, p)
