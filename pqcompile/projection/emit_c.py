"""Generate projection.c / projection.h: the projection of one ProjectionSpec as static C99.

Every constant comes from the spec, the hash constants of `hashing` and the Unicode tables of
`unicode_tables`; the C template below holds only the algorithm (docs/projection.md). The generated
code uses no malloc and no libc beyond memcpy/memset, reads bytes as uint8_t, keeps no buffer that
depends on the input, and only looks at the first PQ_MAX_INPUT_BYTES bytes of its input.

Algorithm in C (one pass to find tokens, then each word is decoded again twice: once to count its
lower-cased UTF-8 bytes, which MurmurHash64A needs before the first block, once to hash them):
  decode -> classify (ASCII table, whitespace ranges, separator list, character-token runs) -> token spans ->
  per token: murmur over the lower-cased UTF-8 -> hash words (splitmix remix) -> 4 features per
  hash byte via a 256x4 ternary table;
  with spec.char_ngrams, per word once more: its lower-cased code points between the two markers
  pass through a ring of the last 8, each n-gram ending there is hashed (murmur, NGRAM_SEED) and
  its ternary features added to 16-bit sums (two per uint32) on the stack, clamped into the
  columns after the whole-token ones;
  with spec.case_features, per word once more: its code points' case (does lower-casing change
  it) gives the case class, whose row is copied from a table into the row's last columns.
A spec without an option (character tokens, n-grams, case) gets exactly the code it got before
the option.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from string import Template

from . import case, hashing, ngrams
from .spec import ProjectionSpec
from .text import FOLD_DIGITS
from .unicode_tables import MAX_RUN, STRIDES, UnicodeTables, build_tables

# Character classes. CHAR starts a token of its own (spec.char_token_ranges); MARK (a combining mark
# inside those ranges) extends the character token before it and is a WORD character elsewhere.
WORD, SPACE, SEP, CHAR, MARK = 0, 1, 2, 3, 4


def spec_id(spec: ProjectionSpec) -> str:
    """A short digest of the spec JSON, compiled into the header so a program can tell specs apart."""
    return hashlib.sha256(spec.to_json().encode("utf-8")).hexdigest()[:16]


def _u8_list(data: bytes) -> str:
    return ", ".join(f"0x{b:02x}" for b in data)


def _wrap(items: list[str], per_line: int = 12, indent: str = "    ") -> str:
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return (",\n" + indent).join(lines)


def _ascii_class(spec: ProjectionSpec, tables: UnicodeTables) -> list[int]:
    seps = set(spec.separators)
    runs = [(lo, hi, MARK if mark else CHAR) for lo, hi, mark in tables.char_runs if lo < 0x80]
    out = []
    for c in range(128):
        run = [cls for lo, hi, cls in runs if lo <= c <= hi]
        out.append(SPACE if chr(c).isspace() else SEP if chr(c) in seps else run[0] if run else WORD)
    return out


def _ascii_map(spec: ProjectionSpec) -> list[int] | None:
    """The hashed byte of each ASCII byte (text.py rule 5: lower-cased, then a digit folded to 0),
    or None when every ASCII byte is hashed as itself."""
    if not (spec.lowercase or spec.fold_digits):
        return None
    out = []
    for c in range(128):
        low = chr(c).lower() if spec.lowercase else chr(c)
        assert len(low) == 1 and ord(low) < 128, "ASCII lower-cases within ASCII"
        out.append(low.encode().translate(FOLD_DIGITS)[0] if spec.fold_digits else ord(low))
    return out


def _space_table(tables: UnicodeTables) -> tuple[str, str]:
    ranges = [(max(lo, 0x80), hi) for lo, hi in tables.whitespace if hi >= 0x80]
    if not ranges:
        return "", ""
    decl = (f"#define PQ_N_SPACE {len(ranges)}u\n"
            f"static const uint32_t pq_space[PQ_N_SPACE][2] = {{\n    "
            + _wrap([f"{{0x{lo:04x}u, 0x{hi:04x}u}}" for lo, hi in ranges], 6) + "\n};\n")
    code = ("    {\n"
            "        size_t k;\n"
            "        for (k = 0u; k < PQ_N_SPACE; k++) {\n"
            "            if (cp >= pq_space[k][0] && cp <= pq_space[k][1]) return PQ_SPACE;\n"
            "        }\n"
            "    }\n")
    return decl, code


def _sep_table(spec: ProjectionSpec) -> tuple[str, str]:
    cps = sorted(ord(c) for c in spec.separators if ord(c) >= 0x80)
    if not cps:
        return "", ""
    decl = (f"#define PQ_N_SEP {len(cps)}u\n"
            f"static const uint32_t pq_sep[PQ_N_SEP] = {{\n    "
            + _wrap([f"0x{c:04x}u" for c in cps]) + "\n};\n")
    code = ("    if (pq_find(pq_sep, PQ_N_SEP, cp)) return PQ_SEP;\n")
    return decl, code


def _char_table(tables: UnicodeTables) -> tuple[str, str]:
    """Declarations and pq_class() code for the character-token runs at or above 0x80: one sorted
    table {first, last << 1 | is_mark}, searched by binary search."""
    runs = [(max(lo, 0x80), hi, mark) for lo, hi, mark in tables.char_runs if hi >= 0x80]
    if not runs:
        return "", ""
    decl = ("/* Character-token runs (spec.char_token_ranges), sorted: {first, last << 1 | is_mark}; a run\n"
            "   with is_mark holds combining marks, which extend the character token before them. */\n"
            f"#define PQ_N_CHAR {len(runs)}u\n"
            "static const uint32_t pq_char[PQ_N_CHAR][2] = {\n    "
            + _wrap([f"{{0x{lo:04x}u, 0x{hi << 1 | mark:05x}u}}" for lo, hi, mark in runs], 4) + "\n};\n")
    code = ("    {\n"
            "        size_t lo = 0u, hi = PQ_N_CHAR;  /* first run whose first code point is > cp */\n"
            "        while (lo < hi) {\n"
            "            size_t mid = lo + (hi - lo) / 2u;\n"
            "            if (pq_char[mid][0] <= cp) lo = mid + 1u; else hi = mid;\n"
            "        }\n"
            "        if (lo > 0u && cp <= pq_char[lo - 1u][1] >> 1) return (pq_char[lo - 1u][1] & 1u) ? PQ_MARK : PQ_CHAR;\n"
            "    }\n")
    return decl, code


def _case_tables(tables: UnicodeTables) -> tuple[str, str]:
    """Declarations and the body of pq_lower() for code points >= 0x80."""
    if not tables.lowercase:
        return "", ""
    assert set(STRIDES) <= {1, 2} and MAX_RUN <= 1024
    ranges = [r for r in tables.lower_ranges if r.last >= 0x80]
    entries = []
    for r in ranges:
        assert r.first < (1 << 21) and 1 <= r.count <= MAX_RUN and r.stride in (1, 2)
        key = (r.first << 11) | ((r.count - 1) << 1) | (r.stride - 1)
        entries.append(f"{{0x{key:08x}u, {r.delta}}}")
    decl = ("/* Single-code-point lower-casing: key = first << 11 | (count - 1) << 1 | (stride - 1);\n"
            "   first + i*stride (i < count) lower-cases to itself + delta. */\n"
            "typedef struct { uint32_t key; int32_t delta; } pq_case_range_t;\n"
            f"#define PQ_N_CASE {len(entries)}u\n"
            "static const pq_case_range_t pq_case[PQ_N_CASE] = {\n    " + _wrap(entries, 4) + "\n};\n")
    code = ""
    if tables.lower_expansions:
        width = tables.max_lower_len
        rows = []
        for src, out in tables.lower_expansions:
            assert src >= 0x80
            padded = list(out) + [0] * (width - len(out))
            rows.append("{0x%04xu, %du, %s}" % (src, len(out), ", ".join(f"0x{c:04x}u" for c in padded)))
        decl += ("/* Code points whose lower case is several code points: {cp, count, code points...}. */\n"
                 f"#define PQ_N_EXPAND {len(rows)}u\n"
                 f"static const uint32_t pq_expand[PQ_N_EXPAND][{2 + width}] = {{\n    "
                 + _wrap(rows, 2) + "\n};\n")
        code += ("    {\n"
                 "        size_t k;\n"
                 "        uint32_t j;\n"
                 "        for (k = 0u; k < PQ_N_EXPAND; k++) {\n"
                 "            if (pq_expand[k][0] == cp) {\n"
                 "                for (j = 0u; j < pq_expand[k][1]; j++) out[j] = pq_expand[k][2 + j];\n"
                 "                return pq_expand[k][1];\n"
                 "            }\n"
                 "        }\n"
                 "    }\n")
    code += ("    {\n"
             "        size_t lo = 0, hi = PQ_N_CASE;  /* first range whose first code point is > cp */\n"
             "        while (lo < hi) {\n"
             "            size_t mid = lo + (hi - lo) / 2u;\n"
             "            if ((pq_case[mid].key >> 11) <= cp) lo = mid + 1u; else hi = mid;\n"
             "        }\n"
             "        if (lo > 0u) {\n"
             "            const pq_case_range_t *r = &pq_case[lo - 1u];\n"
             "            uint32_t off = cp - (r->key >> 11);\n"
             "            uint32_t stride = (r->key & 1u) + 1u;\n"
             "            uint32_t count = ((r->key >> 1) & 0x3ffu) + 1u;\n"
             "            if (off < count * stride && off % stride == 0u) {\n"
             "                out[0] = (uint32_t)((int32_t)cp + r->delta);\n"
             "                return 1u;\n"
             "            }\n"
             "        }\n"
             "    }\n")
    return decl, code


def _ascii_map_decl(spec: ProjectionSpec) -> str:
    table = _ascii_map(spec)
    if table is None:
        return ""
    what = " and ".join(w for w, on in (("lower-cased", spec.lowercase), ("digits folded to 0", spec.fold_digits))
                        if on)
    return (f"/* The hashed byte of each ASCII byte ({what}). */\n"
            "static const uint8_t pq_ascii_map[128] = {\n    "
            + _wrap([f"0x{c:02x}" for c in table], 16) + "\n};\n")


def _ternary4() -> str:
    t = [int(v) for v in hashing.TERNARY]
    rows = ["{%s}" % ", ".join(str(t[(b >> (2 * k)) & 3]) for k in range(4)) for b in range(256)]
    return _wrap(rows, 8)


def _utf8_len(cp: int) -> int:
    return 1 if cp < 0x80 else 2 if cp < 0x800 else 3 if cp < 0x10000 else 4


def _check_ngram_bound(tables: UnicodeTables) -> None:
    """The int16 n-gram sums rely on a token having at most one lower-cased code point per input
    byte (spec._validate_char_ngrams): true when no code point lower-cases to more code points
    than its UTF-8 bytes (Unicode 14: only U+0130, 2 bytes -> 2 code points)."""
    for src, out in tables.lower_expansions:
        if len(out) > _utf8_len(src):
            raise AssertionError(f"U+{src:04X} lower-cases to {len(out)} code points, more than its UTF-8 "
                                 "bytes; the n-gram count bound of the spec no longer holds")


def _ngram_defines(spec: ProjectionSpec) -> str:
    sizes = ", ".join(f"{n}u" for n in spec.char_ngrams)
    return (f"#define PQ_NGRAM_COLS {spec.ngram_features}\n"
            f"#define PQ_NGRAM_WORDS {(spec.ngram_features + 31) // 32}\n"
            f"#define PQ_NGRAM_SEED UINT64_C(0x{hashing.NGRAM_SEED:016x})\n"
            f"#define PQ_N_NGRAM_SIZES {len(spec.char_ngrams)}u\n"
            "/* The n-gram markers, as code points past Unicode; hashed as the bytes "
            f"0x{ngrams.BEGIN[0]:02x} and 0x{ngrams.END[0]:02x}, which UTF-8 never holds. */\n"
            "#define PQ_NGRAM_BEGIN 0x110000u\n"
            "#define PQ_NGRAM_END 0x110001u\n"
            f"static const uint8_t pq_ngram_sizes[PQ_N_NGRAM_SIZES] = {{{sizes}}};\n")


def _split_row(spec: ProjectionSpec) -> bool:
    """The row holds more than the whole-token columns (n-gram or case columns after them)."""
    return spec.token_features < spec.feature_size


def _case_defines(spec: ProjectionSpec) -> str:
    rows = case.case_rows(spec.case_features)[1:]
    body = ",\n".join("    {" + ", ".join(str(int(v)) for v in row) + "}" for row in rows)
    names = ", ".join(k.decode() for k in case.CLASS_KEYS[1:])
    return (f"#define PQ_CASE_COLS {spec.case_features}\n"
            f"#define PQ_CASE_START {spec.case_start}\n"
            f"/* The case columns of the case classes {names} (case.py: their class names hashed with\n"
            f"   seed 0x{case.CASE_SEED:016x}); a word without capitals gets zeros. */\n"
            f"static const int8_t pq_case_rows[3][PQ_CASE_COLS] = {{\n{body}\n}};\n")


def _c_comment(text: str) -> str:
    """text as ASCII that is safe inside a C comment."""
    return text.encode("unicode_escape").decode("ascii").replace("*/", "*\\/")


def _tag(name: str, text: str | None) -> str:
    if text is None:
        return ""
    data = text.encode("utf-8")
    return (f"/* {_c_comment(text)} */\n"
            f"static const uint8_t pq_{name}[{len(data)}] = {{{_u8_list(data)}}};\n")


HEADER = Template("""\
/* projection.h -- generated by pqcompile (emit_c.py) for one ProjectionSpec; do not edit.
 *
 * The pQRNN text projection: UTF-8 bytes -> tokens -> int8 ternary features, bit-exact with
 * pqcompile.projection.project() for the same spec (docs/projection.md).
 *
 *   int n = pq_project(text, len, features, tokens);
 *
 * text/len   the utterance's bytes, any values (malformed UTF-8, NUL, ...); only the first
 *            PQ_MAX_INPUT_BYTES are used, the rest is ignored (exactly like the Python reference).
 *            text may be NULL when len is 0.
 * features   [PQ_MAX_TOKENS][PQ_FEATURE_SIZE] int8 in {-1, 0, +1}$ngram_note; row t belongs to tokens[t];
 *            rows from n on are zero-filled.
 * tokens     [PQ_MAX_TOKENS] spans of each token, [start, end) in input bytes and in decoded
 *            characters; tags (BOS/EOS/empty marker) have is_tag = 1 and empty spans;
 *            entries from n on are zero-filled.
 * returns    n, the number of tokens (1..PQ_MAX_TOKENS).
 *
 * No dynamic memory, no global state (re-entrant), stack use is a few dozen bytes$ngram_stack.
 *
 * Spec: $spec_comment
 */
