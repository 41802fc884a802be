"""The lookup tables of the integer semantics (docs/integer-semantics.md), built once in Python.

They travel as constants (ONNX initializers, C arrays), so their own rounding never has to agree
across platforms; only their use does."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

GATE_PRE_SCALE = 1.0 / 16.0     # gate pre-activations: int8 at scale 1/16
Q7 = 128                        # z, f, o and QRNN outputs: int8 at scale 1/128
ATTN_SCORE_SCALE = 1.0 / 8.0    # attention scores: int8 at scale 1/8
EXP_ONE = 32768                 # EXP_Q15[255] == 1.0
STATE_OFFSET = 32768            # fo-pooling state U = c * 2^15 + 32768


def _round_half_even(x: np.ndarray) -> np.ndarray:
    return np.round(x)  # numpy rounds half to even


@lru_cache(maxsize=None)
def tanh_q7() -> np.ndarray:
    pre = (np.arange(256) - 128) * GATE_PRE_SCALE
    return np.clip(_round_half_even(np.tanh(pre) * Q7), -127, 127).astype(np.int8)


@lru_cache(maxsize=None)
def sigmoid_q7() -> np.ndarray:
    pre = (np.arange(256) - 128) * GATE_PRE_SCALE
    return np.clip(_round_half_even(Q7 / (1.0 + np.exp(-pre))), 0, 127).astype(np.int8)


@lru_cache(maxsize=None)
def exp_q15() -> np.ndarray:
    i = np.arange(256)
    return _round_half_even(np.exp((i - 255) * ATTN_SCORE_SCALE) * EXP_ONE).astype(np.int32)
