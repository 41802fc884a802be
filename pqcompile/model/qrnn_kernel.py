"""A C kernel for quantised QRNN pooling (training speed): gate lookups, zoneout and fo-pooling of
both directions on packed rows (model/packing.py), forward and backward, in one pass over memory
instead of ~50 torch ops.

It computes exactly what fo_pool.QRNNPoolQuantized's torch code computes, with the same float32
operations in the same order (compiled with -ffp-contract=off, so no fused multiply-adds), so
values and gradients agree bit for bit (tests/test_fo_pool.py runs both against the step-by-step
reference). Built with the C compiler the host target uses (gcc, or $CC) at first use and cached
by the hash of source and flags under $XDG_CACHE_HOME/pqcompile (~/.cache/pqcompile); where that
fails, `load()` returns None and fo_pool uses its torch code.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import warnings
from pathlib import Path

import torch

from ..host_library import HostBuildError, cached_library

SOURCE = r"""
#include <math.h>
#include <stdint.h>
#include <string.h>

/* Table index of a gate pre-activation, as torch's float -> int truncation then clamp. */
static inline int lut(float p) {
    if (p < -128.0f) p = -128.0f;
    if (p > 127.0f) p = 127.0f;
    return (int)p + 128;
}

/* Packed rows: utterance b is rows off[b] .. off[b+1]-1. pre_*: [N][3H] (z | f | o), keep_*: [N][H]
   or NULL, val: [512] (tanh | sigmoid). out: [N][2H] (forward direction's h, then the backward
   one's), S: [2][N][H] the states. */
void qrnn_pool_forward(const float *pre_f, const float *pre_b, const uint8_t *keep_f, const uint8_t *keep_b,
                       const int64_t *off, const float *val, int64_t B, int64_t N, int64_t H,
                       float *out, float *S) {
    for (int64_t d = 0; d < 2; d++) {
        const float *pre = d ? pre_b : pre_f;
        const uint8_t *keep = d ? keep_b : keep_f;
        for (int64_t b = 0; b < B; b++) {
            int64_t L = off[b + 1] - off[b];
            const float *prev = NULL;
            for (int64_t s = 0; s < L; s++) {
                int64_t r = d ? off[b + 1] - 1 - s : off[b] + s;
                const float *p = pre + r * 3 * H;
                const uint8_t *k = keep ? keep + r * H : NULL;
                float *st = S + (d * N + r) * H;
                float *h = out + r * 2 * H + d * H;
                for (int64_t j = 0; j < H; j++) {
                    float z = val[lut(p[j])];
                    float f = (k && k[j]) ? 128.0f : val[256 + lut(p[H + j])];
                    float o = val[256 + lut(p[2 * H + j])];
                    float a = (128.0f - f) * (z * 256.0f);
                    float n = (prev ? f * prev[j] : 0.0f) + a;
                    n = floorf(n / 128.0f + 0.5f);
                    st[j] = n;
                    h[j] = floorf(o * n / 32768.0f + 0.5f);
                }
                prev = st;
            }
        }
    }
}