#ifndef PQ_PROJECTION_H
#define PQ_PROJECTION_H

#include <stddef.h>
#include <stdint.h>

#define PQ_FEATURE_SIZE $feature_size
#define PQ_MAX_TOKENS $max_tokens
#define PQ_MAX_INPUT_BYTES $max_input_bytes
$ngram_header#define PQ_SPEC_ID "$spec_id"
#define PQ_UNICODE_VERSION "$unicode_version"

typedef struct {
    uint16_t byte_start, byte_end;  /* [start, end) into the input bytes */
    uint16_t char_start, char_end;  /* [start, end) into the decoded characters */
    uint8_t is_tag;                 /* 1 for BOS, EOS and the empty-utterance marker */
} pq_token_t;

int pq_project(const uint8_t *text, size_t len,
               int8_t features[PQ_MAX_TOKENS][PQ_FEATURE_SIZE], pq_token_t tokens[PQ_MAX_TOKENS]);

#endif /* PQ_PROJECTION_H */
""")

SOURCE = Template("""\
/* projection.c -- generated by pqcompile (emit_c.py) for spec $spec_id; do not edit.
 * Unicode $unicode_version tables. See projection.h for the API, docs/projection.md for the rules. */
#include <string.h>

#include "projection.h"

#define PQ_MAX_WORDS $max_words
#define PQ_HASH_WORDS $hash_words
$ngram_defines#define PQ_MAX_LOWER $max_lower
#define PQ_MURMUR_M UINT64_C($murmur_m)
#define PQ_MURMUR_R $murmur_r
#define PQ_SEED UINT64_C($seed)
#define PQ_GAMMA UINT64_C($gamma)
#define PQ_MIX_C1 UINT64_C($mix_c1)
#define PQ_MIX_C2 UINT64_C($mix_c2)
#define PQ_MIX_S1 $mix_s1
#define PQ_MIX_S2 $mix_s2
#define PQ_MIX_S3 $mix_s3
#define PQ_REPLACEMENT 0xfffdu

