"""The built-in corpus for proving the device projection bit-exact: >= 10,000 strings, one per line.

Deterministic (fixed seeds), generated from the project's own multilingual sentences
(pqcompile/assets/projection_sentences.txt: en, de, es, fr, hi, th, zh, ja, ko, ar, ru, el, tr) plus
edge cases built here: empty and whitespace-only lines, every Unicode whitespace character, NBSP,
ideographic space, NUL bytes, emoji and ZWJ sequences, combining marks, Turkish dotted/dotless i,
German ß/ẞ, Greek final sigma, every cased code point, a sweep over all planes, every single
byte except '\\n' (the line separator), truncated, overlong and surrogate UTF-8, random byte
mutations of real sentences, utterances with more tokens and more bytes than the spec keeps, and
Thai/CJK-heavy strings for character tokens (`script_cases`): text without spaces, combining marks
at every kind of position, decomposed kana, and the code points at each edge of the presets'
ranges and of the spec's own char_token_ranges.
"""
from __future__ import annotations

import random
import sys
import unicodedata
from importlib import resources

from .spec import CHAR_TOKEN_PRESETS, ProjectionSpec, whitespace_codepoints

MIN_STRINGS = 10_000


def sentences() -> list[tuple[str, str]]:
    """(language, sentence) pairs from the bundled asset."""
    text = resources.files("pqcompile").joinpath("assets/projection_sentences.txt").read_text("utf-8")
    out = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            lang, sentence = line.split("\t", 1)
            out.append((lang, sentence))
    return out


def _utf8(s: str) -> bytes:
    return s.encode("utf-8", "surrogatepass")


def _variants(s: str) -> list[str]:
    """Case, spacing and punctuation variants of one sentence."""
    words = s.split()
    return [s, s.upper(), s.lower(), s.title(), "\t".join(words), "\u00a0".join(words),
            "\u3000".join(words), "  " + "   ".join(words) + "  ", "".join(words),
            " ".join(w + "," for w in words), s.swapcase()]


def _edge_cases() -> list[bytes]:
    cases = [
        "", " ", "     ", "\t", "\t\t \t", "\u00a0", "\u00a0\u00a0x\u00a0", "\u3000", "a\u3000b",
        "\r", "a\rb", "\x0b\x0c", "\x1c\x1d\x1e\x1f", "\u0085", "\u2028\u2029", "\u200b", "a\u200bb",
        "\x00", "\x00\x00\x00", "a\x00b", "\x00 \x00",
        "👍", "👨‍👩‍👧‍👦", "family: 👨‍👩‍👧‍👦 ok", "🏳️‍🌈 flag", "👩🏽‍💻", "🇩🇪🇫🇷", "☕️", "\u200d", "a\u200db",
        "e\u0301", "E\u0301\u0302\u0303", "\u0301 leading mark", "n\u0303o", "ÅÅ", "한국어 텍스트", "ハングル",
        "İ", "İstanbul", "İİİ", "ı", "I ı İ i", "IĞDIR", "ß", "ẞ", "STRAẞE", "straße", "ß ẞ ss SS",
        "Σ", "ΣΑΣ", "ΟΔΥΣΣΕΥΣ", "σς", "ς", "ΣΣ Σ.Σ", "ᾈ ᾼ ῼ", "ǅ ǈ ǋ ǲ", "Ⅻ ⅻ", "Ⓐ ⓐ", "𐐀𐐨", "Ꭰ ꭰ",
        "ﬀ ﬁ ﬆ", "K Å Ω", "ϴ ẞ ȸ", "Ⱥ Ⱦ", "...", "?!?!", "¿¡", "a.b,c!d?e", "(x)[y]{z}", "\"quoted\"",
        "。、，！？；：", "你好，世界！", "word.", ".word", "a..b", "\ufffd", "\ufffe\uffff", "\U0010ffff",
        "\ue000 private", "\U000e0001 tag", "\u061c\u200e\u200f", "x" * 40, "ab " * 20,
    ]
    out = [_utf8(c) for c in cases]
    out += [bytes([b]) for b in range(256) if b != 0x0A]                       # every single byte
    out += [b"x" + bytes([b]) + b"y" for b in range(256) if b != 0x0A]
    leads = [0x80, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF,
             0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF8, 0xFC, 0xFE, 0xFF]
    conts = [0x00, 0x20, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xE0, 0xFF]
    out += [bytes([a, b]) for a in leads for b in conts]
    out += [bytes([a, b, c]) for a in (0xE0, 0xED, 0xEF, 0xF0, 0xF4) for b in conts for c in (0x80, 0xBF, 0x41)]
    out += [bytes([a, b, c, 0x80]) for a in (0xF0, 0xF1, 0xF4) for b in (0x8F, 0x90, 0xBF) for c in (0x80, 0xBF)]
    out += [
        b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xe0\x9f\xbf", b"\xf0\x80\x80\x80",
        b"\xf0\x8f\xbf\xbf", b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80",        # overlong
        b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xed\xa0\xbd\xed\xb8\x80", b"a\xed\xb0\x80b",  # surrogates
        b"\xf4\x90\x80\x80", b"\xf7\xbf\xbf\xbf",                                          # > U+10FFFF
        b"\xe2\x82", b"\xe2", b"\xf0\x9f\x98", b"\xf0\x9f", b"abc\xe2\x82", b"\xe2\x82 x",  # truncated
        b"\xc3", b"\xc3\xc3\xa9", b"\xe9t\xe9", b"caf\xe9 cr\xe8me",                       # latin-1
        b"\xef\xbb\xbfBOM line", b"\xfe\xff\x00a", b"\xff\xfea\x00",
    ]
    return out


