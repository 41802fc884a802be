"""Generate projection.c / projection.h: the projection of one ProjectionSpec as static C99.

Every constant comes from the spec, the hash constants of `hashing` and the Unicode tables of
`unicode_tables`; the C template below holds only the algorithm (docs/projection.md). The generated
code uses no malloc and no libc beyond memcpy/memset, reads bytes as uint8_t, keeps no buffer that
depends on the input, and only looks at the first PQ_MAX_INPUT_BYTES bytes of its input.

Algorithm in C (one pass to find tokens, then each word is decoded again twice: once to count its
lower-cased UTF-8 bytes, which MurmurHash64A needs before the first block, once to hash them):
  decode -> classify (ASCII table, whitespace ranges, separator list, character-token runs) -> token spans ->
  per token: murmur over the lower-cased UTF-8 -> hash words (splitmix remix) -> 4 features per
  hash byte via a 256x4 ternary table.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from string import Template

from . import hashing
from .spec import ProjectionSpec
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


def _ascii_lower() -> list[int]:
    out = []
    for c in range(128):
        low = chr(c).lower()
        assert len(low) == 1 and ord(low) < 128, "ASCII lower-cases within ASCII"
        out.append(ord(low))
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
    if tables.lowercase:
        decl = ("static const uint8_t pq_ascii_lower[128] = {\n    "
                + _wrap([f"0x{c:02x}" for c in _ascii_lower()], 16) + "\n};\n" + decl)
    return decl, code


def _ternary4() -> str:
    t = [int(v) for v in hashing.TERNARY]
    rows = ["{%s}" % ", ".join(str(t[(b >> (2 * k)) & 3]) for k in range(4)) for b in range(256)]
    return _wrap(rows, 8)


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
 * features   [PQ_MAX_TOKENS][PQ_FEATURE_SIZE] int8 in {-1, 0, +1}; row t belongs to tokens[t];
 *            rows from n on are zero-filled.
 * tokens     [PQ_MAX_TOKENS] spans of each token, [start, end) in input bytes and in decoded
 *            characters; tags (BOS/EOS/empty marker) have is_tag = 1 and empty spans;
 *            entries from n on are zero-filled.
 * returns    n, the number of tokens (1..PQ_MAX_TOKENS).
 *
 * No dynamic memory, no global state (re-entrant), stack use is a few dozen bytes.
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
#define PQ_SPEC_ID "$spec_id"
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
#define PQ_MAX_LOWER $max_lower
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
        if (base + 32u <= PQ_FEATURE_SIZE) {
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
            for (f = 0u; base + f < PQ_FEATURE_SIZE; f++) row[base + f] = pq_ternary4[(uint32_t)(x >> (2u * f)) & 3u][0];
        }
    }
}

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

/* A word s[0..n); ascii: no byte >= 0x80, so its hashed bytes are its own bytes$lower_note. */
static void pq_word(const uint8_t *s, size_t n, int ascii, int8_t row[PQ_FEATURE_SIZE])
{
    pq_murmur_t m;
    if (ascii) {
        pq_features(pq_hash_bytes(s, n, $ascii_map), row);
        return;
    }
    pq_murmur_init(&m, pq_word_bytes(s, n, NULL));
    (void)pq_word_bytes(s, n, &m);
    pq_features(pq_murmur_final(&m), row);
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
        pq_features(pq_hash_bytes(pq_empty, sizeof pq_empty, NULL), features[nt]);
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
    char_decl, char_code = _char_table(tables)
    chars = bool(spec.char_token_ranges)
    comment = _c_comment(spec.to_json())
    ident = spec_id(spec)
    header = HEADER.substitute(
        spec_comment=comment, feature_size=spec.feature_size, max_tokens=spec.max_tokens,
        max_input_bytes=spec.max_input_bytes, spec_id=ident, unicode_version=tables.unicode_version)
    bos = ("    pq_features(pq_hash_bytes(pq_bos, sizeof pq_bos, NULL), features[nt]);\n"
           "    pq_token(&tokens[nt++], 0u, 0u, 0u, 0u, 1u);\n") if spec.bos_token is not None else ""
    eos = ("    pq_features(pq_hash_bytes(pq_eos, sizeof pq_eos, NULL), features[nt]);\n"
           "    pq_token(&tokens[nt++], n, n, nchars, nchars, 1u);\n") if spec.eos_token is not None else ""
    # Past the last kept word: only the character count matters, and only for the EOS span.
    full = ("                continue;  /* keep counting characters for the EOS span */" if spec.eos_token is not None
            else "                break;")
    s1, s2, s3 = hashing.SPLITMIX_SHIFTS
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
        lower_note=", each lower-cased" if spec.lowercase else "",
        ascii_byte="pq_ascii_lower[s[i]]" if spec.lowercase else "s[i]",
        ascii_map="pq_ascii_lower" if spec.lowercase else "NULL",
        lower_call=("c = pq_lower(cp, out);" if spec.lowercase else "out[0] = cp; c = 1u;"),
        bos_code=bos, eos_code=eos, full_code=full)
    return source, header


def emit_projection_c(spec: ProjectionSpec, out_dir) -> tuple[Path, Path]:
    """Write projection.c and projection.h for spec into out_dir (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    source, header = render(spec)
    c_path, h_path = out / "projection.c", out / "projection.h"
    h_path.write_text(header, encoding="utf-8")
    c_path.write_text(source, encoding="utf-8")
    return c_path, h_path