enum { PQ_WORD = $c_word, PQ_SPACE = $c_space, PQ_SEP = $c_sep$char_enum };

/* Class of each ASCII code point: word character, whitespace (dropped), separator (own token)$char_note. */
static const uint8_t pq_ascii_class[128] = {
    $ascii_class
};
$space_decl$sep_decl$char_decl$case_decl
/* Feature values of the 4 two-bit codes in a hash byte, low bits first: TERNARY[(b >> 2k) & 3]. */
static const int8_t pq_ternary4[256][4] = {
    $ternary4
};

$tags
/* Decode the character at s[i] (i < n): *cp is the code point or U+FFFD for a maximal invalid
   subsequence (Python's errors="replace"); returns the bytes it spans (>= 1). */
static size_t pq_decode(const uint8_t *s, size_t n, size_t i, uint32_t *cp)
{
    uint32_t b = s[i], c, lo = 0x80u, hi = 0xbfu;
    size_t need, j;
    if (b < 0x80u) { *cp = b; return 1u; }
    if (b >= 0xc2u && b <= 0xdfu) { need = 1u; c = b & 0x1fu; }
    else if (b >= 0xe0u && b <= 0xefu) {
        need = 2u; c = b & 0x0fu;
        if (b == 0xe0u) lo = 0xa0u;        /* no overlong forms */
        else if (b == 0xedu) hi = 0x9fu;   /* no surrogates */
    } else if (b >= 0xf0u && b <= 0xf4u) {
        need = 3u; c = b & 0x07u;
        if (b == 0xf0u) lo = 0x90u;        /* no overlong forms */
        else if (b == 0xf4u) hi = 0x8fu;   /* nothing above U+10FFFF */
    } else { *cp = PQ_REPLACEMENT; return 1u; }
    for (j = i + 1u; j <= i + need; j++) {
        uint32_t x;
        if (j >= n) { *cp = PQ_REPLACEMENT; return j - i; }
        x = s[j];
        if (x < lo || x > hi) { *cp = PQ_REPLACEMENT; return j - i; }
        c = (c << 6) | (x & 0x3fu);
        lo = 0x80u; hi = 0xbfu;
    }
    *cp = c;
    return need + 1u;
}
$find_fn
static unsigned pq_class(uint32_t cp)
{
    if (cp < 0x80u) return pq_ascii_class[cp];
$char_code$space_code$sep_code    return PQ_WORD;
}

