"""The generated C projection against the Python reference: hypothesis differential tests on the
host build, a bounded libFuzzer run under ASan/UBSan, warning-free builds for every target, and
bit-exactness over the built-in 10,000-string corpus on every emulated target; the same for specs
with character tokens (char_token_ranges: Thai, CJK) over a Thai/CJK-heavy corpus and for specs with
character n-gram features (char_ngrams: odd sizes and column counts, long tokens, clamped sums)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pqcompile.emulator import require_tool
from pqcompile.projection import DEFAULT_SPEC, ProjectionSpec, project
from pqcompile.projection.corpus import MIN_STRINGS, builtin_corpus, sentences
from pqcompile.projection.emit_c import emit_projection_c
from pqcompile.projection.verify import (build_verifier, compare_outputs, count_instructions, expected_output,
                                         explain_dump, projection_size, run_verifier, verify_projection)
from pqcompile.targets import list_targets, load_target

# Small limits (tags, token and byte limits hit often, non-ASCII separators) and a spec without
# lower-casing or separators and an odd feature size (partial last hash word).
SMALL_SPEC = DEFAULT_SPEC.replace(feature_size=100, max_tokens=6, max_input_bytes=40, bos_token="<S>",
                                  eos_token="</S>", separators="-.ß€😀、", empty_token="∅")
NOCASE_SPEC = DEFAULT_SPEC.replace(feature_size=37, max_tokens=5, max_input_bytes=64, lowercase=False,
                                   separators="", eos_token="<E>")
# The shipped multilingual spec (Thai and CJK character tokens, 64 tokens), and small limits with
# character tokens of several kinds: ASCII letters, Thai with its marks, kana, an emoji block.
MULTI_SPEC = ProjectionSpec.load(Path(__file__).resolve().parents[1] / "specs" / "multilingual.json")
SMALL_CHARS_SPEC = DEFAULT_SPEC.replace(feature_size=70, max_tokens=7, max_input_bytes=48, bos_token="<S>",
                                        eos_token="</S>", separators="-.、", empty_token="∅",
                                        char_token_ranges=["thai", "kana", [0x41, 0x43], "U+1F601-U+1F64F"])
# Character n-grams: the shipped subword spec (trigrams, 64 of 256 columns), and small limits with
# odd sizes (1, 2, 5, 8: markers alone, the ring's full length), an odd column split (37 n-gram columns:
# a partial hash word on both sides), tags whose bytes a word can have, and character tokens; one
# without lower-casing.
SUBWORD_SPEC = ProjectionSpec.load(Path(__file__).resolve().parents[1] / "specs" / "subword256.json")
SMALL_NGRAM_SPEC = SMALL_CHARS_SPEC.replace(char_ngrams=[1, 2, 5, 8], ngram_features=37)
NOCASE_NGRAM_SPEC = NOCASE_SPEC.replace(feature_size=64, char_ngrams=[2, 3], ngram_features=32, max_input_bytes=300)
# Digit folding: the shipped spec with it (n-grams, lower-casing), and one that folds digits but keeps case.
DIGITS_SPEC = ProjectionSpec.load(Path(__file__).resolve().parents[1] / "specs" / "subword1024-digits.json")
NOCASE_DIGITS_SPEC = NOCASE_SPEC.replace(fold_digits=True)
# Case columns: the shipped spec with them (32 after 256 n-gram columns), an odd count after odd
# n-gram columns with character tokens and tags, and case columns without n-grams.
CASE_SPEC = ProjectionSpec.load(Path(__file__).resolve().parents[1] / "specs" / "subword1024-digits-case.json")
SMALL_CASE_SPEC = SMALL_NGRAM_SPEC.replace(case_features=5)
CASE_ONLY_SPEC = SMALL_SPEC.replace(case_features=7)
SPECS = {"default": DEFAULT_SPEC, "small": SMALL_SPEC, "nocase": NOCASE_SPEC, "multilingual": MULTI_SPEC,
         "small-chars": SMALL_CHARS_SPEC, "subword": SUBWORD_SPEC, "small-ngrams": SMALL_NGRAM_SPEC,
         "nocase-ngrams": NOCASE_NGRAM_SPEC, "digits": DIGITS_SPEC, "nocase-digits": NOCASE_DIGITS_SPEC,
         "case": CASE_SPEC, "small-case": SMALL_CASE_SPEC, "case-only": CASE_ONLY_SPEC}
NGRAM_SPECS = [name for name, spec in SPECS.items() if spec.char_ngrams]
EMULATED = ["cortex-m4", "cortex-m7", "cortex-m55", "cortex-a53", "cortex-a7"]

LINE_TEXT = st.text(alphabet=st.characters(blacklist_categories=(), blacklist_characters="\n"), max_size=80)
LINE_BYTES = st.binary(max_size=120).map(lambda b: b.replace(b"\n", b" "))
SPICY = st.lists(st.sampled_from(["İ", "ı", "ß", "ẞ", "Σ", "ς", " ", "\u00a0", "\u3000", "\t", "-", ".", "€",
                                  "😀", "\u0301", "\u200d", "a", "Z", "\x00", "\xff", "、", "\ufffd",
                                  "ก", "า", "\u0e31", "\u0e48", "ๆ", "東", "か", "\u3099", "한", "A", "C", "😁",
                                  "0", "7", "9", "\u0663", "\uff17", "\u2167"]),
                 max_size=60).map("".join)


def _encode(s: str) -> bytes:
    return s.encode("utf-8", "surrogatepass")


@pytest.fixture(scope="module")
def host():
    return load_target("host")


@pytest.fixture(scope="module")
def host_builds(host, tmp_path_factory):
    """One host verifier per spec, built once for the module."""
    root = tmp_path_factory.mktemp("host-verify")
    return {name: build_verifier(spec, host, root / name) for name, spec in SPECS.items()}


def _check_same(host, exe, spec, lines):
    got = run_verifier(host, exe, lines)
    want = expected_output(lines, spec)
    mismatches, first = compare_outputs(got, want)
    assert mismatches == 0, f"line {first}: {lines[first]!r}\n  C:      {got[first]}\n  Python: {want[first]}"


# -- differential (hypothesis), host ------------------------------------------------------------

@pytest.mark.parametrize("spec_name", list(SPECS))
@settings(max_examples=25)
@given(lines=st.lists(st.one_of(LINE_TEXT.map(_encode), LINE_BYTES, SPICY.map(_encode)), min_size=1, max_size=40))
def test_c_matches_python_on_random_input(host, host_builds, spec_name, lines):
    _check_same(host, host_builds[spec_name], SPECS[spec_name], lines)


def test_c_matches_python_on_limits(host, host_builds):
    spec = SMALL_SPEC
    lines = [b"", b" ", b"a " * 10, b"x" * 39 + "é".encode(), b"x" * 40, b"x" * 41 + b" y", "ß-ß€😀".encode() * 9,
             "a\u3000b\u00a0c".encode(), b"\xe2\x82" * 30, ("İ" * 30).encode()]
    _check_same(host, host_builds["small"], spec, lines)
    got = run_verifier(host, host_builds["small"], [b"a b c d e f g h"])[0].split()
    assert got[:2] == ["15", "6"]                                         # BOS, 4 words, EOS


def _long_tokens(limit: int) -> list[bytes]:
    """Tokens that fill the byte limit (and run past it, cut mid-character), in 1- to 4-byte characters,
    malformed bytes, and İ (lower-cases to two code points: the most n-grams per byte)."""
    out = []
    for unit in ["a", "é", "€", "😀", "İ", "ab", "\u0e01\u0e31"]:
        data = unit.encode() * (limit // len(unit.encode()) + 2)
        out += [data[:limit], data[:limit - 1], data[:limit + 3], b"x " + data[:limit]]
    return out + [b"\xff" * limit, b"\xe2\x82" * limit, b"a" * (limit - 1) + "é".encode(), b"\xc3" + b"a" * limit]


@pytest.mark.parametrize("spec_name", NGRAM_SPECS)
def test_ngram_specs_match_python_on_long_and_malformed_tokens(host, host_builds, spec_name):
    spec = SPECS[spec_name]
    lines = _long_tokens(spec.max_input_bytes) + [b"", b"\xff", "∅ ∅".encode(), b"<S> </S>", b"a-b.c",
                                                   "ÉTÉ Straße İstanbul ΣΑΣ".encode(), "ตั้งนาฬิกา".encode()]
    _check_same(host, host_builds[spec_name], spec, lines)
    if spec.max_input_bytes > 2 * 127:                                   # "aaa..." saturates its n-gram sums
        grams = project(lines, spec).features[..., spec.token_features:]
        assert int(np.abs(grams).max()) == 127


def test_mismatch_is_explained_token_by_token(host, tmp_path):
    """A device built for a spec without lower-casing, checked against the default spec."""
    other = DEFAULT_SPEC.replace(lowercase=False)
    lines = [b"hello world", b"Hello WORLD"]
    got = run_verifier(host, build_verifier(other, host, tmp_path), lines)
    want = expected_output(lines, DEFAULT_SPEC)
    assert compare_outputs(got, want) == (1, 1)
    assert compare_outputs(got[:1], want) == (1, 1)                      # a missing line counts
    dump = run_verifier(host, build_verifier(other, host, tmp_path, dump=True), [lines[1]])[0]
    detail = explain_dump(DEFAULT_SPEC, lines[1], dump)
    assert "token 0 'Hello'" in detail and "token 1 'WORLD'" in detail and "feature(s) differ" in detail
    assert "unused row" not in detail


# -- coverage-guided fuzzing (libFuzzer + ASan + UBSan), host -----------------------------------

FUZZ_HARNESS = r"""
#include <stdint.h>
#include <stddef.h>
#include "projection.h"

