"""C text that the vector back ends of the dot-product micro-kernels share, rendered per back end.

The NEON routines (dot_intrin.py), the Helium ones (dot_mve.py) and the x86-64 ones (dot_x86.py)
each have two building blocks of their own, `pq_<p>_rows2` (up to 4 or 3 token rows x 2 channels)
and `pq_<p>_vec` (up to 4 rows x one vector), where <p> is the back end's prefix ("neon", "mve",
"x86") and `PQ_<P>_W8`, `PQ_<P>_W4`, `PQ_<P>_W4_EVEN`, `PQ_<P>_W4_ODD` its weight modes. Around
them the code is the same text but for the prefix:
  - rows_pair / mat_vec: the loops over the rows, 4 at a time, then the last 3, 2 or 1 (NEON and
    x86; Helium's go 3 / 4 at a time then 2 and 1, and stay in dot_mve.py);
  - int8_kernels: pq_dot_s8_<p> .. pq_dot1r_s8_<p> on those blocks, and the `#define`s that put
    them in place of dot_intrin.py's kernels (Helium and x86);
  - packed_kernels: the same for packed 4-bit weights, pq_dot2r_s4_<p> .. pq_dot4_s4_<p> and their
    `#define`s (Helium and x86; NEON's are in dot_s4.py's PACKED_KERNEL_C, with other code).
Each function returns the text its module used to hold literally, byte for byte (continuation
lines aligned under the opening parenthesis, as before); the modules' constants concatenate it
with their own text, so the generated C does not change.
"""
from __future__ import annotations

from string import Template

# the micro-kernels a back end replaces, in the order of its `#define`s (pq_dot_s8, pq_dot2_s8, ...)
KERNELS = ("dot", "dot2", "dot4", "dotn", "dot2r", "dot1r")


def _c_template(text: str) -> Template:
    """A template of C text, written from the line after its opening quotes."""
    return Template(text.removeprefix("\n"))


_ROWS_PAIR = _c_template(r"""
/* token rows r < rows of x (stride lda) times a channel pair: 4 rows at a time, then the last 3, 2 or 1 */
__attribute__((always_inline))
${head}int32_t *c, const int8_t *x, int32_t lda, const int8_t *w0,
${pad}const int8_t *w1, int32_t n, int32_t rows, const int mode)
{
    int32_t r = 0;
${dispatch}    for (; r + 4 <= rows; r += 4, x += 4 * lda, c += 8) {
        pq_${p}_rows2(c, x, lda, w0, w1, n, 4, mode);
    }
    if (rows - r == 3) {
        pq_${p}_rows2(c, x, lda, w0, w1, n, 3, mode);
    } else if (rows - r == 2) {
        pq_${p}_rows2(c, x, lda, w0, w1, n, 2, mode);
    } else if (rows - r == 1) {
        pq_${p}_rows2(c, x, lda, w0, w1, n, 1, mode);
    }
}
""")

_MAT_VEC = _c_template(r"""
/* rows r < m of x (stride lda) times v: 4 at a time, then the last 3, 2 or 1 */
__attribute__((always_inline))
${head}int32_t *c, const int8_t *x, int32_t lda, const int8_t *v, int32_t n,
${pad}int32_t m, const int acc, const int mode)
{
    int32_t r = 0;
    for (; r + 4 <= m; r += 4, x += 4 * lda, c += 4) {
        pq_${p}_vec(c, x, lda, v, n, 4, acc, mode);
    }
    if (m - r == 3) {
        pq_${p}_vec(c, x, lda, v, n, 3, acc, mode);
    } else if (m - r == 2) {
        pq_${p}_vec(c, x, lda, v, n, 2, acc, mode);
    } else if (m - r == 1) {
        pq_${p}_vec(c, x, lda, v, n, 1, acc, mode);
    }
}
""")

