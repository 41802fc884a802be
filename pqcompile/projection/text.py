"""Text side of the projection: bytes -> code points (with byte offsets) -> tokens.

The device does exactly this in generated C, so every rule here is spelled out:
  1. keep the first spec.max_input_bytes bytes;
  2. decode UTF-8; each maximal invalid subsequence becomes U+FFFD (Python's errors="replace");
  3. split: whitespace (str.isspace()) ends a token and is dropped; a separator character ends
     a token and is a token of its own; a character of spec.char_token_ranges ends a token and
     starts one of its own, which the combining marks of those ranges right after it extend;
  4. keep the first spec.max_words word tokens; add BOS/EOS tags; an utterance without words
     gets the single token spec.empty_token;
  5. lower-case each word per code point (chr(c).lower(), no context rules); with
     spec.fold_digits, every ASCII digit 1-9 then becomes 0; hash the result's UTF-8.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from .spec import ProjectionSpec, whitespace_codepoints
from .unicode_tables import char_token_runs

REPLACEMENT = "\ufffd"
FOLD_DIGITS = bytes.maketrans(b"123456789", b"000000000")


@dataclass(slots=True)
class Token:
    """One projection token. Spans are [start, end) into the decoded text (characters) and into
    the input bytes; tags (BOS/EOS/empty) have empty spans. Treat it as immutable (make changed
    copies with dataclasses.replace); it is not frozen only because frozen dataclasses are 4x slower
    to create, and the training featuriser creates hundreds of thousands per second."""

    text: str          # surface form (decoded, not lower-cased); the tag string for tags
    hashed: bytes      # exactly the bytes that are hashed
    char_start: int
    char_end: int
    byte_start: int
    byte_end: int
    is_tag: bool = False


def _utf8_len(cp: int) -> int:
    return 1 if cp < 0x80 else 2 if cp < 0x800 else 3 if cp < 0x10000 else 4


# Valid range of the first continuation byte for each lead byte; (need, lo, hi).
def _lead_info(b: int):
    if 0xC2 <= b <= 0xDF:
        return 1, 0x80, 0xBF, b & 0x1F
    if b == 0xE0:
        return 2, 0xA0, 0xBF, b & 0x0F
    if 0xE1 <= b <= 0xEC or 0xEE <= b <= 0xEF:
        return 2, 0x80, 0xBF, b & 0x0F
    if b == 0xED:
        return 2, 0x80, 0x9F, b & 0x0F
    if b == 0xF0:
        return 3, 0x90, 0xBF, b & 0x07
    if 0xF1 <= b <= 0xF3:
        return 3, 0x80, 0xBF, b & 0x07
    if b == 0xF4:
        return 3, 0x80, 0x8F, b & 0x07
    return None


def decode_with_offsets(data: bytes) -> tuple[str, Sequence[int]]:
    """Decode like bytes.decode('utf-8', 'replace'); also return each character's byte offset
    (plus a final entry = len(data))."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return _decode_slow(data)
    if text.isascii():
        return text, range(len(data) + 1)
    offsets = [0] * (len(text) + 1)
    pos = 0
    for i, ch in enumerate(text):
        offsets[i] = pos
        pos += _utf8_len(ord(ch))
    offsets[-1] = pos
    return text, offsets


def _decode_slow(data: bytes) -> tuple[str, list[int]]:
    chars, offsets = [], []
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        offsets.append(i)
        if b < 0x80:
            chars.append(chr(b))
            i += 1
            continue
        info = _lead_info(b)
        if info is None:
            chars.append(REPLACEMENT)
            i += 1
            continue
        need, lo, hi, cp = info
        j, ok = i + 1, True
        for k in range(need):
            if j >= n:
                ok = False
                break
            c = data[j]
            if not ((lo <= c <= hi) if k == 0 else (0x80 <= c <= 0xBF)):
                ok = False
                break
            cp = (cp << 6) | (c & 0x3F)
            j += 1
        chars.append(chr(cp) if ok else REPLACEMENT)
        i = j
    offsets.append(n)
    return "".join(chars), offsets


def lower_per_codepoint(s: str) -> str:
    """chr(c).lower() for each character; str.lower() differs only by the final-sigma rule."""
    if "\u03a3" not in s:
        return s.lower()
    return "".join(ch.lower() for ch in s)


def _class_ranges(ranges) -> str:
    """Inclusive code-point ranges as the inside of a regex character class."""
    return "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in ranges)


@lru_cache(maxsize=64)
def _splitter(separators: str, char_ranges: tuple[tuple[int, int], ...]) -> re.Pattern:
    """Token regex: a separator | a character token (a char-token character and the combining marks
    of the ranges after it) | a word (a run of characters that are neither whitespace, separators
    nor char-token characters; a mark of the ranges that follows no char-token character is a
    word character, as every other combining mark is)."""
    ws = "".join(re.escape(chr(cp)) for cp in whitespace_codepoints())
    seps = "".join(re.escape(c) for c in separators)
    runs = char_token_runs(char_ranges)
    chars = _class_ranges((lo, hi) for lo, hi, mark in runs if not mark)
    marks = _class_ranges((lo, hi) for lo, hi, mark in runs if mark)
    alternatives = [f"[{seps}]"] if seps else []
    if chars:  # (ranges of marks alone leave their marks word characters)
        alternatives.append(f"[{chars}][{marks}]*" if marks else f"[{chars}]")
    alternatives.append(f"[^{ws}{seps}{chars}]+")
    return re.compile("|".join(alternatives))


def to_bytes(text: str | bytes) -> bytes:
    if isinstance(text, bytes):
        return text
    if isinstance(text, (bytearray, memoryview)):
        return bytes(text)
    return text.encode("utf-8", "surrogatepass")


def tokenize(text: str | bytes, spec: ProjectionSpec) -> list[Token]:
    """The projection's tokens of one utterance (the device produces the same list)."""
    data = to_bytes(text)[: spec.max_input_bytes]
    decoded, offsets = decode_with_offsets(data)
    tokens: list[Token] = []
    if spec.bos_token is not None:
        tokens.append(Token(spec.bos_token, spec.bos_token.encode(), 0, 0, 0, 0, True))
    max_words, lowercase, fold = spec.max_words, spec.lowercase, spec.fold_digits
    n_words = 0
    for m in _splitter(spec.separators, spec.char_token_ranges).finditer(decoded):
        if n_words == max_words:
            break
        s, e = m.span()
        word = m.group()
        hashed = (lower_per_codepoint(word) if lowercase else word).encode("utf-8")
        if fold:
            hashed = hashed.translate(FOLD_DIGITS)
        tokens.append(Token(word, hashed, s, e, offsets[s], offsets[e]))
        n_words += 1
    if n_words == 0:
        tokens.append(Token(spec.empty_token, spec.empty_token.encode(), 0, 0, 0, 0, True))
    if spec.eos_token is not None:
        end_c, end_b = len(decoded), len(data)
        tokens.append(Token(spec.eos_token, spec.eos_token.encode(), end_c, end_c, end_b, end_b, True))
    return tokens