static int8_t features[PQ_MAX_TOKENS][PQ_FEATURE_SIZE];
static pq_token_t tokens[PQ_MAX_TOKENS];

#ifdef PQ_NGRAM_FEATURES   /* the last columns hold n-gram sums in [-127, 127] */
#define PQ_LIMIT(f) ((f) >= PQ_FEATURE_SIZE - PQ_NGRAM_FEATURES ? 127 : 1)
#else
#define PQ_LIMIT(f) 1
#endif

/* Runs pq_project on exactly the fuzzer's bytes (ASan catches any read past them) and traps
   when an invariant of the output does not hold. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t used = size < PQ_MAX_INPUT_BYTES ? size : PQ_MAX_INPUT_BYTES, prev = 0;
    int n = pq_project(data, size, features, tokens), t, f;
    if (n < 1 || n > PQ_MAX_TOKENS) __builtin_trap();
    for (t = 0; t < PQ_MAX_TOKENS; t++) {
        const pq_token_t *k = &tokens[t];
        for (f = 0; f < PQ_FEATURE_SIZE; f++) {
            int8_t v = features[t][f];
            if (v < -PQ_LIMIT(f) || v > PQ_LIMIT(f) || (t >= n && v != 0)) __builtin_trap();
        }
        if (k->byte_start > k->byte_end || k->byte_end > used || k->char_start > k->char_end) __builtin_trap();
        if (t >= n && (k->byte_end || k->char_end || k->is_tag)) __builtin_trap();
        if (t < n && !k->is_tag) {
            if (k->byte_start < prev || k->byte_start == k->byte_end) __builtin_trap();
            prev = k->byte_end;
        }
    }
    return 0;
}
"""


@pytest.mark.slow
@pytest.mark.parametrize("spec_name, seconds", [("default", 20), ("small", 15), ("small-chars", 15),
                                                ("small-ngrams", 15), ("subword", 20)])
def test_fuzz_host_build_under_sanitizers(spec_name, seconds, tmp_path):
    clang = require_tool("clang", ["clang", "libclang-rt-dev"], load_target("host"))
    spec = SPECS[spec_name]
    c_path, _ = emit_projection_c(spec, tmp_path)
    (tmp_path / "harness.c").write_text(FUZZ_HARNESS)
    exe = tmp_path / "fuzz"
    build = subprocess.run([clang, "-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror",
                            "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all",
                            f"-I{tmp_path}", str(tmp_path / "harness.c"), str(c_path), "-o", str(exe)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for i, line in enumerate(builtin_corpus(spec)[::97]):
        (seeds / f"s{i}").write_bytes(line)
    run = subprocess.run([str(exe), f"-max_total_time={seconds}", f"-max_len={2 * spec.max_input_bytes + 16}",
                          "-print_final_stats=1", "-seed=1", str(seeds)],
                         capture_output=True, text=True, errors="replace", cwd=tmp_path)
    log = run.stderr
    assert run.returncode == 0, log[-3000:]
    assert "ERROR: AddressSanitizer" not in log and "runtime error" not in log
    executed = int(re.search(r"stat::number_of_executed_units:\s*(\d+)", log).group(1))
    assert executed > 10_000, log[-2000:]


# -- builds ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("target_name", list_targets())
def test_projection_compiles_warning_free(target_name, tmp_path):
    target = load_target(target_name)
    cc = require_tool(target.compiler, target.compiler_packages, target)
    for name, spec in SPECS.items():
        c_path, _ = emit_projection_c(spec, tmp_path / name)
        proc = subprocess.run([cc, *target.cflags, "-pedantic", "-c", str(c_path), "-o", str(tmp_path / f"{name}.o")],
                              capture_output=True, text=True)
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert {"-Wall", "-Wextra", "-Werror"} <= set(target.cflags)


def test_projection_compiles_warning_free_with_clang(tmp_path):
    clang = shutil.which("clang")
    assert clang, "clang is installed by ci/install.sh"
    for name, spec in SPECS.items():
        c_path, _ = emit_projection_c(spec, tmp_path / name)
        proc = subprocess.run([clang, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c", str(c_path),
                               "-o", str(tmp_path / f"{name}.o")], capture_output=True, text=True)
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr


@pytest.mark.parametrize("target_name, nm", [("host", "nm"), ("cortex-m7", "arm-none-eabi-nm")])
def test_emitted_code_needs_only_memcpy_and_memset(target_name, nm, tmp_path):
    target = load_target(target_name)
    c_path, h_path = emit_projection_c(SMALL_SPEC, tmp_path)
    obj = tmp_path / "projection.o"
    subprocess.run([target.compiler, *target.cflags, "-c", str(c_path), "-o", str(obj)], check=True)
    undefined = subprocess.run([nm, "-u", str(obj)], capture_output=True, text=True, check=True).stdout.split()
    assert set(u for u in undefined if u != "U") <= {"memcpy", "memset"}
    source = c_path.read_text()
    assert re.findall(r"#include\s*[<\"]([^>\"]+)", source) == ["string.h", "projection.h"]
    assert "char " not in source                                          # bytes are uint8_t
    assert f"#define PQ_FEATURE_SIZE {SMALL_SPEC.feature_size}" in h_path.read_text()


# -- every target, the built-in corpus --------------------------------------------------------------

def test_char_token_specs_emit_compact_tables(tmp_path):
    source = emit_projection_c(MULTI_SPEC, tmp_path)[0].read_text()
    runs = re.search(r"#define PQ_N_CHAR (\d+)u", source)
    # 14 ranges; Thai cut into 7 runs by its 3 mark runs, hiragana into 3 by U+3099-U+309A, whose tail
    # run merges with the adjacent katakana range: 14 + 6 + 2 - 1.
    assert runs and int(runs.group(1)) == 21
    assert "0x0e31u, 0x01c63u" in source                                     # U+0E31 alone, a mark run
    assert "PQ_CHAR" not in emit_projection_c(DEFAULT_SPEC, tmp_path / "d")[0].read_text()


def test_ngram_code_only_for_ngram_specs(tmp_path):
    source, header = (path.read_text() for path in emit_projection_c(SMALL_NGRAM_SPEC, tmp_path / "n"))
    assert "static const uint8_t pq_ngram_sizes[PQ_N_NGRAM_SIZES] = {1u, 2u, 5u, 8u};" in source
    assert "#define PQ_NGRAM_COLS 37" in source and "#define PQ_TOKEN_COLS 33" in source
    assert "#define PQ_NGRAM_FEATURES 37" in header
    assert "pq_ngram_acc_t acc;" in source                                 # the sums' only buffer, on the stack
    plain = emit_projection_c(SMALL_CHARS_SPEC, tmp_path / "p")
    assert not any("NGRAM" in path.read_text() for path in plain)


def test_builtin_corpus_covers_the_edge_cases():
    lines = builtin_corpus(DEFAULT_SPEC)
    assert len(lines) >= MIN_STRINGS and all(b"\n" not in line for line in lines)
    assert set(bytes([b]) for b in range(256)) - {b"\n"} <= set(lines)
    texts = [line.decode("utf-8", "replace") for line in lines]
    for must in ["", "\u00a0", "\u3000", "\x00", "👨‍👩‍👧‍👦", "e\u0301", "İ", "ı", "ß", "ẞ", "ΣΑΣ"]:
        assert must in texts, repr(must)
    assert b"\xed\xa0\x80" in lines and b"\xc0\x80" in lines and b"\xe2\x82" in lines
    p = project(lines, DEFAULT_SPEC)
    assert int(p.mask.sum(axis=1).max()) == DEFAULT_SPEC.max_tokens      # token limit reached
    assert max(map(len, lines)) > DEFAULT_SPEC.max_input_bytes           # byte limit exceeded
    assert {lang for lang, _ in sentences()} >= {"en", "de", "es", "fr", "hi", "th", "zh", "ja", "ko", "ar", "ru",
                                                 "el", "tr"}
    script = [line for line in lines if any(MULTI_SPEC.is_char_token(ord(c)) for c in line.decode("utf-8", "replace"))]
    assert len(script) > len(lines) // 4                                  # Thai/CJK-heavy
    assert any("\u0e31\u0e48" in line.decode("utf-8", "replace") for line in script)


@pytest.mark.qemu
@pytest.mark.slow
@pytest.mark.parametrize("target_name, spec_name",
                         [("host", "default")] + [(t, "default") for t in EMULATED] + [("cortex-m4", "small")]
                         + [("host", "small-chars"), ("cortex-m7", "multilingual"), ("cortex-a7", "multilingual"),
                            ("cortex-a53", "small-chars"), ("host", "subword"), ("host", "small-ngrams"),
                            ("cortex-m7", "subword"), ("cortex-m7", "small-ngrams"), ("cortex-a53", "subword"),
                            ("cortex-a53", "nocase-ngrams"), ("cortex-a7", "small-ngrams"), ("cortex-m7", "digits"),
                            ("cortex-m4", "nocase-digits"), ("cortex-m7", "case"), ("cortex-a53", "small-case"),
                            ("cortex-m4", "case-only")])
def test_bit_exact_on_target_over_builtin_corpus(target_name, spec_name, tmp_path):
    spec = SPECS[spec_name]
    lines = builtin_corpus(spec)
    result = verify_projection(spec, load_target(target_name), lines, work_dir=tmp_path)
    assert result.compared == len(lines) >= MIN_STRINGS
    assert result.ok, result.to_dict()


@pytest.mark.qemu
def test_instruction_count_and_size_on_cortex_m7():
    target = load_target("cortex-m7")
    lines = [b"set an alarm for seven am", b"what's the weather like in paris", b""] * 4
    counts = count_instructions(DEFAULT_SPEC, target, lines)
    assert counts["lines"] == len(lines)
    assert counts["tokens"] == int(project(lines, DEFAULT_SPEC).mask.sum())
    assert 100 < counts["instructions_per_token"] < 1_000_000
    size = projection_size(DEFAULT_SPEC, target)
    assert size["ram"] == 0 and size["bss"] == 0                         # no static state
    assert 0 < size["flash"] < 64 * 1024
    grams = count_instructions(SUBWORD_SPEC, target, lines)
    assert grams["tokens"] == counts["tokens"]
    # n-grams cost work per character, never static RAM
    assert grams["instructions_per_token"] > counts["instructions_per_token"]
    grams_size = projection_size(SUBWORD_SPEC, target)
    assert grams_size["ram"] == 0 and size["flash"] < grams_size["flash"] < 64 * 1024


# -- CLI --------------------------------------------------------------------------------------------

def _cli(*args):
    return subprocess.run([sys.executable, "-m", "pqcompile.cli", *args], capture_output=True, text=True)


@pytest.mark.parametrize("spec_name", ["small", "small-ngrams"])
def test_cli_verify_projection_json(tmp_path, spec_name):
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(b"Hello there!\n\xff\xfe raw bytes\n\nStra\xc3\x9fe\n")
    spec = tmp_path / "spec.json"
    spec.write_text(SPECS[spec_name].to_json())
    res = _cli("verify-projection", "--target", "host", "--corpus", str(corpus), "--spec", str(spec),
               "--count-instructions", "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["compared"] == 4 and report["mismatches"] == 0 and report["ok"] is True
    assert report["first_mismatch"] is None and report["size"]["flash"] > 0
    assert "instructions" not in report                                  # host cannot count


def test_cli_verify_projection_bad_input(tmp_path):
    res = _cli("verify-projection", "--target", "host", "--corpus", str(tmp_path / "missing.txt"))
    assert res.returncode == 2 and "cannot read corpus" in res.stderr and "Traceback" not in res.stderr
    bad = tmp_path / "spec.json"
    bad.write_text('{"feature_size": 0}')
    res = _cli("verify-projection", "--target", "host", "--spec", str(bad))
    assert res.returncode == 2 and "feature_size" in res.stderr and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("spec_name", ["case", "small-case", "case-only"])
def test_case_columns_match_python_on_every_case_class(host, host_builds, spec_name):
    spec = SPECS[spec_name]
    words = ["call", "Nicholas", "NPR", "iPhone", "I", "U2", "UK2", "7:45", "Émile", "ÉCOLE", "éCOLE", "straße",
             "STRASSE", "ǅemal", "İstanbul", "ΣΑΣ", "Ⅷ", "ⅷ", "x\u0301Y", "\ufffdA", "ก", "A\xff"]
    lines = [w.encode("utf-8", "surrogatepass") for w in words]
    lines += [b"A\xffB", b"\xc3A", " ".join(words).encode()]
    _check_same(host, host_builds[spec_name], spec, lines)
    features = project(lines[:4], spec).features[:, 0, spec.case_start:]
    assert not features[0].any()
    if spec.case_features < 32:       # a few hashed columns may hold only zeros for a class
        return
    assert all(features[k].any() for k in (1, 2, 3))                   # initial, upper, mixed
    assert len({features[k].tobytes() for k in (1, 2, 3)}) == 3