_INT8_KERNELS = _c_template(r"""
static inline int32_t pq_dot_s8_${p}(int8_t *a, int8_t *b, int32_t n)
{
    int32_t ${sum};
    pq_${p}_vec(&${sum}, a, 0, b, n, 1, 0, PQ_${P}_W8);
    return ${sum};
}

${dot2_comment}static inline void pq_dot2_s8_${p}(int32_t *c, int8_t *a, int8_t *w, int32_t n)
{
    pq_${p}_vec(c, w, n, a, n, 2, 1, PQ_${P}_W8);
}

static inline void pq_dot4_s8_${p}(int32_t *c, int8_t *a, int8_t *w, int32_t n)
{
    pq_${p}_vec(c, w, n, a, n, 4, 1, PQ_${P}_W8);
}

/* c[j] += w row j . a, j < m: the weight rows 4 at a time sharing a's ${dotn_shares} */
__attribute__((always_inline))
static inline void pq_dotn_s8_${p}(int32_t *c, int8_t *a, int8_t *w, int32_t n, int32_t m)
{
    pq_${p}_mat_vec(c, w, n, a, n, m, 1, PQ_${P}_W8);
}

/* c[2r + j] = a row r . w row j, r < rows, j < 2 (the row kernel, 2 channels) */
__attribute__((always_inline))
static inline void pq_dot2r_s8_${p}(int32_t *c, int8_t *a, int8_t *w, int32_t n, int32_t lda, int32_t rows)
{
    pq_${p}_rows_pair(c, a, lda, w, w + n, n, rows, PQ_${P}_W8);
}

/* c[r] = a row r . w, r < rows (the row kernel, 1 channel): 4 token rows at a time */
__attribute__((always_inline))
static inline void pq_dot1r_s8_${p}(int32_t *c, int8_t *a, int8_t *w, int32_t n, int32_t lda, int32_t rows)
{
    pq_${p}_mat_vec(c, a, lda, w, n, rows, 0, PQ_${P}_W8);
}
""")

_PACKED_KERNELS = _c_template(r"""
/* the row kernel, 2 channels j, j + 1 (j even: one pair) */
__attribute__((always_inline))
${dot2r_head}int32_t *c, int8_t *a, int8_t *w, int32_t j, int32_t n, int32_t lda,
${dot2r_pad}int32_t rows)
{
    const int8_t *pair = w + (j >> 1) * PQ_S4_PAIR_BYTES(n);
    pq_${p}_rows_pair(c, a, lda, pair, pair, n, rows, PQ_${P}_W4);
}

/* rows r < m of x (stride lda) times channel j of the packed matrix w${mat_vec_note} */
__attribute__((always_inline))
${mat_vec_head}int32_t *c, const int8_t *x, int32_t lda, const int8_t *w, int32_t j,
${mat_vec_pad}int32_t n, int32_t m, const int acc)
{
    const int8_t *pair = w + (j >> 1) * PQ_S4_PAIR_BYTES(n);
    if (j & 1) {
        pq_${p}_mat_vec(c, x, lda, pair, n, m, acc, PQ_${P}_W4_ODD);
    } else {
        pq_${p}_mat_vec(c, x, lda, pair, n, m, acc, PQ_${P}_W4_EVEN);
    }
}

/* the row kernel, 1 channel j */
__attribute__((always_inline))
${dot1r_head}int32_t *c, int8_t *a, int8_t *w, int32_t j, int32_t n, int32_t lda,
${dot1r_pad}int32_t rows)
{
    pq_${p}_s4_mat_vec(c, a, lda, w, j, n, rows, 0);
}

static inline int32_t pq_dot_s4_${p}(int8_t *a, int8_t *w, int32_t j, int32_t n)
{
    int32_t c0;
    pq_${p}_s4_mat_vec(&c0, a, 0, w, j, n, 1, 0);
    return c0;
}

/* c[k] += a . channel j + k, k < m: an odd first channel alone, then pairs (both channels from one
   load per 16 deep), an odd last channel alone */
static inline void pq_dotn_s4_${p}(int32_t *c, int8_t *a, int8_t *w, int32_t j, int32_t n, int32_t m)
{
    int32_t k = 0, d[2];
    if (m > 0 && (j & 1)) {
        c[0] += pq_dot_s4_${p}(a, w, j, n);
        k = 1;
    }
    for (; k + 2 <= m; k += 2) {
        pq_${p}_rows2(d, a, 0, w + ((j + k) >> 1) * PQ_S4_PAIR_BYTES(n), 0, n, 1, PQ_${P}_W4);
        c[k] += d[0];
        c[k + 1] += d[1];
    }
    if (k < m) {
        c[k] += pq_dot_s4_${p}(a, w, j + k, n);
    }
}

static inline void pq_dot2_s4_${p}(int32_t *c, int8_t *a, int8_t *w, int32_t j, int32_t n)
{
    pq_dotn_s4_${p}(c, a, w, j, n, 2);
}

static inline void pq_dot4_s4_${p}(int32_t *c, int8_t *a, int8_t *w, int32_t j, int32_t n)
{
    pq_dotn_s4_${p}(c, a, w, j, n, 4);
}
""")