$lower_fn
static size_t pq_utf8(uint32_t cp, uint8_t u[4])
{
    if (cp < 0x80u) { u[0] = (uint8_t)cp; return 1u; }
    if (cp < 0x800u) { u[0] = (uint8_t)(0xc0u | (cp >> 6)); u[1] = (uint8_t)(0x80u | (cp & 0x3fu)); return 2u; }
    if (cp < 0x10000u) {
        u[0] = (uint8_t)(0xe0u | (cp >> 12)); u[1] = (uint8_t)(0x80u | ((cp >> 6) & 0x3fu));
        u[2] = (uint8_t)(0x80u | (cp & 0x3fu));
        return 3u;
    }
    u[0] = (uint8_t)(0xf0u | (cp >> 18)); u[1] = (uint8_t)(0x80u | ((cp >> 12) & 0x3fu));
    u[2] = (uint8_t)(0x80u | ((cp >> 6) & 0x3fu)); u[3] = (uint8_t)(0x80u | (cp & 0x3fu));
    return 4u;
}

/* MurmurHash64A over a byte stream whose length is known up front. */
typedef struct { uint64_t h, block; unsigned fill; } pq_murmur_t;

static void pq_murmur_init(pq_murmur_t *m, size_t len)
{
    m->h = PQ_SEED ^ ((uint64_t)len * PQ_MURMUR_M);
    m->block = 0u;
    m->fill = 0u;
}

static void pq_murmur_byte(pq_murmur_t *m, uint32_t byte)
{
    m->block |= (uint64_t)byte << (8u * m->fill);
    if (++m->fill == 8u) {
        uint64_t k = m->block * PQ_MURMUR_M;
        k ^= k >> PQ_MURMUR_R;
        k *= PQ_MURMUR_M;
        m->h = (m->h ^ k) * PQ_MURMUR_M;
        m->block = 0u;
        m->fill = 0u;
    }
}

static uint64_t pq_murmur_final(pq_murmur_t *m)
{
    uint64_t h = m->h;
    if (m->fill) h = (h ^ m->block) * PQ_MURMUR_M;
    h ^= h >> PQ_MURMUR_R;
    h *= PQ_MURMUR_M;
    h ^= h >> PQ_MURMUR_R;
    return h;
}

/* The hashed bytes of a word s[0..n) (its characters$lower_note, as UTF-8): fed to m, or only
   counted when m is NULL. Decoding the word's span alone gives the same characters as decoding
   the whole input, because each character's decoding only looks forward to its own end. */
static size_t pq_word_bytes(const uint8_t *s, size_t n, pq_murmur_t *m)
{
    size_t i = 0u, total = 0u;
    while (i < n) {
        uint32_t cp, out[PQ_MAX_LOWER], c, k;
        if (s[i] < 0x80u) {
            total++;
            if (m) pq_murmur_byte(m, $ascii_byte);
            i++;
            continue;
        }
        i += pq_decode(s, n, i, &cp);
        $lower_call
        for (k = 0u; k < c; k++) {
            uint8_t u[4];
            size_t q, ul = pq_utf8(out[k], u);
            total += ul;
            if (m) for (q = 0u; q < ul; q++) pq_murmur_byte(m, u[q]);
        }
    }
    return total;
}

/* Features of one token from its hash: word 0 is the hash, word w >= 1 its splitmix remix. */
static void pq_features(uint64_t h, int8_t row[PQ_FEATURE_SIZE])
{
    uint32_t w;
    for (w = 0u; w < PQ_HASH_WORDS; w++) {
        uint64_t x = h;
        uint32_t base = 32u * w;
        if (w) {
            x = h + (uint64_t)w * PQ_GAMMA;
            x = (x ^ (x >> PQ_MIX_S1)) * PQ_MIX_C1;
            x = (x ^ (x >> PQ_MIX_S2)) * PQ_MIX_C2;
            x ^= x >> PQ_MIX_S3;
        }
        if (base + 32u <= $token_cols) {
            uint32_t lo = (uint32_t)x, hi = (uint32_t)(x >> 32);
            int8_t *r = row + base;
            memcpy(r, pq_ternary4[lo & 0xffu], 4u);
            memcpy(r + 4, pq_ternary4[(lo >> 8) & 0xffu], 4u);
            memcpy(r + 8, pq_ternary4[(lo >> 16) & 0xffu], 4u);
            memcpy(r + 12, pq_ternary4[lo >> 24], 4u);
            memcpy(r + 16, pq_ternary4[hi & 0xffu], 4u);
            memcpy(r + 20, pq_ternary4[(hi >> 8) & 0xffu], 4u);
            memcpy(r + 24, pq_ternary4[(hi >> 16) & 0xffu], 4u);
            memcpy(r + 28, pq_ternary4[hi >> 24], 4u);
        } else {
            uint32_t f;
            for (f = 0u; base + f < $token_cols; f++) row[base + f] = pq_ternary4[(uint32_t)(x >> (2u * f)) & 3u][0];
        }
    }
}
$ngram_fn
static void pq_token(pq_token_t *t, size_t bs, size_t be, uint32_t cs, uint32_t ce, uint8_t tag)
{
    t->byte_start = (uint16_t)bs;
    t->byte_end = (uint16_t)be;
    t->char_start = (uint16_t)cs;
    t->char_end = (uint16_t)ce;
    t->is_tag = tag;
}

/* MurmurHash64A of n bytes that are hashed one for one: a tag's UTF-8 (as it is), or an
   all-ASCII word (each byte through `map`, the ASCII lower-case table, when map is not NULL). */