def _codepoint_sweeps() -> list[bytes]:
    """Every cased code point, every whitespace character, and a sweep over all planes."""
    out: list[bytes] = []
    cased = [cp for cp in range(sys.maxunicode + 1)
             if not 0xD800 <= cp <= 0xDFFF and chr(cp).lower() != chr(cp)]
    for i in range(0, len(cased), 8):
        out.append(_utf8(" ".join(chr(c) + "a" + chr(c) for c in cased[i:i + 8])))
    for cp in whitespace_codepoints():
        if cp != 0x0A:
            out.append(_utf8(f"a{chr(cp)}b{chr(cp)}{chr(cp)}c"))
    sweep = [cp for cp in range(0x80, sys.maxunicode + 1, 97) if not 0xD800 <= cp <= 0xDFFF]
    for i in range(0, len(sweep), 12):
        out.append(_utf8("".join(chr(c) for c in sweep[i:i + 6]) + " " + "".join(chr(c) for c in sweep[i + 6:i + 12])))
    return out


THAI_MARKS = "\u0e31\u0e34\u0e35\u0e36\u0e37\u0e38\u0e39\u0e3a\u0e47\u0e48\u0e49\u0e4a\u0e4b\u0e4c\u0e4d\u0e4e"
# Pieces the Thai/CJK strings are drawn from: script letters, the combining marks inside the
# ranges (Thai vowel/tone marks, kana voicing marks) and outside them, spaces, separators, Latin.
_PIECES = (list("กขคงจฉชซญดตถทนบปผพฟมยรลวศสหอฮะาำเแโใไๆฯ๑๒") + list(THAI_MARKS)
           + list("東京天気明日電話音楽再生時分") + list("あいうかきくさしすたちつはひふアイウカキクサシスタチツハヒフー")
           + ["\u3099", "\u309a", "\uff76", "\uff9e"] + list("서울날씨알람전화") + ["\u1100\u1161"]
           + ["\u0301", "\u200d", "\ufe0f", "😀", "İ", "ẞ", "a", "Z", "7", " ", " ", "\u3000", "、", "。", ".", "?"])


def _edges(spec: ProjectionSpec) -> list[int]:
    """Code points at and around each edge of the presets' ranges and the spec's own ranges."""
    ranges = [r for rs in CHAR_TOKEN_PRESETS.values() for r in rs] + list(spec.char_token_ranges)
    cps = {cp for lo, hi in ranges for cp in (lo - 1, lo, lo + 1, hi - 1, hi, hi + 1)}
    return sorted(cp for cp in cps if 0 < cp <= sys.maxunicode and not 0xD800 <= cp <= 0xDFFF and cp != 0x0A)