def _head(name: str) -> tuple[str, str]:
    """`static inline void NAME(` and the blanks that align a continuation line under it."""
    head = f"static inline void {name}("
    return head, " " * len(head)


def _prefixes(p: str) -> dict:
    """The back end's prefix as the templates use it: p in function names, P in mode macros."""
    return {"p": p, "P": p.upper()}


def rows_pair(p: str, dispatch: str = "") -> str:
    """pq_<p>_rows_pair: token rows times a channel pair through pq_<p>_rows2, 4 rows at a time,
    then the last 3, 2 or 1. `dispatch`: lines run first (x86: the AVX2 path), none by default."""
    head, pad = _head(f"pq_{p}_rows_pair")
    return _ROWS_PAIR.substitute(_prefixes(p), head=head, pad=pad, dispatch=dispatch)


def mat_vec(p: str) -> str:
    """pq_<p>_mat_vec: rows times one vector through pq_<p>_vec, 4 rows at a time, then the last
    3, 2 or 1."""
    head, pad = _head(f"pq_{p}_mat_vec")
    return _MAT_VEC.substitute(_prefixes(p), head=head, pad=pad)


def aliases(p: str, weights: str) -> str:
    """`#define pq_dot_<weights> pq_dot_<weights>_<p>` for every kernel (weights "s8" or "s4")."""
    return "".join(f"#define pq_{k}_{weights} pq_{k}_{weights}_{p}\n" for k in KERNELS)


def int8_kernels(p: str, sum_name: str, dot2_comment: str, dotn_shares: str) -> str:
    """pq_dot_s8_<p> .. pq_dot1r_s8_<p> on pq_<p>_vec, pq_<p>_mat_vec and pq_<p>_rows_pair, then
    their `#define`s. The wording the back ends had: pq_dot_s8_<p>'s result variable `sum_name`,
    `dot2_comment` (a comment line, or "") before pq_dot2_s8_<p>, and what pq_dotn_s8_<p>'s rows
    share, `dotn_shares` ("loads" of a, its "extension")."""
    kernels = _INT8_KERNELS.substitute(_prefixes(p), sum=sum_name, dot2_comment=dot2_comment,
                                       dotn_shares=dotn_shares)
    return kernels + "\n" + aliases(p, "s8")


def packed_kernels(p: str, mat_vec_note: str = "") -> str:
    """pq_dot2r_s4_<p>, pq_<p>_s4_mat_vec, pq_dot1r_s4_<p> and the per-row pq_dot*_s4_<p> on
    packed 4-bit weights (dot_s4.py's layout: pq_<p>_rows2 in mode W4 for a pair, pq_<p>_mat_vec
    in W4_EVEN / W4_ODD for one channel), then their `#define`s. `mat_vec_note` ends the comment
    on pq_<p>_s4_mat_vec."""
    names = {"dot2r": f"pq_dot2r_s4_{p}", "mat_vec": f"pq_{p}_s4_mat_vec", "dot1r": f"pq_dot1r_s4_{p}"}
    heads = {}
    for key, name in names.items():
        heads[f"{key}_head"], heads[f"{key}_pad"] = _head(name)
    kernels = _PACKED_KERNELS.substitute(_prefixes(p), mat_vec_note=mat_vec_note, **heads)
    return kernels + "\n" + aliases(p, "s4")