static uint64_t pq_hash_bytes(const uint8_t *s, size_t n, const uint8_t *map)
{
    uint8_t b[8];
    size_t i = 0u, k;
    uint64_t h = PQ_SEED ^ ((uint64_t)n * PQ_MURMUR_M);
    for (; i + 8u <= n; i += 8u) {
        uint32_t lo, hi;
        uint64_t x;
        for (k = 0u; k < 8u; k++) b[k] = map ? map[s[i + k]] : s[i + k];
        lo = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        hi = (uint32_t)b[4] | (uint32_t)b[5] << 8 | (uint32_t)b[6] << 16 | (uint32_t)b[7] << 24;
        x = ((uint64_t)hi << 32 | lo) * PQ_MURMUR_M;
        x ^= x >> PQ_MURMUR_R;
        x *= PQ_MURMUR_M;
        h = (h ^ x) * PQ_MURMUR_M;
    }
    if (i < n) {
        uint64_t tail = 0u;
        for (k = 0u; i + k < n; k++) tail |= (uint64_t)(map ? map[s[i + k]] : s[i + k]) << (8u * k);
        h = (h ^ tail) * PQ_MURMUR_M;
    }
    h ^= h >> PQ_MURMUR_R;
    h *= PQ_MURMUR_M;
    h ^= h >> PQ_MURMUR_R;
    return h;
}
$tag_fn
/* A word s[0..n); ascii: no byte >= 0x80, so its hashed bytes are its own bytes$lower_note. */
static void pq_word(const uint8_t *s, size_t n, int ascii, int8_t row[PQ_FEATURE_SIZE])
{
    pq_murmur_t m;
    if (ascii) {
        pq_features(pq_hash_bytes(s, n, $ascii_map), row);$ngram_call_ascii
        return;
    }
    pq_murmur_init(&m, pq_word_bytes(s, n, NULL));
    (void)pq_word_bytes(s, n, &m);
    pq_features(pq_murmur_final(&m), row);$ngram_call
}

int pq_project(const uint8_t *text, size_t len,
               int8_t features[PQ_MAX_TOKENS][PQ_FEATURE_SIZE], pq_token_t tokens[PQ_MAX_TOKENS])
{
    size_t n = (text == NULL) ? 0u : (len < PQ_MAX_INPUT_BYTES ? len : PQ_MAX_INPUT_BYTES);
    size_t i = 0u, l = 0u, word_b = 0u;
    uint32_t nchars = 0u, word_c = 0u, cp;
    int nt = 0, nwords = 0, in_word = 0, ascii = 1;  /* in_word: 0 none, 1 a word$in_word_note */
$bos_code
    for (; i < n; i += l, nchars++) {
        unsigned cls;
        if (text[i] < 0x80u) {
            l = 1u;
            if (nwords == PQ_MAX_WORDS) {
$full_code
            }
            cls = pq_ascii_class[text[i]];
        } else {
            l = pq_decode(text, n, i, &cp);
            if (nwords == PQ_MAX_WORDS) {
$full_code
            }
            cls = pq_class(cp);
        }
$mark_code        if (cls == PQ_WORD$word_cond) {
            if (!in_word) { in_word = 1; ascii = 1; word_b = i; word_c = nchars; }
            if (text[i] >= 0x80u) ascii = 0;
            continue;
        }
        if (in_word) {
            pq_word(text + word_b, i - word_b, ascii, features[nt]);
            pq_token(&tokens[nt++], word_b, i, word_c, nchars, 0u);
            in_word = 0;
            if (++nwords == PQ_MAX_WORDS) continue;
        }
$start_code        if (cls == PQ_SEP) {
            pq_word(text + i, l, text[i] < 0x80u, features[nt]);
            pq_token(&tokens[nt++], i, i + l, nchars, nchars + 1u, 0u);
            nwords++;
        }
    }
    if (in_word) {
        pq_word(text + word_b, n - word_b, ascii, features[nt]);
        pq_token(&tokens[nt++], word_b, n, word_c, nchars, 0u);
        nwords++;
    }
    if (nwords == 0) {
        $empty_features
        pq_token(&tokens[nt++], 0u, 0u, 0u, 0u, 1u);
    }
$eos_code
    if (nt < PQ_MAX_TOKENS) {
        memset(features[nt], 0, (size_t)(PQ_MAX_TOKENS - nt) * PQ_FEATURE_SIZE);
        memset(&tokens[nt], 0, (size_t)(PQ_MAX_TOKENS - nt) * sizeof tokens[0]);
    }
    return nt;
}
""")

LOWER_FN = Template("""\
/* Lower case of a code point >= 0x80 into out[]; returns how many code points. */
static uint32_t pq_lower(uint32_t cp, uint32_t out[PQ_MAX_LOWER])
{
$case_code    out[0] = cp;
    return 1u;
}

""")

# Main-loop pieces emitted only for a spec with char_token_ranges (the loop is unchanged without).
MARK_CODE = """\
        if (cls == PQ_MARK) {  /* extends a character token; anywhere else a word character */
            if (in_word == 2) { ascii = 0; continue; }  /* marks are never ASCII */
            cls = PQ_WORD;
        }
"""
START_CODE = """\
        if (cls == PQ_CHAR || cls == PQ_WORD) {  /* starts a token (a word after a character token) */
            in_word = (cls == PQ_CHAR) ? 2 : 1;
            ascii = text[i] < 0x80u;
            word_b = i;
            word_c = nchars;
            continue;
        }
"""

# Pieces emitted only for a spec with char_ngrams (without, the code is unchanged).
NGRAM_FN = Template("""
/* Character n-grams (spec.char_ngrams). A word's lower-cased code points, between the markers
   PQ_NGRAM_BEGIN and PQ_NGRAM_END, pass through ring[] (the last 8; an n-gram has at most 8).
   Sums: each 32-bit half q of an n-gram's hash words holds 16 features; acc[q][k] holds columns
   16q + k (low 16 bits) and 16q + 8 + k (high 16 bits), and every n-gram adds feature + 1 (0, 1
   or 2) to them, so a lane never borrows from the other and ends as sum + count, below 2^16 because
   the spec bounds a token's n-grams (count) by 32767. */
typedef uint32_t pq_ngram_acc_t[2u * PQ_NGRAM_WORDS][8];

