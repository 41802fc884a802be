"""The Python reference projection: spec validation, hash, UTF-8 decoding, tokens and their spans,
tags, truncation, character n-gram features, and the Unicode tables the C emitter is built from."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pqcompile.projection import DEFAULT_SPEC, ProjectionSpec, SpecError, project, tokenize
from pqcompile.projection.hashing import (GOLDEN_GAMMA, NGRAM_SEED, SPLITMIX_C1, SPLITMIX_C2, SPLITMIX_SHIFTS,
                                          TERNARY, murmur64, murmur64_scalar, ternary_features)
from pqcompile.projection.ngrams import char_ngrams
from pqcompile.projection.spec import CHAR_TOKEN_PRESETS
from pqcompile.projection.text import decode_with_offsets
from pqcompile.projection.unicode_tables import build_tables, char_token_runs

ROOT = Path(__file__).resolve().parents[1]
MASK = (1 << 64) - 1
ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=()), max_size=60)  # surrogates included


# -- spec -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, message", [
    ({"feature_size": 0}, "feature_size"),
    ({"feature_size": 4097}, "feature_size"),
    ({"feature_size": True}, "feature_size"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_input_bytes": 0}, "max_input_bytes"),
    ({"max_input_bytes": 70000}, "max_input_bytes"),
    ({"hash": "fnv"}, "unknown hash"),
    ({"invalid_utf8": "strict"}, "invalid_utf8"),
    ({"separators": ", "}, "whitespace"),
    ({"separators": ",,"}, "twice"),
    ({"separators": "\ud800"}, "surrogate"),
    ({"bos_token": ""}, "bos_token"),
    ({"bos_token": "<\udc80>"}, "surrogate"),
    ({"empty_token": "\ud800"}, "surrogate"),
    ({"unicode_version": "1.0.0"}, "Unicode"),
    ({"version": 99}, "version"),
    ({"max_tokens": 2, "bos_token": "<s>", "eos_token": "</s>"}, "room"),
])
def test_spec_validation_errors(changes, message):
    with pytest.raises(SpecError, match=message):
        DEFAULT_SPEC.replace(**changes)


@pytest.mark.parametrize("ranges, message", [
    ([[0x0E7F, 0x0E00]], r"range U\+0E7F-U\+0E00 is reversed"),
    (["thai", [0x0E50, 0x0E60]], r"ranges U\+0E00-U\+0E7F and U\+0E50-U\+0E60 overlap"),
    (["U+2FFF-U+3010"], r"contains whitespace U\+3000"),
    ([[0x09, 0x0D]], r"contains whitespace U\+0009"),
    ([[0xD000, 0xE000]], "surrogate"),
    ([[0x10, 0x110000]], r"outside U\+0000..U\+10FFFF"),
    ([[-1, 5]], "outside"),
    (["tamil"], "neither a preset"),
    (["U+ZZ"], "neither a preset"),
    ([[1, 2, 3]], r"not a preset name"),
    ([[1.0, 2]], r"not a preset name"),
    ("thai", "must be a list"),
    (["U+3001"], r"separator '、' \(U\+3001\) lies in char_token_ranges"),
])
def test_char_token_ranges_validation_errors(ranges, message):
    with pytest.raises(SpecError, match=message):
        DEFAULT_SPEC.replace(char_token_ranges=ranges)


def test_char_token_ranges_spellings_presets_and_json():
    thai = DEFAULT_SPEC.replace(char_token_ranges=["thai"])
    assert thai.char_token_ranges == ((0x0E00, 0x0E7F),)
    for spelling in (["U+0E00-U+0E7F"], [[0x0E00, 0x0E7F]], ((0x0E00, 0x0E7F),)):
        assert DEFAULT_SPEC.replace(char_token_ranges=spelling) == thai
    both = DEFAULT_SPEC.replace(char_token_ranges=["cjk", "thai", "U+1F600"])     # sorted, presets expanded
    assert both.char_token_ranges[0] == (0x0E00, 0x0E7F) and (0x1F600, 0x1F600) in both.char_token_ranges
    assert set(CHAR_TOKEN_PRESETS["cjk"]) <= set(both.char_token_ranges)
    d = json.loads(both.to_json())
    assert d["char_token_ranges"][0] == "U+0E00-U+0E7F" and "U+1F600" in d["char_token_ranges"]
    assert ProjectionSpec.from_json(both.to_json()) == both
    # Without the option a spec serialises as before it existed (same C spec id, same fingerprints).
    assert "char_token_ranges" not in DEFAULT_SPEC.to_dict()
    assert ProjectionSpec.from_dict(DEFAULT_SPEC.to_dict()) == DEFAULT_SPEC
    for name, ranges in CHAR_TOKEN_PRESETS.items():   # every preset is valid with the default separators
        assert DEFAULT_SPEC.replace(char_token_ranges=[name]).char_token_ranges == tuple(sorted(ranges))


def test_spec_json_round_trip_and_unknown_option():
    spec = DEFAULT_SPEC.replace(feature_size=100, bos_token="<S>", separators="ß.")
    assert ProjectionSpec.from_json(spec.to_json()) == spec
    with pytest.raises(SpecError, match="unknown projection spec option"):
        ProjectionSpec.from_dict({**json.loads(spec.to_json()), "stemming": True})
    with pytest.raises(SpecError, match="not valid JSON"):
        ProjectionSpec.from_json("{")


# -- hash -------------------------------------------------------------------------------------------

def _splitmix(x: int) -> int:
    s1, s2, s3 = SPLITMIX_SHIFTS
    x = ((x ^ (x >> s1)) * SPLITMIX_C1) & MASK
    x = ((x ^ (x >> s2)) * SPLITMIX_C2) & MASK
    return x ^ (x >> s3)


def _features_scalar(token: bytes, feature_size: int, seed: int = 0) -> list[int]:
    h = murmur64_scalar(token, seed)
    out = []
    for j in range(feature_size):
        w = j // 32
        word = h if w == 0 else _splitmix((h + w * GOLDEN_GAMMA) & MASK)
        out.append(int(TERNARY[(word >> (2 * (j % 32))) & 3]))
    return out


@given(st.lists(st.binary(max_size=40), min_size=1, max_size=20))
def test_vectorised_hash_matches_scalar(tokens):
    assert [int(h) for h in murmur64(tokens)] == [murmur64_scalar(t) for t in tokens]


@given(st.lists(st.binary(max_size=20), min_size=1, max_size=5), st.integers(1, 200), st.sampled_from([0, NGRAM_SEED]))
def test_ternary_features_match_scalar(tokens, feature_size, seed):
    got = ternary_features(tokens, feature_size, seed)
    assert got.shape == (len(tokens), feature_size) and got.dtype == np.int8
    assert got.tolist() == [_features_scalar(t, feature_size, seed) for t in tokens]


def test_known_hash_value():
    # MurmurHash64A (seed 0) of the empty string: h = 0, two rounds of the final mix leave 0.
    assert murmur64_scalar(b"") == 0
    assert murmur64_scalar(b"a") != murmur64_scalar(b"A")
    assert murmur64_scalar("é".encode()) != murmur64_scalar("e".encode())


# -- decoding -------------------------------------------------------------------------------------

@given(st.binary(max_size=80))
def test_decode_matches_python_replace(data):
    text, offsets = decode_with_offsets(data)
    assert text == data.decode("utf-8", errors="replace")
    assert offsets[0] == 0 and offsets[-1] == len(data) and len(offsets) == len(text) + 1
    for i, ch in enumerate(text):
        assert offsets[i] < offsets[i + 1]
        # Each character is exactly what its own bytes decode to.
        assert data[offsets[i]:offsets[i + 1]].decode("utf-8", errors="replace") == ch


@pytest.mark.parametrize("data, chars", [
    (b"\xe2\x82", 1), (b"\xe0\x80\x80", 3), (b"\xed\xa0\x80", 3), (b"\xf4\x90\x80\x80", 4),
    (b"\xc0\xaf", 2), (b"\xf0\x9f\x98\x80", 1), (b"\xf0\x9f\x98", 1), (b"\xff", 1),
])
def test_decode_maximal_subparts(data, chars):
    text, _ = decode_with_offsets(data)
    assert len(text) == chars and text == data.decode("utf-8", "replace")


# -- tokens ---------------------------------------------------------------------------------------

@given(st.one_of(ANY_TEXT, st.binary(max_size=80)))
def test_spans_point_at_the_token_text(text):
    spec = DEFAULT_SPEC.replace(max_input_bytes=64, max_tokens=6)
    data = (text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))[:64]
    decoded, _ = decode_with_offsets(data)
    toks = tokenize(text, spec)
    assert 1 <= len(toks) <= spec.max_tokens
    prev_end = 0
    for t in toks:
        if t.is_tag:
            continue
        assert decoded[t.char_start:t.char_end] == t.text
        assert data[t.byte_start:t.byte_end].decode("utf-8", "replace") == t.text
        assert t.byte_start >= prev_end
        prev_end = t.byte_end
        assert not any(c.isspace() for c in t.text)
        assert t.hashed == "".join(c.lower() for c in t.text).encode("utf-8")


def test_tokens_separators_and_lowercase():
    toks = tokenize("Wie GEHT's?  İst ΣΑΣ", DEFAULT_SPEC.replace(separators="?"))
    assert [t.text for t in toks] == ["Wie", "GEHT's", "?", "İst", "ΣΑΣ"]
    assert [t.hashed.decode() for t in toks] == ["wie", "geht's", "?", "i\u0307st", "σασ"]  # no final-sigma rule
    assert [(t.char_start, t.char_end) for t in toks] == [(0, 3), (4, 10), (10, 11), (13, 16), (17, 20)]
    assert toks[3].byte_start == 13 and toks[3].byte_end == 17          # İ is 2 bytes


THAI = DEFAULT_SPEC.replace(char_token_ranges=["thai", "cjk"])


def test_thai_marks_attach_to_the_character_before_them():
    assert char_token_runs(((0x0E00, 0x0E7F),)) == (
        (0x0E00, 0x0E30, False), (0x0E31, 0x0E31, True), (0x0E32, 0x0E33, False), (0x0E34, 0x0E3A, True),
        (0x0E3B, 0x0E46, False), (0x0E47, 0x0E4E, True), (0x0E4F, 0x0E7F, False))
    toks = tokenize("ตั้งนาฬิกาปลุกทุกๆ 10 นาที", THAI)
    assert [t.text for t in toks] == ["ตั้", "ง", "น", "า", "ฬิ", "ก", "า", "ป", "ลุ", "ก", "ทุ", "ก", "ๆ", "10",
                                      "น", "า", "ที"]
    assert [(t.char_start, t.char_end, t.byte_start, t.byte_end) for t in toks[:2]] == [(0, 3, 0, 9), (3, 4, 9, 12)]
    assert toks[13].text == "10" and (toks[13].char_start, toks[13].char_end) == (19, 21)


def test_char_token_rules_marks_case_and_limits():
    def texts(s, spec=THAI):
        return [t.text for t in tokenize(s, spec)]
    assert texts("我想听周杰伦 please") == ["我", "想", "听", "周", "杰", "伦", "please"]
    assert texts("か\u3099ぎ") == ["か\u3099", "ぎ"]                              # decomposed kana: one token
    assert texts("\u0e31ก a\u0e31ก ก\u0e31\u0e48x") == ["\u0e31", "ก", "a\u0e31", "ก", "ก\u0e31\u0e48", "x"]
    assert texts("ก\u0301") == ["ก", "\u0301"]                           # a mark outside the ranges: a word
    assert texts("東京、タワー。") == ["東", "京", "、", "タ", "ワ", "ー", "。"]
    assert texts("서울 날씨") == ["서", "울", "날", "씨"]
    upper = DEFAULT_SPEC.replace(char_token_ranges=[[0x41, 0x43]])            # case rules unchanged
    toks = tokenize("ABCdE", upper)
    assert [t.text for t in toks] == ["A", "B", "C", "dE"] and [t.hashed for t in toks] == [b"a", b"b", b"c", b"de"]
    limited = THAI.replace(max_tokens=4, eos_token="</S>")
    toks = tokenize("กั้ขคง", limited)
    assert [t.text for t in toks] == ["กั้", "ข", "ค", "</S>"] and toks[-1].char_start == 6
    assert tokenize("hello world", THAI) == tokenize("hello world", DEFAULT_SPEC)


THAI_CJK_TEXT = st.text(alphabet=st.sampled_from(list("กขงนาเๆ ab.、東京か") + ["\u0e31", "\u0e48", "\u3099", "\u0301"]),
                        max_size=40)


@given(THAI_CJK_TEXT)
def test_char_tokens_partition_the_text(text):
    runs = char_token_runs(THAI.char_token_ranges)

    def kind(c):
        return next(("mark" if m else "char" for lo, hi, m in runs if lo <= ord(c) <= hi), "other")
    toks = tokenize(text, THAI.replace(max_tokens=100))
    words = [t for t in toks if not t.is_tag]
    assert "".join(t.text for t in words) == "".join(c for c in text if not c.isspace())
    for t in words:
        kinds = [kind(c) for c in t.text]
        if kinds[0] == "char":
            assert set(kinds[1:]) <= {"mark"}                                  # a char and its marks
        elif t.text not in THAI.separators:
            assert "char" not in kinds                                          # a word never holds one
        assert t.hashed == t.text.lower().encode()


def test_tags_and_empty_marker():
    spec = DEFAULT_SPEC.replace(bos_token="<S>", eos_token="</S>", max_tokens=4)
    toks = tokenize(" \t\u3000 ", spec)
    assert [(t.text, t.is_tag) for t in toks] == [("<S>", True), ("<EMPTY>", True), ("</S>", True)]
    assert (toks[-1].char_start, toks[-1].byte_start) == (4, 6)         # EOS sits at the end of the input
    toks = tokenize("a b c d e", spec)
    assert [t.text for t in toks] == ["<S>", "a", "b", "</S>"]          # max_words = max_tokens - 2
    assert toks[-1].byte_end == 9
    assert tokenize("<S>", spec)[1].hashed == b"<s>"                    # words are lower-cased, tags are not
    assert tokenize("x", spec)[0].hashed == b"<S>"


def test_truncation_to_max_input_bytes():
    spec = DEFAULT_SPEC.replace(max_input_bytes=10)
    long = "straße straße".encode()
    assert tokenize(long, spec) == tokenize(long[:10], spec)
    toks = tokenize(long, spec)
    assert [t.text for t in toks] == ["straße", "st"] and toks[-1].byte_end == 10
    cut = tokenize("aaaaaaaaaé".encode(), spec)                          # é cut in half -> U+FFFD
    assert cut[0].text == "aaaaaaaaa\ufffd"


def test_project_shapes_mask_and_zero_rows():
    spec = DEFAULT_SPEC.replace(feature_size=40, max_tokens=5)
    p = project(["hello world", b"\xff", ""], spec)
    assert p.features.shape == (3, 5, 40) and p.features.dtype == np.int8
    assert p.mask.tolist() == [[True, True, False, False, False], [True] + [False] * 4, [True] + [False] * 4]
    assert not p.features[~p.mask].any()
    assert set(np.unique(p.features)) <= {-1, 0, 1}
    assert (p.features[0, 0] == ternary_features([b"hello"], 40)[0]).all()
    assert (p.features[2, 0] == ternary_features([b"<EMPTY>"], 40)[0]).all()


# -- character n-grams (sub-word features) ---------------------------------------------------------

NGRAM_SPEC = DEFAULT_SPEC.replace(feature_size=70, char_ngrams=[8, 1, 2, 5], ngram_features=37, bos_token="<S>",
                                  eos_token="</S>", empty_token="∅")


def _ngram_row_scalar(word: str, sizes, width: int, lowercase: bool = True) -> list[int]:
    """A second, plain implementation of a word's n-gram columns from its surface text: markers,
    code-point windows, scalar murmur with the n-gram seed, summed and clamped."""
    low = "".join(c.lower() for c in word) if lowercase else word
    elems = [b"\xfe"] + [c.encode("utf-8") for c in low] + [b"\xff"]
    total = [0] * width
    for n in sizes:
        for i in range(len(elems) - n + 1):
            for j, v in enumerate(_features_scalar(b"".join(elems[i:i + n]), width, NGRAM_SEED)):
                total[j] += v
    return [max(-127, min(127, v)) for v in total]


@pytest.mark.parametrize("changes, message", [
    ({"char_ngrams": [3]}, r"ngram_features must be in 1..feature_size - 1 = 511"),
    ({"char_ngrams": [3], "ngram_features": 512}, r"ngram_features must be in 1..feature_size - 1 = 511"),
    ({"ngram_features": 8}, "char_ngrams is empty"),
    ({"char_ngrams": [0], "ngram_features": 8}, "size 0 is outside 1..8"),
    ({"char_ngrams": [9], "ngram_features": 8}, "size 9 is outside 1..8"),
    ({"char_ngrams": [3, 3], "ngram_features": 8}, "listed twice"),
    ({"char_ngrams": 3, "ngram_features": 8}, "must be a list"),
    ({"char_ngrams": "3", "ngram_features": 8}, "must be a list"),
    ({"char_ngrams": [True], "ngram_features": 8}, "not an integer"),
    ({"char_ngrams": [2.0], "ngram_features": 8}, "not an integer"),
    ({"char_ngrams": [3], "ngram_features": 8.0}, "ngram_features must be an integer"),
    ({"char_ngrams": [3], "ngram_features": 8, "version": 1}, "needs projection spec version 2, the spec says 1"),
    ({"version": 2}, "version 2 is for specs with char_ngrams"),
    ({"version": 3}, "version 3 is for specs with fold_digits; this one has none, so it is version 1"),
    ({"version": 4}, "version 4 is for specs with case_features; this one has none, so it is version 1"),
    ({"version": 5}, r"version 5 is not supported \(this pqcompile reads 1..4\)"),
    ({"fold_digits": True, "version": 2}, "fold_digits needs projection spec version 3, the spec says 2"),
    ({"fold_digits": 1}, "fold_digits must be true or false"),
    ({"char_ngrams": [2, 3], "ngram_features": 8, "max_input_bytes": 20000}, "int16"),
])
def test_char_ngram_spec_validation_errors(changes, message):
    with pytest.raises(SpecError, match=message):
        DEFAULT_SPEC.replace(**changes)


def test_char_ngram_spec_versions_json_and_old_files():
    on = DEFAULT_SPEC.replace(char_ngrams=(4, 2), ngram_features=64)
    assert on.char_ngrams == (2, 4) and on.version == 2 and on.token_features == 448 and on.hash_words == 14
    d = json.loads(on.to_json())
    assert d["char_ngrams"] == [2, 4] and d["ngram_features"] == 64 and d["version"] == 2
    assert ProjectionSpec.from_json(on.to_json()) == on
    assert ProjectionSpec.from_dict({k: v for k, v in d.items() if k != "version"}) == on     # derived
    off = on.replace(char_ngrams=(), ngram_features=0)                                          # back to version 1
    assert off == DEFAULT_SPEC and off.version == 1
    # Off, the n-gram fields are left out: specs, spec ids and run fingerprints stay as they were.
    assert set(DEFAULT_SPEC.to_dict()) == {"feature_size", "max_tokens", "max_input_bytes", "hash", "lowercase",
                                           "separators", "bos_token", "eos_token", "empty_token", "invalid_utf8",
                                           "unicode_version", "version"}
    old = json.loads((ROOT / "specs" / "multilingual.json").read_text(encoding="utf-8"))
    assert old["version"] == 1 and "char_ngrams" not in old
    loaded = ProjectionSpec.from_dict(old)
    assert loaded.char_ngrams == () and loaded.ngram_features == 0 and loaded.to_dict() == old


def test_fold_digits_hashes_every_ascii_digit_as_zero():
    spec = DEFAULT_SPEC.replace(fold_digits=True, char_ngrams=(3,), ngram_features=64)
    assert spec.version == 3 and json.loads(spec.to_json())["fold_digits"] is True
    assert ProjectionSpec.from_json(spec.to_json()) == spec
    assert "fold_digits" not in DEFAULT_SPEC.to_dict()                   # off: old specs and ids unchanged
    toks = tokenize("Call 486-555-4358 at 7:45PM \u0663 \uff17 X9", spec)
    assert [t.hashed for t in toks] == [b"call", b"000-000-0000", b"at", b"0", b":", b"00pm",
                                        "\u0663".encode(), "\uff17".encode(), b"x0"]   # ASCII digits only
    assert [t.text for t in toks][1] == "486-555-4358" and (toks[1].char_start, toks[1].char_end) == (5, 17)
    same, other = project(["at 7:45", "at 8:30"], spec).features, project(["at 7:45", "at 8:30"], DEFAULT_SPEC).features
    assert np.array_equal(same[0], same[1]) and not np.array_equal(other[0], other[1])
    # Tokens and spans are those of the spec without folding, so a student may fold digits on labels
    # its teacher made without (FEATURE_ONLY_FIELDS).
    plain = tokenize("Call 486-555-4358 at 7:45PM", DEFAULT_SPEC)
    assert [(t.text, t.char_start, t.byte_end) for t in plain] == [(t.text, t.char_start, t.byte_end) for t in toks[:6]]


def test_subword_spec_file_is_the_default_spec_with_trigrams():
    spec = ProjectionSpec.load(ROOT / "specs" / "subword256.json")
    assert (spec.feature_size, spec.char_ngrams, spec.ngram_features, spec.version) == (256, (3,), 64, 2)
    assert spec.replace(char_ngrams=(), ngram_features=0) == DEFAULT_SPEC.replace(feature_size=256)


def test_char_ngrams_frame_the_word_with_markers():
    assert char_ngrams(b"cat", (3,)) == [b"\xfeca", b"cat", b"at\xff"]
    assert char_ngrams(b"cat", (2, 5)) == [b"\xfec", b"ca", b"at", b"t\xff", b"\xfecat\xff"]
    assert char_ngrams(b"a", (4,)) == []                                  # shorter than n: no n-gram
    assert char_ngrams("été".encode(), (2,)) == [b"\xfe\xc3\xa9", "ét".encode(), "té".encode(), b"\xc3\xa9\xff"]
    assert char_ngrams("😀".encode(), (1,)) == [b"\xfe", "😀".encode(), b"\xff"]
    assert char_ngrams(b"a\xffb", (3,)) == [b"\xfea\xef\xbf\xbd", b"a\xef\xbf\xbdb", b"\xef\xbf\xbdb\xff"]


@given(st.one_of(ANY_TEXT, st.binary(max_size=80)))
def test_ngram_rows_match_a_scalar_implementation(text):
    spec = NGRAM_SPEC
    p = project([text], spec)
    toks = p.tokens[0]
    F0 = spec.token_features
    for t, tok in enumerate(toks):
        row = p.features[0, t]
        assert row[:F0].tolist() == _features_scalar(tok.hashed, F0)         # the whole token, as without n-grams
        if tok.is_tag:
            assert not row[F0:].any()                                         # tags get no n-grams
        else:
            assert row[F0:].tolist() == _ngram_row_scalar(tok.text, spec.char_ngrams, spec.ngram_features)
    assert not p.features[0, len(toks):].any()


def test_ngram_rows_without_lowercase_and_with_character_tokens():
    spec = DEFAULT_SPEC.replace(feature_size=40, char_ngrams=[2], ngram_features=9, lowercase=False,
                                char_token_ranges=["thai"])
    p = project(["ÉTÉ ตั้ง"], spec)
    assert [t.text for t in p.tokens[0]] == ["ÉTÉ", "ตั้", "ง"]
    for t, tok in enumerate(p.tokens[0]):
        assert p.features[0, t, 31:].tolist() == _ngram_row_scalar(tok.text, (2,), 9, lowercase=False)


def test_ngram_sums_are_clamped_on_long_tokens():
    spec = DEFAULT_SPEC.replace(feature_size=64, char_ngrams=[1, 3], ngram_features=32)
    p = project(["a" * 600, "ab" * 4], spec)
    long_row = p.features[0, 0, 32:]
    # 512 kept bytes: "aaa" 510 times, "a" 512 times, plus the marker n-grams: every non-zero column saturates.
    unclamped = 510 * ternary_features([b"aaa"], 32, NGRAM_SEED)[0].astype(int) \
        + 512 * ternary_features([b"a"], 32, NGRAM_SEED)[0].astype(int)
    assert (np.abs(unclamped) > 127).any() and long_row.tolist() == _ngram_row_scalar("a" * 512, (1, 3), 32)
    assert int(np.abs(long_row).max()) == 127 and p.features.dtype == np.int8
    assert int(np.abs(p.features[1, 0, 32:]).max()) > 1                 # sums, not ternary values


def test_tags_get_no_ngrams_even_when_a_word_has_their_bytes():
    spec = NGRAM_SPEC
    p = project(["∅", ""], spec)                                          # the word "∅" and the empty marker "∅"
    word, empty = p.features[0, 1], p.features[1, 1]
    assert p.tokens[0][1].hashed == p.tokens[1][1].hashed and not p.tokens[0][1].is_tag and p.tokens[1][1].is_tag
    assert (word[:spec.token_features] == empty[:spec.token_features]).all()
    assert word[spec.token_features:].any() and not empty[spec.token_features:].any()


def test_specs_with_and_without_ngrams_never_share_cached_rows():
    plain = DEFAULT_SPEC.replace(feature_size=96)
    grams = plain.replace(char_ngrams=[3], ngram_features=32)
    other = plain.replace(char_ngrams=[2], ngram_features=32)
    a, b, c = (project(["paris weather"], s).features for s in (plain, grams, other))
    assert (a[..., :64] == b[..., :64]).all() and (b[..., :64] == c[..., :64]).all()
    assert (a[0, :2, 64:] != b[0, :2, 64:]).any() and (b[0, :2, 64:] != c[0, :2, 64:]).any()
    assert (project(["paris weather"], plain).features == a).all()


def test_ngram_features_of_related_words_overlap():
    """What n-grams are for: an unseen inflection shares most of its n-gram vector with the seen
    word, while the whole-token columns of the two are unrelated."""
    spec = DEFAULT_SPEC.replace(feature_size=512, char_ngrams=[3], ngram_features=256)
    words = ["reminder", "reminders", "weather", "forecast"]
    rows = project([" ".join(words)], spec).features[0, :4].astype(float)

    def cos(u, v):
        return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))
    grams, whole = rows[:, 256:], rows[:, :256]
    assert cos(grams[0], grams[1]) > 0.6 > 0.3 > max(abs(cos(grams[0], grams[2])), abs(cos(grams[0], grams[3])))
    assert abs(cos(whole[0], whole[1])) < 0.3


# -- Unicode tables -------------------------------------------------------------------------------

@pytest.mark.slow
def test_case_tables_reproduce_python_lower_for_every_code_point():
    tables = build_tables(DEFAULT_SPEC)
    assert tables.lower_ranges and len(tables.lower_ranges) < 400          # compact
    for cp in range(sys.maxunicode + 1):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        assert "".join(map(chr, tables.lower(cp))) == chr(cp).lower(), hex(cp)


def test_whitespace_table_and_no_case_table_without_lowercase():
    tables = build_tables(DEFAULT_SPEC.replace(lowercase=False))
    assert tables.lower_ranges == () and tables.lower_expansions == ()
    assert tables.lower(ord("A")) == (ord("A"),)
    spaces = [cp for cp in range(0x3100) if tables.is_space(cp)]
    assert spaces == [cp for cp in range(0x3100) if chr(cp).isspace()]
    assert tables.unicode_version == DEFAULT_SPEC.unicode_version


# -- case columns (spec.case_features) -------------------------------------------------------------

@pytest.mark.parametrize("word, cls", [
    ("call", 0), ("7:45", 0), ("?", 0), ("straße", 0), ("ก", 0), ("\ufffd", 0),
    ("Nicholas", 1), ("I", 1), ("U2", 1), ("Émile", 1), ("ǅemal", 1), ("İstanbul", 1), ("Ⅷ", 1),
    ("NPR", 2), ("ÉCOLE", 2), ("ΣΑΣ", 2),
    ("iPhone", 3), ("McDonald", 3), ("UK2", 3), ("éCOLE", 3), ("x\u0301Y", 3)])
def test_case_class_of_words(word, cls):
    from pqcompile.projection.case import case_class
    assert case_class(word) == cls


@pytest.mark.parametrize("changes, message", [
    ({"case_features": -1}, "case_features must be an integer >= 0"),
    ({"case_features": True}, "case_features must be an integer >= 0"),
    ({"case_features": 8, "lowercase": False}, "case_features needs lowercase: true"),
    ({"case_features": 512}, "must leave at least one whole-token column"),
    ({"case_features": 8, "char_ngrams": [3], "ngram_features": 504}, "must leave at least one whole-token column"),
    ({"case_features": 8, "version": 3}, "case_features needs projection spec version 4, the spec says 3"),
])
def test_case_spec_validation_errors(changes, message):
    with pytest.raises(SpecError, match=message):
        DEFAULT_SPEC.replace(**changes)


def test_case_columns_layout_versions_and_cache():
    spec = DEFAULT_SPEC.replace(feature_size=96, char_ngrams=[3], ngram_features=32, case_features=16)
    assert (spec.version, spec.token_features, spec.case_start) == (4, 48, 80)
    assert ProjectionSpec.from_json(spec.to_json()) == spec and json.loads(spec.to_json())["case_features"] == 16
    assert "case_features" not in DEFAULT_SPEC.to_dict()                 # off: old specs and ids unchanged
    no_case = spec.replace(case_features=0)
    texts = ["call Nicholas NPR iPhone", "call nicholas npr iphone", "<EMPTY>", ""]
    p, q = project(texts, spec), project(texts, no_case)
    # whole-token and n-gram columns are those of a spec with fewer whole-token columns and no case
    assert (p.features[..., :48] == q.features[..., :48]).all()
    assert (p.features[..., 48:80] == q.features[..., 64:96]).all()
    case = p.features[..., 80:]
    assert not case[0, 0].any() and not case[1].any()                     # lower case: zeros
    assert len({case[0, k].tobytes() for k in (1, 2, 3)}) == 3            # initial, upper, mixed differ
    assert (case[0, 1:4] != 0).any(axis=1).all()
    # the word "<EMPTY>" (upper case inside) gets case columns; the empty marker tag never does
    assert case[2, :3].any() and not case[3, 0].any()
    # the same hashed bytes with another case class is another cached row
    r = project(["Paris", "paris", "PARIS"], spec).features[:, 0]
    assert (r[:, :80] == r[0, :80]).all() and len({row.tobytes() for row in r}) == 3
