"""Shared plumbing for the readers: the result list, file decoding, JSON with line numbers, languages."""
from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import PqError


class ExampleList(list):
    """A list of Examples that also remembers the utterances a reader had to leave out:
    `skipped` holds (file:line, reason) for each, e.g. an MTOP parse that cannot be aligned."""

    def __init__(self, items=(), skipped=()):
        super().__init__(items)
        self.skipped: list[tuple[str, str]] = list(skipped)

    def extend_from(self, other: "ExampleList") -> None:
        self.extend(other)
        self.skipped.extend(getattr(other, "skipped", []))


def check_file(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise PqError(f"data file not found: {p}")
    if not p.is_file():
        raise PqError(f"not a file: {p}")
    return p


def read_text(path: Path, encodings: tuple[str, ...] = ("utf-8",)) -> str:
    """The file's text in the first encoding that decodes it; an undecodable file is an error
    naming the line of the first bad byte."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise PqError(f"cannot read {path}: {e.strerror}") from None
    err = None
    for enc in encodings:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError as e:
            err = err or e
            continue
        return text[1:] if text.startswith("\ufeff") else text
    line = data.count(b"\n", 0, err.start) + 1
    raise PqError(f"{path}:{line}: not valid {'/'.join(encodings)} text ({err.reason} at byte {err.start})")


def parse_json(path: Path, text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise PqError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None


def json_item_lines(text: str, n_items: int, path: Path) -> list[int]:
    """Line where each element of the first JSON array in text starts (for messages): the file
    is decoded by parse_json already; this only walks the array again to find positions."""
    dec = json.JSONDecoder()
    pos = text.index("[") + 1
    lines, line, last = [], 1, 0
    ws = re.compile(r"[\s,]*")
    for _ in range(n_items):
        pos = ws.match(text, pos).end()
        line += text.count("\n", last, pos)
        last = pos
        lines.append(line)
        try:
            _, pos = dec.raw_decode(text, pos)
        except json.JSONDecodeError:   # cannot happen after parse_json; keep lines best-effort
            break
    lines += [line] * (n_items - len(lines))
    return lines


def lang_from_path(path: Path) -> str | None:
    """A language named by the file (MultiATIS++ train_DE.tsv) or by one of its two nearest
    folders (mtod/es/dev.conllu, mtop/en/train.json, en_XX/...)."""
    m = re.search(r"_([A-Z]{2})$", path.stem)
    if m:
        return m.group(1).lower()
    for part in reversed(path.resolve().parent.parts[-2:]):
        if re.fullmatch(r"[a-z]{2}(_[A-Z]{2})?", part):
            return part[:2]
    return None


def pick_lang(opts: dict, found: str | None, default: str = "und") -> str:
    return opts.get("lang") or found or default


def finish(examples: list, skipped: list, path: Path) -> ExampleList:
    """Wrap a reader's output; a source that yields no example at all is an error."""
    if not examples:
        extra = f" ({len(skipped)} left out, e.g. {skipped[0][0]}: {skipped[0][1]})" if skipped else ""
        raise PqError(f"no examples in {path}{extra}")
    return ExampleList(examples, skipped)


def folder_file(path: Path, split: str, patterns: tuple[str, ...]) -> Path:
    """The file of split `split` inside a data folder, e.g. <dir>/train.txt."""
    for pat in patterns:
        cand = path / pat.format(split=split)
        if cand.is_file():
            return cand
    raise PqError(f"no {split} file in {path} (looked for {', '.join(p.format(split=split) for p in patterns)})")


def byte_spans_to_chars(text: str, spans: list[tuple[str, int, int]], where: str) -> list[tuple[str, int, int]]:
    """Spans given as UTF-8 byte offsets into text (MTOP's TSV: slots and tokenSpans) -> the same
    spans as character offsets. A span past the end or cutting a multi-byte character is an error."""
    n_bytes = len(text.encode("utf-8"))
    if n_bytes == len(text):            # ASCII: bytes are characters
        char_at = None
    else:
        char_at, pos = {}, 0
        for i, ch in enumerate(text):
            char_at[pos] = i
            pos += len(ch.encode("utf-8"))
        char_at[pos] = len(text)
    out = []
    for label, s, e in spans:
        if e > n_bytes or s > n_bytes:
            raise PqError(f"{where}: slot {label} span {s}:{e} lies outside the text ({n_bytes} UTF-8 bytes)")
        if char_at is None:
            out.append((label, s, e))
        elif s in char_at and e in char_at:
            out.append((label, char_at[s], char_at[e]))
        else:
            raise PqError(f"{where}: slot {label} span {s}:{e} cuts a multi-byte character "
                          "(spans are UTF-8 byte offsets)")
    return out


def parse_span_list(value: str, where: str) -> list[tuple[str, int, int]]:
    """`start:end:LABEL,...` (MTOP's TSV slot column, MTOD's `# slots:`) -> [(label, start, end)];
    a label may itself contain ':' (SL:DATE_TIME)."""
    spans = []
    for item in filter(None, value.strip().split(",")):
        s, _, rest = item.partition(":")
        e, _, label = rest.partition(":")
        if not (s.isdigit() and e.isdigit() and label):
            raise PqError(f"{where}: bad slot {item!r} (expected start:end:LABEL)")
        if int(e) <= int(s):
            raise PqError(f"{where}: bad slot {item!r}: the span {s}:{e} "
                          f"{'is empty' if int(s) == int(e) else 'ends before it starts'} (expected start < end)")
        spans.append((label, int(s), int(e)))
    return spans