/* MurmurHash64A with the n-gram seed of one n-gram's bytes s[0..n). */
static uint64_t pq_ngram_hash(const uint8_t *s, size_t n)
{
    uint32_t w[2];
    size_t i = 0u, k;
    uint64_t h = PQ_NGRAM_SEED ^ ((uint64_t)n * PQ_MURMUR_M);
    for (; i < n; i += 8u) {
        uint64_t x;
        w[0] = 0u;
        w[1] = 0u;
        for (k = 0u; k < 8u && i + k < n; k++) w[k >> 2] |= (uint32_t)s[i + k] << (8u * (k & 3u));
        x = (uint64_t)w[1] << 32 | w[0];
        if (i + 8u <= n) {  /* a full block */
            x *= PQ_MURMUR_M;
            x ^= x >> PQ_MURMUR_R;
            x *= PQ_MURMUR_M;
        }
        h = (h ^ x) * PQ_MURMUR_M;
    }
    h ^= h >> PQ_MURMUR_R;
    h *= PQ_MURMUR_M;
    h ^= h >> PQ_MURMUR_R;
    return h;
}

/* Add 16 features (the 2-bit codes of x) + 1 to their lanes a[0..8). */
static void pq_ngram_add16(uint32_t a[8], uint32_t x)
{
    /* code c -> feature + 1 = {1, 2, 0, 1}[c] = (c & 1) + !(c >> 1), still a 2-bit field */
    uint32_t v = (x & 0x55555555u) + (~(x >> 1) & 0x55555555u);
    a[0] += v & 0x00030003u;
    a[1] += (v >> 2) & 0x00030003u;
    a[2] += (v >> 4) & 0x00030003u;
    a[3] += (v >> 6) & 0x00030003u;
    a[4] += (v >> 8) & 0x00030003u;
    a[5] += (v >> 10) & 0x00030003u;
    a[6] += (v >> 12) & 0x00030003u;
    a[7] += (v >> 14) & 0x00030003u;
}

/* Add the features of the n-gram of `size` elements that ends at element count - 1 of the ring. */
static void pq_ngram_add(const uint32_t ring[8], uint32_t count, uint32_t size, pq_ngram_acc_t acc)
{
    uint8_t b[4u * 8u];
    size_t len = 0u;
    uint32_t k, w;
    uint64_t h;
    for (k = count - size; k < count; k++) {
        uint32_t cp = ring[k & 7u];
        if (cp >= PQ_NGRAM_BEGIN) b[len++] = (uint8_t)(cp == PQ_NGRAM_BEGIN ? 0x${begin}u : 0x${end}u);
        else len += pq_utf8(cp, b + len);
    }
    h = pq_ngram_hash(b, len);
    for (w = 0u; w < PQ_NGRAM_WORDS; w++) {
        uint64_t x = h;
        if (w) {
            x = h + (uint64_t)w * PQ_GAMMA;
            x = (x ^ (x >> PQ_MIX_S1)) * PQ_MIX_C1;
            x = (x ^ (x >> PQ_MIX_S2)) * PQ_MIX_C2;
            x ^= x >> PQ_MIX_S3;
        }
        pq_ngram_add16(acc[2u * w], (uint32_t)x);
        pq_ngram_add16(acc[2u * w + 1u], (uint32_t)(x >> 32));
    }
}

/* Append one element to the ring and add every n-gram that ends with it; returns how many. */
static uint32_t pq_ngram_push(uint32_t ring[8], uint32_t *count, uint32_t cp, pq_ngram_acc_t acc)
{
    uint32_t k, added = 0u;
    ring[*count & 7u] = cp;
    ++*count;
    for (k = 0u; k < PQ_N_NGRAM_SIZES; k++) {
        if (*count >= pq_ngram_sizes[k]) {
            pq_ngram_add(ring, *count, pq_ngram_sizes[k], acc);
            added++;
        }
    }
    return added;
}

