"""The Python reference projection: spec validation, hash, UTF-8 decoding, tokens and their spans,
tags, truncation, and the Unicode tables the C emitter is built from."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pqcompile.projection import DEFAULT_SPEC, ProjectionSpec, SpecError, project, tokenize
from pqcompile.projection.hashing import (GOLDEN_GAMMA, SPLITMIX_C1, SPLITMIX_C2, SPLITMIX_SHIFTS, TERNARY,
                                          murmur64, murmur64_scalar, ternary_features)
from pqcompile.projection.text import decode_with_offsets
from pqcompile.projection.unicode_tables import build_tables

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


def _features_scalar(token: bytes, feature_size: int) -> list[int]:
    h = murmur64_scalar(token)
    out = []
    for j in range(feature_size):
        w = j // 32
        word = h if w == 0 else _splitmix((h + w * GOLDEN_GAMMA) & MASK)
        out.append(int(TERNARY[(word >> (2 * (j % 32))) & 3]))
    return out


@given(st.lists(st.binary(max_size=40), min_size=1, max_size=20))
def test_vectorised_hash_matches_scalar(tokens):
    assert [int(h) for h in murmur64(tokens)] == [murmur64_scalar(t) for t in tokens]


@given(st.lists(st.binary(max_size=20), min_size=1, max_size=5), st.integers(1, 200))
def test_ternary_features_match_scalar(tokens, feature_size):
    got = ternary_features(tokens, feature_size)
    assert got.shape == (len(tokens), feature_size) and got.dtype == np.int8
    assert got.tolist() == [_features_scalar(t, feature_size) for t in tokens]


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