def script_cases(spec: ProjectionSpec, rng: random.Random, n: int) -> list[bytes]:
    """Thai/CJK-heavy strings: real Thai/CJK sentences without their spaces, decomposed (NFD) kana,
    fixed mark placements (leading, after a space, a separator or a Latin letter, stacked), every
    range edge next to a mark, and n random strings of script pieces, some longer than
    max_tokens characters or max_input_bytes bytes."""
    script = [t for lang, t in sentences() if lang in ("th", "zh", "ja", "ko")]
    out = [t.replace(" ", "") for t in script] + [unicodedata.normalize("NFD", t) for t in script]
    out += ["\u0e31", "\u0e31\u0e48ก", " \u0e34ก", "ก \u0e34", "a\u0e34ก\u0e49\u0e49\u0e49", "、\u0e31。\u3099",
            "ก\u0301\u0e48", "か\u3099\u309a", "\u3099か", "ก" * 80, "กั" * 60, "ก\u0e31" * 200, "東" * 300]
    out += ["".join(chr(c) + "\u0e31" + chr(c) + "\u3099" for c in _edges(spec)[i:i + 6])
            for i in range(0, len(_edges(spec)), 6)]
    for k in range(n):
        size = rng.choice((3, 10, 30, spec.max_tokens + 5, spec.max_input_bytes // 2))
        out.append("".join(rng.choice(_PIECES) for _ in range(rng.randint(1, size))))
    return [_utf8(t) for t in out]


def _mutations(base: list[bytes], rng: random.Random, n: int) -> list[bytes]:
    """Random byte-level damage: delete, insert, replace, flip a bit, cut."""
    out = []
    for _ in range(n):
        b = bytearray(rng.choice(base))
        for _ in range(rng.randint(1, 3)):
            op = rng.randrange(5)
            pos = rng.randrange(len(b) + 1)
            if op == 0 and b:
                del b[min(pos, len(b) - 1)]
            elif op == 1:
                b.insert(pos, rng.randrange(256))
            elif op == 2 and b:
                b[min(pos, len(b) - 1)] = rng.randrange(256)
            elif op == 3 and b:
                b[min(pos, len(b) - 1)] ^= 1 << rng.randrange(8)
            else:
                del b[pos:]
        out.append(bytes(b).replace(b"\n", b" "))
    return out


def _long(base: list[str], spec: ProjectionSpec, rng: random.Random, n: int) -> list[bytes]:
    """Utterances with more tokens than spec.max_tokens and more bytes than spec.max_input_bytes,
    cut at every kind of position."""
    out = []
    for k in range(n):
        parts: list[str] = []
        while len(" ".join(parts).split()) <= spec.max_tokens + 4 or len(_utf8(" ".join(parts))) <= spec.max_input_bytes + 8:
            parts.append(rng.choice(base))
        data = _utf8(" ".join(parts))
        if k % 3 == 1:
            data = data[:spec.max_input_bytes + rng.randint(-4, 4)]   # cuts near the device buffer edge
        out.append(data)
    return out


def builtin_corpus(spec: ProjectionSpec, min_strings: int = MIN_STRINGS) -> list[bytes]:
    """The deterministic built-in corpus for spec (its limits decide the 'too long' cases)."""
    rng = random.Random(20240603)
    texts = [s for _, s in sentences()]
    variants = [v for s in texts for v in _variants(s)]
    out = [_utf8(v) for v in variants] + _edge_cases() + _codepoint_sweeps()
    out += _long(texts, spec, rng, 150)
    scripts = script_cases(spec, rng, 2500)
    out += scripts
    base = [_utf8(v) for v in variants] + scripts[::5]
    out += _mutations(base, rng, max(2000, min_strings - len(out)))
    return [line.replace(b"\n", b" ") for line in out]