static int8_t pq_clamp127(int32_t v)
{
    return (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
}

/* The n-gram columns of a word s[0..n): the sums of its n-grams' features, clamped to [-127, 127]. */
static void pq_ngrams(const uint8_t *s, size_t n, int8_t cols[PQ_NGRAM_COLS])
{
    pq_ngram_acc_t acc;
    uint32_t ring[8] = {0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u}, count = 0u, grams, bias, q, k;
    size_t i = 0u;
    memset(acc, 0, sizeof acc);
    grams = pq_ngram_push(ring, &count, PQ_NGRAM_BEGIN, acc);
    while (i < n) {
        uint32_t cp, out[PQ_MAX_LOWER], c;
        if (s[i] < 0x80u) {
            out[0] = $ascii_byte;
            c = 1u;
            i++;
        } else {
            i += pq_decode(s, n, i, &cp);
            $lower_call
        }
        for (k = 0u; k < c; k++) grams += pq_ngram_push(ring, &count, out[k], acc);
    }
    grams += pq_ngram_push(ring, &count, PQ_NGRAM_END, acc);
    /* lane + 0x8000 - grams = sum + 0x8000 in 1..0xffff: both lanes of a word at once, no borrow */
    bias = (0x8000u - grams) * 0x00010001u;
    for (q = 0u; q < 2u * PQ_NGRAM_WORDS; q++) {
        for (k = 0u; k < 8u; k++) {
            uint32_t d = acc[q][k] + bias, col = 16u * q + k;
            if (col < PQ_NGRAM_COLS) cols[col] = pq_clamp127((int32_t)(d & 0xffffu) - 0x8000);
            if (col + 8u < PQ_NGRAM_COLS) cols[col + 8u] = pq_clamp127((int32_t)(d >> 16) - 0x8000);
        }
    }
}
""")
TAG_FN = """
/* A tag's row: its whole-token features; tags get no n-gram or case features. */
static void pq_tag_features(const uint8_t *s, size_t n, int8_t row[PQ_FEATURE_SIZE])
{
    pq_features(pq_hash_bytes(s, n, NULL), row);
    memset(row + PQ_TOKEN_COLS, 0, PQ_FEATURE_SIZE - PQ_TOKEN_COLS);
}
"""

CASE_FN = """
/* The case columns of a word s[0..n) (spec.case_features, case.py): its class from how many of
   its code points lower-casing changes (and whether the first does), then that class's row. */
static void pq_case_columns(const uint8_t *s, size_t n, int8_t cols[PQ_CASE_COLS])
{
    size_t i = 0u;
    uint32_t count = 0u, changed = 0u, first = 0u;
    while (i < n) {
        uint32_t cp, out[PQ_MAX_LOWER], c, ch;
        if (s[i] < 0x80u) {
            ch = (s[i] >= 0x41u && s[i] <= 0x5au);  /* 'A'..'Z' */
            i++;
        } else {
            i += pq_decode(s, n, i, &cp);
            c = pq_lower(cp, out);
            ch = (c != 1u || out[0] != cp);
        }
        if (count == 0u) first = ch;
        changed += ch;
        count++;
    }
    if (changed == 0u) memset(cols, 0, PQ_CASE_COLS);
    else if (first && changed == 1u) memcpy(cols, pq_case_rows[0], PQ_CASE_COLS);         /* initial */
    else if (count >= 2u && changed == count) memcpy(cols, pq_case_rows[1], PQ_CASE_COLS); /* upper */
    else memcpy(cols, pq_case_rows[2], PQ_CASE_COLS);                                     /* mixed */
}
"""

FIND_FN = """
/* 1 when cp is in the sorted table t[0..n). */
static int pq_find(const uint32_t *t, size_t n, uint32_t cp)
{
    size_t lo = 0u, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2u;
        if (t[mid] < cp) lo = mid + 1u; else hi = mid;
    }
    return lo < n && t[lo] == cp;
}
"""


def render(spec: ProjectionSpec) -> tuple[str, str]:
    """(projection.c, projection.h) source text for spec."""
    tables = build_tables(spec)
    space_decl, space_code = _space_table(tables)
    sep_decl, sep_code = _sep_table(spec)
    case_decl, case_code = _case_tables(tables)
    case_decl = _ascii_map_decl(spec) + case_decl
    char_decl, char_code = _char_table(tables)
    chars = bool(spec.char_token_ranges)
    grams = bool(spec.char_ngrams)
    cased = bool(spec.case_features)
    split = _split_row(spec)
    if grams:
        _check_ngram_bound(tables)
    comment = _c_comment(spec.to_json())
    ident = spec_id(spec)
    header = HEADER.substitute(
        spec_comment=comment, feature_size=spec.feature_size, max_tokens=spec.max_tokens,
        max_input_bytes=spec.max_input_bytes, spec_id=ident, unicode_version=tables.unicode_version,
        ngram_note=((f" (the PQ_NGRAM_FEATURES columns before\n *            the case columns, or the last, "
                     f"are character n-gram sums, in [-127, 127])") if grams else "")
        + (" (the last PQ_CASE_FEATURES columns: the word's case class)" if cased else ""),
        ngram_stack=(f",\n * plus {64 * ((spec.ngram_features + 31) // 32)} bytes for the n-gram sums") if grams else "",
        ngram_header=((f"#define PQ_NGRAM_FEATURES {spec.ngram_features}  /* char_ngrams "
                       f"{list(spec.char_ngrams)} */\n") if grams else "")
        + (f"#define PQ_CASE_FEATURES {spec.case_features}  /* case_features */\n" if cased else ""))

    def tag_features(name: str) -> str:
        if split:
            return f"pq_tag_features({name}, sizeof {name}, features[nt]);"
        return f"pq_features(pq_hash_bytes({name}, sizeof {name}, NULL), features[nt]);"
    bos = (f"    {tag_features('pq_bos')}\n"
           "    pq_token(&tokens[nt++], 0u, 0u, 0u, 0u, 1u);\n") if spec.bos_token is not None else ""
    eos = (f"    {tag_features('pq_eos')}\n"
           "    pq_token(&tokens[nt++], n, n, nchars, nchars, 1u);\n") if spec.eos_token is not None else ""
    # Past the last kept word: only the character count matters, and only for the EOS span.
    full = ("                continue;  /* keep counting characters for the EOS span */" if spec.eos_token is not None
            else "                break;")
    s1, s2, s3 = hashing.SPLITMIX_SHIFTS
    mapped = _ascii_map(spec) is not None
    ascii_byte = "pq_ascii_map[s[i]]" if mapped else "s[i]"
    lower_call = "c = pq_lower(cp, out);" if spec.lowercase else "out[0] = cp; c = 1u;"
    ngram_fn = (NGRAM_FN.substitute(begin=f"{ngrams.BEGIN[0]:02x}", end=f"{ngrams.END[0]:02x}",
                                    ascii_byte=ascii_byte, lower_call=lower_call) if grams else "")
    source = SOURCE.substitute(
        spec_id=ident, unicode_version=tables.unicode_version,
        max_words=spec.max_words, hash_words=spec.hash_words, max_lower=tables.max_lower_len,
        murmur_m=f"0x{hashing.MURMUR_M:016x}", murmur_r=hashing.MURMUR_R, seed=f"0x{hashing.SEED:016x}",
        gamma=f"0x{hashing.GOLDEN_GAMMA:016x}", mix_c1=f"0x{hashing.SPLITMIX_C1:016x}",
        mix_c2=f"0x{hashing.SPLITMIX_C2:016x}", mix_s1=s1, mix_s2=s2, mix_s3=s3,
        c_word=WORD, c_space=SPACE, c_sep=SEP,
        ascii_class=_wrap([str(c) for c in _ascii_class(spec, tables)], 32),
        space_decl=space_decl, sep_decl=sep_decl, char_decl=char_decl, case_decl=case_decl, char_code=char_code,
        char_enum=f", PQ_CHAR = {CHAR}, PQ_MARK = {MARK}" if chars else "",
        char_note=", character token (a token of its own)" if chars else "",
        in_word_note=", 2 a character token" if chars else "",
        mark_code=MARK_CODE if chars else "", word_cond=" && in_word != 2" if chars else "",
        start_code=START_CODE if chars else "",
        lower_fn=(LOWER_FN.substitute(case_code=case_code) if spec.lowercase else ""),
        ternary4=_ternary4(),
        tags=_tag("bos", spec.bos_token) + _tag("eos", spec.eos_token) + _tag("empty", spec.empty_token),
        find_fn=FIND_FN if sep_code else "",
        space_code=space_code, sep_code=sep_code,
        lower_note=(", each lower-cased" if spec.lowercase else "")
        + (", digits 1-9 hashed as 0" if spec.fold_digits else ""),
        ascii_byte=ascii_byte, lower_call=lower_call,
        ascii_map="pq_ascii_map" if mapped else "NULL",
        ngram_defines=((f"#define PQ_TOKEN_COLS {spec.token_features}\n" if split else "")
                       + (_ngram_defines(spec) if grams else "") + (_case_defines(spec) if cased else "")),
        token_cols="PQ_TOKEN_COLS" if split else "PQ_FEATURE_SIZE",
        ngram_fn=ngram_fn + (CASE_FN if cased else ""), tag_fn=TAG_FN if split else "",
        ngram_call_ascii=("\n        pq_ngrams(s, n, row + PQ_TOKEN_COLS);" if grams else "")
        + ("\n        pq_case_columns(s, n, row + PQ_CASE_START);" if cased else ""),
        ngram_call=("\n    pq_ngrams(s, n, row + PQ_TOKEN_COLS);" if grams else "")
        + ("\n    pq_case_columns(s, n, row + PQ_CASE_START);" if cased else ""),
        empty_features=tag_features("pq_empty"),
        bos_code=bos, eos_code=eos, full_code=full)
    return source, header


FUSED_API = """\
/* The fused build (`pqcompile build --fuse-projection`): no [PQ_MAX_TOKENS][PQ_FEATURE_SIZE]
 * matrix; the network asks for the feature rows of a few tokens at a time.
 *
 *   int n = pq_tokenize(text, len, tokens);
 *   pq_project_rows(text, tokens, n, first, count, rows);
 *
 * pq_tokenize    tokens and n exactly as pq_project would give them (text/len as there).
 * pq_project_rows  rows[k] (k < count) = the feature row pq_project would give token first + k:
 *                its features for a token of tokens[0..n), zeros for first + k outside [0, n)
 *                (n is clamped to PQ_MAX_TOKENS); writes count rows of PQ_FEATURE_SIZE bytes,
 *                nothing else. text must be the bytes pq_tokenize read. */