/* grad_out: [N][2H]; der: [512] the lookups' derivatives; gpre_*: [N][3H]; work: [2H]. */
void qrnn_pool_backward(const float *grad_out, const float *pre_f, const float *pre_b,
                        const uint8_t *keep_f, const uint8_t *keep_b, const int64_t *off,
                        const float *val, const float *der, const float *S,
                        int64_t B, int64_t N, int64_t H, float *gpre_f, float *gpre_b, float *work) {
    float *G = work, *f_next = work + H;   /* the next processing step's G and f */
    for (int64_t d = 0; d < 2; d++) {
        const float *pre = d ? pre_b : pre_f;
        const uint8_t *keep = d ? keep_b : keep_f;
        float *gpre = d ? gpre_b : gpre_f;
        for (int64_t b = 0; b < B; b++) {
            int64_t L = off[b + 1] - off[b];
            memset(work, 0, 2 * H * sizeof(float));
            for (int64_t s = L - 1; s >= 0; s--) {
                int64_t r = d ? off[b + 1] - 1 - s : off[b] + s;
                int64_t r_prev = d ? r + 1 : r - 1;
                const float *p = pre + r * 3 * H;
                const uint8_t *k = keep ? keep + r * H : NULL;
                const float *st = S + (d * N + r) * H;
                const float *prev = s > 0 ? S + (d * N + r_prev) * H : NULL;
                const float *dh = grad_out + r * 2 * H + d * H;
                float *gp = gpre + r * 3 * H;
                for (int64_t j = 0; j < H; j++) {
                    int iz = lut(p[j]), i_f = 256 + lut(p[H + j]), io = 256 + lut(p[2 * H + j]);
                    float z = val[iz], o = val[io];
                    int kept = k && k[j];
                    float f = kept ? 128.0f : val[i_f];
                    float dhs = dh[j] / 32768.0f;
                    float d_o = dhs * st[j];
                    float c = dhs * o;
                    float gf = G[j] * f_next[j];
                    float g = (gf + c) / 128.0f;
                    float gz = g * (z * 256.0f);
                    float d_f = prev ? g * prev[j] - gz : -gz;
                    if (kept) d_f = 0.0f;
                    float d_z = (g * (128.0f - f)) * 256.0f;
                    gp[j] = d_z * der[iz];
                    gp[H + j] = d_f * der[i_f];
                    gp[2 * H + j] = d_o * der[io];
                    G[j] = g;
                    f_next[j] = f;
                }
            }
        }
    }
}
"""

FLAGS = ["-O2", "-ffp-contract=off", "-fno-fast-math", "-fPIC", "-shared"]
_LOADED: dict[str, object] = {}


def _build(cc: str) -> Path:
    return cached_library("qrnn_pool", SOURCE, cc, FLAGS, libs=("-lm",))


def load():
    """The compiled kernel (a ctypes library), or None where no C compiler can build it."""
    if "lib" not in _LOADED:
        cc = os.environ.get("CC") or "gcc"
        try:
            if shutil.which(cc) is None:
                raise OSError(f"C compiler {cc!r} not found")
            lib = ctypes.CDLL(str(_build(cc)))
            i64, ptr = ctypes.c_int64, ctypes.c_void_p
            lib.qrnn_pool_forward.argtypes = [ptr] * 6 + [i64] * 3 + [ptr] * 2
            lib.qrnn_pool_backward.argtypes = [ptr] * 9 + [i64] * 3 + [ptr] * 3
            _LOADED["lib"] = lib
        except (OSError, HostBuildError) as e:
            detail = getattr(e, "stderr", "") or str(e)
            warnings.warn(f"QRNN pooling kernel unavailable, using the slower torch code: {detail.strip()[:200]}")
            _LOADED["lib"] = None
    return _LOADED["lib"]


def _ptr(x: torch.Tensor | None):
    return None if x is None else ctypes.c_void_p(x.data_ptr())


def forward(lib, pre_f, pre_b, keep_f, keep_b, offsets, values):
    """Packed rows -> (out [N, 2H], states [2, N, H]); inputs contiguous CPU (float32, uint8 keep
    masks, int64 offsets [B + 1])."""
    N, H3 = pre_f.shape
    H = H3 // 3
    out = pre_f.new_empty(N, 2 * H)
    states = pre_f.new_empty(2, N, H)
    lib.qrnn_pool_forward(_ptr(pre_f), _ptr(pre_b), _ptr(keep_f), _ptr(keep_b), _ptr(offsets), _ptr(values),
                          offsets.shape[0] - 1, N, H, _ptr(out), _ptr(states))
    return out, states


def backward(lib, grad_out, pre_f, pre_b, keep_f, keep_b, offsets, values, derivs, states):
    """-> gradients of pre_f, pre_b [N, 3H]."""
    N, H3 = pre_f.shape
    H = H3 // 3
    g_f, g_b = torch.empty_like(pre_f), torch.empty_like(pre_b)
    work = pre_f.new_empty(2 * H)
    lib.qrnn_pool_backward(_ptr(grad_out), _ptr(pre_f), _ptr(pre_b), _ptr(keep_f), _ptr(keep_b), _ptr(offsets),
                           _ptr(values), _ptr(derivs), _ptr(states), offsets.shape[0] - 1, N, H,
                           _ptr(g_f), _ptr(g_b), _ptr(work))
    return g_f, g_b