int pq_tokenize(const uint8_t *text, size_t len, pq_token_t tokens[PQ_MAX_TOKENS]);
void pq_project_rows(const uint8_t *text, const pq_token_t tokens[PQ_MAX_TOKENS], int n, int first, int count,
                     int8_t rows[][PQ_FEATURE_SIZE]);
"""

PROJECT_ROWS = Template("""
/* Feature rows first..first+count-1 (see projection.h): a word's row from its span alone (the
   span's bytes are all the hashing reads; ascii exactly as the tokenizer's flag: no byte >= 0x80),
   a tag's row by its position (BOS first, EOS last, the empty marker otherwise). */
void pq_project_rows(const uint8_t *text, const pq_token_t tokens[PQ_MAX_TOKENS], int n, int first, int count,
                     int8_t rows[][PQ_FEATURE_SIZE])
{
    int k;
    if (n > PQ_MAX_TOKENS) n = PQ_MAX_TOKENS;
    for (k = 0; k < count; k++) {
        int t = first + k;
        int8_t *row = rows[k];
        if (t < 0 || t >= n) {
            memset(row, 0, PQ_FEATURE_SIZE);
        } else if (tokens[t].is_tag) {
$tag_rows
        } else {
            const uint8_t *s = text + tokens[t].byte_start;
            size_t len = (size_t)(tokens[t].byte_end - tokens[t].byte_start), j;
            int ascii = 1;
            for (j = 0u; j < len; j++) {
                if (s[j] >= 0x80u) { ascii = 0; break; }
            }
            pq_word(s, len, ascii, row);
        }
    }
}
""")


def _fused_source(source: str, spec: ProjectionSpec) -> str:
    """projection.c of the fused build from the plain one: pq_project becomes pq_tokenize (the same
    loop with every feature write removed) and pq_project_rows is added after it."""
    head, sep, body = source.partition("int pq_project(const uint8_t *text, size_t len,\n"
                                       "               int8_t features[PQ_MAX_TOKENS][PQ_FEATURE_SIZE], "
                                       "pq_token_t tokens[PQ_MAX_TOKENS])\n")
    assert sep, "the plain source has pq_project"
    lines = []
    for line in body.splitlines(keepends=True):
        if line.rstrip().endswith("features[nt]);") or "memset(features[nt]" in line:
            continue
        lines.append(line)
        if "int nt = 0, nwords = 0, in_word = 0, ascii = 1;" in line:
            lines.append("    (void)ascii;  /* pq_project_rows finds the flag again from the span */\n")
    assert not any("features" in l for l in lines), "every feature write of pq_project removed"
    split = _split_row(spec)

    def tag(name: str) -> str:
        if split:
            return f"pq_tag_features({name}, sizeof {name}, row);"
        return f"pq_features(pq_hash_bytes({name}, sizeof {name}, NULL), row);"
    cases = []
    if spec.bos_token is not None:
        cases.append(("t == 0", tag("pq_bos")))
    if spec.eos_token is not None:
        cases.append(("t == n - 1", tag("pq_eos")))
    if cases:
        rows = "".join(f"            {'if' if i == 0 else '} else if'} ({cond}) {{\n                {code}\n"
                       for i, (cond, code) in enumerate(cases))
        rows += f"            }} else {{\n                {tag('pq_empty')}\n            }}"
    else:
        rows = f"            {tag('pq_empty')}"
    return (head + "int pq_tokenize(const uint8_t *text, size_t len, pq_token_t tokens[PQ_MAX_TOKENS])\n"
            + "".join(lines) + PROJECT_ROWS.substitute(tag_rows=rows))


def render_fused(spec: ProjectionSpec) -> tuple[str, str]:
    """(projection.c, projection.h) of the fused build: pq_tokenize + pq_project_rows, no pq_project."""
    source, header = render(spec)
    proto = ("int pq_project(const uint8_t *text, size_t len,\n"
             "               int8_t features[PQ_MAX_TOKENS][PQ_FEATURE_SIZE], pq_token_t tokens[PQ_MAX_TOKENS]);\n")
    assert proto in header
    header = header.replace(proto, FUSED_API).replace(
        " *   int n = pq_project(text, len, features, tokens);\n",
        " *   int n = pq_project(text, len, features, tokens);   (this build: pq_tokenize + pq_project_rows, below)\n")
    return _fused_source(source, spec), header


def emit_projection_c(spec: ProjectionSpec, out_dir, fused: bool = False) -> tuple[Path, Path]:
    """Write projection.c and projection.h for spec into out_dir (created if needed); fused: the
    fused build's pq_tokenize + pq_project_rows instead of pq_project (render_fused)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    source, header = render_fused(spec) if fused else render(spec)
    c_path, h_path = out / "projection.c", out / "projection.h"
    h_path.write_text(header, encoding="utf-8")
    c_path.write_text(source, encoding="utf-8")
    return c_path, h_path
